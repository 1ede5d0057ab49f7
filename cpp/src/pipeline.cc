#include "sluice/pipeline.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace sluice {

Pipeline::~Pipeline() {
  for (const auto& subscription : subscriptions_) {
    subscription->cancel();
  }
}

void Pipeline::append(std::unique_ptr<Stage> stage) {
  if (!stage) {
    throw std::invalid_argument("cannot append a null stage");
  }
  stages_.push_back(std::move(stage));
}

void Pipeline::reset() {
  for (auto& stage : stages_) {
    stage->reset();
  }
}

std::shared_ptr<Subscription> Pipeline::subscribe(std::uint64_t token) {
  // Forget cancelled subscriptions here rather than in push, so a push never
  // mutates the list it walks.
  subscriptions_.erase(std::remove_if(subscriptions_.begin(), subscriptions_.end(),
                                      [](const auto& s) { return !s->active(); }),
                       subscriptions_.end());
  auto subscription = std::make_shared<Subscription>(token);
  subscriptions_.push_back(subscription);
  return subscription;
}

void Pipeline::push(const Block& input, PushHooks& hooks) { process(input.clone(), hooks); }

void Pipeline::process(std::unique_ptr<Block> block, PushHooks& hooks) {
  if (!block) {
    throw std::invalid_argument("cannot push a null block");
  }
  for (auto& stage : stages_) {
    block = stage->run(std::move(block), hooks);
    if (!block) {
      throw std::logic_error("a stage returned no block");
    }
  }
  hooks.deliver(std::move(block));
  for (const auto& subscription : subscriptions_) {
    if (subscription->active()) {
      hooks.notify(subscription->token());
    }
  }
}

}  // namespace sluice
