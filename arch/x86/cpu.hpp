// Thin wrappers over privileged x86 instructions (port I/O, MSRs, control
// registers, CPUID). Header-only inline asm; only hypervisor code (`*_hw.cpp`)
// calls them, so host unit tests never execute them.
#pragma once

#include <cstdint>

namespace sv::x86 {

struct CpuidResult {
    uint32_t eax, ebx, ecx, edx;
};

inline CpuidResult cpuid(uint32_t leaf, uint32_t subleaf = 0) {
    CpuidResult r;
    asm volatile("cpuid" : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx)
                 : "a"(leaf), "c"(subleaf));
    return r;
}

inline uint64_t rdmsr(uint32_t msr) {
    uint32_t lo, hi;
    asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return (static_cast<uint64_t>(hi) << 32) | lo;
}

inline void wrmsr(uint32_t msr, uint64_t value) {
    asm volatile("wrmsr" ::"c"(msr), "a"(static_cast<uint32_t>(value)),
                 "d"(static_cast<uint32_t>(value >> 32)));
}

inline uint8_t inb(uint16_t port) {
    uint8_t v;
    asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
inline uint16_t inw(uint16_t port) {
    uint16_t v;
    asm volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
inline uint32_t inl(uint16_t port) {
    uint32_t v;
    asm volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
inline void outb(uint16_t port, uint8_t v) { asm volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
inline void outw(uint16_t port, uint16_t v) { asm volatile("outw %0, %1" ::"a"(v), "Nd"(port)); }
inline void outl(uint16_t port, uint32_t v) { asm volatile("outl %0, %1" ::"a"(v), "Nd"(port)); }

inline uint64_t read_cr0() {
    uint64_t v;
    asm volatile("mov %%cr0, %0" : "=r"(v));
    return v;
}
inline uint64_t read_cr3() {
    uint64_t v;
    asm volatile("mov %%cr3, %0" : "=r"(v));
    return v;
}
inline uint64_t read_cr4() {
    uint64_t v;
    asm volatile("mov %%cr4, %0" : "=r"(v));
    return v;
}
inline void write_cr3(uint64_t v) { asm volatile("mov %0, %%cr3" ::"r"(v) : "memory"); }
// XGETBV/XSETBV (Intel SDM vol. 2D; need CR4.OSXSAVE, XSETBV needs CPL0).
inline uint64_t xgetbv(uint32_t xcr) {
    uint32_t lo, hi;
    asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(xcr));
    return (static_cast<uint64_t>(hi) << 32) | lo;
}
inline void xsetbv(uint32_t xcr, uint64_t v) {
    asm volatile("xsetbv" ::"c"(xcr), "a"(static_cast<uint32_t>(v)), "d"(static_cast<uint32_t>(v >> 32))
                 : "memory");
}
inline void write_cr4(uint64_t v) { asm volatile("mov %0, %%cr4" ::"r"(v) : "memory"); }

[[noreturn]] inline void halt_forever() {
    for (;;) asm volatile("cli; hlt");
}

namespace msr {
constexpr uint32_t efer = 0xC0000080;
constexpr uint32_t pat = 0x00000277;
constexpr uint32_t vm_cr = 0xC0010114;      // AMD APM vol. 2 §15.30.1
constexpr uint32_t vm_hsave_pa = 0xC0010117; // AMD APM vol. 2 §15.30.4
} // namespace msr

namespace efer {
constexpr uint64_t sce = 1ull << 0;
constexpr uint64_t lme = 1ull << 8;
constexpr uint64_t lma = 1ull << 10;
constexpr uint64_t nxe = 1ull << 11;
constexpr uint64_t svme = 1ull << 12;
} // namespace efer

} // namespace sv::x86
