// Sector encryption for every storage mediator: dm-crypt `aes-xts-plain64`
// (crypto/xts.hpp), tweak = sector number counted in the mediator's sector
// size. 512-byte sectors: the tweak is the LBA. 4096-byte sectors: the tweak
// is the 4096-byte sector number (dm-crypt `sector_size:4096` with
// `iv_large_sectors`), so a 4Kn disk opens with
// `cryptsetup open --type plain --sector-size 4096 --iv-large-sectors`.
//
// The SIMD guard (crypto/simd_guard.hpp) is taken once per request by
// with_request_simd() around all of its sectors and segments, never per
// sector: crypt() takes the guard the caller holds.
#pragma once

#include <cstdint>

#include "crypto/simd_guard.hpp"
#include "crypto/xts.hpp"

namespace sv::storage {

constexpr uint32_t kSector512 = 512;
constexpr uint32_t kSector4K = 4096;
constexpr bool valid_sector_size(uint32_t s) { return s == kSector512 || s == kSector4K; }

class SectorCipher {
  public:
    // `xts` nullptr: no key (crypt() copies, the disk stays plaintext).
    SectorCipher(const crypto::Xts* xts, uint32_t sector_size) : xts_(xts), sector_size_(sector_size) {}
    bool keyed() const { return xts_ != nullptr; }
    uint32_t sector_size() const { return sector_size_; }

    // `bytes` (a whole number of sectors) from `src` to `dst`, the first one
    // being sector `sector`; in place or out of place. `guard`: the
    // request's SimdGuard (nullptr: the engine takes its own). False when
    // the engine refused (no key, bad length): nothing is promised in dst.
    [[nodiscard]] bool crypt(const crypto::SimdGuard* guard, uint8_t* dst, const uint8_t* src,
                             uint64_t bytes, uint64_t sector, bool encrypt) const;

  private:
    const crypto::Xts* xts_;
    uint32_t sector_size_;
};

// Runs fn(const crypto::SimdGuard*) with the guest's vector registers saved
// once around the whole request when `needed` (fn gets nullptr otherwise).
template <class Fn> auto with_request_simd(bool needed, Fn&& fn) {
    if (!needed) return fn(static_cast<const crypto::SimdGuard*>(nullptr));
    crypto::SimdGuard guard;
    return fn(static_cast<const crypto::SimdGuard*>(&guard));
}

} // namespace sv::storage
