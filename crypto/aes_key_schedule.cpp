// FIPS-197 §5.2 key expansion and §5.3.5 inverse schedule, portable and
// constant time (no table lookups indexed by key bytes).
#include "crypto/aes_key_schedule.hpp"

#include "crypto/secure_wipe.hpp"

namespace sv::crypto::detail {
namespace {

// Words hold bytes little-endian: byte 0 of the word is bits 0..7.
uint32_t load_word(const uint8_t* p) {
    return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
           static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

void store_word(uint8_t* p, uint32_t w) {
    for (int i = 0; i < 4; ++i)
        p[i] = static_cast<uint8_t>(w >> (8 * i));
}

// xtime (FIPS-197 §4.2.1) without a data-dependent branch.
uint8_t xtime(uint8_t b) {
    return static_cast<uint8_t>((b << 1) ^ (0x1b & -(b >> 7)));
}

uint8_t gf_mul(uint8_t a, uint8_t b) { // constant time: fixed 8 steps, masks
    uint8_t r = 0;
    for (int i = 0; i < 8; ++i) {
        r ^= static_cast<uint8_t>(a & -((b >> i) & 1));
        a = xtime(a);
    }
    return r;
}

} // namespace

unsigned aes_expand_key(const uint8_t* key, size_t key_len, uint8_t* round_keys) {
    if (key_len != 16 && key_len != 32) return 0;
    const unsigned nk = static_cast<unsigned>(key_len / 4);
    const unsigned rounds = nk + 6;
    const unsigned total = 4 * (rounds + 1);
    uint32_t w[4 * (kMaxRounds + 1)];
    for (unsigned i = 0; i < nk; ++i)
        w[i] = load_word(key + 4 * i);
    uint8_t rcon = 0x01;
    for (unsigned i = nk; i < total; ++i) {
        uint32_t t = w[i - 1];
        if (i % nk == 0) {
            t = (t >> 8) | (t << 24); // RotWord: [a0,a1,a2,a3] -> [a1,a2,a3,a0]
            t = bs_sub_word(t) ^ rcon;
            rcon = xtime(rcon); // Rcon[i/Nk] = x^(i/Nk - 1)
        } else if (nk > 6 && i % nk == 4) {
            t = bs_sub_word(t);
        }
        w[i] = w[i - nk] ^ t;
    }
    for (unsigned i = 0; i < total; ++i)
        store_word(round_keys + 4 * i, w[i]);
    secure_wipe(w, sizeof w);
    return rounds;
}

void aes_inverse_schedule(const uint8_t* enc, unsigned rounds, uint8_t* dec) {
    for (unsigned r = 0; r <= rounds; ++r) {
        const uint8_t* in = enc + 16 * (rounds - r);
        uint8_t* out = dec + 16 * r;
        if (r == 0 || r == rounds) {
            for (int i = 0; i < 16; ++i)
                out[i] = in[i];
            continue;
        }
        for (int c = 0; c < 4; ++c) { // FIPS-197 §5.3.3 InvMixColumns, one column
            const uint8_t* s = in + 4 * c;
            for (int row = 0; row < 4; ++row)
                out[4 * c + row] = gf_mul(s[row], 0x0e) ^ gf_mul(s[(row + 1) & 3], 0x0b) ^
                                   gf_mul(s[(row + 2) & 3], 0x0d) ^ gf_mul(s[(row + 3) & 3], 0x09);
        }
    }
}

void xts_schedule(const uint8_t* key1, const uint8_t* key2, size_t half_len, XtsKeySchedule& out) {
    out.rounds = aes_expand_key(key1, half_len, out.data_enc);
    aes_expand_key(key2, half_len, out.tweak_enc);
    aes_inverse_schedule(out.data_enc, out.rounds, out.data_dec);
    for (unsigned r = 0; r <= out.rounds; ++r) {
        bs_pack_round_key(out.data_enc + 16 * r, out.data_bs + kBsWords * r);
        bs_pack_round_key(out.tweak_enc + 16 * r, out.tweak_bs + kBsWords * r);
    }
}

} // namespace sv::crypto::detail
