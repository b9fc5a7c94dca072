// The hypervisor's own memory pool: a bump allocator over the physically
// contiguous region reserved at boot (identity-mapped, so host pointer ==
// physical address in the hypervisor; tests give it any buffer and a base).
// Everything is allocated once at set-up; nothing is ever freed.
//
// The heap remembers which pages it handed out as DMA memory (allocate(),
// the DmaAllocator side) apart from page-table pages (allocate_table()), so
// the IOMMU can map for the mediated controllers only what they may reach
// (their shadow buffers and tables), never the nested page tables split while
// their registers were trapped (issue #12 item 4).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dma_memory.hpp"
#include "core/nested_paging.hpp"

namespace sv {

// Whole pages [phys, phys + bytes) handed out by allocate().
struct HeapExtent {
    uint64_t phys = 0;
    uint64_t bytes = 0;
};

class PhysHeap final : public PageTableMemory, public DmaAllocator {
  public:
    static constexpr size_t max_dma_extents = 256; // adjacent allocations merge
    PhysHeap() = default;
    // `host` points at the region whose physical address is `phys`.
    void init(uint8_t* host, uint64_t phys, size_t size);

    Result<DmaBuffer> allocate(size_t bytes, size_t align) override;
    Result<uint64_t> allocate_table() override;
    uint64_t* table(uint64_t phys) override;

    uint64_t phys_base() const { return phys_; }
    size_t size() const { return size_; }
    size_t used() const { return used_; }

    // The DMA extents, in allocation (= address) order; not complete when
    // more separate extents were allocated than are kept (the caller must
    // then fall back to something coarser, and say so).
    const HeapExtent* dma_extents() const { return extents_; }
    size_t dma_extent_count() const { return extent_count_; }
    bool dma_extents_complete() const { return !extents_overflowed_; }
    // Forgets the extents so far: from here on, what the device mediators take.
    void restart_dma_extents() {
        extent_count_ = 0;
        extents_overflowed_ = false;
    }

  private:
    Result<DmaBuffer> take(size_t bytes, size_t align);
    void note_dma(uint64_t phys, size_t bytes);

    uint8_t* host_ = nullptr;
    uint64_t phys_ = 0;
    size_t size_ = 0;
    size_t used_ = 0;
    HeapExtent extents_[max_dma_extents];
    size_t extent_count_ = 0;
    bool extents_overflowed_ = false;
};

} // namespace sv
