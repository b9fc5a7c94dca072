// CPUID-based choice of AES implementation (see cpu_features.hpp).
#include "crypto/cpu_features.hpp"
#include "crypto/xcr0_switch.hpp"

namespace sv::crypto::detail {
namespace {

constexpr uint32_t kLeaf1EcxPclmul = 1u << 1;
constexpr uint32_t kLeaf1EcxSsse3 = 1u << 9;
constexpr uint32_t kLeaf1EcxSse41 = 1u << 19;
constexpr uint32_t kLeaf1EcxAes = 1u << 25;
constexpr uint32_t kLeaf1EcxOsxsave = 1u << 27;
constexpr uint32_t kLeaf1EcxAvx = 1u << 28;
constexpr uint32_t kLeaf7EbxAvx2 = 1u << 5;
constexpr uint32_t kLeaf7EcxVaes = 1u << 9;
constexpr uint32_t kLeaf7EcxVpclmul = 1u << 10;
constexpr uint64_t kXcr0SseAvx = 0x6; // XCR0.SSE | XCR0.AVX

uint64_t xgetbv0() {
    uint32_t lo, hi;
    asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (static_cast<uint64_t>(hi) << 32) | lo;
}

CpuFeatures detect() {
    CpuFeatures f;
    const uint32_t max_leaf = cpuid(0, 0).eax;
    if (max_leaf < 1) return f;
    const uint32_t ecx1 = cpuid(1, 0).ecx;
    const uint32_t need = kLeaf1EcxAes | kLeaf1EcxPclmul | kLeaf1EcxSse41 | kLeaf1EcxSsse3;
    f.aesni = (ecx1 & need) == need;
    if (!f.aesni || max_leaf < 7) return f;
    // YMM state usable: enabled in XCR0 now, or (hypervisor) XCR0 is switched
    // to SSE|AVX for each request (xcr0_switch.hpp) and the CPU supports them
    // there (CPUID.(0Dh,0).EAX).
    const bool osxsave = (ecx1 & kLeaf1EcxOsxsave) && (ecx1 & kLeaf1EcxAvx);
    const bool xcr0_ok = xcr0_switching_available() && max_leaf >= 0xD
        ? (cpuid(0xD, 0).eax & kXcr0SseAvx) == kXcr0SseAvx
        : osxsave && (xgetbv0() & kXcr0SseAvx) == kXcr0SseAvx;
    const bool ymm_enabled = osxsave && xcr0_ok;
    const CpuidRegs l7 = cpuid(7, 0);
    f.vaes_avx2 = ymm_enabled && (l7.ebx & kLeaf7EbxAvx2) && (l7.ecx & kLeaf7EcxVaes) &&
                  (l7.ecx & kLeaf7EcxVpclmul);
    return f;
}

} // namespace

// Relaxed atomics: every CPU computes the same value, so a race is harmless.
unsigned g_cpu_feature_bits = 0;

CpuFeatures cpu_features() {
    unsigned v = __atomic_load_n(&g_cpu_feature_bits, __ATOMIC_RELAXED);
    if (v == 0) {
        const CpuFeatures f = detect();
        v = kFeatureDetected | (f.aesni ? kFeatureAesNi : 0u) | (f.vaes_avx2 ? kFeatureVaes : 0u);
        __atomic_store_n(&g_cpu_feature_bits, v, __ATOMIC_RELAXED);
    }
    CpuFeatures f;
    f.aesni = (v & kFeatureAesNi) != 0;
    f.vaes_avx2 = (v & kFeatureVaes) != 0;
    return f;
}

} // namespace sv::crypto::detail
