// Valgrind client requests, for leak tests that attribute leaks to the test
// that made them and judge growth inside the run: a marker before each test
// and each checkpoint, a leak search listing what changed since the last at
// each checkpoint; and for the bindings, a check that memory they hand to
// another language is defined.
// Compiled to no-ops when the build did not find Valgrind's headers
// (SLUICE_HAVE_VALGRIND unset), and cost nothing when not under Valgrind.
#pragma once

#include <cstddef>
#include <string>

namespace sluice {
namespace valgrind {

// True when the build has the client requests compiled in.
bool compiled_in() noexcept;
// True when this process runs under Valgrind.
bool running() noexcept;
// VALGRIND_PRINTF("%s\n", text): arrives in the XML as <clientmsg>.
void print_marker(const std::string& text) noexcept;
// VALGRIND_DO_CHANGED_LEAK_CHECK: a leak search listing the loss records that
// changed (grew or shrank) since the last search.
void changed_leak_check() noexcept;
// VALGRIND_DO_QUICK_LEAK_CHECK: a leak search that lists nothing but becomes
// the reference the next changed-leak search compares with.
void quick_leak_check() noexcept;
// VALGRIND_CHECK_MEM_IS_DEFINED(data, bytes). Memcheck reports uninitialised
// data only when it decides a branch, an address or a system call, so bytes
// copied out (into a Python float, say) pass silently; this checks them
// where they leave. Under Memcheck, when any of the `bytes` bytes at `data`
// is undefined (or unaddressable) it reports an error here (XML kind
// `ClientCheck`), with the caller's stack and, under --track-origins=yes,
// where the undefined bytes were created, and returns false. True otherwise,
// and always when not under Memcheck (a few instructions).
bool check_defined(const void* data, std::size_t bytes) noexcept;

}  // namespace valgrind
}  // namespace sluice
