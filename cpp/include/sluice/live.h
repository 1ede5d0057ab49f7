// Live-instance counters: how many native objects of each type exist now.
//
// Tests compare these against a baseline to see native objects that outlive
// their Python owners, which tracemalloc cannot see. Relaxed atomics keep
// them cheap enough to stay compiled in everywhere.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace sluice {

// The bridge binds this enum (crates/sluice-core/src/ffi.rs) and cxx checks
// every value, Count included, at compile time: a new kind must be added
// there too.
enum class LiveKind : std::uint8_t { Block = 0, Pipeline, Stage, Subscription, Count };

// Number of instances of `kind` alive right now; 0 for Count (not a kind).
std::int64_t live_count(LiveKind kind) noexcept;

namespace detail {

void live_adjust(LiveKind kind, std::int64_t delta) noexcept;

// Base class whose lifetime is counted under `Kind`. Copies count as new
// instances; moves are copies as far as the counter is concerned.
template <LiveKind Kind>
class LiveCounted {
 protected:
  LiveCounted() noexcept { live_adjust(Kind, 1); }
  LiveCounted(const LiveCounted&) noexcept { live_adjust(Kind, 1); }
  LiveCounted& operator=(const LiveCounted&) noexcept = default;
  ~LiveCounted() { live_adjust(Kind, -1); }
};

}  // namespace detail
}  // namespace sluice
