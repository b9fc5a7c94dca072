// core/decoded_insn_cache: hits only for the same CR3, linear RIP, mode and
// bytes; changed code, another address space, user mode and instructions
// across a page boundary are fetched and decoded afresh.
#include <gtest/gtest.h>

#include "core/decoded_insn_cache.hpp"
#include "core/mmio_emulate.hpp"
#include "fake_guest_memory.hpp"

namespace sv {
namespace {

using test::FakeGuestMemory;

constexpr uint64_t kPml4 = 0x1000, kPdpt = 0x2000, kPml4b = 0x3000;
constexpr uint64_t kCode = 0x10000;

class DecodedInsnCacheTest : public ::testing::Test {
  protected:
    FakeGuestMemory ram{0, 1 << 20};
    DecodedInsnCache cache;
    VcpuState s;

    void SetUp() override {
        // 4-level paging, the first GiB identity-mapped by one 1 GiB page
        // (user-accessible), reachable from two PML4s (two address spaces).
        ram.write64(kPml4, kPdpt | 7);
        ram.write64(kPml4b, kPdpt | 7);
        ram.write64(kPdpt, 0x87);
        s.cr0 = 0x80000001;
        s.cr3 = kPml4;
        s.cr4 = 0x20;
        s.efer = 0x500;
        s.cs.attributes = 1u << 9; // L
        s.rip = kCode;
    }
    void code(uint64_t at, std::initializer_list<uint8_t> bytes) {
        std::vector<uint8_t> v(bytes);
        ram.write(at, v.data(), v.size());
    }
    x86::Instruction decode() {
        Result<x86::Instruction> r = cache.decode_at_rip(s, ram);
        EXPECT_TRUE(r.ok());
        return r.ok() ? r.value() : x86::Instruction{};
    }
};

TEST_F(DecodedInsnCacheTest, SecondDecodeOfTheSameInstructionIsAHit) {
    code(kCode, {0x8B, 0x03}); // mov eax, [rbx]
    const x86::Instruction a = decode();
    const x86::Instruction b = decode();
    EXPECT_EQ(cache.stats().misses, 1u);
    EXPECT_EQ(cache.stats().hits, 1u);
    EXPECT_EQ(a.length, 2u);
    EXPECT_EQ(b.length, a.length);
    EXPECT_EQ(b.kind, a.kind);
    EXPECT_EQ(b.kind, x86::InsnKind::MovFromMem);
}

TEST_F(DecodedInsnCacheTest, ChangedBytesAreDecodedAfresh) {
    code(kCode, {0x8B, 0x03});       // mov eax, [rbx]
    (void)decode();
    code(kCode, {0x89, 0x03});       // mov [rbx], eax
    const x86::Instruction now = decode();
    EXPECT_EQ(now.kind, x86::InsnKind::MovToMem);
    EXPECT_EQ(cache.stats().misses, 2u);
    EXPECT_EQ(cache.stats().hits, 0u);
    (void)decode();
    EXPECT_EQ(cache.stats().hits, 1u);
}

TEST_F(DecodedInsnCacheTest, AnotherAddressSpaceOrModeMisses) {
    code(kCode, {0x8B, 0x03});
    (void)decode();
    s.cr3 = kPml4b;
    (void)decode();
    EXPECT_EQ(cache.stats().misses, 2u);
    s.cr3 = kPml4;
    s.cs.attributes = 1u << 10; // 32-bit code segment (compatibility mode)
    (void)decode();
    EXPECT_EQ(cache.stats().misses, 3u);
    EXPECT_EQ(cache.stats().hits, 0u);
}

TEST_F(DecodedInsnCacheTest, UserModeIsNeverCached) {
    code(kCode, {0x8B, 0x03});
    s.ss.attributes = 3u << 5; // DPL 3: CPL 3
    (void)decode();
    (void)decode();
    EXPECT_EQ(cache.stats().misses, 2u);
    EXPECT_EQ(cache.stats().hits, 0u);
}

TEST_F(DecodedInsnCacheTest, AnInstructionAcrossAPageBoundaryIsNotCached) {
    s.rip = kCode + 0xFFE;
    code(s.rip, {0x48, 0x8B, 0x03}); // mov rax, [rbx]: 3 bytes, 2 on the first page
    EXPECT_EQ(decode().length, 3u);
    EXPECT_EQ(decode().length, 3u);
    EXPECT_EQ(cache.stats().misses, 2u);
    EXPECT_EQ(cache.stats().hits, 0u);
}

TEST_F(DecodedInsnCacheTest, MoreInstructionsThanEntriesStillDecodeRight) {
    for (unsigned i = 0; i < 2 * DecodedInsnCache::kEntries; ++i) {
        s.rip = kCode + 16 * i;
        code(s.rip, {0x8B, 0x03});
        EXPECT_EQ(decode().kind, x86::InsnKind::MovFromMem);
    }
    EXPECT_EQ(cache.stats().misses, 2 * DecodedInsnCache::kEntries);
    s.rip = kCode + 16 * (2 * DecodedInsnCache::kEntries - 1); // the newest is still there
    (void)decode();
    EXPECT_EQ(cache.stats().hits, 1u);
}

// Through the emulator: an instruction changed after it was cached is
// emulated as it is now (the store becomes a load).
struct Regs final : MmioWriteHandler, MmioReadHandler {
    unsigned reads = 0, writes = 0;
    void mmio_write(uint64_t, uint8_t, uint64_t) override { ++writes; }
    uint64_t mmio_read(uint64_t, uint8_t) override {
        ++reads;
        return 0x1234;
    }
};

TEST_F(DecodedInsnCacheTest, TheEmulatorUsesTheCacheAndSeesChangedCode) {
    constexpr uint64_t kDev = 0x80000; // inside the identity-mapped GiB
    ExitCounters counters;
    MmioDispatcher ranges;
    MmioRange range;
    Regs regs;
    ASSERT_TRUE(ranges.add(range, kDev, 0x1000, regs, &regs).ok());
    MmioEmulator emu{ram, counters};
    emu.set_ranges(&ranges);
    s.reg(Gpr::Rbx) = kDev + 0x10;
    code(kCode, {0x89, 0x03}); // mov [rbx], eax
    for (int i = 0; i < 3; ++i) {
        s.rip = kCode;
        ASSERT_EQ(emu.emulate(s), MmioOutcome::Done);
    }
    EXPECT_EQ(regs.writes, 3u);
    EXPECT_EQ(counters.insn_cache_hits, 2u);
    code(kCode, {0x8B, 0x03}); // mov eax, [rbx]
    s.rip = kCode;
    ASSERT_EQ(emu.emulate(s), MmioOutcome::Done);
    EXPECT_EQ(regs.writes, 3u);
    EXPECT_EQ(regs.reads, 1u);
    EXPECT_EQ(s.reg(Gpr::Rax), 0x1234u);
    EXPECT_EQ(s.rip, kCode + 2);
}

// emulate_fault(): the processor's fault address stands in for the walk of a
// one-operand supervisor access with the same page offset; otherwise (other
// offset, user mode, string instruction) the operand is walked as before.
class EmulateFaultTest : public DecodedInsnCacheTest {
  protected:
    static constexpr uint64_t kDev = 0x80000, kDev2 = 0x81000;
    ExitCounters counters;
    MmioDispatcher ranges;
    MmioRange range, range2;
    Regs regs, regs2;
    MmioEmulator emu{ram, counters};
    void SetUp() override {
        DecodedInsnCacheTest::SetUp();
        ASSERT_TRUE(ranges.add(range, kDev, 0x1000, regs, &regs).ok());
        ASSERT_TRUE(ranges.add(range2, kDev2, 0x1000, regs2, &regs2).ok());
        emu.set_ranges(&ranges);
        code(kCode, {0x89, 0x03}); // mov [rbx], eax
    }
};

TEST_F(EmulateFaultTest, TheFaultAddressIsUsedForTheOneOperand) {
    s.reg(Gpr::Rbx) = kDev + 0x10; // the page tables say kDev...
    ASSERT_EQ(emu.emulate_fault(s, kDev2 + 0x10), MmioOutcome::Done); // ...the processor said kDev2
    EXPECT_EQ(regs.writes, 0u);
    EXPECT_EQ(regs2.writes, 1u);
    EXPECT_EQ(s.rip, kCode + 2);
}

TEST_F(EmulateFaultTest, AnotherPageOffsetOrUserModeIsWalked) {
    s.reg(Gpr::Rbx) = kDev + 0x10;
    ASSERT_EQ(emu.emulate_fault(s, kDev2 + 0x14), MmioOutcome::Done);
    EXPECT_EQ(regs.writes, 1u);
    s.rip = kCode;
    s.ss.attributes = 3u << 5; // CPL 3
    ASSERT_EQ(emu.emulate_fault(s, kDev2 + 0x10), MmioOutcome::Done);
    EXPECT_EQ(regs.writes, 2u);
    EXPECT_EQ(regs2.writes, 0u);
}

TEST_F(EmulateFaultTest, TheFaultAddressOutsideEveryRangeIsRefusedAsRam) {
    // A fault address that is guest RAM: the access is done as RAM would
    // be, i.e. refused for an instruction that must touch a trapped range.
    s.reg(Gpr::Rbx) = kDev + 0x10;
    EXPECT_EQ(emu.emulate_fault(s, 0x40010), MmioOutcome::NotMmio);
    EXPECT_EQ(regs.writes + regs2.writes, 0u);
    EXPECT_TRUE(s.inject.valid);
}

} // namespace
} // namespace sv
