// AMD-Vi translation structures (AMD IOMMU Specification 48882 rev 3.x
// §2.2.2 device table, §2.2.3 I/O page tables) and their builder.
//
// Domains, as with VT-d (devices/iommu/README.md):
//   guest    (DomainID 1): every whole page of guest memory in the map the
//            nested page tables come from, 1:1, plus the IVMD unity ranges.
//   mediated (DomainID 2): the guest domain plus the shadow window, for the
//            storage functions the hypervisor mediates and nobody else.
// The device table covers every DeviceID (0-FFFFh, 2 MiB): each entry is
// valid and translates through the guest domain, so a function nobody
// scanned or that appears later is confined too; the mediated functions'
// entries (and the alias their requests carry) point at the mediated one.
//
// The I/O page tables are built by core/nested_paging.hpp in the AMD-Vi
// format below, 4 levels (DTE Mode 4, 48-bit addresses), then finished
// (finish()): the core's table references carry no level, but AMD-Vi's
// Next Level field (bits 11:9) must name the level of the table it points
// at, a 2 MiB leaf is a level-2 entry with Next Level 0 (not bit 7, which
// AMD-Vi does not define as a page-size bit), and not-present entries are
// written as Next Level 1 with PR = 0 (a not-present entry's other bits
// mean nothing to the walker, §2.2.3; QEMU 7.2's model reports an
// IO_PAGE_FAULT only for a non-zero entry and drops the DMA silently on a
// zero one). The tables never change after boot.
#pragma once

#include <cstddef>
#include <cstdint>

#include "devices/iommu/dma_domain.hpp"
#include "core/nested_paging.hpp"
#include "lib/result.hpp"

namespace sv::amdvi {

// §2.2.3 PDE/PTE: PR (bit 0), Next Level (11:9), address (51:12), IR (61),
// IW (62). Permissions are ANDed along the walk, so table references allow
// both and the leaf decides.
inline constexpr NestedFormat nested_format_amdvi{
    .name = "amd-vi",
    .present = 1ull << 0,    // PR
    .readable = 1ull << 61,  // IR
    .writable = 1ull << 62,  // IW
    .executable = 0,
    .no_execute = 0,
    .every_level = 1ull << 0, // PR on table references and leaves alike
    .table_reference = (1ull << 61) | (1ull << 62),
    .memory_type_mask = 0,
    .memory_type_shift = 0,
    .ignore_pat = 0,
};

namespace pte {
constexpr uint64_t present = 1ull << 0;
constexpr unsigned next_level_shift = 9;
constexpr uint64_t next_level_mask = 7ull << next_level_shift;
constexpr uint64_t read = 1ull << 61, write = 1ull << 62;
constexpr uint64_t not_present = 1ull << next_level_shift; // PR = 0, Next Level 1 (see above)
constexpr unsigned next_level(uint64_t e) { return static_cast<unsigned>((e & next_level_mask) >> next_level_shift); }
} // namespace pte

// §2.2.2.1 Device Table Entry: 256 bits.
struct DeviceTableEntry {
    uint64_t q[4]{};
};
static_assert(sizeof(DeviceTableEntry) == 32);
namespace dte {
constexpr uint64_t valid = 1ull << 0;             // V
constexpr uint64_t translation_valid = 1ull << 1; // TV: Mode and root are valid
constexpr unsigned mode_shift = 9;                // bits 11:9: paging levels (0: no translation)
constexpr uint64_t mode_mask = 7ull << mode_shift;
constexpr uint64_t root_mask = 0x000FFFFFFFFFF000ull; // bits 51:12
constexpr uint64_t read = 1ull << 61, write = 1ull << 62; // IR, IW
constexpr uint64_t domain_mask = 0xFFFF;          // q[1] bits 15:0 (DTE 79:64)
constexpr uint64_t iotlb = 1ull << 32;            // q[1] bit 32 (DTE 96): I, ATS allowed
constexpr uint64_t suppress_all = 1ull << 34;     // SA: the hypervisor wants every fault logged
constexpr uint64_t interrupt_valid = 1ull << 0;   // q[2] bit 0 (DTE 128): IV
constexpr unsigned levels = 4;
} // namespace dte

// Valid, translating through the 4-level table at `root`, reads and writes
// allowed (the leaves decide), `domain`; I = 0 (no ATS, so a device cannot
// present addresses as already translated), IoCtl = 00b (port I/O from the
// device aborted), SysMgt = 00b, no exclusion; IV = 0: interrupts are not
// remapped (the IOMMU passes them through, as VT-d does with IR off).
constexpr DeviceTableEntry make_dte(uint64_t root, uint16_t domain) {
    DeviceTableEntry e;
    e.q[0] = dte::valid | dte::translation_valid | static_cast<uint64_t>(dte::levels) << dte::mode_shift |
             (root & dte::root_mask) | dte::read | dte::write;
    e.q[1] = domain;
    return e;
}

constexpr uint16_t guest_domain_id = 1; // DomainID 0 is avoided (Linux reserves it; no spec meaning)
constexpr uint16_t mediated_domain_id = 2;
constexpr size_t device_ids = 65536;
constexpr size_t device_table_bytes = device_ids * sizeof(DeviceTableEntry); // 2 MiB

struct TableInputs {
    iommu::DomainInputs domain;
    const uint16_t* mediated = nullptr; // DeviceIDs (alias-resolved) of the mediated functions
    size_t mediated_count = 0;
};

struct TableStats {
    uint64_t device_table = 0;    // physical address (4 KiB aligned)
    uint64_t guest_root = 0, mediated_root = 0;
    size_t table_pages = 0;       // I/O page-table pages of both domains
    uint64_t guest_bytes = 0;     // mapped in the guest domain
    uint64_t mediated_extra = 0;  // what the mediated domain maps beyond it
};

class AmdviTables {
  public:
    // `device_table` is the host view of device_table_bytes of zeroed,
    // 4 KiB-aligned memory at `device_table_phys`.
    AmdviTables(PageTableMemory& memory, DeviceTableEntry* device_table, uint64_t device_table_phys)
        : memory_(memory), devices_(device_table), devices_phys_(device_table_phys) {}

    // Builds both domains and fills the device table. Protected: guest
    // memory, a unity range or the map overlaps the hypervisor.
    [[nodiscard]] Result<TableStats> build(const TableInputs& in);

    const DeviceTableEntry& entry(uint16_t device_id) const { return devices_[device_id]; }

  private:
    Result<uint64_t> build_domain(const TableInputs& in, bool mediated, uint64_t& bytes, size_t& pages);
    void finish(uint64_t table, unsigned level);

    PageTableMemory& memory_;
    DeviceTableEntry* devices_;
    uint64_t devices_phys_;
};

} // namespace sv::amdvi
