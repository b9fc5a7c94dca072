// XTS-AES (IEEE 1619-2007 §5.3.1 / §5.4.1) with AES-NI and PCLMULQDQ.
//
// Throughput, not latency, bounds AES-NI: AESENC has a latency of ~4 cycles
// and (Zen 3, Ice Lake+) two issue ports, so 8 independent blocks are needed
// to keep both units busy; 4-way leaves half of them idle there. Each group
// of 8 blocks shares one load of every round key. Tweaks live in registers:
// block j+8 uses T_j * alpha^8, a byte shift plus one carry-less multiply
// (no serial doubling chain). Sector tweaks E(K2, i) are encrypted 8 sectors
// at a time, so short (512-byte) sectors don't pay the AES latency serially.
//
// Only xmm0-xmm15 are touched (no VEX/YMM): SimdGuard saves exactly those.
#include "crypto/xts_engines.hpp"

// Vector ISA only from here on (the hypervisor builds with -mgeneral-regs-only).
#pragma GCC push_options
#pragma GCC target("sse4.1,aes,pclmul")
#include <immintrin.h>

namespace sv::crypto::detail {
namespace {

constexpr size_t kBlock = 16;
constexpr size_t kLanes = 8;

#define SV_INLINE inline __attribute__((always_inline))

SV_INLINE __m128i load(const uint8_t* p) {
    return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}
SV_INLINE void store(uint8_t* p, __m128i v) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), v);
}

// T * alpha^K in GF(2^128) (IEEE 1619-2007 §5.2, polynomial
// x^128 + x^7 + x^2 + x + 1) for 1 <= K <= 8: shift the 128-bit value left by
// K bits, then fold the K bits shifted out of the top back in as
// (bits) * 0x87, one carry-less multiply.
template <int K> SV_INLINE __m128i mul_alpha_pow(__m128i t, __m128i poly) {
    const __m128i shifted = _mm_slli_epi64(t, K);
    const __m128i carry = _mm_srli_epi64(_mm_slli_si128(t, 8), 64 - K); // lo qword -> hi
    const __m128i top = _mm_srli_epi64(_mm_srli_si128(t, 8), 64 - K);   // bits 128.. -> lo
    return _mm_xor_si128(_mm_xor_si128(shifted, carry), _mm_clmulepi64_si128(top, poly, 0x00));
}

// Round keys are read straight from the (16-byte aligned) schedule as memory
// operands of AESENC: no copy of key material lands on the stack.
using Schedule = const __m128i*;
SV_INLINE Schedule schedule(const uint8_t* bytes) {
    return reinterpret_cast<Schedule>(bytes);
}

// E(Key2, i) for 8 consecutive sector numbers (§5.3.1 step 1).
// T * alpha^8: a whole-byte shift, so 4 vector ops (the hot path: once per
// block).
SV_INLINE __m128i mul_alpha8(__m128i t, __m128i poly) {
    return _mm_xor_si128(_mm_slli_si128(t, 1),
                         _mm_clmulepi64_si128(_mm_srli_si128(t, 15), poly, 0x00));
}

template <unsigned R>
SV_INLINE void encrypt_tweaks(Schedule k, uint64_t first, __m128i (&t)[kLanes]) {
#pragma GCC unroll 8
    for (unsigned j = 0; j < kLanes; ++j)
        t[j] = _mm_xor_si128(_mm_cvtsi64_si128(static_cast<long long>(first + j)), k[0]);
#pragma GCC unroll 16
    for (unsigned r = 1; r < R; ++r) {
#pragma GCC unroll 8
        for (unsigned j = 0; j < kLanes; ++j)
            t[j] = _mm_aesenc_si128(t[j], k[r]);
    }
#pragma GCC unroll 8
    for (unsigned j = 0; j < kLanes; ++j)
        t[j] = _mm_aesenclast_si128(t[j], k[R]);
}

