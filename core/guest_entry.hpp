// How the guest starts: flat 32-bit protected mode, paging off, as the Linux
// boot protocol's 32-bit entry wants (boot.rst "32-bit boot protocol").
#pragma once

#include <cstdint>

namespace sv {

struct GuestEntry {
    uint64_t rip = 0;        // code32_start
    uint64_t rsi = 0;        // &boot_params
    uint64_t gdt_base = 0;   // a GDT in guest RAM with __BOOT_CS (0x10), __BOOT_DS (0x18)
    uint16_t gdt_limit = 0;
};

} // namespace sv
