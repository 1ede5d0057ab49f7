// Deliberate defects for the detection matrix (`cargo xtask memtest --planted`).
// Compiled only with the `planted-leaks` feature; never in a normal build or
// a published wheel. Each function has exactly one bug, named in its comment.
#pragma once

#include <cstddef>
#include <cstdint>

#include "sluice/block.h"

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

}  // namespace planted
}  // namespace sluice
