// Randomized cross-check of our XTS engines against OpenSSL EVP
// aes-128-xts / aes-256-xts (dm-crypt style, one IV per sector), and of the
// AES-NI engine against the portable fallback byte for byte.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>

#include "crypto/xts.hpp"
#include "xts_test_support.hpp"

namespace sv::crypto {
namespace {

using test::Bytes;

constexpr uint64_t kSectorNumbers[] = {
    0,
    1,
    7,
    0xffffffffull,
    0x100000000ull,
    0x123456789abcdefull,
    0xfffffffffffffff8ull,
    0xffffffffffffffffull, // runs that wrap past 2^64-1 to 0
};

// Sector sizes: dm-crypt's 512..4096, plus odd multiples of 16 that leave a
// tail after the 8-block (AES-NI) or 16-block (VAES) groups.
constexpr size_t kSectorSizes[] = {16,  32,  48,  112,  128,  144,  240,
                                   272, 496, 512, 1024, 2048, 4096, 4112};

// Sector counts around the 4-sector (portable) and 8-sector (AES-NI) tweak
// batches.
constexpr size_t kSectorCounts[] = {1, 2, 3, 4, 5, 7, 8, 9, 16, 17};

void check_against_openssl(XtsImpl impl, size_t key_len, size_t budget_bytes, uint64_t seed) {
    std::mt19937_64 rng(seed);
    size_t spent = 0;
    for (int iter = 0; spent < budget_bytes; ++iter) {
        const Bytes key = test::random_key(rng, key_len);
        const size_t sector_size = kSectorSizes[rng() % std::size(kSectorSizes)];
        const size_t sectors = kSectorCounts[rng() % std::size(kSectorCounts)];
        const uint64_t first =
            iter % 3 == 2 ? rng() : kSectorNumbers[rng() % std::size(kSectorNumbers)];
        const uint64_t iv_offset = iter % 5 == 4 ? rng() : 0;
        const bool in_place = iter % 2 == 1;
        const size_t bytes = sector_size * sectors;
        spent += bytes;
        SCOPED_TRACE(::testing::Message()
                     << "iter " << iter << " key " << key_len << " sector_size " << sector_size
                     << " sectors " << sectors << " first " << first << " iv_offset " << iv_offset
                     << " in_place " << in_place);
        const Bytes pt = test::random_bytes(rng, bytes);
        const Bytes ref = test::openssl_xts(true, key, pt, sector_size, first + iv_offset);

        Xts xts;
        ASSERT_TRUE(xts.set_implementation(impl).ok());
        ASSERT_TRUE(xts.set_key(key).ok());
        xts.set_iv_offset(iv_offset);
        Bytes ct = in_place ? pt : Bytes(bytes, 0xcc);
        ASSERT_TRUE(
            xts.encrypt(ct.data(), in_place ? ct.data() : pt.data(), bytes, first, sector_size)
                .ok());
        ASSERT_EQ(ct, ref);

        // Decrypt OpenSSL's ciphertext of fresh random data, too.
        const Bytes pt2 = test::random_bytes(rng, bytes);
        const Bytes ct2 = test::openssl_xts(true, key, pt2, sector_size, first + iv_offset);
        ASSERT_EQ(test::openssl_xts(false, key, ct2, sector_size, first + iv_offset), pt2);
        Bytes back = in_place ? ct2 : Bytes(bytes, 0x33);
        ASSERT_TRUE(
            xts.decrypt(back.data(), in_place ? back.data() : ct2.data(), bytes, first, sector_size)
                .ok());
        ASSERT_EQ(back, pt2);
    }
}

TEST(XtsOpenssl, AesNiAes128) {
    if (!Xts::is_supported(XtsImpl::AesNi)) GTEST_SKIP() << "CPU has no AES-NI";
    check_against_openssl(XtsImpl::AesNi, 32, 8u << 20, 1);
}

TEST(XtsOpenssl, AesNiAes256) {
    if (!Xts::is_supported(XtsImpl::AesNi)) GTEST_SKIP() << "CPU has no AES-NI";
    check_against_openssl(XtsImpl::AesNi, 64, 8u << 20, 2);
}

// The VAES engine exists only on CPUs with VAES + VPCLMULQDQ + AVX2: where
// CPUID lacks them these tests are reported as SKIPPED (with the reason),
// never as passed.
TEST(XtsOpenssl, VaesAes128) {
    if (!Xts::is_supported(XtsImpl::Vaes))
        GTEST_SKIP() << "CPU has no VAES/VPCLMULQDQ/AVX2: VAES engine not tested";
    std::printf("[   INFO   ] CPUID reports VAES+VPCLMULQDQ+AVX2: testing the VAES engine against "
                "OpenSSL\n");
    check_against_openssl(XtsImpl::Vaes, 32, 8u << 20, 21);
}

TEST(XtsOpenssl, VaesAes256) {
    if (!Xts::is_supported(XtsImpl::Vaes))
        GTEST_SKIP() << "CPU has no VAES/VPCLMULQDQ/AVX2: VAES engine not tested";
    std::printf("[   INFO   ] CPUID reports VAES+VPCLMULQDQ+AVX2: testing the VAES engine against "
                "OpenSSL\n");
    check_against_openssl(XtsImpl::Vaes, 64, 8u << 20, 22);
}

// The bitsliced fallback is slow under ASan: a smaller budget, same coverage
// of sizes, counts and sector numbers.
TEST(XtsOpenssl, PortableAes128) {
    check_against_openssl(XtsImpl::Portable, 32, 256u << 10, 3);
}
TEST(XtsOpenssl, PortableAes256) {
    check_against_openssl(XtsImpl::Portable, 64, 256u << 10, 4);
}

void cross_check_with_portable(XtsImpl impl) {
    std::mt19937_64 rng(5 + static_cast<int>(impl));
    for (size_t key_len : {size_t{32}, size_t{64}}) {
        for (size_t sector_size :
             {size_t{512}, size_t{4096}, size_t{48}, size_t{272}, size_t{4112}}) {
            for (uint64_t first : {uint64_t{0}, uint64_t{0xffffffff}, ~uint64_t{0} - 2}) {
                const Bytes key = test::random_key(rng, key_len);
                const size_t bytes = sector_size * 11;
                const Bytes pt = test::random_bytes(rng, bytes);
                Xts fast, slow;
                ASSERT_TRUE(fast.set_implementation(impl).ok());
                ASSERT_TRUE(slow.set_implementation(XtsImpl::Portable).ok());
                ASSERT_TRUE(fast.set_key(key).ok());
                ASSERT_TRUE(slow.set_key(key).ok());
                Bytes a(bytes), b(bytes);
                ASSERT_TRUE(fast.encrypt(a.data(), pt.data(), bytes, first, sector_size).ok());
                ASSERT_TRUE(slow.encrypt(b.data(), pt.data(), bytes, first, sector_size).ok());
                ASSERT_EQ(a, b);
                ASSERT_TRUE(fast.decrypt(a.data(), a.data(), bytes, first, sector_size).ok());
                ASSERT_TRUE(slow.decrypt(b.data(), b.data(), bytes, first, sector_size).ok());
                ASSERT_EQ(a, pt);
                ASSERT_EQ(b, pt);
            }
        }
    }
}

TEST(XtsOpenssl, AesNiMatchesPortableByteForByte) {
    if (!Xts::is_supported(XtsImpl::AesNi)) GTEST_SKIP() << "CPU has no AES-NI";
    cross_check_with_portable(XtsImpl::AesNi);
}

TEST(XtsOpenssl, VaesMatchesPortableByteForByte) {
    if (!Xts::is_supported(XtsImpl::Vaes))
        GTEST_SKIP() << "CPU has no VAES/VPCLMULQDQ/AVX2: VAES engine not tested";
    cross_check_with_portable(XtsImpl::Vaes);
}

// A run of sectors equals the same sectors done one call at a time.
TEST(XtsOpenssl, MultiSectorRunEqualsSingleSectorCalls) {
    std::mt19937_64 rng(6);
    for (XtsImpl impl : {XtsImpl::Portable, XtsImpl::AesNi, XtsImpl::Vaes}) {
        if (!Xts::is_supported(impl)) continue;
        const Bytes key = test::random_key(rng, 64);
        Xts xts;
        ASSERT_TRUE(xts.set_implementation(impl).ok());
        ASSERT_TRUE(xts.set_key(key).ok());
        const size_t ss = 512, n = 13;
        const Bytes pt = test::random_bytes(rng, ss * n);
        Bytes run(ss * n), one(ss * n);
        const uint64_t first = ~uint64_t{0} - 5;
        ASSERT_TRUE(xts.encrypt(run.data(), pt.data(), ss * n, first, ss).ok());
        for (size_t i = 0; i < n; ++i)
            ASSERT_TRUE(
                xts.encrypt(one.data() + i * ss, pt.data() + i * ss, ss, first + i, ss).ok());
        EXPECT_EQ(run, one);
    }
}

} // namespace
} // namespace sv::crypto
