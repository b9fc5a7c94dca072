// The hypervisor's own memory pool: a bump allocator over the physically
// contiguous region reserved at boot (identity-mapped, so host pointer ==
// physical address in the hypervisor; tests give it any buffer and a base).
// Everything is allocated once at set-up; nothing is ever freed.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dma_memory.hpp"
#include "core/nested_paging.hpp"

namespace sv {

class PhysHeap final : public PageTableMemory, public DmaAllocator {
  public:
    PhysHeap() = default;
    // `host` points at the region whose physical address is `phys`.
    void init(uint8_t* host, uint64_t phys, size_t size);

    Result<DmaBuffer> allocate(size_t bytes, size_t align) override;
    Result<uint64_t> allocate_table() override;
    uint64_t* table(uint64_t phys) override;

    uint64_t phys_base() const { return phys_; }
    size_t size() const { return size_; }
    size_t used() const { return used_; }

  private:
    uint8_t* host_ = nullptr;
    uint64_t phys_ = 0;
    size_t size_ = 0;
    size_t used_ = 0;
};

} // namespace sv
