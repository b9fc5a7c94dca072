#include "core/cpuid_policy.hpp"

namespace sv {
namespace {
constexpr uint32_t leaf1_ecx_vmx = 1u << 5;         // Intel SDM vol. 2A, CPUID.1:ECX.VMX
constexpr uint32_t leaf1_ecx_x2apic = 1u << 21;     // x2APIC: its ICR is an MSR we do not trap
constexpr uint32_t leaf1_ecx_osxsave = 1u << 27;    // "OS has set CR4.OSXSAVE"
constexpr uint32_t leaf1_ecx_hypervisor = 1u << 31; // reserved for hypervisor use
constexpr uint32_t leaf7_ecx_ospke = 1u << 4;       // "OS has set CR4.PKE"
constexpr uint32_t ext1_ecx_svm = 1u << 2;          // AMD APM vol. 3, CPUID Fn8000_0001_ECX.SVM
constexpr uint64_t cr4_osxsave = 1ull << 18;
constexpr uint64_t cr4_pke = 1ull << 22;
constexpr uint32_t leafd_sub1_eax_xsaves = 1u << 3;
constexpr uint32_t leafd_comp_ecx_align64 = 1u << 1; // component 64-byte aligned when compacted
constexpr uint32_t xsave_legacy_and_header = 512 + 64;

constexpr uint32_t le32(const char (&s)[13], int at) {
    return static_cast<uint32_t>(static_cast<uint8_t>(s[at])) |
           static_cast<uint32_t>(static_cast<uint8_t>(s[at + 1])) << 8 |
           static_cast<uint32_t>(static_cast<uint8_t>(s[at + 2])) << 16 |
           static_cast<uint32_t>(static_cast<uint8_t>(s[at + 3])) << 24;
}
constexpr char signature[13] = "ShadowVisor"; // 11 characters + NUL = 12 bytes used
} // namespace

uint32_t xsave_area_size(uint64_t components, bool compacted,
                         CpuidValues (*host)(uint32_t leaf, uint32_t subleaf)) {
    uint32_t size = xsave_legacy_and_header; // components 0 and 1 live in the legacy area
    for (uint32_t i = 2; i < 63; ++i) {
        if (!(components & (1ull << i))) continue;
        const CpuidValues c = host(0xD, i); // EAX size, EBX offset (standard), ECX flags
        if (compacted) {
            if (c.ecx & leafd_comp_ecx_align64) size = (size + 63) & ~63u;
            size += c.eax;
        } else if (c.ebx + c.eax > size) {
            size = c.ebx + c.eax;
        }
    }
    return size;
}

CpuidValues guest_cpuid(uint32_t leaf, uint32_t subleaf, CpuidValues host, const GuestCpuidState& guest) {
    CpuidValues v = host;
    if (leaf == 1) {
        v.ecx = (v.ecx | leaf1_ecx_hypervisor) & ~(leaf1_ecx_vmx | leaf1_ecx_x2apic | leaf1_ecx_osxsave);
        if (guest.cr4 & cr4_osxsave) v.ecx |= leaf1_ecx_osxsave;
    } else if (leaf == 7 && subleaf == 0) {
        v.ecx &= ~leaf7_ecx_ospke;
        if (guest.cr4 & cr4_pke) v.ecx |= leaf7_ecx_ospke;
    } else if (leaf == 0xD && guest.host && (subleaf == 0 || subleaf == 1)) {
        if (subleaf == 0) v.ebx = xsave_area_size(guest.xcr0, false, guest.host);
        else if (v.eax & leafd_sub1_eax_xsaves) v.ebx = xsave_area_size(guest.xcr0 | guest.xss, true, guest.host);
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
