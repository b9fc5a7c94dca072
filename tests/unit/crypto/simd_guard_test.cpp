// SimdGuard really preserves xmm0-15 around the AES-NI engine (which does
// clobber them: checked too, so the test cannot pass vacuously).
#include <gtest/gtest.h>

#include "crypto/simd_guard.hpp"
#include "crypto/xts.hpp"
#include "xts_test_support.hpp"

namespace sv::crypto {
namespace {

using test::Bytes;

#define SV_XMM_CLOBBERS                                                                                  \
    "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",    \
        "xmm12", "xmm13", "xmm14", "xmm15"

__attribute__((noinline)) void load_xmm(const uint8_t* p) {
    asm volatile("movdqu 0(%0), %%xmm0\n\tmovdqu 16(%0), %%xmm1\n\tmovdqu 32(%0), %%xmm2\n\t"
                 "movdqu 48(%0), %%xmm3\n\tmovdqu 64(%0), %%xmm4\n\tmovdqu 80(%0), %%xmm5\n\t"
                 "movdqu 96(%0), %%xmm6\n\tmovdqu 112(%0), %%xmm7\n\tmovdqu 128(%0), %%xmm8\n\t"
                 "movdqu 144(%0), %%xmm9\n\tmovdqu 160(%0), %%xmm10\n\tmovdqu 176(%0), %%xmm11\n\t"
                 "movdqu 192(%0), %%xmm12\n\tmovdqu 208(%0), %%xmm13\n\tmovdqu 224(%0), %%xmm14\n\t"
                 "movdqu 240(%0), %%xmm15"
                 :
                 : "r"(p)
                 : "memory", SV_XMM_CLOBBERS);
}

__attribute__((noinline)) void store_xmm(uint8_t* p) {
    asm volatile("movdqu %%xmm0, 0(%0)\n\tmovdqu %%xmm1, 16(%0)\n\tmovdqu %%xmm2, 32(%0)\n\t"
                 "movdqu %%xmm3, 48(%0)\n\tmovdqu %%xmm4, 64(%0)\n\tmovdqu %%xmm5, 80(%0)\n\t"
                 "movdqu %%xmm6, 96(%0)\n\tmovdqu %%xmm7, 112(%0)\n\tmovdqu %%xmm8, 128(%0)\n\t"
                 "movdqu %%xmm9, 144(%0)\n\tmovdqu %%xmm10, 160(%0)\n\tmovdqu %%xmm11, 176(%0)\n\t"
                 "movdqu %%xmm12, 192(%0)\n\tmovdqu %%xmm13, 208(%0)\n\tmovdqu %%xmm14, 224(%0)\n\t"
                 "movdqu %%xmm15, 240(%0)"
                 :
                 : "r"(p)
                 : "memory");
}

// The whole sequence in one function with no other calls between the
// register load/store and the guard, so nothing else touches xmm.
__attribute__((noinline)) void guarded_encrypt(const Xts& xts, uint8_t* data, const uint8_t* pattern,
                                               uint8_t* after, bool* ok) {
    load_xmm(pattern);
    {
        SimdGuard guard;
        *ok = xts.encrypt(guard, data, data, 4096, 1, 512).ok();
    }
    store_xmm(after);
}

__attribute__((noinline)) void unguarded_encrypt(const Xts& xts, uint8_t* data, const uint8_t* pattern,
                                                 uint8_t* after) {
    load_xmm(pattern);
    alignas(16) uint8_t dummy[256];
    SimdGuard guard; // only to call the guard-taking overload; restored after store_xmm
    (void)xts.encrypt(guard, data, data, 4096, 1, 512);
    store_xmm(after);
    (void)dummy;
}

TEST(XtsSimdGuard, PreservesXmmAroundAesNi) {
    if (!Xts::is_supported(XtsImpl::AesNi)) GTEST_SKIP() << "CPU has no AES-NI: the guard has nothing to protect";
    std::mt19937_64 rng(12);
    Xts xts;
    ASSERT_TRUE(xts.set_implementation(XtsImpl::AesNi).ok());
    ASSERT_TRUE(xts.set_key(test::random_key(rng, 64)).ok());
    Bytes data = test::random_bytes(rng, 4096);
    alignas(16) uint8_t pattern[256], after[256];
    for (size_t i = 0; i < sizeof pattern; ++i) pattern[i] = static_cast<uint8_t>(0x5a ^ (i * 7));

    // Without the guard around it the engine does clobber the registers.
    unguarded_encrypt(xts, data.data(), pattern, after);
    EXPECT_NE(Bytes(after, after + 256), Bytes(pattern, pattern + 256));

    bool ok = false;
    guarded_encrypt(xts, data.data(), pattern, after, &ok);
    EXPECT_TRUE(ok);
    EXPECT_EQ(Bytes(after, after + 256), Bytes(pattern, pattern + 256));

    // The self-guarding overload too.
    load_xmm(pattern);
    const bool ok2 = xts.decrypt(data.data(), data.data(), 4096, 1, 512).ok();
    store_xmm(after);
    EXPECT_TRUE(ok2);
    EXPECT_EQ(Bytes(after, after + 256), Bytes(pattern, pattern + 256));
}

} // namespace
} // namespace sv::crypto
