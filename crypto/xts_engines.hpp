// Internal interface between Xts (validation, dispatch) and the XTS engines.
// Each engine processes `sectors` whole data units of `sector_size` bytes
// (a non-zero multiple of 16) whose tweaks are first_tweak, first_tweak+1, ...
// (mod 2^64), as 128-bit little-endian values (IEEE 1619-2007 §5.1, dm-crypt
// plain64). dst == src or no overlap; arguments are already validated.
#pragma once

#include <cstddef>
#include <cstdint>

#include "crypto/aes_key_schedule.hpp"

namespace sv::crypto::detail {

struct XtsRun {
    uint8_t* dst;
    const uint8_t* src;
    size_t sectors;
    size_t sector_size;
    uint64_t first_tweak;
};

// Constant-time bitsliced fallback (any x86-64; no SIMD registers used).
void xts_portable_encrypt(const XtsKeySchedule& ks, const XtsRun& run);
void xts_portable_decrypt(const XtsKeySchedule& ks, const XtsRun& run);

// AES-NI + PCLMULQDQ, 8 blocks in flight; uses xmm0-15 only.
void xts_aesni_encrypt(const XtsKeySchedule& ks, const XtsRun& run);
void xts_aesni_decrypt(const XtsKeySchedule& ks, const XtsRun& run);

// VAES + VPCLMULQDQ on ymm (AVX2 class), 16 blocks in flight; uses ymm0-15.
void xts_vaes_encrypt(const XtsKeySchedule& ks, const XtsRun& run);
void xts_vaes_decrypt(const XtsKeySchedule& ks, const XtsRun& run);

} // namespace sv::crypto::detail
