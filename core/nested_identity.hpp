// The guest-physical map every guest gets: identity over [0, top) for RAM
// and MMIO alike, with the hypervisor's own ranges mapped to one read-only
// page of zeros (a guest read there, e.g. through /dev/mem, sees zeros and a
// write exits and is dropped). Where the format records a memory type (EPT),
// RAM is write-back and everything else uncacheable, the types the MTRRs give
// under NPT; under NPT the table carries no type (core/nested_format.hpp).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/memory_map.hpp"
#include "core/nested_paging.hpp"
#include "lib/result.hpp"

namespace sv {

struct PhysRange {
    uint64_t base = 0;
    uint64_t length = 0;
};

// The type of an identity mapping of [base, base+length): write-back when the
// whole range is memory in `map` (RAM or ACPI tables/NVS), else uncacheable.
CacheType identity_cache_type(const MemoryMap& map, uint64_t base, uint64_t length);

// Builds the map into a freshly initialised `table`. `top` and the hidden
// ranges are 4 KiB aligned; `zero_page` is a zeroed page of hypervisor memory.
[[nodiscard]] Result<void> build_identity_map(NestedPageTable& table, const MemoryMap& map, uint64_t top,
                                              const PhysRange* hidden, size_t hidden_count, uint64_t zero_page);

} // namespace sv
