// AES-XTS sector cipher, bit-compatible with dm-crypt `aes-xts-plain64`
// (IEEE 1619-2007; tweak = sector number + IV offset, 64-bit little-endian,
// zero-padded to 16 bytes). Freestanding: no allocation, no libc.
// The implementation is chosen once at run time from CPUID (VAES on ymm,
// AES-NI, or the constant-time portable fallback).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "crypto/aes_key_schedule.hpp"
#include "crypto/simd_guard.hpp"
#include "lib/result.hpp"

namespace sv::crypto {

// Which engine runs the AES rounds.
enum class XtsImpl : uint8_t {
    Portable, // constant-time bitsliced AES, general-purpose registers only
    AesNi,    // AES-NI + PCLMULQDQ, 8 blocks in flight, xmm0-15
    Vaes,     // VAES + VPCLMULQDQ on ymm (AVX2, no AVX-512), 16 blocks in flight, ymm0-15
};

class Xts {
  public:
    Xts() = default;
    ~Xts(); // wipes the key schedules (a wipe the compiler cannot remove)
    Xts(const Xts&) = delete;
    Xts& operator=(const Xts&) = delete;

    // 32 bytes: AES-128-XTS, 64 bytes: AES-256-XTS. The two halves must
    // differ (IEEE 1619-2007 §5.1 / FIPS 140 IG A.9): equal halves are refused.
    [[nodiscard]] Result<void> set_key(std::span<const uint8_t> key);
    void clear(); // wipe, back to "no key"
    bool has_key() const;

    // dm-crypt's iv_offset: added to every sector number before it is used
    // as the tweak. Default 0.
    void set_iv_offset(uint64_t offset);

    // Encrypt/decrypt `bytes` (a whole number of `sector_size` sectors;
    // sector_size a multiple of 16, e.g. 512 or 4096) starting at sector
    // `first_sector`. In place (dst == src) or out of place (no overlap).
    // Sector numbers wrap modulo 2^64 like dm-crypt's plain64.
    // These take their own SimdGuard around the whole run.
    [[nodiscard]] Result<void> encrypt(uint8_t* dst, const uint8_t* src, size_t bytes,
                                       uint64_t first_sector, size_t sector_size) const;
    [[nodiscard]] Result<void> decrypt(uint8_t* dst, const uint8_t* src, size_t bytes,
                                       uint64_t first_sector, size_t sector_size) const;

    // The same for a caller that already holds a SimdGuard, e.g. one per
    // storage request whose data is spread over several guest segments: the
    // guard argument proves the vector registers are saved.
    [[nodiscard]] Result<void> encrypt(const SimdGuard&, uint8_t* dst, const uint8_t* src,
                                       size_t bytes, uint64_t first_sector,
                                       size_t sector_size) const;
    [[nodiscard]] Result<void> decrypt(const SimdGuard&, uint8_t* dst, const uint8_t* src,
                                       size_t bytes, uint64_t first_sector,
                                       size_t sector_size) const;

    // Engine selection. The default is best_implementation(); tests and the
    // benchmark force one to cross-check the engines against each other.
    static bool is_supported(XtsImpl impl);
    static XtsImpl best_implementation();
    [[nodiscard]] Result<void> set_implementation(XtsImpl impl); // Unsupported if the CPU lacks it
    XtsImpl implementation() const { return impl_; }

  private:
    [[nodiscard]] Result<void> run(bool decrypt, uint8_t* dst, const uint8_t* src, size_t bytes,
                                   uint64_t first_sector, size_t sector_size) const;

    detail::XtsKeySchedule keys_{}; // rounds == 0: no key
    uint64_t iv_offset_ = 0;
    XtsImpl impl_ = best_implementation();
};

} // namespace sv::crypto
