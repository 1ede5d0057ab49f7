#include "planted.h"

#include <memory>
#include <vector>

namespace sluice {
namespace planted {

void leak_new(std::size_t bytes) {
  auto* lost = new char[bytes];  // planted: never deleted
  lost[0] = 1;
  // gcc removes an unused allocation; make the pointer escape first.
  asm volatile("" : : "r"(lost) : "memory");
}

float read_past_end(const Block& block) {
  const float* samples = block.data();
  volatile float sum = 0.0f;
  // planted: `<=` reads one float past the end
  for (std::size_t i = 0; i <= block.len(); ++i) {
    sum = sum + samples[i];
  }
  return sum;
}

int branch_on_uninitialised(int seed) {
  // Default-initialised ints: no value until written.
  std::unique_ptr<int[]> values(new int[4]);
  values[0] = seed;
  // Volatile so the optimiser keeps the load and the branch.
  volatile int* read = values.get();
  if (read[1] > seed) {  // planted: values[1] was never written
    return 1;
  }
  return 0;
}

std::size_t one_time_table_size() {
  static const auto* table = new std::vector<int>(1024, 7);  // kept on purpose
  return table->size();
}

}  // namespace planted
}  // namespace sluice
