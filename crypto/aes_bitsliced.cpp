// Constant-time bitsliced AES, 4 blocks per batch (see aes_bitsliced.hpp).
// Everything here is straight-line word arithmetic: no table, no secret-
// dependent branch or address.
#include "crypto/aes_bitsliced.hpp"

namespace sv::crypto::detail {
namespace {

using State = uint64_t[kBsWords];

inline uint64_t rotr64(uint64_t x, unsigned n) {
    return (x >> n) | (x << (64 - n));
}

// GF(2^8) product of bitsliced operands, reduced modulo the AES polynomial
// m(x) = x^8 + x^4 + x^3 + x + 1 (FIPS-197 §4.2): x^k = x^(k-4) + x^(k-5) +
// x^(k-7) + x^(k-8) for k >= 8, folded from the top down.
inline __attribute__((always_inline)) void gf_reduce(uint64_t c[15], uint64_t out[kBsWords]) {
#pragma GCC unroll 8
    for (int k = 14; k >= 8; --k) {
        c[k - 4] ^= c[k];
        c[k - 5] ^= c[k];
        c[k - 7] ^= c[k];
        c[k - 8] ^= c[k];
    }
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i)
        out[i] = c[i];
}

void gf_mul(const uint64_t a[kBsWords], const uint64_t b[kBsWords], uint64_t out[kBsWords]) {
    uint64_t c[15] = {};
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) {
        const uint64_t ai = a[i];
#pragma GCC unroll 8
        for (int j = 0; j < 8; ++j)
            c[i + j] ^= ai & b[j];
    }
    gf_reduce(c, out);
}

// Squaring is linear in GF(2^8): coefficient i moves to 2i.
void gf_square(const uint64_t a[kBsWords], uint64_t out[kBsWords]) {
    uint64_t c[15] = {};
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i)
        c[2 * i] = a[i];
    gf_reduce(c, out);
}

// Multiplicative inverse as x^254 (0 maps to 0, as FIPS-197 §5.1.1 wants):
// x^2, x^3, x^12, x^15, x^240, x^252, x^254 -> 4 products, 7 squarings.
void gf_inverse(const uint64_t x[kBsWords], uint64_t out[kBsWords]) {
    State x2, x3, x12, x15, t;
    gf_square(x, x2);
    gf_mul(x2, x, x3);
    gf_square(x3, t);
    gf_square(t, x12);
    gf_mul(x12, x3, x15);
    gf_square(x15, t);
    for (int i = 0; i < 3; ++i)
        gf_square(t, t); // x^240
    gf_mul(t, x12, out); // x^252
    gf_mul(out, x2, t);  // x^254
    for (int i = 0; i < 8; ++i)
        out[i] = t[i];
}

// FIPS-197 §5.1.1: b'_i = b_i ^ b_(i+4) ^ b_(i+5) ^ b_(i+6) ^ b_(i+7) ^ c_i,
// c = 0x63 (bits 0, 1, 5, 6 set -> complement those planes).
void sub_bytes(uint64_t s[kBsWords]) {
    State inv;
    gf_inverse(s, inv);
    for (int i = 0; i < 8; ++i)
        s[i] = inv[i] ^ inv[(i + 4) & 7] ^ inv[(i + 5) & 7] ^ inv[(i + 6) & 7] ^ inv[(i + 7) & 7];
    s[0] = ~s[0];
    s[1] = ~s[1];
    s[5] = ~s[5];
    s[6] = ~s[6];
}

// FIPS-197 §5.3.2: inverse affine b_i = b'_(i+2) ^ b'_(i+5) ^ b'_(i+7) ^ d_i,
// d = 0x05, then the inverse in GF(2^8).
void inv_sub_bytes(uint64_t s[kBsWords]) {
    State t;
    for (int i = 0; i < 8; ++i)
        t[i] = s[(i + 2) & 7] ^ s[(i + 5) & 7] ^ s[(i + 7) & 7];
    t[0] = ~t[0];
    t[2] = ~t[2];
    gf_inverse(t, s);
}

// FIPS-197 §5.1.2: row r rotates left by r columns, i.e. its 16-bit lane
// rotates right by 4*r bits (column c sits at bit 4*c of the lane).
uint64_t shift_rows_word(uint64_t w, bool inverse) {
    uint64_t out = w & 0xffff;
    for (unsigned r = 1; r < 4; ++r) {
        const uint64_t lane = (w >> (16 * r)) & 0xffff;
        const unsigned n = inverse ? 16 - 4 * r : 4 * r;
        out |= (((lane >> n) | (lane << (16 - n))) & 0xffff) << (16 * r);
    }
    return out;
}

void shift_rows(uint64_t s[kBsWords], bool inverse) {
    for (int i = 0; i < 8; ++i)
        s[i] = shift_rows_word(s[i], inverse);
}

// Multiply every byte by x (FIPS-197 §4.2.1 xtime) on bit planes.
void xtime(const uint64_t a[kBsWords], uint64_t out[kBsWords]) {
    const uint64_t hi = a[7];
    out[7] = a[6];
    out[6] = a[5];
    out[5] = a[4];
    out[4] = a[3] ^ hi;
    out[3] = a[2] ^ hi;
    out[2] = a[1];
    out[1] = a[0] ^ hi;
    out[0] = hi;
}

