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

void Pipeline::push(const Block& input, PushHooks& hooks) {
  auto* first = stages_.empty() ? nullptr : dynamic_cast<NativeStage*>(stages_.front().get());
  if (first == nullptr) {
    run_from(0, input.clone(), hooks);
    return;
  }
  // Copy and first stage in one pass over memory.
  auto block = Block::uninitialized_like(input);
  first->process(input, *block);
  run_from(1, std::move(block), hooks);
}

void Pipeline::push(std::unique_ptr<Block> input, PushHooks& hooks) {
  run_from(0, std::move(input), hooks);
}

void Pipeline::run_from(std::size_t first_stage, std::unique_ptr<Block> block, PushHooks& hooks) {
  if (!block) {
    throw std::invalid_argument("cannot push a null block");
  }
  for (std::size_t i = first_stage; i < stages_.size(); ++i) {
    block = stages_[i]->run(std::move(block), hooks);
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
