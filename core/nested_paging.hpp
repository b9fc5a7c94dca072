// Nested page tables: one 4-level walker/builder for every entry format
// (core/nested_format.hpp: AMD NPT today, Intel EPT next). The hypervisor
// maps guest-physical = host-physical for all RAM and MMIO, except its own
// memory, which guests see as a read-only page of zeros (core/nested_identity.hpp).
// The hypervisor's own host page tables are built with the same code in the
// NPT (long-mode) format.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/nested_format.hpp"
#include "core/nested_tlb.hpp"
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

struct NestedMapping {
    uint64_t hpa = 0;
    NestedAccess access = NestedAccess::None;
    uint64_t page_size = 0; // 4 KiB, 2 MiB or 1 GiB; 0 when not mapped
};

class NestedPageTable {
  public:
    static constexpr uint64_t page_4k = 4096;
    static constexpr uint64_t page_2m = 2ull << 20;
    static constexpr uint64_t page_1g = 1ull << 30;
    static constexpr uint64_t max_address = 1ull << 48; // 4 levels: 48-bit guest-physical addresses

    NestedPageTable(PageTableMemory& memory, const NestedFormat& format) : memory_(&memory), format_(&format) {}
    [[nodiscard]] Result<void> init();
    // The top-level table's physical address (nCR3; for EPT the EPTP's
    // address field, which the backend completes with walk length and type).
    uint64_t root() const { return root_; }
    const NestedFormat& format() const { return *format_; }

    // From now on every map()/map_all_to() ends with
    // flush->nested_mapping_changed(range): set it once the tables are in use.
    void set_tlb_flush(NestedTlbFlush* flush) { flush_ = flush; }

    // Maps [gpa, gpa+size) -> [hpa, ...). 4 KiB granular; uses 2 MiB pages
    // where alignment allows and splits existing large pages (2 MiB, 1 GiB)
    // when needed, keeping every attribute of the split page. `access` must
    // be None or include read (neither format has write- or execute-only
    // pages here) with a valid memory type.
    [[nodiscard]] Result<void> map(uint64_t gpa, uint64_t hpa, uint64_t size, NestedAccess access);
    // Maps every 4 KiB page of [gpa, gpa+size) to the single page `hpa`.
    [[nodiscard]] Result<void> map_all_to(uint64_t gpa, uint64_t size, uint64_t hpa, NestedAccess access);
    // The translation of `gpa` (1 GiB leaves included), with the access and
    // memory type the leaf grants; {} when not mapped.
    NestedMapping lookup(uint64_t gpa);

  private:
    Result<uint64_t*> walk_to(uint64_t gpa, int level); // entry at `level` (1 = PTE), creating tables
    Result<void> map_page(uint64_t gpa, uint64_t hpa, uint64_t size, NestedAccess access);
    Result<void> map_pages(uint64_t gpa, uint64_t hpa, uint64_t size, NestedAccess access);
    Result<void> map_pages_to(uint64_t gpa, uint64_t size, uint64_t hpa, NestedAccess access);
    void changed(uint64_t gpa, uint64_t size) {
        if (flush_) flush_->nested_mapping_changed(gpa, size);
    }

    PageTableMemory* memory_;
    const NestedFormat* format_;
    NestedTlbFlush* flush_ = nullptr;
    uint64_t root_ = 0;
};

} // namespace sv
