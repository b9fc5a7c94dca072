// The constant-time bitsliced AES and the key expansion against FIPS-197
// Appendix A/C and against OpenSSL's AES-ECB on random blocks.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include "crypto/aes_bitsliced.hpp"
#include "crypto/aes_key_schedule.hpp"
#include "xts_test_support.hpp"

namespace sv::crypto {
namespace {

using namespace detail;
using test::Bytes;
using test::from_hex;

// 4 blocks through the bitsliced cipher with an expanded key.
Bytes bs_crypt(const Bytes& key, const Bytes& in64, bool decrypt) {
    uint8_t rk[kMaxRoundKeyBytes];
    const unsigned rounds = aes_expand_key(key.data(), key.size(), rk);
    uint64_t bs[kBsWords * (kMaxRounds + 1)];
    for (unsigned r = 0; r <= rounds; ++r)
        bs_pack_round_key(rk + 16 * r, bs + kBsWords * r);
    uint64_t w[kBsWords];
    bs_pack(in64.data(), w);
    if (decrypt) {
        bs_decrypt4(bs, rounds, w);
    } else {
        bs_encrypt4(bs, rounds, w);
    }
    Bytes out(64);
    bs_unpack(w, out.data());
    return out;
}

Bytes replicate4(const Bytes& block) {
    Bytes out;
    for (int i = 0; i < 4; ++i)
        out.insert(out.end(), block.begin(), block.end());
    return out;
}

TEST(AesKeySchedule, Fips197AppendixA) {
    uint8_t rk[kMaxRoundKeyBytes];
    // A.1: AES-128, the last round key w[40..43].
    ASSERT_EQ(aes_expand_key(from_hex("2b7e151628aed2a6abf7158809cf4f3c").data(), 16, rk), 10u);
    EXPECT_EQ(Bytes(rk + 160, rk + 176), from_hex("d014f9a8c9ee2589e13f0cc8b6630ca6"));
    // A.3: AES-256, w[56..59].
    ASSERT_EQ(
        aes_expand_key(
            from_hex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4").data(), 32,
            rk),
        14u);
    EXPECT_EQ(Bytes(rk + 224, rk + 240), from_hex("fe4890d1e6188d0b046df344706c631e"));
    EXPECT_EQ(aes_expand_key(rk, 24, rk), 0u); // AES-192 is not an XTS key size here
}

TEST(AesBitsliced, SubWordMatchesFips197SBox) {
    // FIPS-197 Figure 7 spot values: S(00)=63, S(01)=7c, S(53)=ed, S(ff)=16.
    EXPECT_EQ(bs_sub_word(0xff530100u), 0x16ed7c63u);
}

TEST(AesBitsliced, Fips197AppendixC) {
    const Bytes pt = replicate4(from_hex("00112233445566778899aabbccddeeff"));
    const Bytes k128 = from_hex("000102030405060708090a0b0c0d0e0f");
    const Bytes k256 = from_hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
    const Bytes c128 = replicate4(from_hex("69c4e0d86a7b0430d8cdb78070b4c55a")); // C.1
    const Bytes c256 = replicate4(from_hex("8ea2b7ca516745bfeafc49904b496089")); // C.3
    EXPECT_EQ(bs_crypt(k128, pt, false), c128);
    EXPECT_EQ(bs_crypt(k128, c128, true), pt);
    EXPECT_EQ(bs_crypt(k256, pt, false), c256);
    EXPECT_EQ(bs_crypt(k256, c256, true), pt);
}

TEST(AesBitsliced, RandomBlocksMatchOpenSslEcb) {
    std::mt19937_64 rng(1619);
    for (int iter = 0; iter < 200; ++iter) {
        const size_t key_len = iter % 2 ? 32 : 16;
        const Bytes key = test::random_bytes(rng, key_len);
        const Bytes pt = test::random_bytes(rng, 64);
        Bytes ref(64 + 16);
        EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
        int len = 0;
        ASSERT_EQ(EVP_EncryptInit_ex(ctx, key_len == 16 ? EVP_aes_128_ecb() : EVP_aes_256_ecb(),
                                     nullptr, key.data(), nullptr),
                  1);
        EVP_CIPHER_CTX_set_padding(ctx, 0);
        ASSERT_EQ(EVP_EncryptUpdate(ctx, ref.data(), &len, pt.data(), 64), 1);
        EVP_CIPHER_CTX_free(ctx);
        ref.resize(64);
        const Bytes ct = bs_crypt(key, pt, false);
        ASSERT_EQ(ct, ref) << "iteration " << iter;
        ASSERT_EQ(bs_crypt(key, ct, true), pt) << "iteration " << iter;
    }
}

// Reference MixColumns (FIPS-197 §5.1.3) written the plain way, to check the
// inverse schedule from the other side: MixColumns(dec[i]) == enc[Nr - i].
uint8_t xt(uint8_t b) {
    return static_cast<uint8_t>((b << 1) ^ ((b & 0x80) ? 0x1b : 0));
}
Bytes mix_columns_ref(const uint8_t* in) {
    Bytes out(16);
    for (int c = 0; c < 4; ++c) {
        const uint8_t* s = in + 4 * c;
        for (int r = 0; r < 4; ++r)
            out[4 * c + r] = static_cast<uint8_t>(xt(s[r]) ^ xt(s[(r + 1) & 3]) ^ s[(r + 1) & 3] ^
                                                  s[(r + 2) & 3] ^ s[(r + 3) & 3]);
    }
    return out;
}

TEST(AesKeySchedule, InverseScheduleIsEquivalentInverseCipher) {
    uint8_t enc[kMaxRoundKeyBytes], dec[kMaxRoundKeyBytes];
    const unsigned r = aes_expand_key(from_hex("000102030405060708090a0b0c0d0e0f").data(), 16, enc);
    // FIPS-197 C.1 InvCipher: round[0].ik_sch (the last encryption round key).
    EXPECT_EQ(Bytes(enc + 160, enc + 176), from_hex("13111d7fe3944a17f307a78b4d2b30c5"));
    aes_inverse_schedule(enc, r, dec);
    EXPECT_EQ(Bytes(dec, dec + 16), Bytes(enc + 160, enc + 176));
    EXPECT_EQ(Bytes(dec + 160, dec + 176), Bytes(enc, enc + 16));
    for (unsigned i = 1; i < r; ++i)
        EXPECT_EQ(mix_columns_ref(dec + 16 * i), Bytes(enc + 16 * (r - i), enc + 16 * (r - i) + 16))
            << i;
}

} // namespace
} // namespace sv::crypto
