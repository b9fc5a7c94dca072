// One MMIO dispatcher shared by all vCPUs (beside IoDispatcher): the
// guest-physical ranges whose accesses the hypervisor mediates (local APIC
// page, PCIe ECAM window, an MMIO reset register; AHCI/NVMe BARs next,
// through devices/pci/mmio_bar.hpp), each with its handlers. Ranges can be
// added, moved (the guest moved a BAR or window) and removed at run time.
//
// Ranges are intrusive: each mediator owns its MmioRange node and the
// dispatcher keeps them in one list sorted by base, so there is no fixed
// limit and nothing is allocated in an exit. Callers serialise changes and
// lookups (the exit handler's io_lock: config writes, which move ranges, and
// NPF exits, which look them up, both run under it).
//
// The MmioMapper makes the nested page tables trap (map read-only / not
// present) or release (identity read-write) the pages. Every change bumps
// the generation and, with a TlbShootdown (core/tlb_shootdown.hpp), makes
// every other vCPU drop its cached guest-physical translations before the
// change is relied on: a move traps the new pages and shoots down before it
// returns (so the caller may then let the device decode there), then
// releases the old pages.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/mmio.hpp"
#include "core/tlb_shootdown.hpp"
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

// The old pages of a move that are not released yet (MmioDispatcher::move):
// at most one piece below the new range and one above it.
struct MmioLeaving {
    MmioRange below, above;
};

class MmioDispatcher {
  public:
    static constexpr uint64_t page = 4096;

    void set_mapper(MmioMapper* mapper) { mapper_ = mapper; }
    // Cross-vCPU flush after every mapping change (nullptr: one vCPU, or a
    // test; each vCPU still compares generation() before it enters).
    void set_shootdown(TlbShootdown* shootdown) { shootdown_ = shootdown; }

    // Links `range` (not linked yet) at [base, base+length): page-aligned,
    // non-empty, not overlapping another range. With a `reader`, reads of
    // the range exit too and go to it. add() and move() fail (and undo)
    // when a vCPU does not answer the shootdown in time: it could still
    // reach the new pages directly, so no device may decode there.
    [[nodiscard]] Result<void> add(MmioRange& range, uint64_t base, uint64_t length, MmioWriteHandler& handler,
                                   MmioReadHandler* reader = nullptr);
    // The range now is [base, base+length): the new pages are trapped (and
    // every vCPU's nested TLB flushed) before the old ones are released, so
    // no access slips through. A range not linked yet is added with the
    // handlers already in the node. On failure the old range stays.
    // With `leaving` (not linked), the old pages the new range does not
    // cover are not released but stay trapped in `leaving` until the caller
    // removes it, once the device no longer decodes there
    // (devices/pci/mmio_bar.hpp: trap the new pages, let the write reach the
    // device, then release the old ones).
    [[nodiscard]] Result<void> move(MmioRange& range, uint64_t base, uint64_t length,
                                    MmioLeaving* leaving = nullptr);
    void remove(MmioRange& range);
    void remove(MmioLeaving& leaving);
    // Unlinks without releasing the pages (they stay trapped): the caller
    // covers them again at once (e.g. moves a range back over them).
    void detach(MmioRange& range);
    void detach(MmioLeaving& leaving);

    // The range holding `gpa`, or nullptr.
    const MmioRange* find(uint64_t gpa) const;
    // Whether [base, base+length) overlaps a linked range other than `except`.
    bool overlaps(uint64_t base, uint64_t length, const MmioRange* except = nullptr) const;
    uint64_t generation() const { return __atomic_load_n(&generation_, __ATOMIC_ACQUIRE); }
    size_t size() const { return count_; }

  private:
    void link(MmioRange& range);
    void unlink(MmioRange& range);
    // Bumps the generation and shoots down; false when a vCPU timed out.
    bool changed();
    void release(uint64_t base, uint64_t end);

    MmioRange* head_ = nullptr; // sorted by base, no overlaps
    size_t count_ = 0;
    uint64_t generation_ = 0;
    MmioMapper* mapper_ = nullptr;
    TlbShootdown* shootdown_ = nullptr;
};

} // namespace sv
