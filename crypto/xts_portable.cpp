// XTS-AES (IEEE 1619-2007 §5.3.1 / §5.4.1) over the constant-time bitsliced
// AES: tweaks of 4 sectors are encrypted together, then each sector's blocks
// go through AES 4 at a time. Used where the CPU has no AES-NI.
#include "crypto/secure_wipe.hpp"
#include "crypto/xts_engines.hpp"

namespace sv::crypto::detail {
namespace {

constexpr size_t kBlock = 16;
constexpr size_t kBatch = kBsBlocks * kBlock; // 64 bytes

uint64_t load_le64(const uint8_t* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i)
        v = (v << 8) | p[i];
    return v;
}

void store_le64(uint8_t* p, uint64_t v) {
    for (int i = 0; i < 8; ++i)
        p[i] = static_cast<uint8_t>(v >> (8 * i));
}

// The tweak as a 128-bit little-endian number (IEEE 1619-2007 §5.2).
struct Tweak {
    uint64_t lo, hi;

    // Multiply by the primitive element alpha in GF(2^128) modulo
    // x^128 + x^7 + x^2 + x + 1 (IEEE 1619-2007 §5.2): shift left one bit,
    // fold a carry out of bit 127 back as 0x87. Branch-free.
    void mul_alpha() {
        const uint64_t carry = hi >> 63;
        hi = (hi << 1) | (lo >> 63);
        lo = (lo << 1) ^ (0x87 & (0 - carry));
    }
    void xor_into(uint8_t* block) const {
        store_le64(block, load_le64(block) ^ lo);
        store_le64(block + 8, load_le64(block + 8) ^ hi);
    }
};

void crypt_sector(const XtsKeySchedule& ks, Tweak t, uint8_t* dst, const uint8_t* src,
                  size_t blocks, bool decrypt, uint8_t* buf /* kBatch bytes */) {
    uint64_t w[kBsWords];
    for (size_t done = 0; done < blocks; done += kBsBlocks) {
        const size_t n = blocks - done < kBsBlocks ? blocks - done : kBsBlocks;
        Tweak tw[kBsBlocks];
        for (size_t b = 0; b < kBsBlocks; ++b) {
            uint8_t* blk = buf + kBlock * b;
            if (b < n) {
                for (size_t i = 0; i < kBlock; ++i)
                    blk[i] = src[kBlock * (done + b) + i];
            } else {
                for (size_t i = 0; i < kBlock; ++i)
                    blk[i] = 0; // padding lane, discarded
            }
            tw[b] = t; // §5.3.1 steps 1-2: PP = P xor T, T = E(K2, i) * alpha^j
            tw[b].xor_into(blk);
            t.mul_alpha();
        }
        bs_pack(buf, w);
        if (decrypt) {
            bs_decrypt4(ks.data_bs, ks.rounds, w);
        } else {
            bs_encrypt4(ks.data_bs, ks.rounds, w);
        }
        bs_unpack(w, buf);
        for (size_t b = 0; b < n; ++b) { // §5.3.1 step 4: C = CC xor T
            tw[b].xor_into(buf + kBlock * b);
            for (size_t i = 0; i < kBlock; ++i)
                dst[kBlock * (done + b) + i] = buf[kBlock * b + i];
        }
        secure_wipe(tw, sizeof tw);
    }
    secure_wipe(w, sizeof w);
}

void crypt(const XtsKeySchedule& ks, const XtsRun& run, bool decrypt) {
    const size_t blocks = run.sector_size / kBlock;
    uint8_t tweaks[kBatch];
    uint8_t buf[kBatch];
    uint64_t w[kBsWords];
    for (size_t s0 = 0; s0 < run.sectors; s0 += kBsBlocks) {
        const size_t n = run.sectors - s0 < kBsBlocks ? run.sectors - s0 : kBsBlocks;
        // §5.3.1 step 1: T = E(Key2, i) for up to 4 sectors at once; the
        // tweak is always encrypted, also when decrypting (§5.4.1).
        for (size_t i = 0; i < kBsBlocks; ++i) {
            store_le64(tweaks + kBlock * i, run.first_tweak + s0 + i);
            store_le64(tweaks + kBlock * i + 8, 0);
        }
        bs_pack(tweaks, w);
        bs_encrypt4(ks.tweak_bs, ks.rounds, w);
        bs_unpack(w, tweaks);
        for (size_t i = 0; i < n; ++i) {
            const Tweak t{load_le64(tweaks + kBlock * i), load_le64(tweaks + kBlock * i + 8)};
            const size_t off = (s0 + i) * run.sector_size;
            crypt_sector(ks, t, run.dst + off, run.src + off, blocks, decrypt, buf);
        }
    }
    secure_wipe(tweaks, sizeof tweaks);
    secure_wipe(buf, sizeof buf);
    secure_wipe(w, sizeof w);
}

} // namespace

void xts_portable_encrypt(const XtsKeySchedule& ks, const XtsRun& run) {
    crypt(ks, run, false);
}
void xts_portable_decrypt(const XtsKeySchedule& ks, const XtsRun& run) {
    crypt(ks, run, true);
}

} // namespace sv::crypto::detail
