// Xts API contract: key sizes, equal-halves rejection, argument checks that
// fail closed, wipe on clear(), engine selection.
#include <gtest/gtest.h>

#include "crypto/xts.hpp"
#include "xts_test_support.hpp"

namespace sv::crypto {
namespace {

using test::Bytes;

TEST(XtsApi, KeySizes) {
    Xts xts;
    EXPECT_FALSE(xts.has_key());
    for (size_t len : {0, 16, 24, 31, 33, 48, 63, 65, 128}) {
        Bytes k(len);
        for (size_t i = 0; i < len; ++i)
            k[i] = static_cast<uint8_t>(i);
        EXPECT_EQ(xts.set_key(k).error(), Error::InvalidArgument) << len;
    }
    std::mt19937_64 rng(7);
    EXPECT_TRUE(xts.set_key(test::random_key(rng, 32)).ok());
    EXPECT_TRUE(xts.has_key());
    EXPECT_TRUE(xts.set_key(test::random_key(rng, 64)).ok());
    EXPECT_TRUE(xts.has_key());
}

TEST(XtsApi, EqualHalvesRejected) {
    std::mt19937_64 rng(8);
    for (size_t len : {32, 64}) {
        Bytes k = test::random_bytes(rng, len / 2);
        k.insert(k.end(), k.begin(), k.end());
        Xts xts;
        EXPECT_EQ(xts.set_key(k).error(), Error::InvalidArgument);
        EXPECT_FALSE(xts.has_key());
        // A failed set_key keeps a previously installed key.
        ASSERT_TRUE(xts.set_key(test::random_key(rng, len)).ok());
        EXPECT_EQ(xts.set_key(k).error(), Error::InvalidArgument);
        EXPECT_TRUE(xts.has_key());
        // Halves differing in one bit only are accepted.
        k[len - 1] ^= 1;
        EXPECT_TRUE(xts.set_key(k).ok());
    }
}

TEST(XtsApi, ArgumentChecksFailClosed) {
    std::mt19937_64 rng(9);
    Bytes buf(8192, 0xab), other(8192);
    const Bytes orig = buf;
    Xts xts;
    EXPECT_EQ(xts.encrypt(other.data(), buf.data(), 512, 0, 512).error(),
              Error::InvalidArgument); // no key
    ASSERT_TRUE(xts.set_key(test::random_key(rng, 64)).ok());
    EXPECT_EQ(xts.encrypt(other.data(), buf.data(), 512, 0, 0).error(), Error::InvalidArgument);
    EXPECT_EQ(xts.encrypt(other.data(), buf.data(), 520, 0, 520).error(), Error::InvalidArgument);
    EXPECT_EQ(xts.encrypt(other.data(), buf.data(), 1000, 0, 512).error(), Error::InvalidArgument);
    EXPECT_EQ(xts.decrypt(other.data(), buf.data(), 8, 0, 8).error(), Error::InvalidArgument);
    EXPECT_EQ(xts.encrypt(nullptr, buf.data(), 512, 0, 512).error(), Error::InvalidArgument);
    EXPECT_EQ(xts.encrypt(buf.data(), nullptr, 512, 0, 512).error(), Error::InvalidArgument);
    // Partial overlap is refused; exact in-place is fine.
    EXPECT_EQ(xts.encrypt(buf.data() + 16, buf.data(), 1024, 0, 512).error(),
              Error::InvalidArgument);
    EXPECT_EQ(xts.decrypt(buf.data(), buf.data() + 512, 1024, 0, 512).error(),
              Error::InvalidArgument);
    EXPECT_EQ(buf, orig); // nothing was written by refused calls
    EXPECT_TRUE(xts.encrypt(buf.data(), buf.data(), 0, 0, 512).ok()); // empty run
    EXPECT_TRUE(xts.encrypt(buf.data(), buf.data(), 4096, 0, 4096).ok());
    EXPECT_NE(buf, orig);
    EXPECT_TRUE(
        xts.encrypt(buf.data() + 4096, buf.data(), 4096, 0, 4096).ok()); // adjacent: no overlap
}

TEST(XtsApi, ClearWipesAndForgetsKey) {
    std::mt19937_64 rng(10);
    Xts xts;
    ASSERT_TRUE(xts.set_key(test::random_key(rng, 64)).ok());
    xts.clear();
    EXPECT_FALSE(xts.has_key());
    // The object's bytes past the vtable-free layout are all zero after clear()
    // for the key schedule part: read back through the raw object.
    const auto* raw = reinterpret_cast<const uint8_t*>(&xts);
    size_t nonzero = 0;
    for (size_t i = 0; i < sizeof(detail::XtsKeySchedule); ++i)
        nonzero += raw[i] != 0;
    EXPECT_EQ(nonzero, 0u);
    Bytes b(512);
    EXPECT_EQ(xts.encrypt(b.data(), b.data(), 512, 0, 512).error(), Error::InvalidArgument);
}

TEST(XtsApi, ImplementationSelection) {
    Xts xts;
    EXPECT_EQ(xts.implementation(), Xts::best_implementation());
    EXPECT_TRUE(Xts::is_supported(XtsImpl::Portable));
    EXPECT_TRUE(xts.set_implementation(XtsImpl::Portable).ok());
    EXPECT_EQ(xts.implementation(), XtsImpl::Portable);
    // Preference: VAES, then AES-NI, then the portable fallback.
    const XtsImpl expected = Xts::is_supported(XtsImpl::Vaes)    ? XtsImpl::Vaes
                             : Xts::is_supported(XtsImpl::AesNi) ? XtsImpl::AesNi
                                                                 : XtsImpl::Portable;
    EXPECT_EQ(Xts::best_implementation(), expected);
    for (XtsImpl impl : {XtsImpl::AesNi, XtsImpl::Vaes}) {
        if (Xts::is_supported(impl)) {
            EXPECT_TRUE(xts.set_implementation(impl).ok());
            EXPECT_EQ(xts.implementation(), impl);
        } else {
            EXPECT_EQ(xts.set_implementation(impl).error(), Error::Unsupported);
        }
    }
    if (Xts::is_supported(XtsImpl::Vaes)) {
        EXPECT_TRUE(Xts::is_supported(XtsImpl::AesNi));
    }
}

TEST(XtsApi, IvOffsetShiftsSectorNumbers) {
    std::mt19937_64 rng(11);
    const Bytes key = test::random_key(rng, 32);
    const Bytes pt = test::random_bytes(rng, 2048);
    Xts a, b;
    ASSERT_TRUE(a.set_key(key).ok());
    ASSERT_TRUE(b.set_key(key).ok());
    b.set_iv_offset(100);
    Bytes ca(2048), cb(2048);
    ASSERT_TRUE(a.encrypt(ca.data(), pt.data(), 2048, 142, 512).ok());
    ASSERT_TRUE(b.encrypt(cb.data(), pt.data(), 2048, 42, 512).ok());
    EXPECT_EQ(ca, cb);
    EXPECT_EQ(test::openssl_xts(true, key, pt, 512, 142), ca);
}

} // namespace
} // namespace sv::crypto
