#include "virt/svm/svm_kick.hpp"

namespace sv::svm {
namespace {
uint64_t kicks_taken = 0, guest_nmis = 0;
} // namespace

bool handle_nmi_exit(uint32_t apic_id) {
    // Host RFLAGS.IF is 0: with GIF=1 only the pending NMI (or an SMI) is
    // taken, through the host IDT's NMI entry (arch/x86/idt_hw.cpp).
    asm volatile("stgi\n\tclgi" ::: "memory");
    if (nmi_kicker().take(apic_id)) {
        __atomic_fetch_add(&kicks_taken, 1, __ATOMIC_RELAXED);
        return false;
    }
    __atomic_fetch_add(&guest_nmis, 1, __ATOMIC_RELAXED);
    return true;
}

NmiStats nmi_stats() {
    return NmiStats{__atomic_load_n(&kicks_taken, __ATOMIC_RELAXED), __atomic_load_n(&guest_nmis, __ATOMIC_RELAXED)};
}

} // namespace sv::svm
