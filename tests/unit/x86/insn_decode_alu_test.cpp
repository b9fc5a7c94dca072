// Semantic decode of the read-modify-write MMIO forms: ALU r/m,imm / r/m,reg
// / reg,r/m, TEST, INC/DEC/NOT/NEG, BT*, XCHG, CMPXCHG, XADD, MOVNTI, and
// the forms that stay unclassified (MUL, shifts, SSE), in 64-, 32- and
// 16-bit mode.
#include <gtest/gtest.h>

#include "tests/unit/x86/test_bytes.hpp"

namespace sv::x86 {
namespace {

Instruction must_decode(const char* hex, CpuMode mode) {
    const Result<Instruction> r = test::decode_hex(hex, mode);
    EXPECT_TRUE(r.ok()) << hex;
    return r.ok() ? r.value() : Instruction{};
}

TEST(InsnDecodeAlu, GroupOneFormsAndTheirSources) {
    const struct {
        const char* hex;
        CpuMode mode;
        AluOp op;
        AluSource source;
        uint8_t size;
        uint64_t immediate;
        bool reg_is_destination;
    } cases[] = {
        {"83 03 ff", CpuMode::Long64, AluOp::Add, AluSource::Immediate, 4, ~0ull, false},      // add dword [rbx], -1
        {"48 83 0b 01", CpuMode::Long64, AluOp::Or, AluSource::Immediate, 8, 1, false},        // or qword [rbx], 1
        {"81 63 04 00 00 00 80", CpuMode::Long64, AluOp::And, AluSource::Immediate, 4, 0x80000000, false},
        {"80 73 04 7f", CpuMode::Long64, AluOp::Xor, AluSource::Immediate, 1, 0x7f, false},
        {"66 81 3b 34 12", CpuMode::Protected32, AluOp::Cmp, AluSource::Immediate, 2, 0x1234, false},
        {"29 0b", CpuMode::Protected32, AluOp::Sub, AluSource::Register, 4, 0, false},         // sub [ebx], ecx
        {"2b 0b", CpuMode::Protected32, AluOp::Sub, AluSource::Register, 4, 0, true},          // sub ecx, [ebx]
        {"10 27", CpuMode::Real16, AluOp::Adc, AluSource::Register, 1, 0, false},              // adc [bx], ah
        {"19 07", CpuMode::Real16, AluOp::Sbb, AluSource::Register, 2, 0, false},              // sbb [bx], ax
        {"f6 03 80", CpuMode::Long64, AluOp::Test, AluSource::Immediate, 1, 0x80, false},
        {"85 03", CpuMode::Long64, AluOp::Test, AluSource::Register, 4, 0, false},
        {"ff 03", CpuMode::Long64, AluOp::Inc, AluSource::None, 4, 0, false},
        {"fe 0b", CpuMode::Long64, AluOp::Dec, AluSource::None, 1, 0, false},
        {"f7 13", CpuMode::Long64, AluOp::Not, AluSource::None, 4, 0, false},
        {"48 f7 1b", CpuMode::Long64, AluOp::Neg, AluSource::None, 8, 0, false},
        {"0f a3 0b", CpuMode::Long64, AluOp::Bt, AluSource::Register, 4, 0, false},
        {"f0 0f ab 0b", CpuMode::Long64, AluOp::Bts, AluSource::Register, 4, 0, false},
        {"66 0f b3 0b", CpuMode::Long64, AluOp::Btr, AluSource::Register, 2, 0, false},
        {"0f ba 3b 05", CpuMode::Long64, AluOp::Btc, AluSource::Immediate, 4, 5, false},
    };
    unsigned n = 0;
    for (const auto& c : cases) {
        const Instruction insn = must_decode(c.hex, c.mode);
        EXPECT_EQ(insn.kind, InsnKind::Alu) << c.hex;
        EXPECT_EQ(insn.alu, c.op) << c.hex;
        EXPECT_EQ(insn.alu_source, c.source) << c.hex;
        EXPECT_EQ(insn.access_size, c.size) << c.hex;
        if (c.source == AluSource::Immediate) {
            EXPECT_EQ(insn.immediate, c.immediate) << c.hex;
        }
        EXPECT_EQ(insn.reg_is_destination, c.reg_is_destination) << c.hex;
        EXPECT_TRUE(insn.memory.present) << c.hex;
        ++n;
    }
    EXPECT_GT(n, 0u);
    EXPECT_TRUE(must_decode("f0 0f ab 0b", CpuMode::Long64).prefixes.lock);
}

TEST(InsnDecodeAlu, ExchangesAndMovnti) {
    const Instruction xchg = must_decode("86 23", CpuMode::Long64); // xchg [rbx], ah
    EXPECT_EQ(xchg.kind, InsnKind::Xchg);
    EXPECT_EQ(xchg.access_size, 1);
    EXPECT_EQ(xchg.reg, 0);
    EXPECT_TRUE(xchg.reg_high_byte);
    const Instruction cmpxchg = must_decode("f0 4c 0f b1 03", CpuMode::Long64); // lock cmpxchg [rbx], r8
    EXPECT_EQ(cmpxchg.kind, InsnKind::Cmpxchg);
    EXPECT_EQ(cmpxchg.access_size, 8);
    EXPECT_EQ(cmpxchg.reg, 8);
    const Instruction xadd = must_decode("0f c0 0b", CpuMode::Protected32); // xadd [ebx], cl
    EXPECT_EQ(xadd.kind, InsnKind::Xadd);
    EXPECT_EQ(xadd.access_size, 1);
    const Instruction movnti = must_decode("48 0f c3 03", CpuMode::Long64);
    EXPECT_EQ(movnti.kind, InsnKind::MovToMem);
    EXPECT_EQ(movnti.access_size, 8);
}

TEST(InsnDecodeAlu, RegisterFormsAndOtherGroupMembersStayUnclassified) {
    for (const char* hex : {"01 c8",      // add eax, ecx: no memory
                            "f7 23",      // mul dword [rbx]
                            "f7 3b",      // idiv dword [rbx]
                            "ff 13",      // call [rbx]
                            "ff 33",      // push [rbx]
                            "d1 23",      // shl dword [rbx], 1
                            "0f ba 23",   // (truncated: needs imm8)
                            "0f ba 13 01", // group 8 /2: invalid
                            "66 0f c3 03", // MOVNTI has no 66 form
                            "0f 10 03"}) { // movups
        const Result<Instruction> r = test::decode_hex(hex, CpuMode::Long64);
        if (!r.ok()) continue; // truncated/invalid: not an MMIO form either
        EXPECT_NE(r.value().kind, InsnKind::Alu) << hex;
        EXPECT_NE(r.value().kind, InsnKind::MovToMem) << hex;
    }
}

} // namespace
} // namespace sv::x86
