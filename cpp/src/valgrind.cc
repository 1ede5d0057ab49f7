#include "sluice/valgrind.h"

#ifdef SLUICE_HAVE_VALGRIND
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>
#endif

namespace sluice {
namespace valgrind {

#ifdef SLUICE_HAVE_VALGRIND

bool compiled_in() noexcept { return true; }

bool running() noexcept { return RUNNING_ON_VALGRIND != 0; }

void print_marker(const std::string& text) noexcept {
  if (running()) {
    VALGRIND_PRINTF("%s\n", text.c_str());
  }
}

void changed_leak_check() noexcept {
  if (running()) {
    VALGRIND_DO_CHANGED_LEAK_CHECK;
  }
}

void quick_leak_check() noexcept {
  if (running()) {
    VALGRIND_DO_QUICK_LEAK_CHECK;
  }
}

bool check_defined(const void* data, std::size_t bytes) noexcept {
  // The request evaluates to 0 outside Valgrind (and under a tool other
  // than Memcheck), else to 0 or the address of the first bad byte.
  return VALGRIND_CHECK_MEM_IS_DEFINED(data, bytes) == 0;
}

#else

bool compiled_in() noexcept { return false; }
bool running() noexcept { return false; }
void print_marker(const std::string&) noexcept {}
void changed_leak_check() noexcept {}
void quick_leak_check() noexcept {}
bool check_defined(const void*, std::size_t) noexcept { return true; }

#endif

}  // namespace valgrind
}  // namespace sluice
