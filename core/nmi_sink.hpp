// Devices whose interrupts the hypervisor receives as NMIs (an NVMe
// controller's MSI-X entries are programmed with delivery mode NMI,
// devices/storage/nvme/README.md "Interrupts"): shadowvisor does not
// intercept external interrupts (core/virt_backend.hpp, para-passthrough),
// but it does intercept NMIs (the shootdown kick), so an NMI is the one
// device interrupt that exits without making every other interrupt (the
// timer's) exit too.
//
// Sinks are registered at boot, before any vCPU runs. The backend's NMI exit
// path calls device_nmi() (core/exit_handler.hpp) at every NMI exit, kick or
// not (a kick and a device NMI coalesce in the one NMI latch, SDM vol. 3A
// §6.7.1): it runs every sink under the exit handler's io_lock, and an NMI
// a sink claims is not re-injected into the guest.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sv {

class NmiSink {
  public:
    // An NMI arrived on the processor with local APIC ID `apic_id`: true if
    // it was (or may have been) this device's.
    virtual bool on_nmi(uint32_t apic_id) = 0;

  protected:
    ~NmiSink() = default;
};

class NmiSinks {
  public:
    static constexpr size_t kMax = 8;
    bool add(NmiSink& sink);
    // Unit tests: a sink whose object goes away (the hypervisor never removes one).
    void remove(NmiSink& sink);
    bool any() const { return count_ != 0; }
    // Every sink is asked (each may have work); true if any claimed it.
    bool dispatch(uint32_t apic_id);

  private:
    NmiSink* sinks_[kMax] = {};
    size_t count_ = 0;
};

// The hypervisor's one registry.
NmiSinks& nmi_sinks();

} // namespace sv
