#include "core/phys_heap.hpp"

namespace sv {

void PhysHeap::init(uint8_t* host, uint64_t phys, size_t size) {
    host_ = host;
    phys_ = phys;
    size_ = size;
    used_ = 0;
    extent_count_ = 0;
    extents_overflowed_ = false;
}

Result<DmaBuffer> PhysHeap::allocate(size_t bytes, size_t align) {
    DmaBuffer b = TRY(take(bytes, align));
    note_dma(b.phys, bytes);
    return b;
}

void PhysHeap::note_dma(uint64_t phys, size_t bytes) {
    constexpr uint64_t page = 4096;
    const uint64_t from = phys & ~(page - 1);
    const uint64_t to = (phys + (bytes ? bytes : 1) + page - 1) & ~(page - 1);
    if (extent_count_) {
        HeapExtent& last = extents_[extent_count_ - 1];
        if (from <= last.phys + last.bytes) { // bump order: only ever at or after the last
            if (to > last.phys + last.bytes) last.bytes = to - last.phys;
            return;
        }
    }
    if (extent_count_ == max_dma_extents) {
        extents_overflowed_ = true;
        return;
    }
    extents_[extent_count_++] = {from, to - from};
}

Result<DmaBuffer> PhysHeap::take(size_t bytes, size_t align) {
    if (align == 0 || (align & (align - 1))) return fail(Error::InvalidArgument);
    const uint64_t start = (phys_ + used_ + align - 1) & ~static_cast<uint64_t>(align - 1);
    const uint64_t offset = start - phys_;
    if (offset > size_ || bytes > size_ - offset) return fail(Error::OutOfMemory);
    used_ = offset + bytes;
    uint8_t* p = host_ + offset;
    for (size_t i = 0; i < bytes; ++i) p[i] = 0;
    return DmaBuffer{p, start, bytes};
}

Result<uint64_t> PhysHeap::allocate_table() {
    DmaBuffer b = TRY(take(4096, 4096)); // a table page: not DMA memory
    return b.phys;
}

uint64_t* PhysHeap::table(uint64_t phys) {
    return reinterpret_cast<uint64_t*>(host_ + (phys - phys_));
}

} // namespace sv
