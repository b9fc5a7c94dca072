// The SVM half of the nested-TLB shootdown (core/tlb_shootdown.hpp): how a
// vCPU is made to leave guest mode without the guest noticing.
//
// We do not intercept physical INTR (guest interrupts go straight to the
// guest), so an ordinary IPI would land in the guest's IDT. An NMI does not
// when the NMI intercept is set (AMD APM vol. 2 §15.13.2, Table B-1 bit 1):
// the processor exits with #VMEXIT(NMI) instead. The NMI is then still
// pending in the host, held while GIF=0 (§15.17); the run loop takes it by
// opening GIF for a moment (STGI; CLGI) with host interrupts off, so it goes
// through the host IDT's NMI entry, which only returns (IRET ends NMI
// blocking). QEMU 7.2 TCG behaves the same way (target/i386/tcg/sysemu/
// seg_helper.c: the NMI intercept is checked before the NMI is cleared;
// x86_cpu_pending_interrupt gates NMI on GIF).
//
// Every NMI now exits, the guest's own too (its NMI IPIs, a watchdog, the
// platform's). The kicker (core/nmi_kicker.hpp, shared with VMX) marks the
// target before sending, so an NMI exit with the mark is a kick (consumed)
// and one without is the guest's: it is re-injected (EVENTINJ type NMI,
// §15.20) at the next entry. A kick and a genuine NMI that arrive together
// coalesce into one exit: the guest's NMI is then taken as the kick and not
// seen, exactly as one of two coalesced NMIs is lost without a hypervisor.
// Counted.
#pragma once

#include <cstdint>

#include "core/nmi_kicker.hpp"

namespace sv::svm {

struct NmiStats {
    uint64_t kicks_taken = 0;  // NMI exits that were kicks
    uint64_t guest_nmis = 0;   // NMI exits that were the guest's, re-injected
};
NmiStats nmi_stats();

// After #VMEXIT(NMI): take the still-pending NMI in the host. Returns true
// when it was the guest's NMI (to re-inject), false for a kick.
bool handle_nmi_exit(uint32_t apic_id);

} // namespace sv::svm
