// Deliberate defects for the detection matrix (`cargo xtask memtest --planted`).
// Compiled only with the `planted-leaks` feature; never in a normal build or
// a published wheel. Each function has exactly one bug, named in its comment.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "sluice/block.h"
#include "sluice/pipeline.h"
#include "sluice/stage.h"

namespace sluice {
namespace planted {

// cpp-new: allocates with `new` and drops the only pointer.
void leak_new(std::size_t bytes);

// invalid-read: reads the float one past the end of the block's samples.
float read_past_end(const Block& block);

// uninit: branches on a value that was never initialised.
int branch_on_uninitialised(int seed);

// one-time-init (control): a lazily built table, allocated once and kept for
// the life of the process. Not a leak.
std::size_t one_time_table_size();

// growing-reachable: a sample log that every call appends `block`'s samples
// to, behind a static pointer, and nothing ever trims: reachable at exit,
// and bigger with every call. Returns the number of samples logged so far.
std::size_t append_sample_log(const Block& block);

// growth-freed-at-exit: the same log as a plain static object: it grows
// just the same, and its destructor frees it at exit, so no record at the
// end of the run shows it.
std::size_t append_static_sample_log(const Block& block);

// scratch-high-water (control): the median of a block's samples (the upper
// one for an even count), computed in a static scratch buffer that grows to
// the largest block seen and is then reused. Bounded: not a leak.
float median_with_scratch(const Block& block);

// uninit-output: a Gain whose kernel, unrolled by two, never writes the last
// sample of an odd-length block. In place that sample keeps its input
// value; into the fresh block of a push's fused first stage
// (Block::uninitialized_like), it stays uninitialised.
std::unique_ptr<Stage> new_pairwise_gain(float factor);

// fd-leak: the process's resident set in pages, read from /proc/self/statm
// through a descriptor that is never closed.
std::int64_t resident_pages();

// thread-leak: hands a copy of `block` to a new background writer thread that
// is detached and waits for a flush request nobody ever sends: one parked
// thread more per call. Returns the number of writers started so far.
std::size_t start_flush_worker(const Block& block);

// subscriptions-kept: a copy of Pipeline's subscriber list (subscribe, tell
// the active subscribers about each block, cancel from the handle) whose
// subscribe() never forgets the cancelled subscriptions, so a long-lived
// Fanout keeps every Subscription it ever made.
class Fanout {
 public:
  Fanout() = default;
  Fanout(const Fanout&) = delete;
  Fanout& operator=(const Fanout&) = delete;
  // Cancels every subscription, like ~Pipeline.
  ~Fanout();

  std::shared_ptr<Subscription> subscribe(std::uint64_t token);
  // Tells every active subscriber about `block`; returns how many were told.
  std::size_t publish(const Block& block);

 private:
  std::vector<std::shared_ptr<Subscription>> subscriptions_;
  std::size_t samples_told_ = 0;
};

std::unique_ptr<Fanout> new_fanout();

}  // namespace planted
}  // namespace sluice
