// Decoding guest accesses into config writes exactly as the chipset does,
// and refusing what is uncertain:
//
// Mechanism #1 (PCI Local Bus 3.0 §3.2.2.3.2; i440FX/PIIX and Q35 decode it
// the same way, QEMU hw/pci/pci_host.c): CONFIG_ADDRESS is a dword register
// at 0xCF8 (only a 32-bit access there is CONFIG_ADDRESS); bit 31 enables,
// bits 23-16 bus, 15-11 device, 10-8 function, 7-2 register. Bits 1-0 and
// 30-24 are reserved: QEMU ORs bits 1-0 into the offset and ignores 30-24,
// real chipsets hardwire them to 0. A data access with any reserved bit set
// is refused (Linux never sets them). CONFIG_DATA 0xCFC-0xCFF takes byte,
// word and dword accesses at their natural alignment (byte lane = port & 3);
// an access that is misaligned or extends past 0xCFF (QEMU marks it invalid,
// real chipsets differ) is refused.
//
// ECAM (PCI Express Base 3.0 §7.2.2, Table 7-1): offset within the window =
// bus << 20 | device << 15 | function << 12 | register. Accesses of 1, 2 or 4
// bytes at natural alignment are config accesses; 8-byte and misaligned
// accesses are refused (QEMU's pcie_mmcfg ops reject them; §7.2.2.3 leaves
// them undefined).
#pragma once

#include <cstdint>

#include "devices/pci/config_write.hpp"

namespace sv::pci {

namespace config_address {
constexpr uint16_t port = 0xCF8;
constexpr uint16_t data_port = 0xCFC;
constexpr uint32_t enable = 1u << 31;
constexpr uint32_t reserved = 0x7F000003u;
constexpr uint32_t bus_shift = 16, device_shift = 11, function_shift = 8;
constexpr uint32_t register_mask = 0xFC;
} // namespace config_address

enum class DecodeResult : uint8_t {
    Config,       // a configuration write: `out` holds it
    NotConfig,    // enable bit clear: the chipset forwards nothing
    Refused,      // reserved bits, misaligned or oversize: dropped and counted
};

// A guest OUT of `size` bytes at `port` (0xCFC-0xCFF, or starting below and
// reaching into the data window) while CONFIG_ADDRESS holds `latch`.
DecodeResult decode_port_write(uint32_t latch, uint16_t port, uint8_t size, uint32_t value, ConfigWrite& out);

// A guest write at `offset` from the ECAM base (window of `window_bytes`).
DecodeResult decode_ecam_write(uint64_t offset, uint64_t window_bytes, uint8_t size, uint64_t value,
                               ConfigWrite& out);

// The ECAM offset of (address, register).
constexpr uint64_t ecam_offset(Address a, uint16_t reg) {
    return static_cast<uint64_t>(a.bus) << 20 | static_cast<uint64_t>(a.device & 31) << 15 |
           static_cast<uint64_t>(a.function & 7) << 12 | (reg & 0xFFF);
}

// CONFIG_ADDRESS for (address, register), the hypervisor's own accesses.
constexpr uint32_t config_address_of(Address a, uint8_t reg) {
    return config_address::enable | static_cast<uint32_t>(a.bus) << config_address::bus_shift |
           static_cast<uint32_t>(a.device & 31) << config_address::device_shift |
           static_cast<uint32_t>(a.function & 7) << config_address::function_shift |
           (reg & config_address::register_mask);
}

} // namespace sv::pci
