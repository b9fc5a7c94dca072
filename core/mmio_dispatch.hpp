// One MMIO dispatcher shared by all vCPUs (beside IoDispatcher): the
// guest-physical ranges whose writes the hypervisor mediates (local APIC
// page, PCIe ECAM window; AHCI/NVMe BARs next), each with its handler. Ranges
// can be added, moved (the guest moved a BAR or window) and removed at run
// time; the MmioMapper makes the nested page tables trap (map read-only) or
// release (map read-write, identity) the pages, and every change bumps the
// generation. The nested TLB flush that follows a remap comes from the page
// tables' own hook (core/nested_tlb.hpp): each vCPU flushes before its next
// VMRUN (a vCPU that does not exit keeps stale translations until it does;
// see the README's limits).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/mmio.hpp"
#include "lib/result.hpp"

namespace sv {

// Where trapping happens: the nested page tables (HypervisorMemory) or a fake.
class MmioMapper {
  public:
    // Page-aligned [base, base+length): writes exit (read-only mapping),
    // reads and writes exit (not present), or released (identity read-write).
    [[nodiscard]] virtual Result<void> set_trap(uint64_t base, uint64_t length, MmioTrap trap) = 0;

  protected:
    ~MmioMapper() = default;
};

class MmioDispatcher {
  public:
    static constexpr size_t max_ranges = 16;
    static constexpr uint64_t page = 4096;

    void set_mapper(MmioMapper* mapper) { mapper_ = mapper; }

    // Page-aligned, non-empty, not overlapping another range. With a
    // `reader`, reads of the range exit too and go to it.
    [[nodiscard]] Result<void> add(uint64_t base, uint64_t length, MmioWriteHandler& handler,
                                   MmioReadHandler* reader = nullptr);
    // The handler's range now is [base, base+length): the new pages are
    // trapped before the old ones are released, so no write slips through.
    [[nodiscard]] Result<void> move(MmioWriteHandler& handler, uint64_t base, uint64_t length);
    void remove(MmioWriteHandler& handler);

    // The range holding `gpa`, or nullptr.
    const MmioRange* find(uint64_t gpa) const;
    // Whether [base, base+length) overlaps a range of another handler.
    bool overlaps(uint64_t base, uint64_t length, const MmioWriteHandler* except = nullptr) const;
    uint64_t generation() const { return __atomic_load_n(&generation_, __ATOMIC_ACQUIRE); }
    size_t size() const { return count_; }

  private:
    MmioRange* slot_of(const MmioWriteHandler& handler);
    void bump() { __atomic_fetch_add(&generation_, 1, __ATOMIC_RELEASE); }

    MmioRange ranges_[max_ranges]{};
    size_t count_ = 0;
    uint64_t generation_ = 0;
    MmioMapper* mapper_ = nullptr;
};

} // namespace sv
