// One guest configuration write, whatever mechanism carried it: mechanism #1
// (CONFIG_ADDRESS 0xCF8 + CONFIG_DATA 0xCFC-0xCFF, PCI Local Bus 3.0
// §3.2.2.3.2) or the memory-mapped ECAM window (PCI Express Base 3.0 §7.2.2).
// Both decoders produce a ConfigWrite; the config mediator filters it
// (rules), performs it on the hardware, then notifies watchers.
#pragma once

#include <cstdint>

namespace sv::pci {

struct Address {
    uint8_t bus = 0, device = 0, function = 0;
    bool operator==(const Address&) const = default;
};

constexpr uint16_t config_space_size = 4096; // PCIe extended config space

struct ConfigWrite {
    Address address;
    uint16_t offset = 0; // 0-4095; size-aligned (decoders refuse anything else)
    uint8_t size = 4;    // 1, 2 or 4 bytes
    uint32_t value = 0;  // low `size` bytes used, byte 0 at `offset`

    // Whether the write touches config byte `at` / any of [first, first+count).
    constexpr bool covers(uint16_t at) const { return at >= offset && at < offset + size; }
    constexpr bool overlaps(uint16_t first, uint16_t count) const {
        return first < offset + size && offset < first + count;
    }
    constexpr uint8_t byte_at(uint16_t at) const {
        return static_cast<uint8_t>(value >> (8 * (at - offset)));
    }
    constexpr void set_byte(uint16_t at, uint8_t b) {
        const unsigned shift = 8 * (at - offset);
        value = (value & ~(0xFFu << shift)) | (static_cast<uint32_t>(b) << shift);
    }
};

} // namespace sv::pci
