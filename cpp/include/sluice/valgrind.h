// Valgrind client requests for the bindings: a check that memory they hand
// to another language is defined. (The leak tests' markers and leak searches
// are memtest's: its Python package makes those client requests itself.)
// Compiled to no-ops when the build did not find Valgrind's headers
// (SLUICE_HAVE_VALGRIND unset), and cost nothing when not under Valgrind.
#pragma once

#include <cstddef>

namespace sluice {
namespace valgrind {

// True when the build has the client requests compiled in.
bool compiled_in() noexcept;
// True when this process runs under Valgrind.
bool running() noexcept;
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
