// Nested page tables (AMD NPT: the ordinary x86-64 4-level format, AMD APM
// vol. 2 §15.25.5). The hypervisor maps guest-physical = host-physical for all
// RAM and MMIO, except its own memory, which guests see as a read-only page of
// zeros: a guest access there never reaches hypervisor data.
// NPT walks are user-mode accesses (APM §15.25.5), so every level sets U.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/result.hpp"

namespace sv {

// Where page-table pages come from: the hypervisor's heap, or a fake in tests.
class PageTableMemory {
  public:
    virtual Result<uint64_t> allocate_table() = 0; // zeroed, 4 KiB aligned, physical address
    virtual uint64_t* table(uint64_t phys) = 0;    // its 512 entries

  protected:
    ~PageTableMemory() = default;
};

enum class NestedAccess : uint8_t { None, ReadOnly, ReadWrite };

struct NestedMapping {
    uint64_t hpa = 0;
    NestedAccess access = NestedAccess::None;
    uint64_t page_size = 0; // 4 KiB, 2 MiB or 1 GiB; 0 when not mapped
};

class NestedPageTable {
  public:
    static constexpr uint64_t page_4k = 4096;
    static constexpr uint64_t page_2m = 2ull << 20;
    static constexpr uint64_t max_address = 1ull << 48;

    explicit NestedPageTable(PageTableMemory& memory) : memory_(memory) {}
    [[nodiscard]] Result<void> init();
    uint64_t root() const { return root_; }

    // Maps [gpa, gpa+size) -> [hpa, ...). 4 KiB granular; uses 2 MiB pages
    // where alignment allows and splits existing 2 MiB pages when needed.
    [[nodiscard]] Result<void> map(uint64_t gpa, uint64_t hpa, uint64_t size, NestedAccess access);
    // Maps every 4 KiB page of [gpa, gpa+size) to the single page `hpa`.
    [[nodiscard]] Result<void> map_all_to(uint64_t gpa, uint64_t size, uint64_t hpa,
                                          NestedAccess access);
    NestedMapping lookup(uint64_t gpa);

  private:
    Result<uint64_t*> walk_to(uint64_t gpa, int level); // entry at `level` (1 = PTE), creating tables
    Result<void> map_page(uint64_t gpa, uint64_t hpa, uint64_t size, NestedAccess access);

    PageTableMemory& memory_;
    uint64_t root_ = 0;
};

} // namespace sv
