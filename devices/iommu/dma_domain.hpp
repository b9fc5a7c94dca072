// What an IOMMU domain maps, whatever the vendor (devices/iommu/README.md):
// the vendor-neutral half of the translation tables. A domain is an I/O page
// table built with core/nested_paging.hpp in the vendor's entry format from
// the guest's memory map, the same map the nested page tables come from (one
// source of truth): every whole page of guest memory 1:1, plus the regions
// firmware says devices keep using (VT-d RMRRs, AMD-Vi IVMD unity ranges),
// and, for the mediated domain only, the hypervisor's shadow memory.
// Nothing else of the hypervisor, ever: a map or region that overlaps it is
// refused, not clipped.
//
// Used by VT-d (devices/iommu/vtd/vtd_tables.cpp) and AMD-Vi
// (devices/iommu/amdvi/).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/memory_map.hpp"
#include "core/nested_paging.hpp"
#include "lib/result.hpp"

namespace sv::iommu {

struct PhysWindow {
    uint64_t base = 0;
    uint64_t length = 0;
};

struct DomainInputs {
    const MemoryMap* guest_map = nullptr;   // the guest's e820 map (hypervisor memory carved out)
    const PhysWindow* reserved = nullptr;   // firmware's DMA regions, 1:1 for every device
    size_t reserved_count = 0;
    const PhysWindow* device_dma = nullptr; // the mediated domain's extra: shadow memory
    size_t device_dma_count = 0;
    const PhysWindow* hypervisor = nullptr; // never mapped, whatever the map says (checked)
    size_t hypervisor_count = 0;
};

// Fills a freshly initialised `table` (read/write, whole pages, 2 MiB leaves
// where a 2 MiB-aligned run is all mapped) and returns the bytes mapped.
// Protected: guest memory or a reserved region overlaps a hypervisor range.
[[nodiscard]] Result<uint64_t> build_domain(NestedPageTable& table, const DomainInputs& in, bool mediated);

} // namespace sv::iommu
