// The four memory functions the compiler may emit calls to even in
// freestanding code (GCC manual, "Standards": memcpy, memmove, memset, memcmp),
// plus the C++ runtime hooks a -fno-exceptions, -fno-rtti kernel still needs.
#include <cstddef>
#include <cstdint>

#include "lib/panic.hpp"

extern "C" {
void* memcpy(void* dst, const void* src, size_t n) {
    asm volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(n)::"memory");
    return dst;
}

void* memmove(void* dst, const void* src, size_t n) {
    auto* d = static_cast<uint8_t*>(dst);
    auto* s = static_cast<const uint8_t*>(src);
    if (d <= s || d >= s + n) {
        for (size_t i = 0; i < n; ++i) d[i] = s[i];
    } else {
        for (size_t i = n; i > 0; --i) d[i - 1] = s[i - 1];
    }
    return dst;
}

void* memset(void* dst, int c, size_t n) {
    void* d = dst;
    asm volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
    return dst;
}

int memcmp(const void* a, const void* b, size_t n) {
    auto* x = static_cast<const uint8_t*>(a);
    auto* y = static_cast<const uint8_t*>(b);
    for (size_t i = 0; i < n; ++i)
        if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
    return 0;
}

// A pure virtual call can only come from a bug of ours (calling through a
// half-constructed object).
void __cxa_pure_virtual() { sv::panic("pure virtual call", __FILE__, __LINE__); }

// Static destructors never run: the hypervisor does not exit. Keys are wiped
// explicitly at power-off, not by destructors.
void* __dso_handle = nullptr;
int __cxa_atexit(void (*)(void*), void*, void*) { return 0; }
}

// Virtual destructors of interfaces are protected and non-virtual, so nothing
// is ever deleted; the symbol exists only for the vtable's deleting dtor slot.
void operator delete(void*, size_t) noexcept { sv::panic("operator delete", __FILE__, __LINE__); }
void operator delete(void*) noexcept { sv::panic("operator delete", __FILE__, __LINE__); }
