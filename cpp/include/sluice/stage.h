// Stages transform blocks in place. Native stages do their work in C++;
// a callback stage hands the block to whoever drives the push (PushHooks).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
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

class NativeStage : public Stage {
 public:
  std::unique_ptr<Block> run(std::unique_ptr<Block> block, PushHooks& hooks) final;
  // Writes the result of processing `input` into `output`, a block of the
  // same shape with unspecified samples. A push uses it for its first stage
  // so that copying the input and processing it is one pass over memory.
  virtual void process_into(const Block& input, Block& output);

 protected:
  virtual void process(Block& block) = 0;
};

class Gain final : public NativeStage {
 public:
  // Throws std::invalid_argument unless factor is finite.
  explicit Gain(float factor);
  std::unique_ptr<Stage> clone() const override;
  void process_into(const Block& input, Block& output) override;
  float factor() const noexcept { return factor_; }

 protected:
  void process(Block& block) override;

 private:
  float factor_;
};

class Offset final : public NativeStage {
 public:
  // Throws std::invalid_argument unless value is finite.
  explicit Offset(float value);
  std::unique_ptr<Stage> clone() const override;
  void process_into(const Block& input, Block& output) override;
  float value() const noexcept { return value_; }

 protected:
  void process(Block& block) override;

 private:
  float value_;
};

class Clip final : public NativeStage {
 public:
  // Throws std::invalid_argument unless lo <= hi (NaN bounds included).
  Clip(float lo, float hi);
  std::unique_ptr<Stage> clone() const override;
  void process_into(const Block& input, Block& output) override;
  float lo() const noexcept { return lo_; }
  float hi() const noexcept { return hi_; }

 protected:
  void process(Block& block) override;

 private:
  float lo_;
  float hi_;
};

// Causal moving average per channel: y[n] is the mean of the last `window`
// inputs of that channel (of all inputs so far while fewer have been seen).
// The history carries across pushes, so splitting a signal into blocks does
// not change the output.
class MovingAverage final : public NativeStage {
 public:
  // Throws std::invalid_argument when window == 0.
  explicit MovingAverage(std::size_t window);
  std::unique_ptr<Stage> clone() const override;
  void reset() override;
  std::size_t window() const noexcept { return window_; }

 protected:
  // Throws std::invalid_argument when the channel count differs from the
  // blocks seen since the last reset.
  void process(Block& block) override;

 private:
  std::size_t window_;
  std::size_t channels_ = 0;  // 0: no history yet
  std::size_t seen_ = 0;      // samples seen per channel, saturating at window_
  std::size_t head_ = 0;      // next slot of the ring buffer
  std::vector<float> history_;  // window_ x channels_, ring of frames
  std::vector<double> sums_;    // running sum of the ring per channel
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

}  // namespace sluice
