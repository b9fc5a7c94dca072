#include "devices/iommu/dma_domain.hpp"

namespace sv::iommu {
namespace {
constexpr uint64_t page = NestedPageTable::page_4k;
constexpr NestedAccess read_write{NestedAccess::read | NestedAccess::write};

// The memory types core/nested_identity.cpp treats as memory.
bool is_memory(MemoryType t) {
    return t == MemoryType::Ram || t == MemoryType::AcpiReclaimable || t == MemoryType::AcpiNvs;
}
bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen) { return a < b + blen && b < a + alen; }
bool hits_hypervisor(const DomainInputs& in, uint64_t base, uint64_t length) {
    for (size_t i = 0; i < in.hypervisor_count; ++i)
        if (overlaps(base, length, in.hypervisor[i].base, in.hypervisor[i].length)) return true;
    return false;
}
// Whole pages of [base, base+length) only: a partial page at an edge is not
// the guest's to give a device.
Result<uint64_t> map_inward(NestedPageTable& t, uint64_t base, uint64_t length) {
    const uint64_t from = (base + page - 1) & ~(page - 1);
    const uint64_t to = (base + length) & ~(page - 1);
    if (from >= to || base + length < base) return uint64_t{0};
    TRY(t.map(from, from, to - from, read_write));
    return to - from;
}
} // namespace

Result<uint64_t> build_domain(NestedPageTable& t, const DomainInputs& in, bool mediated) {
    if (!in.guest_map) return fail(Error::InvalidArgument);
    uint64_t bytes = 0;
    for (size_t i = 0; i < in.guest_map->size(); ++i) {
        const MemoryRegion& r = (*in.guest_map)[i];
        if (!is_memory(r.type)) continue;
        if (hits_hypervisor(in, r.base, r.length)) return fail(Error::Protected);
        bytes += TRY(map_inward(t, r.base, r.length));
    }
    for (size_t i = 0; i < in.reserved_count; ++i) {
        if (hits_hypervisor(in, in.reserved[i].base, in.reserved[i].length)) return fail(Error::Protected);
        bytes += TRY(map_inward(t, in.reserved[i].base, in.reserved[i].length));
    }
    if (mediated) {
        // The one place hypervisor memory is mapped: the shadow window.
        for (size_t i = 0; i < in.device_dma_count; ++i)
            bytes += TRY(map_inward(t, in.device_dma[i].base, in.device_dma[i].length));
    }
    return bytes;
}

} // namespace sv::iommu