// FIPS-197 §5.1.3: s'_r = 2 s_r ^ 3 s_(r+1) ^ s_(r+2) ^ s_(r+3)
//                      = 2 (s_r ^ s_(r+1)) ^ s_(r+1) ^ s_(r+2) ^ s_(r+3).
// Rotating a word right by 16 bits brings row r+1 into row r's lane.
void mix_columns(uint64_t s[kBsWords]) {
    State t, x;
    for (int i = 0; i < 8; ++i)
        t[i] = s[i] ^ rotr64(s[i], 16);
    xtime(t, x);
    for (int i = 0; i < 8; ++i)
        s[i] = x[i] ^ rotr64(s[i], 16) ^ rotr64(s[i], 32) ^ rotr64(s[i], 48);
}

// FIPS-197 §5.3.3 InvMixColumns = MixColumns after adding 4*(s_r ^ s_(r+2))
// to row r (the {0e,0b,0d,09} matrix factors as {02,03,01,01} x {05,00,04,00}).
void inv_mix_columns(uint64_t s[kBsWords]) {
    State p, p2, p4;
    for (int i = 0; i < 8; ++i)
        p[i] = s[i] ^ rotr64(s[i], 32);
    xtime(p, p2);
    xtime(p2, p4);
    for (int i = 0; i < 8; ++i)
        s[i] ^= p4[i];
    mix_columns(s);
}

void add_round_key(uint64_t s[kBsWords], const uint64_t* k) {
    for (int i = 0; i < 8; ++i)
        s[i] ^= k[i];
}

} // namespace

void bs_pack(const uint8_t* in, uint64_t w[kBsWords]) {
    for (int i = 0; i < 8; ++i)
        w[i] = 0;
    for (unsigned k = 0; k < kBsBlocks; ++k) {
        for (unsigned idx = 0; idx < 16; ++idx) {
            // FIPS-197 §3.4: input byte idx is state[row = idx % 4][col = idx / 4].
            const unsigned pos = 16 * (idx & 3) + 4 * (idx >> 2) + k;
            const uint64_t byte = in[16 * k + idx];
            for (unsigned b = 0; b < 8; ++b)
                w[b] |= ((byte >> b) & 1) << pos;
        }
    }
}

void bs_unpack(const uint64_t w[kBsWords], uint8_t* out) {
    for (unsigned k = 0; k < kBsBlocks; ++k) {
        for (unsigned idx = 0; idx < 16; ++idx) {
            const unsigned pos = 16 * (idx & 3) + 4 * (idx >> 2) + k;
            unsigned byte = 0;
            for (unsigned b = 0; b < 8; ++b)
                byte |= static_cast<unsigned>((w[b] >> pos) & 1) << b;
            out[16 * k + idx] = static_cast<uint8_t>(byte);
        }
    }
}

void bs_pack_round_key(const uint8_t* rk, uint64_t out[kBsWords]) {
    for (int i = 0; i < 8; ++i)
        out[i] = 0;
    for (unsigned idx = 0; idx < 16; ++idx) {
        const unsigned pos = 16 * (idx & 3) + 4 * (idx >> 2);
        for (unsigned b = 0; b < 8; ++b)
            out[b] |= static_cast<uint64_t>(((rk[idx] >> b) & 1) * 0xfu) << pos; // all 4 blocks
    }
}

void bs_encrypt4(const uint64_t* keys, unsigned rounds, uint64_t s[kBsWords]) {
    add_round_key(s, keys);
    for (unsigned r = 1; r < rounds; ++r) {
        sub_bytes(s);
        shift_rows(s, false);
        mix_columns(s);
        add_round_key(s, keys + kBsWords * r);
    }
    sub_bytes(s);
    shift_rows(s, false);
    add_round_key(s, keys + kBsWords * rounds);
}

void bs_decrypt4(const uint64_t* keys, unsigned rounds, uint64_t s[kBsWords]) {
    add_round_key(s, keys + kBsWords * rounds);
    for (unsigned r = rounds - 1; r >= 1; --r) {
        shift_rows(s, true);
        inv_sub_bytes(s);
        add_round_key(s, keys + kBsWords * r);
        inv_mix_columns(s);
    }
    shift_rows(s, true);
    inv_sub_bytes(s);
    add_round_key(s, keys);
}

uint32_t bs_sub_word(uint32_t word) {
    // Put the 4 bytes at bit positions 0..3 of the planes; the rest is zero.
    State s = {};
    for (unsigned j = 0; j < 4; ++j)
        for (unsigned b = 0; b < 8; ++b)
            s[b] |= static_cast<uint64_t>((word >> (8 * j + b)) & 1) << j;
    sub_bytes(s);
    uint32_t out = 0;
    for (unsigned j = 0; j < 4; ++j)
        for (unsigned b = 0; b < 8; ++b)
            out |= static_cast<uint32_t>((s[b] >> j) & 1) << (8 * j + b);
    return out;
}

} // namespace sv::crypto::detail
