// Hypervisor-owned memory that a device may DMA to: shadow descriptor tables
// and shadow buffers. Allocated once at set-up (bounded), never per request.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/result.hpp"

namespace sv {

struct DmaBuffer {
    uint8_t* host = nullptr; // where the hypervisor reads/writes it
    uint64_t phys = 0;       // what the device is told (bus address)
    size_t size = 0;
};

class DmaAllocator {
  public:
    // Physically contiguous, `align`-aligned (power of two), zeroed.
    virtual Result<DmaBuffer> allocate(size_t bytes, size_t align) = 0;

  protected:
    ~DmaAllocator() = default;
};

} // namespace sv
