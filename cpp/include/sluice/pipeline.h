// A pipeline: stages in order, and subscribers told about every output.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "sluice/block.h"
#include "sluice/live.h"
#include "sluice/stage.h"

namespace sluice {

// One subscriber's registration. Shared between the pipeline, which notifies
// it while it is active, and the subscriber's handle, which may cancel it
// from any thread, during a push included (like std::stop_source).
class Subscription : private detail::LiveCounted<LiveKind::Subscription> {
 public:
  explicit Subscription(std::uint64_t token) noexcept : token_(token) {}
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;

  std::uint64_t token() const noexcept { return token_; }
  bool active() const noexcept { return active_.load(std::memory_order_acquire); }
  // Idempotent.
  void cancel() const noexcept { active_.store(false, std::memory_order_release); }

 private:
  std::uint64_t token_;
  mutable std::atomic<bool> active_{true};
};

class Pipeline : private detail::LiveCounted<LiveKind::Pipeline> {
 public:
  Pipeline() = default;
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;
  // Cancels every subscription: a handle outliving its pipeline reads inactive.
  ~Pipeline();

  void append(std::unique_ptr<Stage> stage);
  std::size_t size() const noexcept { return stages_.size(); }
  // Clears the state of every stage.
  void reset();
  std::shared_ptr<Subscription> subscribe(std::uint64_t token);

  // Runs every stage on a copy of `input` (which is never modified), hands the
  // output to hooks.deliver, then notifies every active subscriber in the
  // order they subscribed. `input` is read only before the first call to a
  // hook: the bindings rely on it to let writers at the input again as soon
  // as any hook runs.
  void push(const Block& input, PushHooks& hooks);
  // The same for an input the caller gives away: the stages run on `input`
  // itself, so a caller that had to copy its input first pays for one copy
  // only. Throws std::invalid_argument for a null input.
  void push(std::unique_ptr<Block> input, PushHooks& hooks);

 private:
  void run_from(std::size_t first_stage, std::unique_ptr<Block> block, PushHooks& hooks);

  std::vector<std::unique_ptr<Stage>> stages_;
  std::vector<std::shared_ptr<Subscription>> subscriptions_;
};

}  // namespace sluice
