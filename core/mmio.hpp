// Vendor-neutral MMIO interception: pages the nested page tables map
// read-only exit on writes (not-present: on reads too); the core decodes the
// guest's instruction (no decode assists under QEMU TCG) and hands the
// range's handler the access. Ranges live in the shared MmioDispatcher
// (core/mmio_dispatch.hpp).
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

// Optional: a range with a read handler is unmapped, so reads exit as well.
class MmioReadHandler {
  public:
    // A guest read of `size` (1, 2, 4 or 8) bytes at `gpa`: the value it gets.
    virtual uint64_t mmio_read(uint64_t gpa, uint8_t size) = 0;

  protected:
    ~MmioReadHandler() = default;
};

// One trapped guest-physical range. The mediator owns the node (a member or
// a static): the MmioDispatcher links it into its sorted list and never
// copies or frees it, so there is no limit on the number of ranges and no
// allocation when a range is added or moved at run time.
struct MmioRange {
    uint64_t base = 0;
    uint64_t length = 0;
    MmioWriteHandler* handler = nullptr;
    MmioReadHandler* reader = nullptr; // nullptr: reads go to the device
    // Owned by the dispatcher while linked.
    MmioRange* next = nullptr;
    bool linked = false;
};

enum class MmioTrap : uint8_t { Released, Writes, ReadsAndWrites };

} // namespace sv
