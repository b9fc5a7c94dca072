// What the guest sees from CPUID: the host's answer, with the hypervisor-
// present bit set, SVM/VMX and x2APIC hidden, and our signature at leaf 0x40000000
// ("ShadowVisor" + NUL in EBX, ECX, EDX) so guests and tests can detect us.
#pragma once

#include <cstdint>

namespace sv {

struct CpuidValues {
    uint32_t eax, ebx, ecx, edx;
};

constexpr uint32_t hypervisor_leaf_base = 0x40000000;
constexpr uint32_t hypervisor_leaf_max = 0x40000001;

// `host` is the physical CPU's answer for (leaf, subleaf).
CpuidValues guest_cpuid(uint32_t leaf, uint32_t subleaf, CpuidValues host);

} // namespace sv
