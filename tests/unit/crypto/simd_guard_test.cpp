// SimdGuard really preserves the vector registers around the SIMD engines
// (which do clobber them: checked too, so the test cannot pass vacuously).
// On CPUs with the VAES engine the guard saves full ymm registers, and so
// does this test.
#include <gtest/gtest.h>

#include "crypto/cpu_features.hpp"
#include "crypto/simd_guard.hpp"
#include "crypto/xts.hpp"
#include "xts_test_support.hpp"

namespace sv::crypto {
namespace {

using test::Bytes;

#define SV_XMM_CLOBBERS                                                                            \
    "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",       \
        "xmm11", "xmm12", "xmm13", "xmm14", "xmm15"

// 16 registers x 32 bytes (ymm) or x 16 bytes (xmm, the rest untouched).
__attribute__((noinline)) void load_regs(const uint8_t* p, bool wide) {
    if (wide) {
        asm volatile(
            "vmovdqu 0(%0), %%ymm0\n\tvmovdqu 32(%0), %%ymm1\n\tvmovdqu 64(%0), %%ymm2\n\t"
            "vmovdqu 96(%0), %%ymm3\n\tvmovdqu 128(%0), %%ymm4\n\tvmovdqu 160(%0), %%ymm5\n\t"
            "vmovdqu 192(%0), %%ymm6\n\tvmovdqu 224(%0), %%ymm7\n\tvmovdqu 256(%0), %%ymm8\n\t"
            "vmovdqu 288(%0), %%ymm9\n\tvmovdqu 320(%0), %%ymm10\n\tvmovdqu 352(%0), %%ymm11\n\t"
            "vmovdqu 384(%0), %%ymm12\n\tvmovdqu 416(%0), %%ymm13\n\tvmovdqu 448(%0), %%ymm14\n\t"
            "vmovdqu 480(%0), %%ymm15"
            :
            : "r"(p)
            : "memory", SV_XMM_CLOBBERS);
        return;
    }
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

__attribute__((noinline)) void store_regs(uint8_t* p, bool wide) {
    if (wide) {
        asm volatile(
            "vmovdqu %%ymm0, 0(%0)\n\tvmovdqu %%ymm1, 32(%0)\n\tvmovdqu %%ymm2, 64(%0)\n\t"
            "vmovdqu %%ymm3, 96(%0)\n\tvmovdqu %%ymm4, 128(%0)\n\tvmovdqu %%ymm5, 160(%0)\n\t"
            "vmovdqu %%ymm6, 192(%0)\n\tvmovdqu %%ymm7, 224(%0)\n\tvmovdqu %%ymm8, 256(%0)\n\t"
            "vmovdqu %%ymm9, 288(%0)\n\tvmovdqu %%ymm10, 320(%0)\n\tvmovdqu %%ymm11, 352(%0)\n\t"
            "vmovdqu %%ymm12, 384(%0)\n\tvmovdqu %%ymm13, 416(%0)\n\tvmovdqu %%ymm14, 448(%0)\n\t"
            "vmovdqu %%ymm15, 480(%0)"
            :
            : "r"(p)
            : "memory");
        return;
    }
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

// Register load, guarded encrypt, register store, with no other code in
// between that could use vector registers. Not ASan-instrumented: ASan's
// stack (un)poisoning stores use xmm registers (0xf8 patterns), which would
// land between the guard's restore and our read-back.
#define SV_TEST_NO_ASAN __attribute__((noinline, no_sanitize("address")))

SV_TEST_NO_ASAN bool guarded_encrypt(const Xts& xts, uint8_t* data, const uint8_t* pattern,
                                     uint8_t* after, bool wide) {
    load_regs(pattern, wide);
    bool ok;
    {
        SimdGuard guard;
        ok = xts.encrypt(guard, data, data, 4096, 1, 512).ok();
    }
    store_regs(after, wide);
    return ok;
}

// Same, but the registers are read before the guard restores them.
SV_TEST_NO_ASAN void unguarded_encrypt(const Xts& xts, uint8_t* data, const uint8_t* pattern,
                                       uint8_t* after, bool wide) {
    load_regs(pattern, wide);
    SimdGuard guard; // only to reach the guard-taking overload
    (void)xts.encrypt(guard, data, data, 4096, 1, 512);
    store_regs(after, wide);
}

SV_TEST_NO_ASAN bool self_guarded_decrypt(const Xts& xts, uint8_t* data, const uint8_t* pattern,
                                          uint8_t* after, bool wide) {
    load_regs(pattern, wide);
    const bool ok = xts.decrypt(data, data, 4096, 1, 512).ok();
    store_regs(after, wide);
    return ok;
}

void check_engine(XtsImpl impl) {
    const bool wide = detail::cpu_features().vaes_avx2;
    const size_t n = wide ? 512 : 256;
    std::mt19937_64 rng(12);
    Xts xts;
    ASSERT_TRUE(xts.set_implementation(impl).ok());
    ASSERT_TRUE(xts.set_key(test::random_key(rng, 64)).ok());
    Bytes data = test::random_bytes(rng, 4096);
    alignas(32) uint8_t pattern[512], after[512];
    for (size_t i = 0; i < sizeof pattern; ++i)
        pattern[i] = static_cast<uint8_t>(0x5a ^ (i * 7));

    unguarded_encrypt(xts, data.data(), pattern, after, wide);
    EXPECT_NE(Bytes(after, after + n), Bytes(pattern, pattern + n))
        << "engine did not clobber: test is vacuous";

    EXPECT_TRUE(guarded_encrypt(xts, data.data(), pattern, after, wide));
    EXPECT_EQ(Bytes(after, after + n), Bytes(pattern, pattern + n));

    // The self-guarding overload too.
    EXPECT_TRUE(self_guarded_decrypt(xts, data.data(), pattern, after, wide));
    EXPECT_EQ(Bytes(after, after + n), Bytes(pattern, pattern + n));
}

TEST(XtsSimdGuard, PreservesRegistersAroundAesNi) {
    if (!Xts::is_supported(XtsImpl::AesNi))
        GTEST_SKIP() << "CPU has no AES-NI: the guard has nothing to protect";
    check_engine(XtsImpl::AesNi);
}

TEST(XtsSimdGuard, PreservesYmmAroundVaes) {
    if (!Xts::is_supported(XtsImpl::Vaes))
        GTEST_SKIP() << "CPU has no VAES/AVX2: VAES engine not tested";
    check_engine(XtsImpl::Vaes);
}

} // namespace
} // namespace sv::crypto
