// Physical memory map in e820 terms. Built from the loader's map, then the
// hypervisor carves its own memory out (as "reserved") before the map is
// handed to the guest, so the guest never treats hypervisor memory as RAM.
// ACPI 6.4 §15 (E820 address range types).
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/result.hpp"

namespace sv {

enum class MemoryType : uint32_t {
    Ram = 1,
    Reserved = 2,
    AcpiReclaimable = 3,
    AcpiNvs = 4,
    Unusable = 5,
};

struct MemoryRegion {
    uint64_t base = 0;
    uint64_t length = 0;
    MemoryType type = MemoryType::Reserved;
    uint64_t end() const { return base + length; }
};

class MemoryMap {
  public:
    static constexpr size_t capacity = 128; // boot_params holds at most 128 e820 entries

    // Adds a region as reported by firmware. Zero-length and wrapping
    // regions are ignored. Overlaps are resolved in normalize().
    [[nodiscard]] Result<void> add(uint64_t base, uint64_t length, MemoryType type);
    // Marks [base, base+length) as `type` whatever it was before.
    [[nodiscard]] Result<void> carve(uint64_t base, uint64_t length, MemoryType type);
    // Sorts, resolves overlaps (the more restrictive type wins: anything
    // beats RAM) and merges neighbours of the same type.
    [[nodiscard]] Result<void> normalize();

    // Highest `size`-byte, `align`-aligned range wholly inside one RAM region
    // and below `limit`; 0 if none.
    uint64_t find_top_ram(uint64_t size, uint64_t align, uint64_t limit) const;
    bool is_ram(uint64_t base, uint64_t length) const;
    uint64_t total(MemoryType type) const;
    uint64_t highest_end() const;

    size_t size() const { return count_; }
    const MemoryRegion& operator[](size_t i) const { return regions_[i]; }

  private:
    MemoryRegion regions_[capacity];
    // Work space for carve/normalize: keeps stack frames small in the hypervisor.
    MemoryRegion scratch_[capacity];
    MemoryRegion kept_[capacity];
    size_t count_ = 0;
};

} // namespace sv
