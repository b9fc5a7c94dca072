// The PRP rules of NVMe 1.4 §4.3 (Figures 108-110) for one command's data
// pointer: from PRP1, PRP2 and the transfer length to the guest-physical
// regions the data lives in, as storage::GuestRegion's for the shared
// storage layer (devices/storage/common/). Guest values are hostile: every
// data page and every PRP list page goes through GuestMemory::map (guest RAM
// only: hypervisor memory, MMIO, holes and wrapping ranges are refused), and
// every rule the controller would apply is applied here first, so the shadow
// PRPs the mediator builds never inherit a guest mistake.
//
// The rules, with memory page size P = CC.MPS:
//   - PRP1 names the first page and may carry an offset (bits 1:0 zero,
//     §4.3: dword aligned); it covers P - offset bytes at most.
//   - If the rest fits in one page, PRP2 is that page (offset 0).
//   - Otherwise PRP2 is a PRP list pointer (qword aligned, may carry an
//     offset): entries from there to the end of its page. When more than one
//     page of data remains at the last entry of a list page, that entry
//     points to the next list page (page aligned), and so on. Every data
//     entry in a list has offset 0.
//   - A list page is read once, into hypervisor memory (`list_copy`), before
//     any of its entries is used: the guest may rewrite its list at any time
//     and the controller must only ever see what was checked.
//   - Refused beyond the controller's own rules: a chain that comes back to
//     a list page it already used (a loop), a transfer above `max_bytes`
//     (MDTS, or what the shadow pool serves), more list pages than
//     kMaxPrpListPages.
#pragma once

#include <cstdint>
#include <span>

#include "core/guest_memory.hpp"
#include "devices/storage/common/guest_regions.hpp"

namespace sv::nvme {

// 64 list pages of 4 KiB name ~128 MiB, far above any MDTS the mediator
// offers; a chain longer than that is refused as TooLong.
constexpr uint32_t kMaxPrpListPages = 64;

enum class PrpFault : uint8_t {
    None,
    ZeroLength,       // a data pointer for no data (caller's bug or a zero NLB mistake)
    BadPageSize,      // limits: page size not a power of two in 4 KiB..128 MiB
    TooLong,          // above max_bytes (MDTS), or more than kMaxPrpListPages list pages
    Prp1Unaligned,    // PRP1 bits 1:0 set
    Prp2Offset,       // PRP2 names the second (last) page but carries an offset
    ListUnaligned,    // PRP2 as list pointer not qword aligned
    ChainOffset,      // a list-to-list pointer with an offset
    EntryOffset,      // a data entry in a list with an offset
    ListNotRam,       // a list page not (wholly) guest RAM
    DataNotRam,       // a data page not (wholly) guest RAM
    ListLoop,         // a chain pointer to a list page already used
    TooManyRegions,   // more regions than the caller gave room for
};
const char* to_string(PrpFault f);

// The completion status a mediator answers a command with when its PRPs are
// refused (NVMe 1.4 §4.6.1.2.1): PRP Offset Invalid for offset rules,
// Data Transfer Error for memory that is not the guest's, Invalid Field for
// lengths and loops. Always with DNR: retrying cannot help.
uint16_t prp_fault_status(PrpFault f);

struct PrpLimits {
    uint32_t page_bytes = 4096; // CC.MPS
    uint64_t max_bytes = 0;     // largest transfer accepted (0: 2 MiB)
};

struct PrpWalk {
    PrpFault fault = PrpFault::None;
    uint64_t fault_addr = 0;  // the entry or list page refused
    uint32_t regions = 0;     // entries of `out` used (physically adjacent pages merged)
    uint32_t list_pages = 0;  // PRP list pages read (each exactly once)
    uint32_t data_pages = 0;  // PRP entries naming data
    uint64_t bytes = 0;       // bytes described (== transfer length when ok)
    bool ok() const { return fault == PrpFault::None; }
};

// Walks the data pointer of a `bytes`-byte transfer. `out` receives the
// regions in transfer order; `list_copy` (at least page_bytes bytes,
// hypervisor memory) holds each list page while it is used.
PrpWalk walk_prps(GuestMemory& mem, uint64_t prp1, uint64_t prp2, uint64_t bytes, const PrpLimits& limits,
                  std::span<storage::GuestRegion> out, std::span<uint8_t> list_copy);

// Regions a walk of `bytes` can need at most (one per page, PRP1's offset
// page included): size `out` with this.
constexpr uint32_t max_prp_regions(uint64_t bytes, uint32_t page_bytes) {
    return static_cast<uint32_t>((bytes + page_bytes - 1) / page_bytes + 1);
}

} // namespace sv::nvme
