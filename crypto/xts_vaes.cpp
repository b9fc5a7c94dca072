// XTS-AES (IEEE 1619-2007 §5.3.1 / §5.4.1) with VAES + VPCLMULQDQ on 256-bit
// registers (AVX2 class, no AVX-512): every VAESENC works on two blocks, so
// the same instruction count moves twice the data of the AES-NI engine (on
// Zen 3 both AES pipes accept 256-bit VAES at one per cycle each).
// 8 ymm in flight = 16 blocks. ymm j holds blocks 2j and 2j+1 and their
// tweaks (T_2j, T_2j+1) in its two 128-bit lanes; the next group's tweaks
// are T * alpha^16 per lane: a 2-byte in-lane shift plus one VPCLMULQDQ.
//
// Touches ymm0-15 (VEX encoding also zeroes the upper halves of xmm it
// writes): SimdGuard saves the full ymm registers on CPUs where this engine
// is available. GCC ends the functions with VZEROUPPER.
#include "crypto/xts_engines.hpp"

// Vector ISA only from here on (the hypervisor builds with -mgeneral-regs-only).
#pragma GCC push_options
#pragma GCC target("avx2,aes,pclmul,vaes,vpclmulqdq")
#include <immintrin.h>

namespace sv::crypto::detail {
namespace {

constexpr size_t kBlock = 16;
constexpr size_t kLanes = 8;                   // ymm registers in flight
constexpr size_t kGroup = 2 * kLanes * kBlock; // 256 bytes per group

#define SV_INLINE inline __attribute__((always_inline))

SV_INLINE __m256i load(const uint8_t* p) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}
SV_INLINE void store(uint8_t* p, __m256i v) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v);
}

// Round key r of a 16-byte aligned schedule, in both lanes.
SV_INLINE __m256i key(const uint8_t* sched, unsigned r) {
    return _mm256_broadcastsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(sched) + r));
}

// Per 128-bit lane: T * alpha^K (1 <= K <= 63), IEEE 1619-2007 §5.2. Shift
// the lane left by K bits and fold the K bits pushed out of bit 127 back in
// as bits * 0x87 (x^128 = x^7 + x^2 + x + 1).
template <int K> SV_INLINE __m256i mul_alpha_pow(__m256i t, __m256i poly) {
    const __m256i shifted = _mm256_slli_epi64(t, K);
    const __m256i carry = _mm256_srli_epi64(_mm256_bslli_epi128(t, 8), 64 - K);
    const __m256i top = _mm256_srli_epi64(_mm256_bsrli_epi128(t, 8), 64 - K);
    return _mm256_xor_si256(_mm256_xor_si256(shifted, carry),
                            _mm256_clmulepi64_epi128(top, poly, 0x00));
}

// T * alpha^16 per lane: whole bytes, 4 ops.
SV_INLINE __m256i mul_alpha16(__m256i t, __m256i poly) {
    return _mm256_xor_si256(_mm256_bslli_epi128(t, 2),
                            _mm256_clmulepi64_epi128(_mm256_bsrli_epi128(t, 14), poly, 0x00));
}

// E(Key2, i) for 8 consecutive sector numbers (§5.3.1 step 1), 2 per ymm.
template <unsigned R>
SV_INLINE void encrypt_tweaks(const uint8_t* k2, uint64_t first, __m128i (&out)[kLanes]) {
    __m256i t[kLanes / 2];
#pragma GCC unroll 4
    for (unsigned j = 0; j < kLanes / 2; ++j)
        t[j] = _mm256_xor_si256(_mm256_set_epi64x(0, static_cast<long long>(first + 2 * j + 1), 0,
                                                  static_cast<long long>(first + 2 * j)),
                                key(k2, 0));
#pragma GCC unroll 16
    for (unsigned r = 1; r < R; ++r) {
        const __m256i kr = key(k2, r);
#pragma GCC unroll 4
        for (unsigned j = 0; j < kLanes / 2; ++j)
            t[j] = _mm256_aesenc_epi128(t[j], kr);
    }
    const __m256i kl = key(k2, R);
#pragma GCC unroll 4
    for (unsigned j = 0; j < kLanes / 2; ++j) {
        t[j] = _mm256_aesenclast_epi128(t[j], kl);
        out[2 * j] = _mm256_castsi256_si128(t[j]);
        out[2 * j + 1] = _mm256_extracti128_si256(t[j], 1);
    }
}

