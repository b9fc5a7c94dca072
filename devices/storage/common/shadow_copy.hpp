// Guest scatter list <-> shadow buffer copies, encrypting on the way to the
// device and decrypting on the way back (docs/design.md §2 step 4).
//
// A ShadowTransfer streams one request: the guest's regions arrive in
// transfer order (from any producer: a PRD walk, an AHCI PRDT, an NVMe PRP
// list) and map onto consecutive bytes of the request's shadow chunks.
// Sectors that straddle guest regions go through one sector-sized bounce
// buffer in hypervisor memory; whole sectors go straight between guest
// memory and the shadow. Writes are encrypted out of place into the shadow,
// so on a keyed request the shadow never holds guest plaintext, whatever
// fails half way (a partial last sector is never written at all).
//
// Without a cipher (no key, or ATAPI data that is not encrypted by design)
// bytes are copied as they come, no sector rule applies.
#pragma once

#include <cstdint>
#include <span>

#include "devices/storage/common/guest_regions.hpp"
#include "devices/storage/common/sector_cipher.hpp"
#include "devices/storage/common/shadow_pool.hpp"

namespace sv::storage {

// Byte offset -> host address over a request's chunk list.
class ShadowView {
  public:
    ShadowView(const ShadowPool& pool, const ShadowList& list) : pool_(&pool), list_(&list) {}
    uint64_t bytes() const { return uint64_t{list_->count()} * pool_->chunk_bytes(); }
    // Host address of byte `offset` (< bytes()) and how many bytes follow it
    // contiguously (to the end of its chunk).
    uint8_t* at(uint64_t offset, uint64_t& contiguous) const {
        const uint64_t cb = pool_->chunk_bytes();
        contiguous = cb - offset % cb;
        return pool_->host(list_->chunk(static_cast<uint32_t>(offset / cb))) + offset % cb;
    }
    // Zeroes [0, n) (clamped to the buffer).
    void zero(uint64_t n) const;

  private:
    const ShadowPool* pool_;
    const ShadowList* list_;
};

class ShadowTransfer {
  public:
    // `cipher` nullptr: plain byte copies. Otherwise sector-wise XTS with
    // tweak first_sector + offset / sector size; `guard` is the request's
    // SimdGuard (with_request_simd) and `bounce` holds at least one sector.
    ShadowTransfer(const ShadowView& shadow, const SectorCipher* cipher, uint64_t first_sector,
                   const crypto::SimdGuard* guard, std::span<uint8_t> bounce);

    // Guest -> shadow (a write to the device): the next `n` guest bytes.
    void from_guest(const uint8_t* src, uint64_t n);
    // Shadow -> guest (a read from the device): the next `n` guest bytes.
    void to_guest(uint8_t* dst, uint64_t n);
    void from_guest(const MappedRegion& r) { from_guest(r.host, r.bytes); }
    void to_guest(const MappedRegion& r) { to_guest(r.host, r.bytes); }

    // Guest bytes consumed or produced so far.
    uint64_t guest_bytes() const { return guest_bytes_; }
    // Shadow bytes written (from_guest: complete sectors only) or read.
    uint64_t shadow_bytes() const { return shadow_off_; }
    // The engine refused a run, or the guest gave more than the shadow holds.
    bool failed() const { return failed_; }
    // A sector is split at the current position (from_guest: bytes waiting
    // for the rest of their sector; to_guest: a decrypted sector half given).
    bool mid_sector() const { return bounce_pos_ != bounce_len_; }

  private:
    bool sector_run(uint8_t* guest, uint64_t bytes, bool encrypt); // whole sectors, chunk by chunk
    bool bounce_sector(bool encrypt);                              // bounce <-> shadow, one sector
    void copy_plain(uint8_t* guest, uint64_t n, bool to_shadow);

    ShadowView shadow_;
    const SectorCipher* cipher_;
    uint64_t first_sector_;
    const crypto::SimdGuard* guard_;
    std::span<uint8_t> bounce_;
    uint32_t sector_ = 0;
    uint64_t shadow_off_ = 0;
    uint64_t guest_bytes_ = 0;
    uint32_t bounce_pos_ = 0; // from_guest: bytes collected; to_guest: bytes given out
    uint32_t bounce_len_ = 0; // to_guest: bytes valid in the bounce (0 or a sector)
    bool failed_ = false;
};

// Whole requests over a list of guest regions, the guard taken once.
// Returns the guest bytes moved; fails on a refused region (fault says why),
// an engine error (Error::DeviceError) or regions whose total is not
// `bytes` (RegionFault::TooLong, or Error::OutOfRange when short).
[[nodiscard]] Result<uint64_t> copy_guest_to_shadow(GuestMemory& mem, std::span<const GuestRegion> regions,
                                                    uint64_t bytes, const ShadowView& shadow,
                                                    const SectorCipher* cipher, uint64_t first_sector,
                                                    std::span<uint8_t> bounce, RegionFault& fault);
[[nodiscard]] Result<uint64_t> copy_shadow_to_guest(GuestMemory& mem, std::span<const GuestRegion> regions,
                                                    uint64_t bytes, const ShadowView& shadow,
                                                    const SectorCipher* cipher, uint64_t first_sector,
                                                    std::span<uint8_t> bounce, RegionFault& fault);

} // namespace sv::storage
