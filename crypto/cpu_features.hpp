// CPU feature detection for the crypto engine: which AES implementation may
// run here. Our own tiny `cpuid`/`xgetbv` helpers (arch/x86 is a separate
// module); the answer is computed once and cached.
// Intel SDM vol. 2A "CPUID": leaf 1 ECX bit 1 PCLMULQDQ, 9 SSSE3, 19 SSE4.1,
// 25 AES, 27 OSXSAVE, 28 AVX; leaf 7.0 EBX bit 5 AVX2, ECX bit 9 VAES,
// bit 10 VPCLMULQDQ. XCR0 bits 1|2 (SSE|AVX state) say the OS (here: our boot
// code) enabled the YMM registers.
#pragma once

#include <cstdint>

namespace sv::crypto::detail {

struct CpuidRegs {
    uint32_t eax, ebx, ecx, edx;
};

inline CpuidRegs cpuid(uint32_t leaf, uint32_t subleaf) {
    CpuidRegs r;
    asm volatile("cpuid"
                 : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx)
                 : "a"(leaf), "c"(subleaf));
    return r;
}

struct CpuFeatures {
    bool aesni = false;     // AESENC & co. plus the SSE4.1/SSSE3/PCLMUL we use with it
    bool vaes_avx2 = false; // VAES + VPCLMULQDQ + AVX2 with YMM state enabled in XCR0
};

// Detected once (first call), then cached. Safe to call from any CPU: a
// benign race writes the same value.
CpuFeatures cpu_features();

// The cache itself: 0 = not detected yet, else 1 | aesni << 1 | vaes << 2.
constexpr unsigned kFeatureDetected = 1, kFeatureAesNi = 2, kFeatureVaes = 4;
extern unsigned g_cpu_feature_bits;

// Whether the ymm engine may run here, without a function call once detected
// (SimdGuard asks this before it has saved anything).
inline bool simd_state_is_wide() {
    const unsigned bits = __atomic_load_n(&g_cpu_feature_bits, __ATOMIC_RELAXED);
    if (bits != 0) return (bits & kFeatureVaes) != 0;
    return cpu_features().vaes_avx2;
}

} // namespace sv::crypto::detail
