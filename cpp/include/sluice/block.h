// A block of samples: frames x channels floats, contiguous, frame-major.
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <utility>
#include <vector>

#include "sluice/live.h"

namespace sluice {

namespace detail {

// A std::allocator that default-initialises instead of value-initialising,
// so a vector of floats can be sized without zero-filling memory that is
// about to be overwritten anyway.
template <class T>
struct DefaultInitAllocator : std::allocator<T> {
  template <class U>
  struct rebind {
    using other = DefaultInitAllocator<U>;
  };
  DefaultInitAllocator() noexcept = default;
  template <class U>
  DefaultInitAllocator(const DefaultInitAllocator<U>&) noexcept {}
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    if constexpr (sizeof...(Args) == 0) {
      ::new (static_cast<void*>(p)) U;
    } else {
      ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
    }
  }
};

}  // namespace detail

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

  // A block of the same shape whose samples are unspecified: only for code
  // that writes every sample before anyone reads one.
  static std::unique_ptr<Block> uninitialized_like(const Block& shape);

 private:
  std::size_t frames_;
  std::size_t channels_;
  struct Uninitialized {};
  Block(std::size_t frames, std::size_t channels, Uninitialized);

  std::vector<float, detail::DefaultInitAllocator<float>> samples_;
};

}  // namespace sluice
