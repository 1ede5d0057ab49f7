#include "sluice/stage.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>

namespace sluice {

std::unique_ptr<Block> NativeStage::run(std::unique_ptr<Block> block, PushHooks&) {
  process(*block, *block);
  return block;
}

std::unique_ptr<Stage> CallbackStage::clone() const {
  return std::make_unique<CallbackStage>(token_);
}

std::unique_ptr<Block> CallbackStage::run(std::unique_ptr<Block> block, PushHooks& hooks) {
  return hooks.call_stage(token_, std::move(block));
}

namespace {

float require_finite(const char* what, float value) {
  if (!std::isfinite(value)) {
    throw std::invalid_argument(std::string(what) + " must be finite, got " + std::to_string(value));
  }
  return value;
}

// The two loops behind a sample-wise kernel `op`, so that each stage writes
// its kernel once. Distinct blocks are one pass over memory (read input,
// write output); `__restrict` lets the compiler vectorise without an overlap
// check.
template <class Op>
void map_distinct(const float* __restrict in, float* __restrict out, std::size_t n, Op op) {
  for (std::size_t i = 0; i < n; ++i) {
    out[i] = op(in[i]);
  }
}

template <class Op>
void map_in_place(float* samples, std::size_t n, Op op) {
  for (std::size_t i = 0; i < n; ++i) {
    samples[i] = op(samples[i]);
  }
}

// output[i] = op(input[i]) for every sample; `output` is `input` or a
// distinct block of the same shape (NativeStage::process's contract).
template <class Op>
void map_samples(const Block& input, Block& output, Op op) {
  if (&input == &output) {
    map_in_place(output.data(), output.len(), op);
  } else {
    map_distinct(input.data(), output.data(), input.len(), op);
  }
}

class Gain final : public NativeStage {
 public:
  // Throws std::invalid_argument unless factor is finite.
  explicit Gain(float factor) : factor_(require_finite("Gain factor", factor)) {}
  std::unique_ptr<Stage> clone() const override { return std::make_unique<Gain>(factor_); }
  void process(const Block& input, Block& output) override {
    map_samples(input, output, [factor = factor_](float x) { return x * factor; });
  }

 private:
  float factor_;
};

class Offset final : public NativeStage {
 public:
  // Throws std::invalid_argument unless value is finite.
  explicit Offset(float value) : value_(require_finite("Offset value", value)) {}
  std::unique_ptr<Stage> clone() const override { return std::make_unique<Offset>(value_); }
  void process(const Block& input, Block& output) override {
    map_samples(input, output, [value = value_](float x) { return x + value; });
  }

 private:
  float value_;
};

class Clip final : public NativeStage {
 public:
  // Throws std::invalid_argument unless lo <= hi (NaN bounds included).
  Clip(float lo, float hi) : lo_(lo), hi_(hi) {
    // Written so that NaN bounds fail too.
    if (!(lo <= hi)) {
      throw std::invalid_argument("Clip needs lo <= hi, got lo=" + std::to_string(lo) +
                                  ", hi=" + std::to_string(hi));
    }
  }
  std::unique_ptr<Stage> clone() const override { return std::make_unique<Clip>(lo_, hi_); }
  void process(const Block& input, Block& output) override {
    map_samples(input, output,
                [lo = lo_, hi = hi_](float x) { return std::min(std::max(x, lo), hi); });
  }

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
  // Throws std::invalid_argument when window < 1.
  explicit MovingAverage(std::int64_t window) : window_(checked_window(window)) {}
  std::unique_ptr<Stage> clone() const override {
    return std::make_unique<MovingAverage>(static_cast<std::int64_t>(window_));
  }
  void reset() override {
    channels_ = 0;
    seen_ = 0;
    head_ = 0;
    history_.clear();
    sums_.clear();
  }
  // Throws std::invalid_argument when the channel count differs from the
  // blocks seen since the last reset.
  void process(const Block& input, Block& output) override;

 private:
  static std::size_t checked_window(std::int64_t window) {
    if (window < 1) {
      throw std::invalid_argument("MovingAverage needs window >= 1, got " +
                                  std::to_string(window));
    }
    return static_cast<std::size_t>(window);
  }

