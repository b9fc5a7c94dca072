// Guest <-> shadow copies with the split-sector bounce (see shadow_copy.hpp).
#include "devices/storage/common/shadow_copy.hpp"

namespace sv::storage {

void ShadowView::zero(uint64_t n) const {
    if (n > bytes()) n = bytes();
    for (uint64_t off = 0; off < n;) {
        uint64_t contiguous;
        uint8_t* p = at(off, contiguous);
        const uint64_t run = n - off < contiguous ? n - off : contiguous;
        for (uint64_t i = 0; i < run; ++i) p[i] = 0;
        off += run;
    }
}

ShadowTransfer::ShadowTransfer(const ShadowView& shadow, const SectorCipher* cipher, uint64_t first_sector,
                               const crypto::SimdGuard* guard, std::span<uint8_t> bounce)
    : shadow_(shadow), cipher_(cipher), first_sector_(first_sector), guard_(guard), bounce_(bounce) {
    if (cipher_) {
        sector_ = cipher_->sector_size();
        // A chunk is a power of two >= 4 KiB: whole sectors never straddle chunks.
        if (!valid_sector_size(sector_) || bounce_.size() < sector_) failed_ = true;
    }
}

bool ShadowTransfer::sector_run(uint8_t* guest, uint64_t bytes, bool encrypt) {
    if (bytes > shadow_.bytes() - shadow_off_) return false; // more than the shadow holds
    while (bytes) {
        uint64_t contiguous;
        uint8_t* s = shadow_.at(shadow_off_, contiguous);
        const uint64_t run = bytes < contiguous ? bytes : contiguous;
        const uint64_t sector = first_sector_ + shadow_off_ / sector_;
        if (!(encrypt ? cipher_->crypt(guard_, s, guest, run, sector, true)
                      : cipher_->crypt(guard_, guest, s, run, sector, false)))
            return false;
        shadow_off_ += run;
        guest += run;
        bytes -= run;
    }
    return true;
}

bool ShadowTransfer::bounce_sector(bool encrypt) {
    return sector_run(bounce_.data(), sector_, encrypt);
}

void ShadowTransfer::copy_plain(uint8_t* guest, uint64_t n, bool to_shadow) {
    if (n > shadow_.bytes() - shadow_off_) {
        failed_ = true;
        return;
    }
    while (n) {
        uint64_t contiguous;
        uint8_t* s = shadow_.at(shadow_off_, contiguous);
        const uint64_t run = n < contiguous ? n : contiguous;
        for (uint64_t i = 0; i < run; ++i) {
            if (to_shadow) s[i] = guest[i];
            else guest[i] = s[i];
        }
        shadow_off_ += run;
        guest += run;
        n -= run;
    }
}

void ShadowTransfer::from_guest(const uint8_t* src, uint64_t n) {
    if (failed_) return;
    guest_bytes_ += n;
    // The guest's bytes are only ever read here (const in spirit).
    uint8_t* in = const_cast<uint8_t*>(src);
    if (!cipher_) return copy_plain(in, n, true);
    while (n && !failed_) {
        if (bounce_pos_ == 0 && n >= sector_) { // whole sectors: straight into the shadow
            const uint64_t whole = n - n % sector_;
            if (!sector_run(in, whole, true)) failed_ = true;
            in += whole;
            n -= whole;
            continue;
        }
        const uint64_t room = sector_ - bounce_pos_;
        const uint32_t take = static_cast<uint32_t>(n < room ? n : room);
        for (uint32_t i = 0; i < take; ++i) bounce_[bounce_pos_ + i] = in[i];
        bounce_pos_ += take;
        in += take;
        n -= take;
        if (bounce_pos_ == sector_) {
            if (!bounce_sector(true)) failed_ = true;
            bounce_pos_ = 0;
        }
    }
}

void ShadowTransfer::to_guest(uint8_t* dst, uint64_t n) {
    if (failed_) return;
    guest_bytes_ += n;
    if (!cipher_) return copy_plain(dst, n, false);
    while (n && !failed_) {
        if (bounce_pos_ == bounce_len_ && n >= sector_) { // whole sectors: straight to the guest
            const uint64_t whole = n - n % sector_;
            if (!sector_run(dst, whole, false)) failed_ = true;
            dst += whole;
            n -= whole;
            continue;
        }
        if (bounce_pos_ == bounce_len_) { // the sector split across guest regions
            if (!bounce_sector(false)) {
                failed_ = true;
                return;
            }
            bounce_pos_ = 0;
            bounce_len_ = sector_;
        }
        const uint64_t avail = bounce_len_ - bounce_pos_;
        const uint32_t take = static_cast<uint32_t>(n < avail ? n : avail);
        for (uint32_t i = 0; i < take; ++i) dst[i] = bounce_[bounce_pos_ + i];
        bounce_pos_ += take;
        dst += take;
        n -= take;
    }
}

namespace {
template <class Step>
Result<uint64_t> copy_regions(GuestMemory& mem, std::span<const GuestRegion> regions, uint64_t bytes,
                              const ShadowView& shadow, const SectorCipher* cipher, uint64_t first_sector,
                              std::span<uint8_t> bounce, RegionFault& fault, Step step) {
    return with_request_simd(cipher && cipher->keyed(), [&](const crypto::SimdGuard* guard) -> Result<uint64_t> {
        ShadowTransfer t(shadow, cipher, first_sector, guard, bounce);
        const uint64_t total =
            TRY(walk_guest_regions(mem, regions, bytes, fault, [&](const MappedRegion& m) { step(t, m); }));
        if (total != bytes) return fail(Error::OutOfRange);
        if (t.failed() || t.mid_sector()) return fail(Error::DeviceError);
        return total;
    });
}
} // namespace

Result<uint64_t> copy_guest_to_shadow(GuestMemory& mem, std::span<const GuestRegion> regions, uint64_t bytes,
                                      const ShadowView& shadow, const SectorCipher* cipher, uint64_t first_sector,
                                      std::span<uint8_t> bounce, RegionFault& fault) {
    return copy_regions(mem, regions, bytes, shadow, cipher, first_sector, bounce, fault,
                        [](ShadowTransfer& t, const MappedRegion& m) { t.from_guest(m); });
}

Result<uint64_t> copy_shadow_to_guest(GuestMemory& mem, std::span<const GuestRegion> regions, uint64_t bytes,
                                      const ShadowView& shadow, const SectorCipher* cipher, uint64_t first_sector,
                                      std::span<uint8_t> bounce, RegionFault& fault) {
    return copy_regions(mem, regions, bytes, shadow, cipher, first_sector, bounce, fault,
                        [](ShadowTransfer& t, const MappedRegion& m) { t.to_guest(m); });
}

} // namespace sv::storage
