// Zeroing of key material that the optimiser cannot remove (dead-store
// elimination would drop a plain loop before an object dies): volatile stores
// plus a compiler barrier that "uses" the memory.
#pragma once

#include <cstddef>

namespace sv::crypto {

inline void secure_wipe(void* p, size_t n) {
    volatile unsigned char* b = static_cast<volatile unsigned char*>(p);
    for (size_t i = 0; i < n; ++i)
        b[i] = 0;
    asm volatile("" : : "r"(p) : "memory");
}

} // namespace sv::crypto
