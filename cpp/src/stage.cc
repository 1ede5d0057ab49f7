#include "sluice/stage.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace sluice {

std::unique_ptr<Block> NativeStage::run(std::unique_ptr<Block> block, PushHooks&) {
  process(*block);
  return block;
}

namespace {

float require_finite(const char* what, float value) {
  if (!std::isfinite(value)) {
    throw std::invalid_argument(std::string(what) + " must be finite, got " + std::to_string(value));
  }
  return value;
}

}  // namespace

void NativeStage::process_into(const Block& input, Block& output) {
  std::copy(input.data(), input.data() + input.len(), output.data());
  process(output);
}

Gain::Gain(float factor) : factor_(require_finite("Gain factor", factor)) {}

std::unique_ptr<Stage> Gain::clone() const { return std::make_unique<Gain>(factor_); }

void Gain::process_into(const Block& input, Block& output) {
  const float* in = input.data();
  float* out = output.data();
  const std::size_t n = input.len();
  const float factor = factor_;
  for (std::size_t i = 0; i < n; ++i) {
    out[i] = in[i] * factor;
  }
}

void Gain::process(Block& block) {
  float* samples = block.data();
  const std::size_t n = block.len();
  const float factor = factor_;
  for (std::size_t i = 0; i < n; ++i) {
    samples[i] *= factor;
  }
}

Offset::Offset(float value) : value_(require_finite("Offset value", value)) {}

std::unique_ptr<Stage> Offset::clone() const { return std::make_unique<Offset>(value_); }

void Offset::process_into(const Block& input, Block& output) {
  const float* in = input.data();
  float* out = output.data();
  const std::size_t n = input.len();
  const float value = value_;
  for (std::size_t i = 0; i < n; ++i) {
    out[i] = in[i] + value;
  }
}

void Offset::process(Block& block) {
  float* samples = block.data();
  const std::size_t n = block.len();
  const float value = value_;
  for (std::size_t i = 0; i < n; ++i) {
    samples[i] += value;
  }
}

Clip::Clip(float lo, float hi) : lo_(lo), hi_(hi) {
  // Written so that NaN bounds fail too.
  if (!(lo <= hi)) {
    throw std::invalid_argument("Clip needs lo <= hi, got lo=" + std::to_string(lo) +
                                ", hi=" + std::to_string(hi));
  }
}

std::unique_ptr<Stage> Clip::clone() const { return std::make_unique<Clip>(lo_, hi_); }

void Clip::process_into(const Block& input, Block& output) {
  const float* in = input.data();
  float* out = output.data();
  const std::size_t n = input.len();
  for (std::size_t i = 0; i < n; ++i) {
    out[i] = std::min(std::max(in[i], lo_), hi_);
  }
}

void Clip::process(Block& block) {
  float* samples = block.data();
  const std::size_t n = block.len();
  for (std::size_t i = 0; i < n; ++i) {
    samples[i] = std::min(std::max(samples[i], lo_), hi_);
  }
}

MovingAverage::MovingAverage(std::size_t window) : window_(window) {
  if (window == 0) {
    throw std::invalid_argument("MovingAverage needs window >= 1, got 0");
  }
}

std::unique_ptr<Stage> MovingAverage::clone() const {
  return std::make_unique<MovingAverage>(window_);
}

void MovingAverage::reset() {
  channels_ = 0;
  seen_ = 0;
  head_ = 0;
  history_.clear();
  sums_.clear();
}

void MovingAverage::process(Block& block) {
  const std::size_t channels = block.channels();
  if (channels_ == 0) {
    channels_ = channels;
    history_.assign(window_ * channels, 0.0f);
    sums_.assign(channels, 0.0);
  } else if (channels != channels_) {
    throw std::invalid_argument("MovingAverage has state for " + std::to_string(channels_) +
                                " channels but the block has " + std::to_string(channels) +
                                "; reset() the pipeline to change the channel count");
  }
  for (std::size_t f = 0; f < block.frames(); ++f) {
    float* oldest = &history_[head_ * channels];
    const bool full = seen_ == window_;
    for (std::size_t c = 0; c < channels; ++c) {
      float& sample = block.at(f, c);
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
      block.at(f, c) = static_cast<float>(sums_[c] / count);
    }
  }
}

std::unique_ptr<Stage> CallbackStage::clone() const {
  return std::make_unique<CallbackStage>(token_);
}

std::unique_ptr<Block> CallbackStage::run(std::unique_ptr<Block> block, PushHooks& hooks) {
  return hooks.call_stage(token_, std::move(block));
}

}  // namespace sluice
