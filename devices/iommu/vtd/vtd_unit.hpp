// One VT-d remapping unit, programmed by the hypervisor before the guest
// runs (Intel VT-d 3.x §6.5 invalidation, §10.4 "Programming the root
// table", §11.4): probe what it can walk, point it at the root table,
// invalidate the context cache and IOTLB (register-based: §6.5.1; the queued
// interface is not needed for a table that never changes after boot), and
// turn translation on. Faults are recorded by the unit (§7.3) and collected
// here by polling: each blocked device is logged once (bus:device.function,
// address, reason) and every fault counted; the fault event interrupt stays
// masked (the hypervisor takes no interrupts of its own).
// Every wait for the unit is bounded: a unit that never answers is an
// error, never a hang.
#pragma once

#include <cstddef>
#include <cstdint>

#include "devices/iommu/vtd/vtd_registers.hpp"
#include "devices/iommu/vtd/vtd_tables.hpp"
#include "lib/result.hpp"

namespace sv::vtd {

struct UnitFacts {
    uint32_t version = 0;
    uint64_t capability = 0, ext_capability = 0;
    WalkCapabilities walk;
    unsigned address_width = 0; // MGAW
    bool coherent = false;      // ECAP.C: else the tables must be written back from the caches
    bool needs_write_buffer_flush = false;
    bool translation_was_on = false; // firmware left TE set
    bool interrupt_remapping_on = false;
};

struct Fault {
    uint64_t address = 0;
    uint16_t source = 0; // requester ID: bus 15:8, device 7:3, function 2:0
    uint8_t reason = 0;  // §7.1.3 fault reason (e.g. 6: write to a page not writable/not present)
    bool read = false;
};

struct FaultStats {
    uint64_t faults = 0;
    uint64_t overflows = 0;
    uint64_t sources_logged = 0;
};

class VtdUnit {
  public:
    static constexpr uint32_t default_spin_limit = 10'000'000;
    static constexpr size_t max_logged_sources = 64;

    explicit VtdUnit(VtdRegisterIo& io, uint32_t spin_limit = default_spin_limit) : io_(io), spins_(spin_limit) {}

    // Reads CAP/ECAP/GSTS. Unsupported: no 3- or 4-level walk in SAGAW.
    [[nodiscard]] Result<UnitFacts> probe();
    // The sequence above; DeviceError when the unit does not acknowledge a
    // step within the spin limit. `write_back_caches` runs between the
    // table writes and SRTP when the walk is not coherent (the _hw side
    // passes WBINVD; §6.1: software must make non-coherent tables visible).
    [[nodiscard]] Result<void> enable(uint64_t root_table, void (*write_back_caches)() = nullptr);
    // Collects and clears the recorded faults; calls `log` once per new
    // source (bounded: after max_logged_sources new sources are only counted).
    size_t poll_faults(void (*log)(const Fault&));
    bool translating();
    const FaultStats& fault_stats() const { return faults_; }

  private:
    Result<void> command(uint32_t bit, bool set);
    Result<void> wait64(uint32_t offset, uint64_t mask, uint64_t want);
    Result<void> wait32(uint32_t offset, uint32_t mask, uint32_t want);
    bool first_time(uint16_t source);

    VtdRegisterIo& io_;
    uint32_t spins_;
    UnitFacts facts_;
    FaultStats faults_;
    uint16_t logged_[max_logged_sources]{};
    size_t logged_count_ = 0;
};

} // namespace sv::vtd
