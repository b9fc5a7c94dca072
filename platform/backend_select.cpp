#include "platform/backend_select.hpp"

namespace sv {
namespace {
constexpr uint32_t leaf1_ecx_vmx = 1u << 5; // Intel SDM vol. 2A, CPUID Table 3-10
constexpr uint32_t ext1_ecx_svm = 1u << 2;  // AMD APM vol. 3, CPUID Fn8000_0001_ECX
constexpr uint32_t ext_leaf_base = 0x80000000;

// Vendor strings in EBX, EDX, ECX order of CPUID leaf 0.
struct VendorString {
    uint32_t ebx, edx, ecx;
};
constexpr VendorString authentic_amd{0x68747541, 0x69746e65, 0x444d4163}; // "AuthenticAMD"
constexpr VendorString hygon_genuine{0x6f677948, 0x6e65476e, 0x656e6975}; // "HygonGenuine"
constexpr VendorString genuine_intel{0x756e6547, 0x49656e69, 0x6c65746e}; // "GenuineIntel"

bool is(const CpuidValues& leaf0, const VendorString& v) {
    return leaf0.ebx == v.ebx && leaf0.edx == v.edx && leaf0.ecx == v.ecx;
}
} // namespace

BackendChoice choose_backend(CpuidSource cpuid) {
    const CpuidValues leaf0 = cpuid(0, 0);
    const CpuVendor vendor = is(leaf0, authentic_amd) || is(leaf0, hygon_genuine) ? CpuVendor::Amd
                             : is(leaf0, genuine_intel)                           ? CpuVendor::Intel
                                                                                  : CpuVendor::Other;
    const bool vmx = leaf0.eax >= 1 && (cpuid(1, 0).ecx & leaf1_ecx_vmx);
    const bool svm = cpuid(ext_leaf_base, 0).eax >= ext_leaf_base + 1 &&
                     (cpuid(ext_leaf_base + 1, 0).ecx & ext1_ecx_svm);
    const BackendKind own = vendor == CpuVendor::Intel ? BackendKind::Vmx : BackendKind::Svm;
    const BackendKind other = own == BackendKind::Svm ? BackendKind::Vmx : BackendKind::Svm;
    const auto has = [&](BackendKind k) { return k == BackendKind::Svm ? svm : vmx; };
    return {vendor, has(own) ? own : has(other) ? other : BackendKind::None};
}

} // namespace sv
