// Vendor-neutral MMIO write interception: pages the nested page tables map
// read-only exit on writes; the core decodes the guest's instruction (no
// decode assists under QEMU TCG) and hands the range's handler the value.
// Ranges live in the shared MmioDispatcher (core/mmio_dispatch.hpp).
#pragma once

#include <cstdint>

namespace sv {

class MmioWriteHandler {
  public:
    // A guest write of `size` (1, 2, 4 or 8) bytes at guest-physical `gpa`.
    virtual void mmio_write(uint64_t gpa, uint8_t size, uint64_t value) = 0;

  protected:
    ~MmioWriteHandler() = default;
};

struct MmioRange {
    uint64_t base = 0;
    uint64_t length = 0;
    MmioWriteHandler* handler = nullptr;
};

} // namespace sv
