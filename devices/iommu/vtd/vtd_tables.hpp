// VT-d DMA-remapping structures in legacy translation mode (Intel VT-d 3.x
// §9.1 root entry, §9.3 context entry, §9.8 second-level paging entries) and
// the builder that fills them for the hypervisor.
//
// Domains (devices/iommu/README.md):
//   guest    (DID 1): every guest-RAM page of the memory map the nested page
//            tables are built from (RAM, ACPI reclaimable, ACPI NVS: the same
//            types core/nested_identity.cpp treats as memory), 1:1, plus the
//            firmware's RMRRs 1:1 for the devices they name. Nothing of the
//            hypervisor: its image and heap are carved out of that map as
//            Reserved before anything is built from it.
//   mediated (DID 2): the guest domain plus the hypervisor's device DMA
//            window (shadow descriptors and the shadow pool), for the
//            storage controllers the hypervisor mediates and nobody else.
// Every bus shares one context table pointing every devfn at the guest
// domain (so a device that appears later, or a function nobody scanned, is
// confined too); a bus with a mediated function gets its own copy with that
// function's entry in the mediated domain.
//
// Second-level tables reuse the nested-paging builder (core/nested_paging.hpp)
// with the VT-d entry format: bits 0/1 read/write like EPT, no execute bit
// (bit 2 is only used with execute requests, which legacy mode does not
// translate), no memory type (EMT is for nested translation only), PS (bit 7)
// for 2 MiB and 1 GiB leaves when CAP.SLLPS allows them. The table is
// 4-level; for a 3-level unit (39-bit AGAW) the context entry points at the
// table under the root's entry 0, which is why everything mapped must lie
// below 512 GiB then.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/memory_map.hpp"
#include "core/nested_paging.hpp"
#include "devices/iommu/dma_domain.hpp"
#include "lib/result.hpp"

namespace sv::vtd {

inline constexpr NestedFormat nested_format_vtd{
    .name = "vt-d",
    .present = 0x3,          // R or W: an entry with neither is not present (§9.8)
    .readable = 1ull << 0,   // R
    .writable = 1ull << 1,   // W
    .executable = 0,
    .no_execute = 0,
    .every_level = 0,
    .table_reference = 0x3,  // R, W on every non-leaf: the leaf decides
    .memory_type_mask = 0,
    .memory_type_shift = 0,
    .ignore_pat = 0,
};

// §9.1 Root Entry (legacy mode): 128 bits, one per bus.
struct RootEntry {
    uint64_t lo = 0; // bit 0 P, bits 63:12 context-table pointer
    uint64_t hi = 0; // reserved
};
static_assert(sizeof(RootEntry) == 16);
constexpr uint64_t root_present = 1ull << 0;

// §9.3 Context Entry (legacy mode): 128 bits, one per devfn.
struct ContextEntry {
    uint64_t lo = 0; // bit 0 P, bit 1 FPD, bits 3:2 TT, bits 63:12 SLPTPTR
    uint64_t hi = 0; // bits 2:0 AW, bits 23:8 DID
};
static_assert(sizeof(ContextEntry) == 16);
constexpr uint64_t context_present = 1ull << 0;
constexpr uint64_t context_fault_processing_disable = 1ull << 1;
constexpr unsigned context_tt_shift = 2; // 00b: untranslated requests through second-level tables only
constexpr uint64_t context_address_mask = 0xFFFFFFFFFFFFF000ull;
constexpr unsigned context_did_shift = 8;
// AW (§9.3): 1 = 39-bit AGAW, 3-level table; 2 = 48-bit, 4-level.
constexpr uint8_t context_aw_39 = 1, context_aw_48 = 2;

constexpr size_t entries_per_table = 256; // root table: buses; context table: devfns

constexpr uint16_t guest_domain_id = 1;    // DID 0 is reserved when CAP.CM is set (§6.2.2.1)
constexpr uint16_t mediated_domain_id = 2;

struct PciFunction {
    uint8_t bus = 0, dev = 0, fn = 0;
    constexpr uint8_t devfn() const { return static_cast<uint8_t>(dev << 3 | fn); }
};

using PhysWindow = iommu::PhysWindow; // the same windows as AMD-Vi's

// What the unit can walk (from CAP, §11.4.2).
struct WalkCapabilities {
    unsigned levels = 4;     // 3 (39-bit AGAW) or 4 (48-bit); from SAGAW
    bool pages_2m = true;    // SLLPS bit 0
    bool pages_1g = false;   // SLLPS bit 1 (unused by the builder: 2 MiB pages suffice)
};

struct DomainInputs {
    const MemoryMap* guest_map = nullptr;     // the guest's e820 map (hypervisor memory carved out)
    const PhysWindow* reserved = nullptr;     // RMRRs, mapped 1:1 for every device (see build_tables)
    size_t reserved_count = 0;
    const PhysWindow* device_dma = nullptr;   // the mediated domain's extra: shadow memory
    size_t device_dma_count = 0;
    const PhysWindow* hypervisor = nullptr;   // never mapped, whatever the map says (checked)
    size_t hypervisor_count = 0;
    const PciFunction* mediated = nullptr;
    size_t mediated_count = 0;
};

struct TableStats {
    uint64_t root = 0;          // RTADDR value (4 KiB aligned, legacy mode)
    size_t context_tables = 0;
    size_t table_pages = 0;     // all pages the structures took
    uint64_t guest_bytes = 0;   // mapped in the guest domain
    uint64_t mediated_extra = 0;
};

// Builds root, context and second-level tables into `memory`. Refuses
// (Protected) when a device DMA window or an RMRR overlaps a hypervisor
// range, Unsupported when the walk has no 2 MiB pages (every VT-d unit this
// was tried on has them) or 3 levels cannot reach the top of the map.
class VtdTables {
  public:
    explicit VtdTables(PageTableMemory& memory) : memory_(memory) {}
    [[nodiscard]] Result<TableStats> build(const DomainInputs& in, const WalkCapabilities& walk);

    // Root entry of `bus` and the context entry of `bus:devfn` (for tests
    // and the fault log).
    RootEntry root_entry(uint8_t bus) const;
    ContextEntry context_entry(uint8_t bus, uint8_t devfn) const;
    // The second-level root of a domain as the context entry names it.
    uint64_t domain_root(uint16_t did) const { return did == mediated_domain_id ? mediated_root_ : guest_root_; }

  private:
    Result<uint64_t> build_domain(NestedPageTable& table, const DomainInputs& in, bool mediated, uint64_t& bytes);
    Result<uint64_t> fill_context_table(const DomainInputs& in, int bus);
    ContextEntry make_context(uint16_t did) const;

    PageTableMemory& memory_;
    unsigned levels_ = 4;
    uint64_t root_ = 0;
    uint64_t guest_root_ = 0, mediated_root_ = 0;
};

} // namespace sv::vtd
