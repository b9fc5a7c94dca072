#include "core/phys_heap.hpp"

namespace sv {

void PhysHeap::init(uint8_t* host, uint64_t phys, size_t size) {
    host_ = host;
    phys_ = phys;
    size_ = size;
    used_ = 0;
}

Result<DmaBuffer> PhysHeap::allocate(size_t bytes, size_t align) {
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
    DmaBuffer b = TRY(allocate(4096, 4096));
    return b.phys;
}

uint64_t* PhysHeap::table(uint64_t phys) {
    return reinterpret_cast<uint64_t*>(host_ + (phys - phys_));
}

} // namespace sv
