// Valgrind client requests, for leak tests that attribute leaks to the test
// that made them and judge growth inside the run: a marker before each test
// and each checkpoint, a leak search listing what changed since the last at
// each checkpoint.
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
// VALGRIND_DO_CHANGED_LEAK_CHECK: a leak search listing the loss records that
// changed (grew or shrank) since the last search.
void changed_leak_check() noexcept;
// VALGRIND_DO_QUICK_LEAK_CHECK: a leak search that lists nothing but becomes
// the reference the next changed-leak search compares with.
void quick_leak_check() noexcept;

}  // namespace valgrind
}  // namespace sluice
