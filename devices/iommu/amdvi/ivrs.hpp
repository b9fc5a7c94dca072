// The ACPI I/O Virtualization Reporting Structure (IVRS), AMD I/O
// Virtualization Technology (IOMMU) Specification 48882 rev 3.x §5: where
// each AMD IOMMU is (IVHD: its own PCI DeviceID, capability offset, MMIO
// base, PCI segment) and which DeviceIDs it translates (device entries:
// all, select, start/end of range, alias select/range, extended
// select/range, special IOAPIC/HPET, ACPI HID), plus the memory firmware
// keeps DMA-ing to (IVMD, §5.2.3: unity-mapped for the devices named).
// Parsed from raw table bytes, every length checked: a malformed table is
// refused, never walked past its end; bounds are fixed (a table with more
// is refused, not truncated).
//
// A DeviceID is the PCI requester ID: bus 15:8, device 7:3, function 2:0.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "lib/result.hpp"

namespace sv::amdvi {

// §5.2.1 IVRS header: the 36-byte ACPI header, IVinfo, 8 reserved bytes.
struct [[gnu::packed]] IvrsHeader {
    char signature[4]; // "IVRS"
    uint32_t length;
    uint8_t revision;
    uint8_t checksum;
    uint8_t oem_id[6];
    uint8_t oem_table_id[8];
    uint32_t oem_revision;
    uint32_t creator_id;
    uint32_t creator_revision;
    uint32_t iv_info; // bit 0 EFRSup, bit 1 DMA remap opt-in, 7:5 GVA size, 14:8 PA size, 21:15 VA size
    uint8_t reserved[8];
};
static_assert(sizeof(IvrsHeader) == 48);
static_assert(offsetof(IvrsHeader, length) == 4);
static_assert(offsetof(IvrsHeader, iv_info) == 36);

// §5.2.2 IVHD, type 10h (24 bytes); 11h and 40h append EFR images (40 bytes).
struct [[gnu::packed]] IvhdHeader {
    uint8_t type;
    uint8_t flags;
    uint16_t length;
    uint16_t device_id;         // the IOMMU's own PCI function
    uint16_t capability_offset; // its IOMMU capability block in config space
    uint64_t base_address;      // MMIO register base (16 KiB aligned)
    uint16_t segment;
    uint16_t iommu_info;        // 4:0 MSI number, 12:8 UnitID
    uint32_t attributes;        // 10h: IOMMU feature reporting; 11h/40h: IOMMU attributes
};
static_assert(sizeof(IvhdHeader) == 24);
static_assert(offsetof(IvhdHeader, device_id) == 4);
static_assert(offsetof(IvhdHeader, capability_offset) == 6);
static_assert(offsetof(IvhdHeader, base_address) == 8);
static_assert(offsetof(IvhdHeader, segment) == 16);
static_assert(offsetof(IvhdHeader, attributes) == 20);
constexpr size_t ivhd_10h_bytes = 24;
constexpr size_t ivhd_11h_bytes = 40; // + EFR register image (8) + EFR2 (8)

// §5.2.3 IVMD (types 20h all devices, 21h one DeviceID, 22h a range).
struct [[gnu::packed]] IvmdEntry {
    uint8_t type;
    uint8_t flags;     // bit 0 Unity, bit 1 IR, bit 2 IW, bit 3 ExclusionRange
    uint16_t length;
    uint16_t device_id; // 21h: the device; 22h: first of the range
    uint16_t aux;       // 22h: last DeviceID of the range
    uint8_t reserved[8];
    uint64_t start;     // 4 KiB aligned
    uint64_t bytes;     // 4 KiB multiple
};
static_assert(sizeof(IvmdEntry) == 32);
static_assert(offsetof(IvmdEntry, start) == 16);
static_assert(offsetof(IvmdEntry, bytes) == 24);

namespace block {
constexpr uint8_t ivhd_10h = 0x10, ivhd_11h = 0x11, ivhd_40h = 0x40;
constexpr uint8_t ivmd_all = 0x20, ivmd_select = 0x21, ivmd_range = 0x22;
} // namespace block

// §5.2.2.2 device entry types. Types below 80h are 4 << (type >> 6) bytes
// long (4 or 8); F0h (ACPI HID) is variable; other types from 80h up have
// no length this parser knows, so a table using them is refused.
namespace entry {
constexpr uint8_t pad4 = 0x00, all = 0x01, select = 0x02, range_start = 0x03, range_end = 0x04;
constexpr uint8_t pad8 = 0x40, alias_select = 0x42, alias_range_start = 0x43;
constexpr uint8_t extended_select = 0x46, extended_range_start = 0x47, special = 0x48;
constexpr uint8_t acpi_hid = 0xF0;
constexpr size_t acpi_hid_fixed_bytes = 22; // then UID length bytes of UID
} // namespace entry

enum class SpecialVariety : uint8_t { IoApic = 1, Hpet = 2 };

struct DeviceRange {
    uint16_t first = 0, last = 0; // DeviceIDs, inclusive
    uint16_t alias = 0;           // requests of these devices carry this DeviceID
    bool aliased = false;
};

struct SpecialDevice {
    SpecialVariety variety = SpecialVariety::IoApic;
    uint8_t handle = 0;     // IOAPIC ID or HPET number
    uint16_t device_id = 0; // the DeviceID its interrupt requests carry
};

struct IommuUnit {
    static constexpr size_t max_ranges = 32;
    static constexpr size_t max_specials = 8;
    uint8_t type = 0; // the IVHD type this description came from (10h, 11h, 40h)
    uint8_t flags = 0;
    uint16_t device_id = 0; // the IOMMU's own PCI function
    uint16_t capability_offset = 0;
    uint64_t base = 0;
    uint16_t segment = 0;
    uint64_t efr_image = 0; // 11h/40h: copy of the Extended Feature Register (0 for 10h)
    size_t range_count = 0;
    DeviceRange ranges[max_ranges];
    size_t special_count = 0;
    SpecialDevice specials[max_specials];
    size_t acpi_devices = 0; // F0h entries (ACPI namespace devices): counted, not confined by DeviceID
};

struct MemoryBlock {
    uint8_t type = 0;
    uint8_t flags = 0;
    uint16_t first = 0, last = 0; // DeviceIDs it is for (20h: all)
    uint64_t base = 0, bytes = 0;
};
namespace ivmd_flag {
constexpr uint8_t unity = 1u << 0, read = 1u << 1, write = 1u << 2, exclusion = 1u << 3;
}

struct IvrsInfo {
    static constexpr size_t max_units = 8;
    static constexpr size_t max_blocks = 8;
    uint32_t iv_info = 0;
    size_t unit_count = 0;
    IommuUnit units[max_units];
    size_t block_count = 0;
    MemoryBlock blocks[max_blocks];
    size_t ivhd_blocks = 0;      // IVHD blocks read (a unit may be described by several types)
    size_t other_blocks = 0;     // block types this parser does not know: skipped (they carry a length)
};

// Parses a whole IVRS (`table` spans at least its header length). Several
// IVHDs describing the same IOMMU (same segment and IOMMU DeviceID; firmware
// lists one per type it supports, §5.2.2) collapse into one unit: the highest
// type wins, as system software is to use the newest type it understands.
// Malformed: wrong signature, a block or entry overrunning its parent, an
// MMIO base that is 0 or not 16 KiB aligned, a range end without a start or
// before it, a start without an end, an unknown entry type of 80h and up
// (its length is unknown), an IVMD that wraps or is not page aligned.
// OutOfRange: more units, ranges, specials or memory blocks than the bounds.
[[nodiscard]] Result<void> parse_ivrs(std::span<const uint8_t> table, IvrsInfo& out);

// The unit that translates `device_id` on `segment` (nullptr: none lists it).
const IommuUnit* unit_for(const IvrsInfo& info, uint16_t segment, uint16_t device_id);

// The DeviceID `device_id`'s requests reach the IOMMU with (its alias, or itself).
uint16_t requester_id(const IommuUnit& unit, uint16_t device_id);

constexpr uint16_t device_id(uint8_t bus, uint8_t dev, uint8_t fn) {
    return static_cast<uint16_t>(bus << 8 | (dev & 31) << 3 | (fn & 7));
}

} // namespace sv::amdvi
