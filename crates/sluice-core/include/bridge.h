// The C++ half of the cxx bridge: free functions over the core that cxx can
// bind, and the adapter that forwards PushHooks calls to Rust.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "rust/cxx.h"
#include "sluice/block.h"
#include "sluice/live.h"
#include "sluice/pipeline.h"
#include "sluice/stage.h"
#include "sluice/valgrind.h"

namespace sluice {
namespace bridge {

struct HookSink;  // Rust's side of a push: see src/ffi.rs.
struct StageArg;  // shared with Rust: see src/ffi.rs.

std::unique_ptr<Block> new_block(std::size_t frames, std::size_t channels);
std::unique_ptr<Block> clone_block(const Block& block);
rust::Slice<const float> block_samples(const Block& block);
rust::Slice<float> block_samples_mut(Block& block);

std::unique_ptr<Stage> new_native_stage(rust::Str name, rust::Slice<const StageArg> args);
rust::Vec<rust::String> native_stage_signatures();
std::unique_ptr<Stage> new_callback_stage(std::uint64_t token);
std::unique_ptr<Stage> clone_stage(const Stage& stage);

std::unique_ptr<Pipeline> new_pipeline();
void append_stage(Pipeline& pipeline, std::unique_ptr<Stage> stage);
std::size_t stage_count(const Pipeline& pipeline);
void reset_pipeline(Pipeline& pipeline);
std::shared_ptr<Subscription> subscribe(Pipeline& pipeline, std::uint64_t token);
void push_block(Pipeline& pipeline, const Block& input, HookSink& sink);
void push_owned_block(Pipeline& pipeline, std::unique_ptr<Block> input, HookSink& sink);

std::uint64_t subscription_token(const Subscription& subscription);
bool subscription_active(const Subscription& subscription);
void cancel_subscription(const Subscription& subscription);

std::int64_t live_count(LiveKind kind) noexcept;

bool valgrind_compiled_in();
bool valgrind_running();
bool valgrind_check_defined(rust::Slice<const float> samples);

}  // namespace bridge
}  // namespace sluice
