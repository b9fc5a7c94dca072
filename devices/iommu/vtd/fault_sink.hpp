// The VT-d fault event's NMI handler (devices/iommu/README.md "Faults"). Every
// unit's fault event is routed as an NMI to one hypervisor CPU (the BSP:
// VtdUnit::route_fault_events, fault_event_nmi); the backend's NMI exit path
// asks every NmiSink at every NMI (core/nmi_sink.hpp), so this drains the
// units whenever an NMI reaches that CPU and claims the NMI when a unit had
// something recorded (a blocked DMA, a lost fault, an invalidation error).
//
// Why only on the target CPU: an NMI elsewhere (a TLB-shootdown kick) that
// drained a fault would leave that fault's own NMI, still on its way to the
// target, with nothing to claim, and the guest would get it as an NMI of
// unknown reason. On the target, a kick and the fault's NMI share the one
// NMI latch (Intel SDM vol. 3A §6.7.1): whichever NMI drains first claims.
// Left open: a fault recorded after the kick's NMI exit began and drained by
// it; its own NMI then comes with nothing recorded and goes to the guest
// (Linux logs "NMI received for unknown reason"). Claiming one NMI "owed"
// instead would swallow a real guest NMI whenever the fault's NMI was the
// one that drained (the common case), so it is not done.
//
// Runs under the exit handler's io_lock (device_nmi), as does the drain at
// power-off (log_iommu_statistics, from a port exit).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/nmi_sink.hpp"
#include "devices/iommu/vtd/vtd_unit.hpp"

namespace sv::vtd {

struct FaultSinkStats {
    uint64_t nmis = 0;         // NMIs on the target CPU
    uint64_t nmis_claimed = 0; // ... that found a unit with something recorded
};

class FaultSink final : public NmiSink {
  public:
    static constexpr size_t max_units = 8;
    using FaultLog = void (*)(const Fault&);
    // Called with the FSTS error bits when a drain finds IQE/ICE/ITE set
    // (the hypervisor queues no invalidations, so each is a unit
    // misbehaving: logged, counted by the unit, cleared).
    using ErrorLog = void (*)(const VtdUnit& unit, uint32_t errors);

    FaultSink(uint32_t target_apic_id, FaultLog log, ErrorLog errors)
        : target_(target_apic_id), log_(log), errors_(errors) {}

    // A unit whose fault events are routed to the target CPU.
    [[nodiscard]] bool add(VtdUnit& unit);
    size_t units() const { return count_; }
    uint32_t target() const { return target_; }

    bool on_nmi(uint32_t apic_id) override;
    // Every unit, whatever CPU (power-off statistics): true if any found something.
    bool drain_all();
    const FaultSinkStats& stats() const { return stats_; }

  private:
    uint32_t target_;
    FaultLog log_;
    ErrorLog errors_;
    VtdUnit* units_[max_units] = {};
    size_t count_ = 0;
    FaultSinkStats stats_;
};

} // namespace sv::vtd
