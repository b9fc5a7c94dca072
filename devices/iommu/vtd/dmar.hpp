// The ACPI DMA Remapping Reporting table (DMAR), Intel VT-d 3.x §8: where the
// remapping hardware units are (DRHD: register base, segment, which devices
// they translate), which memory firmware keeps DMA-ing to (RMRR: identity-
// mapped for the devices in their scope, §8.4) and whether the platform
// already has interrupt remapping. Parsed from raw table bytes (the caller
// finds the table with acpi::find_table), every length checked: a malformed
// table is refused, never walked past its end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "lib/result.hpp"

namespace sv::vtd {

// On-table layouts (little-endian, packed), VT-d 3.x §8.1-§8.4.
struct [[gnu::packed]] DmarHeader {
    char signature[4]; // "DMAR"
    uint32_t length;
    uint8_t revision;
    uint8_t checksum;
    uint8_t oem_id[6];
    uint8_t oem_table_id[8];
    uint32_t oem_revision;
    uint32_t creator_id;
    uint32_t creator_revision;
    uint8_t host_address_width; // N-1: the DMA physical addressability is N bits
    uint8_t flags;              // bit 0 INTR_REMAP, bit 1 X2APIC_OPT_OUT, bit 2 DMA_CTRL_PLATFORM_OPT_IN
    uint8_t reserved[10];
};
static_assert(sizeof(DmarHeader) == 48);
static_assert(offsetof(DmarHeader, length) == 4);
static_assert(offsetof(DmarHeader, host_address_width) == 36);
static_assert(offsetof(DmarHeader, flags) == 37);

// Every remapping structure starts with type and length (§8.2).
struct [[gnu::packed]] RemapStructHeader {
    uint16_t type;
    uint16_t length;
};
static_assert(sizeof(RemapStructHeader) == 4);

enum class RemapType : uint16_t { Drhd = 0, Rmrr = 1, Atsr = 2, Rhsa = 3, Andd = 4, Satc = 5 };

// §8.3 DMA Remapping Hardware Unit Definition.
struct [[gnu::packed]] DrhdEntry {
    uint16_t type;
    uint16_t length;
    uint8_t flags; // bit 0 INCLUDE_PCI_ALL
    uint8_t size;  // bits 3:0: the register set is 2^N 4 KiB pages (0 on older tables: one page)
    uint16_t segment;
    uint64_t register_base;
    // device scopes follow (§8.3.1)
};
static_assert(sizeof(DrhdEntry) == 16);
static_assert(offsetof(DrhdEntry, flags) == 4);
static_assert(offsetof(DrhdEntry, segment) == 6);
static_assert(offsetof(DrhdEntry, register_base) == 8);

// §8.4 Reserved Memory Region Reporting.
struct [[gnu::packed]] RmrrEntry {
    uint16_t type;
    uint16_t length;
    uint16_t reserved;
    uint16_t segment;
    uint64_t base;  // 4 KiB aligned
    uint64_t limit; // last byte (inclusive), base+limit+1 4 KiB aligned
    // device scopes follow
};
static_assert(sizeof(RmrrEntry) == 24);
static_assert(offsetof(RmrrEntry, segment) == 6);
static_assert(offsetof(RmrrEntry, base) == 8);
static_assert(offsetof(RmrrEntry, limit) == 16);

// §8.3.1 Device Scope: a start bus and a path of (device, function) hops.
struct [[gnu::packed]] DeviceScopeEntry {
    uint8_t type;
    uint8_t length; // 6 + 2 * hops
    uint16_t reserved;
    uint8_t enumeration_id; // I/O APIC ID, HPET number, ACPI device number
    uint8_t start_bus;
    // (device, function) pairs follow
};
static_assert(sizeof(DeviceScopeEntry) == 6);
static_assert(offsetof(DeviceScopeEntry, enumeration_id) == 4);
static_assert(offsetof(DeviceScopeEntry, start_bus) == 5);

enum class ScopeType : uint8_t { PciEndpoint = 1, PciSubHierarchy = 2, IoApic = 3, HpetMsi = 4, AcpiNamespace = 5 };

constexpr uint8_t dmar_flag_intr_remap = 1u << 0;
constexpr uint8_t dmar_flag_x2apic_opt_out = 1u << 1;
constexpr uint8_t drhd_flag_include_pci_all = 1u << 0;

// Parsed form (bounded: a table with more is refused, not truncated).
struct DeviceScope {
    static constexpr size_t max_hops = 8;
    ScopeType type = ScopeType::PciEndpoint;
    uint8_t enumeration_id = 0;
    uint8_t start_bus = 0;
    uint8_t hops = 0;
    uint8_t device[max_hops]{}; // path: device[i], function[i] on the bus the previous hop leads to
    uint8_t function[max_hops]{};
};

struct RemapUnit {
    static constexpr size_t max_scopes = 16;
    uint64_t register_base = 0;
    uint64_t register_bytes = 4096;
    uint16_t segment = 0;
    bool include_pci_all = false;
    size_t scope_count = 0;
    DeviceScope scopes[max_scopes];
};

struct ReservedRegion {
    static constexpr size_t max_scopes = 8;
    uint64_t base = 0;
    uint64_t end = 0; // exclusive
    uint16_t segment = 0;
    size_t scope_count = 0;
    DeviceScope scopes[max_scopes];
};

struct DmarInfo {
    static constexpr size_t max_units = 8;
    static constexpr size_t max_reserved = 8;
    uint8_t address_width = 0; // bits (host_address_width + 1)
    bool interrupt_remapping = false;
    bool x2apic_opt_out = false;
    size_t unit_count = 0;
    RemapUnit units[max_units];
    size_t reserved_count = 0;
    ReservedRegion reserved[max_reserved];
    size_t other_structures = 0; // ATSR, RHSA, ANDD, SATC: skipped, counted
};

// Parses a whole DMAR table (`table` spans its header length; the checksum
// is the caller's, acpi::map_checked_table). Malformed: wrong signature, a
// structure or scope that overruns its parent, a register base that is 0 or
// not page aligned, an RMRR that wraps or is not page aligned, INCLUDE_PCI_ALL
// not on the segment's last unit (§8.3: "the last DRHD of the segment").
// OutOfRange: more units, regions or scopes than the bounds above.
[[nodiscard]] Result<void> parse_dmar(std::span<const uint8_t> table, DmarInfo& out);

// Bus numbers behind a PCI-PCI bridge (PCI-to-PCI Bridge 1.2 §3.2.5.3-5:
// secondary at 19h, subordinate at 1Ah), read from config space at boot.
class BridgeBuses {
  public:
    // False when bus:dev.fn is no bridge (absent, or header type not 1).
    virtual bool buses(uint8_t bus, uint8_t dev, uint8_t fn, uint8_t& secondary, uint8_t& subordinate) = 0;

  protected:
    ~BridgeBuses() = default;
};

// The bus and dev.fn a scope's path ends at (the start bus and one hop need no
// bridge reads). False when a bridge on the path is absent or the path is empty.
bool resolve_scope(const DeviceScope& scope, BridgeBuses& bridges, uint8_t& bus, uint8_t& dev, uint8_t& fn);

// The unit that translates segment:bus:dev.fn: the one whose scope names it
// (an endpoint scope, or a sub-hierarchy scope whose bridge it is or is
// below) else the segment's INCLUDE_PCI_ALL unit. nullptr: none covers it.
const RemapUnit* unit_for(const DmarInfo& info, uint16_t segment, uint8_t bus, uint8_t dev, uint8_t fn,
                          BridgeBuses& bridges);

} // namespace sv::vtd
