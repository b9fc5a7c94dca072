// A guest access to a register block of DWORD registers (AHCI 1.3.1 §3,
// NVMe 1.4 §3.1) at any size and alignment, split per DWORD as
// docs/design.md §4 rule 2 says: one register access per DWORD it touches,
// low DWORD first. Shared by the AHCI and NVMe controller mediators.
#pragma once

#include <cstdint>

namespace sv::storage {

// Sizes a trapped MMIO access may have (core/mmio.hpp).
constexpr bool access_size_ok(uint8_t size) { return size == 1 || size == 2 || size == 4 || size == 8; }
// An access that touches more than one DWORD, other than an aligned QWORD.
constexpr bool straddles_dword(uint32_t offset, uint8_t size) {
    const uint64_t end = uint64_t{offset} + size;
    return (offset >> 2) != ((end - 1) >> 2) && !(size == 8 && (offset & 7) == 0);
}

// read_dword(uint32_t dword_offset) -> uint32_t, for every DWORD touched.
template <class ReadDword> uint64_t read_split(uint32_t offset, uint8_t size, ReadDword&& read_dword) {
    uint64_t value = 0;
    const uint64_t first = offset;
    const uint64_t end = first + size;
    for (uint64_t dw = first & ~uint64_t{3}; dw < end; dw += 4) {
        if (dw > 0xffffffffu) break;
        const uint32_t v = read_dword(static_cast<uint32_t>(dw));
        for (unsigned b = 0; b < 4; ++b) {
            const uint64_t at = dw + b;
            if (at < first || at >= end) continue;
            value |= uint64_t{(v >> (8 * b)) & 0xff} << (8 * (at - first));
        }
    }
    return value;
}

// write_dword(uint32_t dword_offset, uint32_t bytes, uint32_t byte_mask)
// for every DWORD touched: `bytes` holds the written bytes in their lanes,
// `byte_mask` which lanes were written (the callee merges or not).
template <class WriteDword> void write_split(uint32_t offset, uint8_t size, uint64_t value, WriteDword&& write_dword) {
    const uint64_t first = offset;
    const uint64_t end = first + size;
    for (uint64_t dw = first & ~uint64_t{3}; dw < end; dw += 4) {
        if (dw > 0xffffffffu) break;
        uint32_t bytes = 0, mask = 0;
        for (unsigned b = 0; b < 4; ++b) {
            const uint64_t at = dw + b;
            if (at < first || at >= end) continue;
            bytes |= static_cast<uint32_t>((value >> (8 * (at - first))) & 0xff) << (8 * b);
            mask |= 0xffu << (8 * b);
        }
        write_dword(static_cast<uint32_t>(dw), bytes, mask);
    }
}

} // namespace sv::storage
