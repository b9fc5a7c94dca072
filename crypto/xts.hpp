// AES-XTS sector cipher, bit-compatible with dm-crypt `aes-xts-plain64`
// (IEEE 1619-2007; tweak = sector number + IV offset, 64-bit little-endian,
// zero-padded to 16 bytes). Freestanding: no allocation, no libc.
// The implementation is chosen once at run time from CPUID (AES-NI or the
// constant-time portable fallback).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "lib/result.hpp"

namespace sv::crypto {

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
    [[nodiscard]] Result<void> encrypt(uint8_t* dst, const uint8_t* src, size_t bytes,
                                       uint64_t first_sector, size_t sector_size) const;
    [[nodiscard]] Result<void> decrypt(uint8_t* dst, const uint8_t* src, size_t bytes,
                                       uint64_t first_sector, size_t sector_size) const;

  private:
    // Implementation detail owned by the crypto module (see xts.cpp).
    alignas(16) uint8_t state_[2 * 15 * 16 * 2 + 64]{}; // enc+dec schedules for two keys
    unsigned rounds_ = 0;
    uint64_t iv_offset_ = 0;
};

} // namespace sv::crypto