// 8 blocks: C = E(K1, P xor T) xor T (§5.3.1 steps 2-4); the final xor is
// folded into the last round key (AESENCLAST(x, k ^ T) == AESENCLAST(x, k) ^ T).
template <unsigned R, bool Dec>
SV_INLINE void crypt8(Schedule k, const __m128i (&t)[kLanes], uint8_t* dst, const uint8_t* src) {
    __m128i b[kLanes];
#pragma GCC unroll 8
    for (unsigned j = 0; j < kLanes; ++j)
        b[j] = _mm_xor_si128(load(src + kBlock * j), _mm_xor_si128(t[j], k[0]));
#pragma GCC unroll 16
    for (unsigned r = 1; r < R; ++r) {
        const __m128i kr = k[r];
#pragma GCC unroll 8
        for (unsigned j = 0; j < kLanes; ++j)
            b[j] = Dec ? _mm_aesdec_si128(b[j], kr) : _mm_aesenc_si128(b[j], kr);
    }
#pragma GCC unroll 8
    for (unsigned j = 0; j < kLanes; ++j) {
        const __m128i last = _mm_xor_si128(k[R], t[j]);
        store(dst + kBlock * j,
              Dec ? _mm_aesdeclast_si128(b[j], last) : _mm_aesenclast_si128(b[j], last));
    }
}

template <unsigned R, bool Dec>
SV_INLINE void crypt1(Schedule k, __m128i t, uint8_t* dst, const uint8_t* src) {
    __m128i b = _mm_xor_si128(load(src), _mm_xor_si128(t, k[0]));
#pragma GCC unroll 16
    for (unsigned r = 1; r < R; ++r)
        b = Dec ? _mm_aesdec_si128(b, k[r]) : _mm_aesenc_si128(b, k[r]);
    const __m128i last = _mm_xor_si128(k[R], t);
    store(dst, Dec ? _mm_aesdeclast_si128(b, last) : _mm_aesenclast_si128(b, last));
}

template <unsigned R, bool Dec> void crypt(const XtsKeySchedule& ks, const XtsRun& run) {
    const Schedule k = schedule(Dec ? ks.data_dec : ks.data_enc);
    const Schedule k2 = schedule(ks.tweak_enc);
    const __m128i poly = _mm_cvtsi32_si128(0x87);
    const size_t groups = run.sector_size / (kBlock * kLanes);
    const size_t tail = (run.sector_size / kBlock) % kLanes;
    uint8_t* dst = run.dst;
    const uint8_t* src = run.src;

    for (size_t s0 = 0; s0 < run.sectors; s0 += kLanes) {
        __m128i sector_tweak[kLanes];
        encrypt_tweaks<R>(k2, run.first_tweak + s0, sector_tweak);
        const size_t n = run.sectors - s0 < kLanes ? run.sectors - s0 : kLanes;
        for (size_t i = 0; i < n; ++i) {
            // T_j = E(K2, i) * alpha^j for the first 8 blocks, independently.
            __m128i t[kLanes];
            t[0] = sector_tweak[i];
            t[1] = mul_alpha_pow<1>(t[0], poly);
            t[2] = mul_alpha_pow<2>(t[0], poly);
            t[3] = mul_alpha_pow<3>(t[0], poly);
            t[4] = mul_alpha_pow<4>(t[0], poly);
            t[5] = mul_alpha_pow<5>(t[0], poly);
            t[6] = mul_alpha_pow<6>(t[0], poly);
            t[7] = mul_alpha_pow<7>(t[0], poly);
            for (size_t g = 0; g < groups; ++g) {
                crypt8<R, Dec>(k, t, dst, src);
                dst += kBlock * kLanes;
                src += kBlock * kLanes;
#pragma GCC unroll 8
                for (unsigned j = 0; j < kLanes; ++j)
                    t[j] = mul_alpha8(t[j], poly);
            }
            for (size_t j = 0; j < tail; ++j) { // sector sizes that are not a multiple of 128
                crypt1<R, Dec>(k, t[j], dst, src);
                dst += kBlock;
                src += kBlock;
            }
        }
    }
}

} // namespace

void xts_aesni_encrypt(const XtsKeySchedule& ks, const XtsRun& run) {
    if (ks.rounds == 10) {
        crypt<10, false>(ks, run);
    } else {
        crypt<14, false>(ks, run);
    }
}

void xts_aesni_decrypt(const XtsKeySchedule& ks, const XtsRun& run) {
    if (ks.rounds == 10) {
        crypt<10, true>(ks, run);
    } else {
        crypt<14, true>(ks, run);
    }
}

} // namespace sv::crypto::detail

#pragma GCC pop_options
