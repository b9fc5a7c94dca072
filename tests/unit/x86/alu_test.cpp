// arch/x86/alu against the host CPU itself: every operation at every size
// over edge values (sign boundaries, carries, nibble carries, zero), with CF
// clear and set on input. The host executes the same instruction on
// registers; result and the flags the SDM defines must match bit for bit.
#include <gtest/gtest.h>

#include <cstdint>

#include "arch/x86/alu.hpp"

namespace sv::x86 {
namespace {

constexpr uint64_t kFixed = 0x2; // RFLAGS bit 1 always reads as 1

// The host instruction, on registers, with RFLAGS loaded from `flags`
// (the 128-byte step keeps the pushes clear of the red zone).
#define SV_HOST_BINARY(fn, mnemonic)                                                                       \
    template <class T> uint64_t fn(T& d, T s, uint64_t flags) {                                              \
        uint64_t out;                                                                                        \
        asm volatile("sub $128, %%rsp\n\tpush %[in]\n\tpopf\n\t" mnemonic " %[s], %[d]\n\t"                 \
                     "pushf\n\tpop %[out]\n\tadd $128, %%rsp"                                                \
                     : [d] "+r"(d), [out] "=&r"(out)                                                         \
                     : [s] "r"(s), [in] "r"(flags)                                                           \
                     : "cc", "memory");                                                                      \
        return out;                                                                                          \
    }
#define SV_HOST_UNARY(fn, mnemonic)                                                                        \
    template <class T> uint64_t fn(T& d, T, uint64_t flags) {                                                \
        uint64_t out;                                                                                        \
        asm volatile("sub $128, %%rsp\n\tpush %[in]\n\tpopf\n\t" mnemonic " %[d]\n\t"                       \
                     "pushf\n\tpop %[out]\n\tadd $128, %%rsp"                                                \
                     : [d] "+r"(d), [out] "=&r"(out)                                                         \
                     : [in] "r"(flags)                                                                       \
                     : "cc", "memory");                                                                      \
        return out;                                                                                          \
    }
SV_HOST_BINARY(host_add, "add")
SV_HOST_BINARY(host_adc, "adc")
SV_HOST_BINARY(host_sub, "sub")
SV_HOST_BINARY(host_sbb, "sbb")
SV_HOST_BINARY(host_and, "and")
SV_HOST_BINARY(host_or, "or")
SV_HOST_BINARY(host_xor, "xor")
SV_HOST_BINARY(host_cmp, "cmp")
SV_HOST_BINARY(host_test, "test")
SV_HOST_BINARY(host_bt, "bt")
SV_HOST_BINARY(host_bts, "bts")
SV_HOST_BINARY(host_btr, "btr")
SV_HOST_BINARY(host_btc, "btc")
SV_HOST_UNARY(host_inc, "inc")
SV_HOST_UNARY(host_dec, "dec")
SV_HOST_UNARY(host_neg, "neg")
SV_HOST_UNARY(host_not, "not")

constexpr uint64_t kValues[] = {0,
                                1,
                                2,
                                0x0f,
                                0x10,
                                0x7f,
                                0x80,
                                0x81,
                                0xff,
                                0x100,
                                0x7fff,
                                0x8000,
                                0xffff,
                                0x7fffffff,
                                0x80000000,
                                0xffffffff,
                                0x123456789abcdef0,
                                0x7fffffffffffffff,
                                0x8000000000000000,
                                0xffffffffffffffff,
                                0x5a5a5a5a5a5a5a5a};

struct OpCase {
    AluOp op;
    const char* name;
    uint64_t (*host8)(uint8_t&, uint8_t, uint64_t);
    uint64_t (*host16)(uint16_t&, uint16_t, uint64_t);
    uint64_t (*host32)(uint32_t&, uint32_t, uint64_t);
    uint64_t (*host64)(uint64_t&, uint64_t, uint64_t);
    uint64_t defined; // flags the SDM defines for the instruction
    bool writes;
};

#define SV_CASE(op, fn, defined, writes) {AluOp::op, #op, fn<uint8_t>, fn<uint16_t>, fn<uint32_t>, fn<uint64_t>, defined, writes}
constexpr uint64_t kAll = rflags::arithmetic, kNoAf = rflags::arithmetic & ~rflags::af;
const OpCase kCases[] = {
    SV_CASE(Add, host_add, kAll, true),    SV_CASE(Adc, host_adc, kAll, true),    SV_CASE(Sub, host_sub, kAll, true),
    SV_CASE(Sbb, host_sbb, kAll, true),    SV_CASE(And, host_and, kNoAf, true),   SV_CASE(Or, host_or, kNoAf, true),
    SV_CASE(Xor, host_xor, kNoAf, true),   SV_CASE(Cmp, host_cmp, kAll, false),   SV_CASE(Test, host_test, kNoAf, false),
    SV_CASE(Inc, host_inc, kAll, true),    SV_CASE(Dec, host_dec, kAll, true),    SV_CASE(Neg, host_neg, kAll, true),
    SV_CASE(Not, host_not, kAll, true),
};

template <class T>
void compare(const OpCase& c, uint64_t (*host)(T&, T, uint64_t), unsigned& checked) {
    const uint8_t size = sizeof(T);
    for (uint64_t d : kValues) {
        for (uint64_t s : kValues) {
            for (uint64_t in : {kFixed, kFixed | rflags::cf, kFixed | rflags::arithmetic}) {
                T hd = static_cast<T>(d);
                const uint64_t host_flags = host(hd, static_cast<T>(s), in);
                const AluResult r = alu(c.op, size, d, s, in);
                ASSERT_EQ(r.rflags & c.defined, host_flags & c.defined)
                    << c.name << " size " << int(size) << " d " << std::hex << d << " s " << s << " in " << in;
                ASSERT_EQ(r.rflags & ~rflags::arithmetic, in & ~rflags::arithmetic) << c.name;
                ASSERT_EQ(r.writes, c.writes) << c.name;
                if (c.writes) {
                    ASSERT_EQ(r.value, uint64_t{hd}) << c.name << " size " << int(size) << std::hex << d << " " << s;
                }
                ++checked;
            }
        }
    }
}

TEST(X86Alu, EveryOperationAndSizeMatchesTheHostCpu) {
    unsigned checked = 0;
    for (const OpCase& c : kCases) {
        compare<uint8_t>(c, c.host8, checked);
        compare<uint16_t>(c, c.host16, checked);
        compare<uint32_t>(c, c.host32, checked);
        compare<uint64_t>(c, c.host64, checked);
    }
    EXPECT_GT(checked, 10000u);
}

// BT* take a bit number already reduced modulo the width (the emulator does
// the addressing): CF = old bit; the SDM leaves OF/SF/AF/PF undefined and ZF
// unchanged, so only CF and the value are compared.
template <class T> void compare_bits(unsigned& checked) {
    const struct {
        AluOp op;
        uint64_t (*host)(T&, T, uint64_t);
    } ops[] = {{AluOp::Bt, host_bt<T>}, {AluOp::Bts, host_bts<T>}, {AluOp::Btr, host_btr<T>}, {AluOp::Btc, host_btc<T>}};
    for (const auto& o : ops) {
        for (uint64_t d : kValues) {
            for (unsigned bit = 0; bit < 8 * sizeof(T); bit += 3) {
                T hd = static_cast<T>(d);
                const uint64_t host_flags = o.host(hd, static_cast<T>(bit), kFixed);
                const AluResult r = alu(o.op, sizeof(T), d, bit, kFixed);
                ASSERT_EQ(r.rflags & rflags::cf, host_flags & rflags::cf);
                ASSERT_EQ(r.value, uint64_t{hd});
                ASSERT_EQ(r.writes, o.op != AluOp::Bt);
                ++checked;
            }
        }
    }
}

TEST(X86Alu, BitTestsMatchTheHostCpu) {
    unsigned checked = 0;
    compare_bits<uint16_t>(checked);
    compare_bits<uint32_t>(checked);
    compare_bits<uint64_t>(checked);
    EXPECT_GT(checked, 500u);
}

TEST(X86Alu, IncAndDecKeepCarry) {
    EXPECT_TRUE(alu(AluOp::Inc, 4, 0xffffffff, 0, kFixed | rflags::cf).rflags & rflags::cf);
    EXPECT_FALSE(alu(AluOp::Dec, 4, 0, 0, kFixed).rflags & rflags::cf);
    EXPECT_EQ(alu(AluOp::Inc, 1, 0xff, 0, kFixed).value, 0u);
}

} // namespace
} // namespace sv::x86
