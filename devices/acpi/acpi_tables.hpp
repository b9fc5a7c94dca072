// Just enough ACPI table walking to find the PM1 control registers, where a
// guest requests power-off (SLP_EN): ACPI 6.4 §5.2.5 (RSDP, found in the BIOS
// area 0E0000h-0FFFFFh on legacy systems), §5.2.7/5.2.8 (RSDT/XSDT),
// §5.2.9 (FADT: PM1a_CNT_BLK at offset 64, PM1b_CNT_BLK at 68, PM1_CNT_LEN at 89).
#pragma once

#include <cstdint>

#include "core/guest_memory.hpp"
#include "lib/result.hpp"

namespace sv::acpi {

struct PowerControlPorts {
    uint16_t pm1a_control = 0;
    uint16_t pm1b_control = 0; // 0: none
};

// `memory` reads firmware memory (the BIOS area and ACPI tables).
[[nodiscard]] Result<PowerControlPorts> find_power_control(GuestMemory& memory);

} // namespace sv::acpi

namespace sv::acpi {

// Local APIC IDs of the enabled processors in the MADT (ACPI 6.4 §5.2.12,
// entry type 0 "Processor Local APIC", flags bit 0 Enabled). Returns how many
// were written to `ids` (at most `max`).
[[nodiscard]] Result<size_t> find_processor_apic_ids(GuestMemory& memory, uint8_t* ids, size_t max);

} // namespace sv::acpi

namespace sv::acpi {

// The first table with this 4-character signature listed in the RSDT
// (length and checksum verified), or nullptr.
const uint8_t* find_table(GuestMemory& memory, const char* signature);
// The table at `pa` when its header length is sane and its checksum holds.
const uint8_t* map_checked_table(GuestMemory& memory, uint64_t pa);
// Physical address of the first valid RSDP in the BIOS area, 0 when none.
uint64_t rsdp_address(GuestMemory& memory);

} // namespace sv::acpi
