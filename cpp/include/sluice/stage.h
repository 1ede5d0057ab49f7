// Stages transform blocks. Native stages do their work in C++; a callback
// stage hands the block to whoever drives the push (PushHooks).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sluice/block.h"
#include "sluice/live.h"

namespace sluice {

// Everything a push needs from the world outside the core. The bindings
// implement it; the core never knows what language is on the other side.
// Any of these may throw, and the exception propagates out of the push.
class PushHooks {
 public:
  virtual ~PushHooks() = default;
  // Runs the callback stage `token` on `block`; returns the block to pass on.
  virtual std::unique_ptr<Block> call_stage(std::uint64_t token, std::unique_ptr<Block> block) = 0;
  // Takes ownership of the push's output, before any subscriber is notified.
  virtual void deliver(std::unique_ptr<Block> output) = 0;
  // Tells subscriber `token` that the delivered output is ready.
  virtual void notify(std::uint64_t token) = 0;
};

class Stage : private detail::LiveCounted<LiveKind::Stage> {
 public:
  virtual ~Stage() = default;
  // A fresh stage with the same parameters and cleared state.
  virtual std::unique_ptr<Stage> clone() const = 0;
  // Clears state carried across pushes.
  virtual void reset() {}
  virtual std::unique_ptr<Block> run(std::unique_ptr<Block> block, PushHooks& hooks) = 0;

 protected:
  Stage() = default;
  Stage(const Stage&) = default;
  Stage& operator=(const Stage&) = delete;
};

// A stage whose work is one C++ kernel, `process`. The native stages
// themselves (Gain, Offset, Clip, MovingAverage) live in stage.cc, each a
// class plus one row of its table; make_native_stage builds them by name.
class NativeStage : public Stage {
 public:
  // Runs the kernel in place: process(*block, *block).
  std::unique_ptr<Block> run(std::unique_ptr<Block> block, PushHooks& hooks) final;
  // The stage's kernel. Writes the result of processing `input` into
  // `output`, a block of the same shape that is either `input` itself (in
  // place) or a distinct block whose samples are unspecified on entry. A push
  // runs its first stage as process(input, fresh block), so copying the input
  // and processing it are one pass over memory. Throws std::invalid_argument,
  // before writing anything, when the stage cannot process `input`.
  virtual void process(const Block& input, Block& output) = 0;
};

// A stage whose work happens outside the core: PushHooks::call_stage(token).
class CallbackStage final : public Stage {
 public:
  explicit CallbackStage(std::uint64_t token) noexcept : token_(token) {}
  std::unique_ptr<Stage> clone() const override;
  std::unique_ptr<Block> run(std::unique_ptr<Block> block, PushHooks& hooks) override;
  std::uint64_t token() const noexcept { return token_; }

 private:
  std::uint64_t token_;
};

// The type of one constructor argument of a native stage. The bridge binds
// this enum (crates/sluice-core/src/ffi.rs), and cxx checks its values.
enum class StageArgType : std::uint8_t { Real = 0, Integer = 1 };

// One constructor argument of a native stage, as the bindings pass it.
struct StageArg {
  StageArgType type;
  float real;            // when type == Real
  std::int64_t integer;  // when type == Integer
};

// Builds the native stage called `name` (its class name: "Gain", ...) from
// its constructor arguments, in declaration order. Throws
// std::invalid_argument for an unknown name, arguments that do not match the
// stage's parameters, or values the stage rejects.
std::unique_ptr<Stage> make_native_stage(const std::string& name, const std::vector<StageArg>& args);

// Every native stage's signature, "Name(real, integer, ...)", in table
// order: what make_native_stage accepts. The bindings test their own table
// of stages against it.
std::vector<std::string> native_stage_signatures();

}  // namespace sluice
