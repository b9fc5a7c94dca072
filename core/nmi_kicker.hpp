// The vendor-neutral half of the shootdown kick (core/tlb_shootdown.hpp):
// mark the target vCPU, then send it an NMI IPI. Both backends intercept
// NMIs (SVM: the NMI intercept, AMD APM vol. 2 §15.13.2; VMX: NMI exiting,
// Intel SDM vol. 3C §25.3 "Pin-Based VM-Execution Controls"), so the NMI
// makes the vCPU exit instead of reaching the guest's IDT. At an NMI exit
// the backend asks take(): with the mark the NMI was (at least) a kick and
// is consumed; without it the NMI was the guest's (or a device's) and the
// backend delivers it as its vendor requires (virt/svm/svm_kick.hpp, VMX's
// run loop). A kick and a genuine NMI that arrive together coalesce into
// one exit, as two NMIs do on bare hardware (one NMI latch, SDM vol. 3A
// §6.7.1, APM vol. 2 §8.2.4).
#pragma once

#include <cstdint>

#include "core/tlb_shootdown.hpp"

namespace sv {

class NmiKicker final : public VcpuKicker {
  public:
    using SendNmi = void (*)(uint8_t apic_id);
    explicit constexpr NmiKicker(SendNmi send) : send_(send) {}

    // target: the vCPU's local APIC id (xAPIC ids only: 0..255).
    void kick(uint32_t target) override;
    // At an NMI exit on `apic_id`: true when it was (at least) a kick; the
    // mark is consumed. Also called when a vCPU is (re)started, so that a
    // kick it never took does not make its next genuine NMI look like one.
    bool take(uint32_t apic_id);

  private:
    SendNmi send_;
    uint8_t pending_[256] = {};
};

// The kicker both backends use: an NMI IPI through the local APIC
// (core/nmi_kicker_hw.cpp).
NmiKicker& nmi_kicker();

} // namespace sv
