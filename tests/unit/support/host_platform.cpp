// Hosted implementations of the platform hooks the portable code calls:
// the log sink writes to stderr, panic aborts (the test fails loudly).
#include <cstdio>
#include <cstdlib>

#include "lib/log.hpp"
#include "lib/panic.hpp"

namespace sv {
namespace log {
void write_console(const char* text) { std::fputs(text, stderr); }
} // namespace log

[[noreturn]] void panic(const char* why, const char* file, int line) {
    std::fprintf(stderr, "panic: %s at %s:%d\n", why, file, line);
    std::abort();
}
} // namespace sv
