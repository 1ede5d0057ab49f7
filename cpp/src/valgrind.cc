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

bool check_defined(const void* data, std::size_t bytes) noexcept {
  // The request evaluates to 0 outside Valgrind (and under a tool other
  // than Memcheck), else to 0 or the address of the first bad byte.
  return VALGRIND_CHECK_MEM_IS_DEFINED(data, bytes) == 0;
}

#else

bool compiled_in() noexcept { return false; }
bool running() noexcept { return false; }
bool check_defined(const void*, std::size_t) noexcept { return true; }

#endif

}  // namespace valgrind
}  // namespace sluice
