#include "sluice-core/include/bridge.h"

#include <string>
#include <utility>
#include <vector>

#include "sluice-core/src/ffi.rs.h"

namespace sluice {
namespace bridge {
namespace {

// Forwards the core's hooks to Rust. A failing Rust hook throws rust::Error,
// which unwinds through the core (RAII releases everything in flight) and
// back out of the cxx call as an Err.
class SinkHooks final : public PushHooks {
 public:
  explicit SinkHooks(HookSink& sink) noexcept : sink_(sink) {}

  std::unique_ptr<Block> call_stage(std::uint64_t token, std::unique_ptr<Block> block) override {
    return sink_call_stage(sink_, token, std::move(block));
  }
  void deliver(std::unique_ptr<Block> output) override { sink_deliver(sink_, std::move(output)); }
  void notify(std::uint64_t token) override { sink_notify(sink_, token); }

 private:
  HookSink& sink_;
};

}  // namespace

std::unique_ptr<Block> new_block(std::size_t frames, std::size_t channels) {
  return std::make_unique<Block>(frames, channels);
}

std::unique_ptr<Block> clone_block(const Block& block) { return block.clone(); }

rust::Slice<const float> block_samples(const Block& block) {
  return rust::Slice<const float>(block.data(), block.len());
}

rust::Slice<float> block_samples_mut(Block& block) {
  return rust::Slice<float>(block.data(), block.len());
}

std::unique_ptr<Stage> new_native_stage(rust::Str name, rust::Slice<const StageArg> args) {
  std::vector<sluice::StageArg> core_args;
  core_args.reserve(args.size());
  for (const auto& arg : args) {
    core_args.push_back(sluice::StageArg{arg.ty, arg.real, arg.integer});
  }
  return make_native_stage(std::string(name), core_args);
}

rust::Vec<rust::String> native_stage_signatures() {
  rust::Vec<rust::String> signatures;
  for (const auto& signature : sluice::native_stage_signatures()) {
    signatures.push_back(rust::String(signature));
  }
  return signatures;
}

std::unique_ptr<Stage> new_callback_stage(std::uint64_t token) {
  return std::make_unique<CallbackStage>(token);
}
std::unique_ptr<Stage> clone_stage(const Stage& stage) { return stage.clone(); }

std::unique_ptr<Pipeline> new_pipeline() { return std::make_unique<Pipeline>(); }
void append_stage(Pipeline& pipeline, std::unique_ptr<Stage> stage) {
  pipeline.append(std::move(stage));
}
std::size_t stage_count(const Pipeline& pipeline) { return pipeline.size(); }
void reset_pipeline(Pipeline& pipeline) { pipeline.reset(); }
std::shared_ptr<Subscription> subscribe(Pipeline& pipeline, std::uint64_t token) {
  return pipeline.subscribe(token);
}

void push_block(Pipeline& pipeline, const Block& input, HookSink& sink) {
  SinkHooks hooks(sink);
  pipeline.push(input, hooks);
}

void push_owned_block(Pipeline& pipeline, std::unique_ptr<Block> input, HookSink& sink) {
  SinkHooks hooks(sink);
  pipeline.push(std::move(input), hooks);
}

std::uint64_t subscription_token(const Subscription& subscription) { return subscription.token(); }
bool subscription_active(const Subscription& subscription) { return subscription.active(); }
void cancel_subscription(const Subscription& subscription) { subscription.cancel(); }

std::int64_t live_count(LiveKind kind) noexcept { return sluice::live_count(kind); }

bool valgrind_compiled_in() { return valgrind::compiled_in(); }
bool valgrind_running() { return valgrind::running(); }
bool valgrind_check_defined(rust::Slice<const float> samples) {
  return valgrind::check_defined(samples.data(), samples.size() * sizeof(float));
}

}  // namespace bridge
}  // namespace sluice
