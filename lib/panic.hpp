// Panic: only for broken invariants of our own, never for a guest value
// (docs/design.md §6 Code conventions, rule 5). Freestanding it logs and
// halts the CPU; hosted (unit tests) it aborts so the test fails loudly.
#pragma once

namespace sv {
[[noreturn]] void panic(const char* why, const char* file, int line);
}

#define SV_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (!(cond)) ::sv::panic("assertion failed: " #cond, __FILE__, __LINE__);                 \
    } while (0)
