// One VT-d remapping unit, programmed by the hypervisor before the guest
// runs (Intel VT-d 3.x §6.5 invalidation, §10.4 "Programming the root
// table", §11.4): probe what it can walk, point it at the root table,
// invalidate the context cache and IOTLB (register-based: §6.5.1; the queued
// interface is not needed for a table that never changes after boot), and
// turn translation on.
//
// Faults (§7.3 primary fault logging): the unit records a blocked DMA in one
// of CAP.NFR+1 recording registers and stops recording (PFO) when they are
// all full, so they are drained as they come: route_fault_events() points
// the fault event interrupt (FEDATA/FEADDR, FECTL) at a hypervisor CPU as an
// NMI, the one interrupt the hypervisor takes (core/nmi_sink.hpp), and the
// NMI's handler (vtd::FaultSink) calls drain_faults(). Each blocked device is
// logged once (bus:device.function, address, reason) and every fault and
// invalidation error (IQE, ICE, ITE) counted.
// Every wait for the unit, and every drain, is bounded: a unit that never
// answers is an error, a fault storm is left for the next drain, never a
// hang.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/guest_interrupts.hpp"
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
    uint64_t faults = 0;    // fault records collected (a unit may collapse a device's repeats into one)
    uint64_t overflows = 0; // drains that found PFO: faults were lost, not recorded
    uint64_t sources_logged = 0;
    uint64_t queue_errors = 0, completion_errors = 0, timeouts = 0; // IQE, ICE, ITE seen
    uint64_t drains = 0, unsettled = 0; // drain_faults calls; those that hit the pass bound
};

// What one drain found.
struct DrainResult {
    size_t faults = 0;   // records collected
    uint32_t errors = 0; // FSTS invalidation error bits seen (fsts::invalidation_errors)
    bool overflow = false;
    bool settled = true; // FSTS read clear at the end (false: faults kept coming, see drain_faults)
    bool found() const { return faults || errors || overflow; }
};

// The fault event message for an NMI to the processor with local APIC ID
// `apic_id` (physical destination, compatibility format: the unit's own
// interrupts are never remapped, VT-d §5.1; Intel SDM vol. 3A §10.11.1-2).
constexpr MsiMessage fault_event_nmi(uint8_t apic_id) {
    return {msi::kAddressWindow | uint64_t{apic_id} << msi::kDestinationShift, msi::kDeliveryNmi};
}

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
    // Programs FEDATA/FEADDR(/FEUADDR with ECAP.EIM) with `message`, clears
    // what is pending and unmasks the fault event (FECTL.IM = 0). Call after
    // enable(), which masks it. InvalidArgument: not an interrupt address.
    [[nodiscard]] Result<void> route_fault_events(const MsiMessage& message);
    bool fault_events_routed() const { return routed_; }
    // Collects and clears every fault record and FSTS status bit until FSTS
    // reads clear (at most max_drain_passes passes: a device that faults
    // faster is drained further at the next call; the record it filled
    // meanwhile is not lost, only late). Calls `log` once per new source
    // (bounded: after max_logged_sources new sources they are only counted).
    DrainResult drain_faults(void (*log)(const Fault&));
    static constexpr unsigned max_drain_passes = 8;
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
    bool routed_ = false;
};

} // namespace sv::vtd
