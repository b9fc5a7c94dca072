// The 64-bit task-state segment and its GDT descriptor (Intel SDM vol. 3A,
// "Task Management in 64-bit Mode" and "TSS Descriptor in 64-bit Mode";
// AMD APM vol. 2 §12.2.5 "64-Bit Task State Segment"). Long mode uses the
// TSS only for the stack pointers of privilege changes and IST, and for the
// I/O permission bitmap at CPL > IOPL; the hypervisor needs none of them,
// but VT-x makes every VM exit load TR from the VMCS host-state area, so
// the host's TR selector must name a real descriptor of that TSS.
#pragma once

#include <cstdint>

namespace sv::x86 {

struct [[gnu::packed]] Tss64 {
    uint32_t reserved0 = 0;
    uint64_t rsp[3] = {};
    uint64_t reserved1 = 0;
    uint64_t ist[7] = {};
    uint64_t reserved2 = 0;
    uint16_t reserved3 = 0;
    // An offset at or beyond the limit: no I/O permission bitmap (every
    // port access at CPL > IOPL faults; the hypervisor runs at CPL 0).
    uint16_t io_map_base = 104;
};
static_assert(sizeof(Tss64) == 104);

namespace system_type {
constexpr uint8_t tss64_available = 0x9;
constexpr uint8_t tss64_busy = 0xB;
} // namespace system_type

// A 16-byte system-segment descriptor (TSS, LDT) as two GDT quadwords:
// limit 15:0, base 23:0, type, S = 0, DPL 0, P, limit 19:16, G = 0,
// base 31:24; then base 63:32 and a zero upper half (type 0 there).
struct SystemDescriptor64 {
    uint64_t low;
    uint64_t high;
};

constexpr uint64_t descriptor_present = 1ull << 47;

constexpr SystemDescriptor64 system_descriptor64(uint64_t base, uint32_t limit, uint8_t type) {
    const uint64_t low = (limit & 0xFFFFull) | ((base & 0xFFFFFFull) << 16) | (uint64_t{type & 0xFu} << 40) |
                         descriptor_present | (uint64_t{(limit >> 16) & 0xFu} << 48) |
                         (((base >> 24) & 0xFFull) << 56);
    return {low, base >> 32};
}

} // namespace sv::x86
