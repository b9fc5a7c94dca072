// Sector encryption (see sector_cipher.hpp).
#include "devices/storage/common/sector_cipher.hpp"

#include "lib/cycle_profile.hpp"

namespace sv::storage {

bool SectorCipher::crypt(const crypto::SimdGuard* guard, uint8_t* dst, const uint8_t* src, uint64_t bytes,
                         uint64_t sector, bool encrypt) const {
    if (!valid_sector_size(sector_size_) || bytes % sector_size_) return false;
    if (!xts_) {
        if (dst != src)
            for (uint64_t i = 0; i < bytes; ++i) dst[i] = src[i];
        return true;
    }
    profile::Scope timed(profile::Bucket::Cipher);
    if (guard) {
        auto r = encrypt ? xts_->encrypt(*guard, dst, src, bytes, sector, sector_size_)
                         : xts_->decrypt(*guard, dst, src, bytes, sector, sector_size_);
        return r.ok();
    }
    auto r = encrypt ? xts_->encrypt(dst, src, bytes, sector, sector_size_)
                     : xts_->decrypt(dst, src, bytes, sector, sector_size_);
    return r.ok();
}

} // namespace sv::storage
