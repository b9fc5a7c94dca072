// Fuzz-style decoder test with a fixed seed: random byte strings never crash
// (ASan/UBSan watch every read), never decode longer than 15 bytes or than the
// span, and decoding is consistent under truncation.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "tests/unit/x86/test_bytes.hpp"

namespace sv::x86 {
namespace {

constexpr CpuMode kModes[] = {CpuMode::Real16, CpuMode::Protected16, CpuMode::Protected32,
                              CpuMode::Long64};

// Bytes biased towards prefixes and escapes so the interesting paths are hit.
uint8_t random_byte(std::mt19937& rng) {
    static constexpr uint8_t kInteresting[] = {0x66, 0x67, 0xf0, 0xf2, 0xf3, 0x2e, 0x26, 0x64,
                                               0x65, 0x40, 0x48, 0x4f, 0x0f, 0x38, 0x3a, 0xc4,
                                               0xc5, 0x62, 0x8f, 0x01, 0xa0, 0xa3, 0xb8, 0xf6,
                                               0xf7, 0xc8, 0x9a, 0xea, 0xe8, 0x20, 0x78, 0x0f};
    const unsigned pick = rng() % 4;
    if (pick == 0) return kInteresting[rng() % sizeof kInteresting];
    return static_cast<uint8_t>(rng());
}

TEST(InsnDecodeFuzz, RandomFifteenByteStrings) {
    std::mt19937 rng(0x5eed'1234);
    size_t decoded = 0;
    for (int iteration = 0; iteration < 100'000; ++iteration) {
        std::vector<uint8_t> bytes(kMaxInstructionLength);
        for (uint8_t& b : bytes) b = random_byte(rng);
        const CpuMode mode = kModes[iteration % 4];
        const CpuVendor vendor = (iteration / 4) % 2 ? CpuVendor::Intel : CpuVendor::Amd;

        const Result<Instruction> r = test::decode_exact(bytes, bytes.size(), mode, vendor);
        if (!r.ok()) {
            // With 15 bytes available, an instruction can only be too long or invalid.
            ASSERT_EQ(r.error(), Error::Malformed);
            continue;
        }
        ++decoded;
        const Instruction& insn = r.value();
        ASSERT_GE(insn.length, 1);
        ASSERT_LE(insn.length, kMaxInstructionLength);

        // Exactly `length` bytes decode the same; one fewer is a truncation.
        const Result<Instruction> exact = test::decode_exact(bytes, insn.length, mode, vendor);
        ASSERT_TRUE(exact.ok());
        ASSERT_EQ(exact.value().length, insn.length);
        ASSERT_EQ(exact.value().kind, insn.kind);
        const Result<Instruction> short_by_one =
            test::decode_exact(bytes, insn.length - 1u, mode, vendor);
        ASSERT_FALSE(short_by_one.ok());
        ASSERT_EQ(short_by_one.error(), Error::OutOfRange);

        // Address helpers accept whatever the decoder produced.
        GuestGprs gprs;
        for (uint64_t& reg : gprs.r) reg = (uint64_t{rng()} << 32) | rng();
        gprs.rip = (uint64_t{rng()} << 32) | rng();
        const Result<uint64_t> ea = effective_address(insn, gprs);
        if (ea.ok() && insn.address_size < 8) {
            ASSERT_LT(ea.value(), 1ull << (8 * insn.address_size));
        }
        (void)memory_segment(insn);
        (void)string_source_offset(insn, gprs);
    }
    EXPECT_GT(decoded, 50'000u); // most random strings are some instruction
}

TEST(InsnDecodeFuzz, RandomShortSpansNeverReadPastTheEnd) {
    std::mt19937 rng(42);
    for (int iteration = 0; iteration < 100'000; ++iteration) {
        const size_t size = rng() % (kMaxInstructionLength + 1);
        std::vector<uint8_t> bytes(size);
        for (uint8_t& b : bytes) b = random_byte(rng);
        const Result<Instruction> r = test::decode_exact(bytes, size, kModes[iteration % 4]);
        if (r.ok()) {
            ASSERT_LE(r.value().length, size);
        } else {
            ASSERT_TRUE(r.error() == Error::OutOfRange || r.error() == Error::Malformed);
        }
    }
}

} // namespace
} // namespace sv::x86
