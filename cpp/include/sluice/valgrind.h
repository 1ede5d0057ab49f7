// Valgrind client requests, for leak tests that attribute leaks to the test
// that made them: a marker before each test, an added-leak search after it.
// Compiled to no-ops when the build did not find Valgrind's headers
// (SLUICE_HAVE_VALGRIND unset), and cost nothing when not under Valgrind.
#pragma once

#include <string>

namespace sluice {
namespace valgrind {

// True when the build has the client requests compiled in.
bool compiled_in() noexcept;
// True when this process runs under Valgrind.
bool running() noexcept;
// VALGRIND_PRINTF("%s\n", text): arrives in the XML as <clientmsg>.
void print_marker(const std::string& text) noexcept;
// VALGRIND_DO_ADDED_LEAK_CHECK: a leak search reporting what is new since the last.
void added_leak_check() noexcept;

}  // namespace valgrind
}  // namespace sluice