  std::size_t window_;
  std::size_t channels_ = 0;  // 0: no history yet
  std::size_t seen_ = 0;      // samples seen per channel, saturating at window_
  std::size_t head_ = 0;      // next slot of the ring buffer
  std::vector<float> history_;  // window_ x channels_, ring of frames
  std::vector<double> sums_;    // running sum of the ring per channel
};

void MovingAverage::process(const Block& input, Block& output) {
  const std::size_t channels = input.channels();
  if (channels_ == 0) {
    channels_ = channels;
    history_.assign(window_ * channels, 0.0f);
    sums_.assign(channels, 0.0);
  } else if (channels != channels_) {
    throw std::invalid_argument("MovingAverage has state for " + std::to_string(channels_) +
                                " channels but the block has " + std::to_string(channels) +
                                "; reset() the pipeline to change the channel count");
  }
  // Frame by frame, every input sample of a frame is read before any output
  // sample of that frame is written, and no later frame is read from
  // `output`: so `output` may be `input` itself.
  const float* in = input.data();
  float* out = output.data();
  for (std::size_t f = 0; f < input.frames(); ++f, in += channels, out += channels) {
    float* oldest = &history_[head_ * channels];
    const bool full = seen_ == window_;
    for (std::size_t c = 0; c < channels; ++c) {
      const float sample = in[c];
      if (full) {
        sums_[c] -= oldest[c];
      }
      sums_[c] += sample;
      oldest[c] = sample;
    }
    if (!full) {
      ++seen_;
    }
    head_ = (head_ + 1) % window_;
    const double count = static_cast<double>(seen_);
    for (std::size_t c = 0; c < channels; ++c) {
      out[c] = static_cast<float>(sums_[c] / count);
    }
  }
}

// How a C++ parameter type travels as a StageArg.
template <class T>
struct Param;

template <>
struct Param<float> {
  static constexpr StageArgType type = StageArgType::Real;
  static constexpr const char* name = "real";
  static float get(const StageArg& arg) { return arg.real; }
};

template <>
struct Param<std::int64_t> {
  static constexpr StageArgType type = StageArgType::Integer;
  static constexpr const char* name = "integer";
  static std::int64_t get(const StageArg& arg) { return arg.integer; }
};

template <class... Params>
std::string signature_of(const char* name) {
  std::string signature = name;
  signature += '(';
  const char* separator = "";
  ((signature += separator, signature += Param<Params>::name, separator = ", "), ...);
  signature += ')';
  return signature;
}

template <class S, class... Params, std::size_t... I>
std::unique_ptr<Stage> construct(const std::vector<StageArg>& args, std::index_sequence<I...>) {
  return std::make_unique<S>(Param<Params>::get(args[I])...);
}

template <class S, class... Params>
std::unique_ptr<Stage> make(const char* name, const std::vector<StageArg>& args) {
  std::size_t i = 0;
  const bool matches =
      args.size() == sizeof...(Params) && ((args[i++].type == Param<Params>::type) && ...);
  if (!matches) {
    throw std::invalid_argument("native stage " + signature_of<Params...>(name) + " got " +
                                std::to_string(args.size()) + " argument(s) of other types");
  }
  return construct<S, Params...>(args, std::index_sequence_for<Params...>{});
}

struct NativeStageEntry {
  const char* name;
  std::unique_ptr<Stage> (*make)(const char* name, const std::vector<StageArg>& args);
  std::string (*signature)(const char* name);
};

template <class S, class... Params>
constexpr NativeStageEntry entry(const char* name) {
  return {name, &make<S, Params...>, &signature_of<Params...>};
}

// The native stages, one row each: the name the bindings use, the class and
// its constructor's parameter types. A new stage is a class above and a row
// here, a row in the Rust table (crates/sluice-core/src/stages.rs) and its
// Python stub (python/sluice/_native.pyi).
constexpr NativeStageEntry native_stages[] = {
    entry<Gain, float>("Gain"),
    entry<Offset, float>("Offset"),
    entry<Clip, float, float>("Clip"),
    entry<MovingAverage, std::int64_t>("MovingAverage"),
};

}  // namespace

std::unique_ptr<Stage> make_native_stage(const std::string& name, const std::vector<StageArg>& args) {
  for (const auto& stage : native_stages) {
    if (name == stage.name) {
      return stage.make(stage.name, args);
    }
  }
  throw std::invalid_argument("unknown native stage " + name);
}

std::vector<std::string> native_stage_signatures() {
  std::vector<std::string> signatures;
  for (const auto& stage : native_stages) {
    signatures.push_back(stage.signature(stage.name));
  }
  return signatures;
}

}  // namespace sluice
