// A block of samples: frames x channels floats, contiguous, frame-major.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "sluice/live.h"

namespace sluice {

class Block : private detail::LiveCounted<LiveKind::Block> {
 public:
  // Zero-filled. Throws std::invalid_argument when channels == 0 or the size
  // overflows.
  Block(std::size_t frames, std::size_t channels);

  std::size_t frames() const noexcept { return frames_; }
  std::size_t channels() const noexcept { return channels_; }
  // frames * channels.
  std::size_t len() const noexcept { return samples_.size(); }

  // The storage never moves or changes size after construction: exported
  // buffers rely on this.
  float* data() noexcept { return samples_.data(); }
  const float* data() const noexcept { return samples_.data(); }

  float& at(std::size_t frame, std::size_t channel) noexcept {
    return samples_[frame * channels_ + channel];
  }
  float at(std::size_t frame, std::size_t channel) const noexcept {
    return samples_[frame * channels_ + channel];
  }

  std::unique_ptr<Block> clone() const;

 private:
  std::size_t frames_;
  std::size_t channels_;
  std::vector<float> samples_;
};

}  // namespace sluice
