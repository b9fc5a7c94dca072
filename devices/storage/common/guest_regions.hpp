// Guest scatter lists: the guest-physical regions a command's data lives
// in, whatever format named them (IDE PRD tables, AHCI PRDTs, NVMe PRP lists
// and SGLs are producers). Every region is checked through GuestMemory::map,
// which only maps guest RAM: hypervisor memory, MMIO, holes and ranges that
// wrap are refused (docs/design.md §4 rule 5: no device and no copy of ours
// ever touches hypervisor memory on a guest's word).
#pragma once

#include <cstdint>
#include <span>

#include "core/guest_memory.hpp"
#include "lib/result.hpp"

namespace sv::storage {

struct GuestRegion {
    uint64_t gpa = 0;
    uint64_t bytes = 0;
};

// A region after the check: where the hypervisor reads or writes it.
struct MappedRegion {
    uint8_t* host = nullptr;
    uint64_t bytes = 0;
};

enum class RegionFault : uint8_t {
    None,
    Empty,   // zero bytes (no format we mediate names an empty region)
    NotRam,  // not wholly guest RAM: hypervisor memory, MMIO, a hole, wraps
    TooLong, // the regions add up to more than the transfer
};
const char* to_string(RegionFault f);

// The one check every producer uses before it trusts a region.
[[nodiscard]] Result<MappedRegion> map_guest_region(GuestMemory& mem, const GuestRegion& region,
                                                    RegionFault& fault);

// Maps each region of `regions` in order and calls visit(const MappedRegion&);
// stops at the first refused region or when the total would exceed
// `max_total`. Returns the total. Regions visited before a refusal are not
// undone (a caller only ever writes its own shadow or guest RAM the guest
// named itself).
template <class Visit>
[[nodiscard]] Result<uint64_t> walk_guest_regions(GuestMemory& mem, std::span<const GuestRegion> regions,
                                                  uint64_t max_total, RegionFault& fault, Visit&& visit) {
    fault = RegionFault::None;
    uint64_t total = 0;
    for (const GuestRegion& r : regions) {
        if (r.bytes > max_total - total) {
            fault = RegionFault::TooLong;
            return fail(Error::OutOfRange);
        }
        const MappedRegion m = TRY(map_guest_region(mem, r, fault));
        total += m.bytes;
        visit(m);
    }
    return total;
}

} // namespace sv::storage
