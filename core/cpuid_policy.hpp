// What the guest sees from CPUID: the host's answer, with the hypervisor-
// present bit set, SVM/VMX and x2APIC hidden, and our signature at leaf 0x40000000
// ("ShadowVisor" + NUL in EBX, ECX, EDX) so guests and tests can detect us.
// The bits that describe the OS's own state follow the *guest's* state, not
// the hypervisor's (issue #7 class 9): CPUID.1:ECX.OSXSAVE = guest
// CR4.OSXSAVE, CPUID.7.0:ECX.OSPKE = guest CR4.PKE, and the XSAVE area sizes
// of leaf 0Dh follow the guest's XCR0 (and IA32_XSS).
#pragma once

#include <cstdint>

namespace sv {

struct CpuidValues {
    uint32_t eax, ebx, ecx, edx;
};

constexpr uint32_t hypervisor_leaf_base = 0x40000000;
constexpr uint32_t hypervisor_leaf_max = 0x40000001;

// The guest state CPUID depends on. `host` answers other (leaf, subleaf)
// pairs of the physical CPU (leaf 0Dh component sizes); nullptr: sizes are
// left as the host reports them.
struct GuestCpuidState {
    uint64_t cr4 = 0;
    uint64_t xcr0 = 1; // x87 only: the value after reset
    uint64_t xss = 0;  // IA32_XSS (supervisor components, XSAVES)
    CpuidValues (*host)(uint32_t leaf, uint32_t subleaf) = nullptr;
};

// `host` is the physical CPU's answer for (leaf, subleaf).
CpuidValues guest_cpuid(uint32_t leaf, uint32_t subleaf, CpuidValues host,
                        const GuestCpuidState& guest = {});

// Size in bytes of an XSAVE area for the components in `xcr0` (standard
// format, CPUID.(0Dh,0).EBX) or for `xcr0 | xss` (compacted format of
// XSAVES, CPUID.(0Dh,1).EBX): Intel SDM vol. 1 §13.4.3, vol. 2A CPUID leaf 0Dh.
uint32_t xsave_area_size(uint64_t components, bool compacted,
                         CpuidValues (*host)(uint32_t leaf, uint32_t subleaf));

} // namespace sv
