// Decoder corner cases the assembler will not emit on its own: redundant
// prefixes, the 15-byte limit, REX placement, VEX/LES ambiguity outside
// 64-bit mode, opcodes invalid in 64-bit mode, MOV CR/DR ignoring ModRM.mod,
// vendor-specific branch sizes, truncated input.
// Encodings hand-assembled from SDM vol. 2 ch. 2 and checked by hand.
#include <gtest/gtest.h>

#include <string>

#include "tests/unit/x86/test_bytes.hpp"

namespace sv::x86 {
namespace {

using test::decode_hex;

uint8_t length_of(const char* hex, CpuMode mode, CpuVendor vendor = CpuVendor::Amd) {
    const Result<Instruction> r = decode_hex(hex, mode, vendor);
    EXPECT_TRUE(r.ok()) << hex << ": " << (r.ok() ? "" : to_string(r.error()));
    return r.ok() ? r.value().length : 0;
}

Error error_of(const char* hex, CpuMode mode) {
    const Result<Instruction> r = decode_hex(hex, mode);
    EXPECT_FALSE(r.ok()) << hex << " decoded, length " << int(r.ok() ? r.value().length : 0);
    return r.ok() ? Error::NotFound : r.error();
}

TEST(InsnDecodeSpecial, RedundantAndRepeatedPrefixes) {
    EXPECT_EQ(length_of("66 66 66 90", CpuMode::Long64), 4);
    const Result<Instruction> movs = decode_hex("f3 f3 f3 f3 a4", CpuMode::Long64);
    ASSERT_TRUE(movs.ok());
    EXPECT_EQ(movs.value().length, 5);
    EXPECT_EQ(movs.value().prefixes.count, 4);
    EXPECT_TRUE(movs.value().prefixes.rep);
    // Last segment override wins; last of F2/F3 wins.
    const Result<Instruction> seg = decode_hex("2e 64 f3 f2 89 08", CpuMode::Long64);
    ASSERT_TRUE(seg.ok());
    EXPECT_EQ(seg.value().prefixes.segment, Segment::Fs);
    EXPECT_TRUE(seg.value().prefixes.repne);
    EXPECT_FALSE(seg.value().prefixes.rep);
}

TEST(InsnDecodeSpecial, FifteenByteLimit) {
    // 14 redundant ES overrides + NOP = 15 bytes: legal.
    EXPECT_EQ(length_of("26 26 26 26 26 26 26 26 26 26 26 26 26 26 90", CpuMode::Protected32), 15);
    // 15 prefixes + NOP = 16 bytes: #GP on hardware, Malformed here, even
    // though all bytes are present.
    EXPECT_EQ(error_of("26 26 26 26 26 26 26 26 26 26 26 26 26 26 26 90", CpuMode::Protected32),
              Error::Malformed);
    // Only 15 prefix bytes available: still Malformed (no 16th byte could help).
    EXPECT_EQ(error_of("26 26 26 26 26 26 26 26 26 26 26 26 26 26 26", CpuMode::Protected32),
              Error::Malformed);
    // lock addq $imm32, %gs:disp32(%r12,%r13,8) is 14 bytes; one more prefix
    // makes 15, two more make 16.
    EXPECT_EQ(length_of("65 f0 4b 81 84 ec 78 56 34 12 78 56 34 12", CpuMode::Long64), 14);
    EXPECT_EQ(length_of("3e 65 f0 4b 81 84 ec 78 56 34 12 78 56 34 12", CpuMode::Long64), 15);
    EXPECT_EQ(error_of("3e 3e 65 f0 4b 81 84 ec 78 56 34 12 78 56 34 12", CpuMode::Long64),
              Error::Malformed);
}

TEST(InsnDecodeSpecial, TruncatedInputIsOutOfRange) {
    EXPECT_EQ(error_of("", CpuMode::Long64), Error::OutOfRange);
    EXPECT_EQ(error_of("0f", CpuMode::Long64), Error::OutOfRange);
    EXPECT_EQ(error_of("0f 01", CpuMode::Long64), Error::OutOfRange);
    EXPECT_EQ(error_of("48 b8 01 02 03 04 05 06 07", CpuMode::Long64), Error::OutOfRange);
    EXPECT_EQ(error_of("c4", CpuMode::Protected32), Error::OutOfRange);
    EXPECT_EQ(error_of("62 f1 7d 48", CpuMode::Long64), Error::OutOfRange);
    EXPECT_EQ(error_of("40", CpuMode::Long64), Error::OutOfRange); // REX alone
}

TEST(InsnDecodeSpecial, RexPlacement) {
    // A legacy prefix after REX cancels it: 66 applies, REX.W does not.
    const Result<Instruction> cancelled = decode_hex("48 66 89 c8", CpuMode::Long64);
    ASSERT_TRUE(cancelled.ok());
    EXPECT_EQ(cancelled.value().length, 4);
    EXPECT_EQ(cancelled.value().rex, 0);
    EXPECT_EQ(cancelled.value().operand_size, 2);
    const Result<Instruction> wide = decode_hex("66 48 89 c8", CpuMode::Long64);
    ASSERT_TRUE(wide.ok());
    EXPECT_EQ(wide.value().operand_size, 8); // REX.W beats 66
    // B8+r with REX.W takes imm64 even with 66.
    EXPECT_EQ(length_of("66 48 b8 01 02 03 04 05 06 07 08", CpuMode::Long64), 11);
    EXPECT_EQ(length_of("66 b8 01 02", CpuMode::Long64), 4);
    // 40-4F are INC/DEC outside 64-bit mode.
    EXPECT_EQ(length_of("40", CpuMode::Protected32), 1);
    EXPECT_EQ(length_of("48 90", CpuMode::Long64), 2);
}

TEST(InsnDecodeSpecial, MoffsFollowsAddressSize) {
    EXPECT_EQ(length_of("a1 44 33 22 11 88 77 66 55", CpuMode::Long64), 9);
    EXPECT_EQ(length_of("67 a1 44 33 22 11", CpuMode::Long64), 6);
    EXPECT_EQ(length_of("a1 44 33 22 11", CpuMode::Protected32), 5);
    EXPECT_EQ(length_of("67 a1 34 12", CpuMode::Protected32), 4);
    EXPECT_EQ(length_of("a1 34 12", CpuMode::Real16), 3);
    EXPECT_EQ(length_of("67 a1 78 56 34 12", CpuMode::Real16), 6);
    EXPECT_EQ(length_of("48 a3 08 07 06 05 04 03 02 01", CpuMode::Long64), 10);
}

TEST(InsnDecodeSpecial, TestImmediateOnlyForSlash0And1) {
    EXPECT_EQ(length_of("f6 00 12", CpuMode::Long64), 3);          // test byte [rax], 0x12
    EXPECT_EQ(length_of("f6 08 12", CpuMode::Long64), 3);          // /1 alias
    EXPECT_EQ(length_of("f6 10", CpuMode::Long64), 2);             // not byte [rax]
    EXPECT_EQ(length_of("f7 38", CpuMode::Long64), 2);             // idiv dword [rax]
    EXPECT_EQ(length_of("f7 00 78 56 34 12", CpuMode::Long64), 6); // test dword
    EXPECT_EQ(length_of("48 f7 00 78 56 34 12", CpuMode::Long64), 7);
    EXPECT_EQ(length_of("66 f7 00 34 12", CpuMode::Protected32), 5);
    EXPECT_EQ(length_of("f7 00 34 12", CpuMode::Real16), 4);
}

TEST(InsnDecodeSpecial, NearBranchOperandSize) {
    EXPECT_EQ(length_of("e8 00 00 00 00", CpuMode::Long64), 5);
    EXPECT_EQ(length_of("66 e8 00 00", CpuMode::Protected32), 4);
    EXPECT_EQ(length_of("e8 00 00", CpuMode::Real16), 3);
    EXPECT_EQ(length_of("66 e8 00 00 00 00", CpuMode::Real16), 6);
    // 64-bit mode with 66: AMD uses rel16, Intel ignores the prefix.
    EXPECT_EQ(length_of("66 e8 00 00", CpuMode::Long64, CpuVendor::Amd), 4);
    EXPECT_EQ(length_of("66 e8 00 00 00 00", CpuMode::Long64, CpuVendor::Intel), 6);
    EXPECT_EQ(length_of("66 0f 84 00 00 00 00", CpuMode::Long64, CpuVendor::Intel), 7);
    EXPECT_EQ(length_of("66 48 e9 00 00 00 00", CpuMode::Long64, CpuVendor::Amd), 7);
}

TEST(InsnDecodeSpecial, FarPointerAndEnter) {
    EXPECT_EQ(length_of("9a 78 56 34 12 10 00", CpuMode::Protected32), 7);
    EXPECT_EQ(length_of("ea 5b e0 00 f0", CpuMode::Real16), 5);
    const Result<Instruction> far = decode_hex("ea 5b e0 00 f0", CpuMode::Real16);
    ASSERT_TRUE(far.ok());
    EXPECT_EQ(far.value().immediate, 0xe05bu);
    EXPECT_EQ(far.value().second_immediate, 0xf000u);
    EXPECT_EQ(error_of("9a 78 56 34 12 10 00", CpuMode::Long64), Error::Malformed);
    const Result<Instruction> enter = decode_hex("c8 10 00 01", CpuMode::Long64);
    ASSERT_TRUE(enter.ok());
    EXPECT_EQ(enter.value().length, 4);
    EXPECT_EQ(enter.value().immediate, 0x10u);
    EXPECT_EQ(enter.value().second_immediate, 1u);
}

TEST(InsnDecodeSpecial, InvalidIn64BitMode) {
    for (const char* hex : {"06", "07", "0e", "16", "17", "1e", "1f", "27", "2f", "37", "3f", "60",
                            "61", "82 c0 01", "ce", "d4 0a", "d5 0a", "d6", "ea 00 00 00 00 08 00"}) {
        SCOPED_TRACE(hex);
        EXPECT_EQ(error_of(hex, CpuMode::Long64), Error::Malformed);
        EXPECT_TRUE(decode_hex(hex, CpuMode::Protected32).ok());
    }
    EXPECT_EQ(error_of("0f 0a", CpuMode::Protected32), Error::Malformed);
}

TEST(InsnDecodeSpecial, VexEvexXopVersusLegacyForms) {
    // Protected mode: C4/C5/62 with mod != 11 are LES/LDS/BOUND.
    EXPECT_EQ(length_of("c4 08", CpuMode::Protected32), 2);
    EXPECT_EQ(length_of("c5 53 04", CpuMode::Protected32), 3);
    EXPECT_EQ(length_of("62 01", CpuMode::Protected32), 2);
    // ... and VEX/EVEX with mod = 11.
    const Result<Instruction> vzeroupper = decode_hex("c5 f8 77", CpuMode::Protected32);
    ASSERT_TRUE(vzeroupper.ok());
    EXPECT_TRUE(vzeroupper.value().vex);
    EXPECT_EQ(vzeroupper.value().length, 3);
    // Real mode has no VEX: C5 F8 is LDS with a register operand (#UD, 2 bytes).
    EXPECT_EQ(length_of("c5 f8", CpuMode::Real16), 2);
    EXPECT_EQ(length_of("62 f1", CpuMode::Real16), 2);
    // Prefixes that make VEX #UD.
    EXPECT_EQ(error_of("66 c5 f8 77", CpuMode::Long64), Error::Malformed);
    EXPECT_EQ(error_of("f3 c5 f8 77", CpuMode::Long64), Error::Malformed);
    EXPECT_EQ(error_of("f0 c5 f8 77", CpuMode::Long64), Error::Malformed);
    EXPECT_EQ(error_of("48 c5 f8 77", CpuMode::Long64), Error::Malformed);
    // Reserved VEX map.
    EXPECT_EQ(error_of("c4 e4 78 00 c0", CpuMode::Long64), Error::Malformed);
    // 8F /0 is POP; 8F with map >= 8 is XOP; XOP map 0x1F is reserved.
    EXPECT_EQ(length_of("8f c0", CpuMode::Long64), 2);
    EXPECT_EQ(length_of("8f 40 08", CpuMode::Long64), 3);
    EXPECT_EQ(error_of("8f ff 78 00 c0", CpuMode::Long64), Error::Malformed);
    // EVEX with disp32 and imm8 (map 3).
    EXPECT_EQ(length_of("62 f3 6d 48 25 98 78 56 34 12 96", CpuMode::Long64), 11);
}

TEST(InsnDecodeSpecial, MovControlRegisterIgnoresMod) {
    // SDM vol. 2 MOV (control/debug registers): mod is ignored, no SIB/disp.
    EXPECT_EQ(length_of("0f 20 00", CpuMode::Long64), 3);
    EXPECT_EQ(length_of("0f 22 05", CpuMode::Long64), 3); // not RIP-relative
    EXPECT_EQ(length_of("0f 23 44", CpuMode::Protected32), 3);
    EXPECT_EQ(length_of("f0 0f 20 c0", CpuMode::Protected32), 4); // AMD alt CR8 encoding
}

TEST(InsnDecodeSpecial, GroupSevenSystemInstructions) {
    struct Case {
        const char* hex;
        InsnKind kind;
    };
    for (const Case& c : {Case{"0f 01 d9", InsnKind::Vmmcall}, Case{"0f 01 c1", InsnKind::Vmcall},
                          Case{"0f 01 d1", InsnKind::Xsetbv}, Case{"0f 01 d8", InsnKind::Other},
                          Case{"0f a2", InsnKind::Cpuid}, Case{"0f 32", InsnKind::Rdmsr},
                          Case{"0f 30", InsnKind::Wrmsr}, Case{"f4", InsnKind::Hlt}}) {
        for (CpuMode mode : {CpuMode::Real16, CpuMode::Protected32, CpuMode::Long64}) {
            const Result<Instruction> r = decode_hex(c.hex, mode);
            ASSERT_TRUE(r.ok()) << c.hex;
            EXPECT_EQ(r.value().kind, c.kind) << c.hex;
            EXPECT_EQ(r.value().length, test::hex_bytes(c.hex).size()) << c.hex;
        }
    }
    // 0F 01 with a memory operand (LGDT [rip+disp32]) is 7 bytes.
    EXPECT_EQ(length_of("0f 01 15 00 00 00 00", CpuMode::Long64), 7);
}

TEST(InsnDecodeSpecial, SseFourAExtrqTakesTwoImmediates) {
    EXPECT_EQ(length_of("66 0f 78 c0 08 04", CpuMode::Long64), 6);
    EXPECT_EQ(length_of("f2 0f 78 c1 08 04", CpuMode::Long64), 6);
    EXPECT_EQ(length_of("0f 78 c1", CpuMode::Long64), 3); // VMREAD
}

} // namespace
} // namespace sv::x86
