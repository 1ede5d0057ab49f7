#include "sluice/block.h"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>

namespace sluice {
namespace {

std::size_t checked_len(std::size_t frames, std::size_t channels) {
  if (channels == 0) {
    throw std::invalid_argument("channels must be >= 1, got 0");
  }
  // The bindings describe the buffer in Py_ssize_t bytes: keep the byte size
  // representable as a signed size.
  constexpr auto max_bytes = static_cast<std::size_t>(std::numeric_limits<std::ptrdiff_t>::max());
  if (frames > max_bytes / sizeof(float) / channels) {
    throw std::invalid_argument("block of " + std::to_string(frames) + " frames x " +
                                std::to_string(channels) + " channels is too large");
  }
  return frames * channels;
}

}  // namespace

Block::Block(std::size_t frames, std::size_t channels)
    : Block(frames, channels, Uninitialized{}) {
  std::fill(samples_.begin(), samples_.end(), 0.0f);
}

Block::Block(std::size_t frames, std::size_t channels, Uninitialized)
    : frames_(frames), channels_(channels), samples_(checked_len(frames, channels)) {}

std::unique_ptr<Block> Block::clone() const { return std::make_unique<Block>(*this); }

std::unique_ptr<Block> Block::uninitialized_like(const Block& shape) {
  // Not make_unique: the constructor is private.
  return std::unique_ptr<Block>(new Block(shape.frames_, shape.channels_, Uninitialized{}));
}

}  // namespace sluice