// 16 blocks: C = E(K1, P xor T) xor T, the final xor folded into the last
// round key (AESENCLAST(x, k ^ T) == AESENCLAST(x, k) ^ T).
template <unsigned R, bool Dec>
SV_INLINE void crypt16(const uint8_t* k, const __m256i (&t)[kLanes], uint8_t* dst,
                       const uint8_t* src) {
    __m256i b[kLanes];
    const __m256i k0 = key(k, 0);
#pragma GCC unroll 8
    for (unsigned j = 0; j < kLanes; ++j)
        b[j] = _mm256_xor_si256(load(src + 32 * j), _mm256_xor_si256(t[j], k0));
#pragma GCC unroll 16
    for (unsigned r = 1; r < R; ++r) {
        const __m256i kr = key(k, r);
#pragma GCC unroll 8
        for (unsigned j = 0; j < kLanes; ++j)
            b[j] = Dec ? _mm256_aesdec_epi128(b[j], kr) : _mm256_aesenc_epi128(b[j], kr);
    }
    const __m256i kl = key(k, R);
#pragma GCC unroll 8
    for (unsigned j = 0; j < kLanes; ++j) {
        const __m256i last = _mm256_xor_si256(kl, t[j]);
        store(dst + 32 * j,
              Dec ? _mm256_aesdeclast_epi128(b[j], last) : _mm256_aesenclast_epi128(b[j], last));
    }
}

// One block (tails of sector sizes that are not a multiple of 256).
template <unsigned R, bool Dec>
SV_INLINE void crypt1(const uint8_t* k, __m128i t, uint8_t* dst, const uint8_t* src) {
    const __m128i* ks = reinterpret_cast<const __m128i*>(k);
    __m128i b = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src)),
                              _mm_xor_si128(t, ks[0]));
#pragma GCC unroll 16
    for (unsigned r = 1; r < R; ++r)
        b = Dec ? _mm_aesdec_si128(b, ks[r]) : _mm_aesenc_si128(b, ks[r]);
    const __m128i last = _mm_xor_si128(ks[R], t);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst),
                     Dec ? _mm_aesdeclast_si128(b, last) : _mm_aesenclast_si128(b, last));
}

template <unsigned R, bool Dec> void crypt(const XtsKeySchedule& ks, const XtsRun& run) {
    const uint8_t* k = Dec ? ks.data_dec : ks.data_enc;
    const __m256i poly = _mm256_set_epi64x(0, 0x87, 0, 0x87);
    const size_t groups = run.sector_size / kGroup;
    const size_t tail = (run.sector_size % kGroup) / kBlock;
    uint8_t* dst = run.dst;
    const uint8_t* src = run.src;

    for (size_t s0 = 0; s0 < run.sectors; s0 += kLanes) {
        __m128i sector_tweak[kLanes];
        encrypt_tweaks<R>(ks.tweak_enc, run.first_tweak + s0, sector_tweak);
        const size_t n = run.sectors - s0 < kLanes ? run.sectors - s0 : kLanes;
        for (size_t i = 0; i < n; ++i) {
            // (T0, T1) then (T_2j, T_2j+1) = (T0, T1) * alpha^2j, independently.
            const __m128i t0 = sector_tweak[i];
            __m256i t[kLanes];
            const __m256i base = _mm256_set_m128i(t0, t0);
            // t[0] = (T0, T0 * alpha): the per-lane multiply of (T0, T0), blended.
            t[0] = _mm256_blend_epi32(base, mul_alpha_pow<1>(base, poly), 0xf0);
            t[1] = mul_alpha_pow<2>(t[0], poly);
            t[2] = mul_alpha_pow<4>(t[0], poly);
            t[3] = mul_alpha_pow<6>(t[0], poly);
            t[4] = mul_alpha_pow<8>(t[0], poly);
            t[5] = mul_alpha_pow<10>(t[0], poly);
            t[6] = mul_alpha_pow<12>(t[0], poly);
            t[7] = mul_alpha_pow<14>(t[0], poly);
            for (size_t g = 0; g < groups; ++g) {
                crypt16<R, Dec>(k, t, dst, src);
                dst += kGroup;
                src += kGroup;
#pragma GCC unroll 8
                for (unsigned j = 0; j < kLanes; ++j)
                    t[j] = mul_alpha16(t[j], poly);
            }
            if (tail != 0) { // block 16g + j uses lane j % 2 of t[j / 2]
                __m128i tt[2 * kLanes];
#pragma GCC unroll 8
                for (unsigned j = 0; j < kLanes; ++j) {
                    tt[2 * j] = _mm256_castsi256_si128(t[j]);
                    tt[2 * j + 1] = _mm256_extracti128_si256(t[j], 1);
                }
                for (size_t j = 0; j < tail; ++j) {
                    crypt1<R, Dec>(k, tt[j], dst, src);
                    dst += kBlock;
                    src += kBlock;
                }
            }
        }
    }
}

} // namespace

void xts_vaes_encrypt(const XtsKeySchedule& ks, const XtsRun& run) {
    if (ks.rounds == 10) {
        crypt<10, false>(ks, run);
    } else {
        crypt<14, false>(ks, run);
    }
}

void xts_vaes_decrypt(const XtsKeySchedule& ks, const XtsRun& run) {
    if (ks.rounds == 10) {
        crypt<10, true>(ks, run);
    } else {
        crypt<14, true>(ks, run);
    }
}

} // namespace sv::crypto::detail

#pragma GCC pop_options
