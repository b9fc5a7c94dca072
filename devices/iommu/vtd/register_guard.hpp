// The guest's view of a VT-d unit's register pages once the hypervisor owns
// the unit: not present in the nested page tables, reads give all-ones (what
// a read of nothing returns, PCI 3.0 §6.1 master abort; Linux's dmar code
// reads CAP/ECAP as ~0 and gives up on such a unit) and writes are dropped
// and counted. So the guest can neither turn translation off (GCMD.TE),
// nor point the unit at its own tables (RTADDR/SRTP), nor invalidate or
// queue anything. Why hide instead of virtualizing: devices/iommu/README.md.
#pragma once

#include <cstdint>

#include "core/mmio.hpp"

namespace sv::vtd {

class RegisterGuard final : public MmioReadHandler, public MmioWriteHandler {
  public:
    uint64_t mmio_read(uint64_t, uint8_t size) override {
        __atomic_fetch_add(&reads_, 1, __ATOMIC_RELAXED); // any vCPU
        return size >= 8 ? ~0ull : (1ull << (8 * size)) - 1;
    }
    void mmio_write(uint64_t, uint8_t, uint64_t) override { __atomic_fetch_add(&writes_dropped_, 1, __ATOMIC_RELAXED); }
    uint64_t reads() const { return __atomic_load_n(&reads_, __ATOMIC_RELAXED); }
    uint64_t writes_dropped() const { return __atomic_load_n(&writes_dropped_, __ATOMIC_RELAXED); }

  private:
    uint64_t reads_ = 0, writes_dropped_ = 0;
};

} // namespace sv::vtd
