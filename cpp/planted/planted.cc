#include "planted.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
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

namespace {
// Written only on one side of the planted branch, so the branch stays a
// conditional jump (a volatile store cannot be made unconditional).
volatile int branches_taken = 0;
}  // namespace

int branch_on_uninitialised(int seed) {
  // Default-initialised ints: no value until written.
  std::unique_ptr<int[]> values(new int[4]);
  values[0] = seed;
  // Volatile so the optimiser keeps the load and the branch.
  volatile int* read = values.get();
  if (read[1] > seed) {  // planted: values[1] was never written
    branches_taken = branches_taken + 1;
  }
  // A defined result: the undefined value decides only here, in our code.
  // Returned, it would reach CPython's int conversion, whose uses of it
  // differ between CPython versions, and the matrix would too.
  return seed;
}

std::size_t one_time_table_size() {
  static const auto* table = new std::vector<int>(1024, 7);  // kept on purpose
  return table->size();
}

std::size_t append_sample_log(const Block& block) {
  static auto* log = new std::vector<float>();  // kept for the process's life
  log->insert(log->end(), block.data(), block.data() + block.len());  // planted: never trimmed
  return log->size();
}

std::size_t append_static_sample_log(const Block& block) {
  static std::vector<float> log;  // destroyed at exit
  log.insert(log.end(), block.data(), block.data() + block.len());  // planted: never trimmed
  return log.size();
}

float median_with_scratch(const Block& block) {
  // Kept on purpose, like one_time_table_size's table; it only ever grows
  // to the largest block seen.
  static auto* scratch = new std::vector<float>();
  const std::size_t n = block.len();
  if (n == 0) {
    return 0.0f;
  }
  if (scratch->size() < n) {
    scratch->resize(n);
  }
  const auto first = scratch->begin();
  std::copy(block.data(), block.data() + n, first);
  const auto middle = first + static_cast<std::ptrdiff_t>(n / 2);
  std::nth_element(first, middle, first + static_cast<std::ptrdiff_t>(n));
  return *middle;
}

namespace {

// Like Gain (cpp/src/stage.cc), with a kernel unrolled by hand.
class PairwiseGain final : public NativeStage {
 public:
  explicit PairwiseGain(float factor) : factor_(factor) {
    if (!std::isfinite(factor)) {
      throw std::invalid_argument("PairwiseGain factor must be finite, got " +
                                  std::to_string(factor));
    }
  }
  std::unique_ptr<Stage> clone() const override { return std::make_unique<PairwiseGain>(factor_); }
  void process(const Block& input, Block& output) override {
    const float* in = input.data();
    float* out = output.data();
    const std::size_t n = input.len();
    // planted: two samples a step, and no step for an odd last sample
    for (std::size_t i = 0; i + 1 < n; i += 2) {
      out[i] = in[i] * factor_;
      out[i + 1] = in[i + 1] * factor_;
    }
  }

 private:
  float factor_;
};

}  // namespace

std::unique_ptr<Stage> new_pairwise_gain(float factor) {
  return std::make_unique<PairwiseGain>(factor);
}

std::int64_t resident_pages() {
  const int fd = ::open("/proc/self/statm", O_RDONLY | O_CLOEXEC);  // planted: never closed
  if (fd < 0) {
    throw std::system_error(errno, std::generic_category(), "open /proc/self/statm");
  }
  char text[128];
  const ssize_t got = ::read(fd, text, sizeof text - 1);
  if (got <= 0) {
    throw std::runtime_error("cannot read /proc/self/statm");
  }
  text[got] = '\0';
  long long size = 0;
  long long resident = 0;
  if (std::sscanf(text, "%lld %lld", &size, &resident) != 2) {
    throw std::runtime_error(std::string("cannot parse /proc/self/statm: ") + text);
  }
  return resident;
}

namespace {

// What a writer thread shares with whoever would ask it to flush.
struct PendingFlush {
  std::vector<float> samples;
  std::mutex mutex;
  std::condition_variable wake;
  bool flush = false;
};

std::atomic<std::size_t> flush_workers{0};

}  // namespace

std::size_t start_flush_worker(const Block& block) {
  auto pending = std::make_shared<PendingFlush>();
  pending->samples.assign(block.data(), block.data() + block.len());
  // Only the thread owns `pending` (on the heap, never destroyed while it
  // waits): nothing the exit path destroys is waited on.
  std::thread writer([pending] {
    std::unique_lock<std::mutex> lock(pending->mutex);
    pending->wake.wait(lock, [&] { return pending->flush; });
    pending->samples.clear();  // the flush
  });
  writer.detach();  // planted: never joined, and nobody ever sets `flush`
  return ++flush_workers;
}

Fanout::~Fanout() {
  for (const auto& subscription : subscriptions_) {
    subscription->cancel();
  }
}

std::shared_ptr<Subscription> Fanout::subscribe(std::uint64_t token) {
  // planted: Pipeline::subscribe forgets the cancelled subscriptions here
  auto subscription = std::make_shared<Subscription>(token);
  subscriptions_.push_back(subscription);
  return subscription;
}

std::size_t Fanout::publish(const Block& block) {
  std::size_t told = 0;
  for (const auto& subscription : subscriptions_) {
    if (subscription->active()) {
      samples_told_ += block.len();
      ++told;
    }
  }
  return told;
}

std::unique_ptr<Fanout> new_fanout() { return std::make_unique<Fanout>(); }

}  // namespace planted
}  // namespace sluice
