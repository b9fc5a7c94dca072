// The vendor's part of MSR handling. ExitHandler handles the vendor-neutral
// intercepted MSRs itself (IA32_APIC_BASE, EFER, the msr_policy table); the
// backend adds what only its vendor has: EFER bits it keeps set underneath
// the guest and hides (SVM: SVME, which VMRUN requires, AMD APM vol. 2
// §15.5.1), EFER bits only its CPUs define, and its own virtualization MSRs
// (SVM: VM_CR, VM_HSAVE_PA), which the guest must find as on a CPU without
// the extension. Without a policy the handler refuses every other MSR (#GP).
#pragma once

#include <cstdint>

namespace sv {

enum class VendorMsrOutcome : uint8_t {
    NotVendors, // not one of the vendor's MSRs: the handler raises #GP
    Done,       // a read's value is in `result`; a write took effect
    Fault,      // #GP(0): the instruction does not complete
};

struct VendorMsrPolicy {
    // EFER bits the guest may write besides SCE, LME, LMA and NXE (the bits
    // both vendors define, AMD APM vol. 2 §3.1.7, Intel SDM vol. 3A §2.2.1).
    uint64_t efer_writable = 0;
    // EFER bits kept set in the guest's real EFER and hidden from its reads.
    uint64_t efer_hidden = 0;
    // The vendor's own intercepted MSRs; nullptr: none.
    VendorMsrOutcome (*access)(uint32_t msr, bool write, uint64_t value, uint64_t& result) = nullptr;
};

} // namespace sv
