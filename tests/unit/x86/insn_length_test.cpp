// Instruction lengths against the GNU assembler: insn_length_cases.inc holds
// encodings produced by gen_insn_length_cases.py (as + objdump, run at
// development time). Every case must decode to exactly its byte count, every
// shorter prefix of it must report OutOfRange (truncated, never a read past
// the span), and trailing bytes must not change the result.
#include <gtest/gtest.h>

#include <string>

#include "tests/unit/x86/test_bytes.hpp"

namespace sv::x86 {
namespace {

struct LengthCase {
    CpuMode mode;
    const char* hex;
    const char* text;
};

constexpr LengthCase kAssemblerCases[] = {
#include "tests/unit/x86/insn_length_cases.inc"
};

const char* mode_name(CpuMode mode) {
    switch (mode) {
    case CpuMode::Real16: return "Real16";
    case CpuMode::Protected16: return "Protected16";
    case CpuMode::Protected32: return "Protected32";
    case CpuMode::Long64: return "Long64";
    }
    return "?";
}

void expect_length(CpuMode mode, const std::vector<uint8_t>& bytes, const std::string& what) {
    SCOPED_TRACE(std::string(mode_name(mode)) + ": " + what);
    const Result<Instruction> full = test::decode_exact(bytes, bytes.size(), mode);
    ASSERT_TRUE(full.ok()) << to_string(full.error());
    EXPECT_EQ(full.value().length, bytes.size());

    for (size_t cut = 0; cut < bytes.size(); ++cut) {
        const Result<Instruction> truncated = test::decode_exact(bytes, cut, mode);
        ASSERT_FALSE(truncated.ok()) << "decoded with only " << cut << " bytes";
        EXPECT_EQ(truncated.error(), Error::OutOfRange) << "cut at " << cut;
    }

    std::vector<uint8_t> padded = bytes;
    padded.resize(kMaxInstructionLength, 0xcc);
    const Result<Instruction> with_tail = test::decode_exact(padded, padded.size(), mode);
    ASSERT_TRUE(with_tail.ok());
    EXPECT_EQ(with_tail.value().length, bytes.size());
}

TEST(InsnDecodeLength, MatchesGnuAssembler) {
    for (const LengthCase& c : kAssemblerCases) {
        const std::vector<uint8_t> bytes = test::hex_bytes(c.hex);
        expect_length(c.mode, bytes, std::string(c.hex) + " (" + c.text + ")");
    }
}

// Real mode shares the 16-bit encodings, except that VEX/EVEX do not exist
// there (C4/C5/62 are always LES/LDS/BOUND).
TEST(InsnDecodeLength, RealModeMatches16BitCases) {
    size_t checked = 0;
    for (const LengthCase& c : kAssemblerCases) {
        if (c.mode != CpuMode::Protected16) continue;
        const std::vector<uint8_t> bytes = test::hex_bytes(c.hex);
        const Result<Instruction> protected_mode = test::decode_exact(bytes, bytes.size(), c.mode);
        ASSERT_TRUE(protected_mode.ok()) << c.hex;
        if (protected_mode.value().vex) continue;
        expect_length(CpuMode::Real16, bytes, std::string(c.hex) + " (" + c.text + ")");
        ++checked;
    }
    EXPECT_GT(checked, 150u);
}

TEST(InsnDecodeLength, TableCoversEveryMode) {
    size_t per_mode[4] = {};
    for (const LengthCase& c : kAssemblerCases) ++per_mode[static_cast<int>(c.mode)];
    EXPECT_GT(per_mode[static_cast<int>(CpuMode::Long64)], 300u);
    EXPECT_GT(per_mode[static_cast<int>(CpuMode::Protected32)], 150u);
    EXPECT_GT(per_mode[static_cast<int>(CpuMode::Protected16)], 150u);
}

} // namespace
} // namespace sv::x86
