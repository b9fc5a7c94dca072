// Vendor-neutral MMIO write interception: pages the nested page tables map
// read-only (or not at all) exit on writes; the core decodes the guest's
// instruction (no decode assists under QEMU TCG) and hands the mediator the
// value. Used for the local APIC page (virtual INIT/STARTUP IPIs).
#pragma once

#include <cstdint>

namespace sv {

class MmioWriteHandler {
  public:
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
