// Just enough ACPI table walking to find the PM1 control registers, where a
// guest requests power-off (SLP_EN): ACPI 6.4 §5.2.5 (RSDP, found in the BIOS
// area 0E0000h-0FFFFFh on legacy systems), §5.2.7/5.2.8 (RSDT/XSDT),
// §5.2.9 (FADT: PM1a_EVT_BLK at offset 56, PM1a_CNT_BLK at 64, PM1b_CNT_BLK at 68, PM1_CNT_LEN at 89,
// Flags at 112 (bit 10 RESET_REG_SUP), RESET_REG at 116, RESET_VALUE at 128,
// X_DSDT at 140, X_PM1a_EVT_BLK at 148, X_PM1a_CNT_BLK at 172, X_PM1b_CNT_BLK at 184).
#pragma once

#include <cstdint>

#include "core/guest_memory.hpp"
#include "devices/acpi/sleep_types.hpp"
#include "lib/result.hpp"

namespace sv::acpi {

// ACPI 6.4 §5.2.3.2 Generic Address Structure, address space IDs.
enum class AddressSpace : uint8_t { Memory = 0, Io = 1, Other = 0xFF };

struct ResetRegister {
    AddressSpace space = AddressSpace::Other; // Other: none (or not I/O / memory)
    uint64_t address = 0;
    uint8_t width = 1; // bytes (the GAS bit width / 8; the spec fixes it at 8 bits)
    uint8_t value = 0; // RESET_VALUE
};

struct PowerControlPorts {
    uint16_t pm1a_control = 0;
    uint16_t pm1b_control = 0; // 0: none
    // X_PM1x_CNT_BLK when it names other I/O ports than the 32-bit fields
    // (an OSPM uses the X_ field when non-zero, ACPI 6.4 §5.2.9): 0 if same/none.
    uint16_t x_pm1a_control = 0;
    uint16_t x_pm1b_control = 0;
    // PM1a status (the first PM1_EVT_LEN/2 bytes of PM1a_EVT_BLK, §4.8.3.1):
    // where OSPM reads WAK_STS. x_pm1a_status as x_pm1a_control.
    uint16_t pm1a_status = 0;
    uint16_t x_pm1a_status = 0;
    ResetRegister reset; // FADT RESET_REG when RESET_REG_SUP is set
    uint64_t dsdt = 0;   // X_DSDT if non-zero, else DSDT
};

// `memory` reads firmware memory (the BIOS area and ACPI tables).
[[nodiscard]] Result<PowerControlPorts> find_power_control(GuestMemory& memory);

// The SLP_TYP values of \_S0..\_S5 from the DSDT the FADT names (and the
// SSDTs in the RSDT). NotFound when no table declares any.
[[nodiscard]] Result<SleepTypes> find_sleep_types(GuestMemory& memory);

} // namespace sv::acpi

namespace sv::acpi {

// Local APIC IDs of the enabled processors in the MADT (ACPI 6.4 §5.2.12,
// entry type 0 "Processor Local APIC", flags bit 0 Enabled). Returns how many
// were written to `ids` (at most `max`).
[[nodiscard]] Result<size_t> find_processor_apic_ids(GuestMemory& memory, uint8_t* ids, size_t max);

} // namespace sv::acpi

namespace sv::acpi {

// PCIe ECAM windows from the MCFG table (PCI Firmware 3.0 §4.1.2: after the
// 36-byte header and 8 reserved bytes, 16-byte entries: u64 base, u16
// segment, u8 start bus, u8 end bus, u32 reserved). `base` is where bus 0
// would be, so the window is [base + start<<20, base + (end+1)<<20).
struct EcamSegment {
    uint64_t base = 0;
    uint16_t segment = 0;
    uint8_t start_bus = 0, end_bus = 0;
};
[[nodiscard]] Result<size_t> find_ecam_segments(GuestMemory& memory, EcamSegment* out, size_t max);

// The first table with this 4-character signature listed in the RSDT
// (length and checksum verified), or nullptr.
const uint8_t* find_table(GuestMemory& memory, const char* signature);
// The table at `pa` when its header length is sane and its checksum holds.
const uint8_t* map_checked_table(GuestMemory& memory, uint64_t pa);
// Physical address of the first valid RSDP in the BIOS area, 0 when none.
uint64_t rsdp_address(GuestMemory& memory);

} // namespace sv::acpi
