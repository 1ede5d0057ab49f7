#include "sluice/live.h"

#include <array>

namespace sluice {
namespace {

std::array<std::atomic<std::int64_t>, static_cast<std::size_t>(LiveKind::Count)> counters{};

}  // namespace

std::int64_t live_count(LiveKind kind) noexcept {
  const auto index = static_cast<std::size_t>(kind);
  return index < counters.size() ? counters[index].load(std::memory_order_relaxed) : 0;
}

namespace detail {

void live_adjust(LiveKind kind, std::int64_t delta) noexcept {
  counters[static_cast<std::size_t>(kind)].fetch_add(delta, std::memory_order_relaxed);
}

}  // namespace detail
}  // namespace sluice
