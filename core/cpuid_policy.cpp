#include "core/cpuid_policy.hpp"

namespace sv {
namespace {
constexpr uint32_t leaf1_ecx_vmx = 1u << 5;         // Intel SDM vol. 2A, CPUID.1:ECX.VMX
constexpr uint32_t leaf1_ecx_x2apic = 1u << 21;     // x2APIC: its ICR is an MSR we do not trap
constexpr uint32_t leaf1_ecx_hypervisor = 1u << 31; // reserved for hypervisor use
constexpr uint32_t ext1_ecx_svm = 1u << 2;          // AMD APM vol. 3, CPUID Fn8000_0001_ECX.SVM

constexpr uint32_t le32(const char (&s)[13], int at) {
    return static_cast<uint32_t>(static_cast<uint8_t>(s[at])) |
           static_cast<uint32_t>(static_cast<uint8_t>(s[at + 1])) << 8 |
           static_cast<uint32_t>(static_cast<uint8_t>(s[at + 2])) << 16 |
           static_cast<uint32_t>(static_cast<uint8_t>(s[at + 3])) << 24;
}
constexpr char signature[13] = "ShadowVisor"; // 11 characters + NUL = 12 bytes used
} // namespace

CpuidValues guest_cpuid(uint32_t leaf, uint32_t subleaf, CpuidValues host) {
    (void)subleaf;
    CpuidValues v = host;
    if (leaf == 1) {
        v.ecx = (v.ecx | leaf1_ecx_hypervisor) & ~(leaf1_ecx_vmx | leaf1_ecx_x2apic);
    } else if (leaf == 0x80000001) {
        v.ecx &= ~ext1_ecx_svm;
    } else if (leaf == 0x8000000A) {
        v = CpuidValues{0, 0, 0, 0}; // SVM feature leaf: no SVM to describe
    } else if (leaf == hypervisor_leaf_base) {
        v = CpuidValues{hypervisor_leaf_max, le32(signature, 0), le32(signature, 4), le32(signature, 8)};
    } else if (leaf > hypervisor_leaf_base && leaf <= 0x4FFFFFFF) {
        v = CpuidValues{0, 0, 0, 0}; // no other hypervisor interfaces
    }
    return v;
}

} // namespace sv
