// core/mmio_emulate: instruction byte sequences in 64-, 32- and 16-bit mode
// against trapped ranges whose handlers record every access, checking the
// accesses (address, size, value), registers, RFLAGS, RIP, rSI/rDI/rCX,
// refused straddles, REP with RCX 0/1/many, LOCK forms.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "core/mmio_emulate.hpp"
#include "arch/x86/alu.hpp"
#include "fake_guest_memory.hpp"

namespace sv {
namespace {

using test::FakeGuestMemory;
namespace fl = x86::rflags;

constexpr uint64_t kRam = 2 * 1024 * 1024;
constexpr uint64_t kCode = 0x10000;
constexpr uint64_t kData = 0x20000;      // RAM buffer for MOVS
constexpr uint64_t kDev = 0xFEB00000;    // range with a reader, 2 pages
constexpr uint64_t kDevLen = 0x2000;
constexpr uint64_t kApic = 0xFEE00000;   // write-trapped only (no reader)
constexpr uint64_t kPml4 = 0x1000, kPdpt = 0x2000, kPd = 0x3000, kPt = 0x4000;
constexpr uint64_t kPaged = 0x40000000;  // linear window with 4 KiB pages (64-bit mode)

struct Access {
    bool write;
    uint64_t gpa;
    uint8_t size;
    uint64_t value;
    bool operator==(const Access&) const = default;
};

// A register file behind the range: reads return what is there, writes land
// there; every access is logged.
struct Device final : MmioWriteHandler, MmioReadHandler {
    uint64_t base;
    std::vector<uint8_t> regs;
    std::vector<Access> log;
    Device(uint64_t b, uint64_t len) : base(b), regs(len, 0) {}
    uint64_t mmio_read(uint64_t gpa, uint8_t size) override {
        uint64_t v = 0;
        std::memcpy(&v, &regs[gpa - base], size);
        log.push_back({false, gpa, size, v});
        return v;
    }
    void mmio_write(uint64_t gpa, uint8_t size, uint64_t value) override {
        std::memcpy(&regs[gpa - base], &value, size);
        log.push_back({true, gpa, size, value});
    }
    void set32(uint64_t gpa, uint32_t v) { std::memcpy(&regs[gpa - base], &v, 4); }
    uint32_t get32(uint64_t gpa) const {
        uint32_t v;
        std::memcpy(&v, &regs[gpa - base], 4);
        return v;
    }
    size_t reads() const {
        size_t n = 0;
        for (const Access& a : log) n += !a.write;
        return n;
    }
};

// Write-only trapped device: the write handler logs; reads go to `direct`.
struct WriteOnly final : MmioWriteHandler {
    std::vector<Access> log;
    void mmio_write(uint64_t gpa, uint8_t size, uint64_t value) override { log.push_back({true, gpa, size, value}); }
};

enum class Mode { Long64, Prot32, Real16 };

class MmioEmulate : public ::testing::Test {
  protected:
    FakeGuestMemory ram{0, kRam};
    FakeGuestMemory apic_page{kApic, 0x1000};
    ExitCounters counters;
    MmioDispatcher ranges;
    Device dev{kDev, kDevLen};
    WriteOnly apic;
    MmioRange dev_range, apic_range;
    MmioEmulator emu{ram, counters};
    VcpuState s;

    void SetUp() override {
        ASSERT_TRUE(ranges.add(dev_range, kDev, kDevLen, dev, &dev).ok());
        ASSERT_TRUE(ranges.add(apic_range, kApic, 0x1000, apic).ok());
        emu.set_ranges(&ranges);
        emu.set_device_memory(&apic_page);
        // 4-level tables: 0-4 GiB identity in 1 GiB pages, except 1-2 GiB
        // (kPaged), whose first 2 MiB are 4 KiB pages: page 0 -> RAM 0x100000,
        // pages 1, 2 -> the two device pages, page 3 -> RAM 0x101000.
        // The first GiB (code, data) is user-accessible, the rest supervisor.
        ram.write64(kPml4, kPdpt | 7);
        for (uint64_t i = 0; i < 4; ++i) ram.write64(kPdpt + 8 * i, (i << 30) | (i == 0 ? 0x87 : 0x83));
        ram.write64(kPdpt + 8, kPd | 3);
        ram.write64(kPd, kPt | 3);
        ram.write64(kPt + 0, 0x100000 | 3);
        ram.write64(kPt + 8, kDev | 3);
        ram.write64(kPt + 16, (kDev + 0x1000) | 3);
        ram.write64(kPt + 24, 0x101000 | 3);
        mode(Mode::Long64);
        s.rflags = 0x2;
    }

    void mode(Mode m) {
        s.cs = s.ds = s.es = s.ss = s.fs = s.gs = SegmentState{};
        s.rip = kCode;
        switch (m) {
        case Mode::Long64:
            s.cr0 = 0x80000001;
            s.cr3 = kPml4;
            s.cr4 = 0x20; // PAE
            s.efer = 0x500; // LME | LMA
            s.cs.attributes = 1u << 9; // L
            break;
        case Mode::Prot32:
            s.cr0 = 1; s.cr3 = 0; s.cr4 = 0; s.efer = 0;
            s.cs.attributes = 1u << 10; // D
            break;
        case Mode::Real16:
            // Real mode with "unreal" data segment bases over the device, as
            // a firmware might set up.
            s.cr0 = 0; s.cr3 = 0; s.cr4 = 0; s.efer = 0;
            s.cs.base = kCode; s.rip = 0;
            s.ds.base = kDev; s.es.base = kDev;
            break;
        }
    }
    void code(std::initializer_list<uint8_t> bytes) {
        std::vector<uint8_t> v(bytes);
        ram.write(s.cs.base + s.rip, v.data(), v.size());
        length = v.size();
    }
    uint64_t start() const { return s.cs.base ? 0 : kCode; }
    MmioOutcome run() { return emu.emulate(s); }
    uint64_t& r(Gpr g) { return s.reg(g); }
    size_t length = 0;
};

// --- MOV forms, all modes ---

TEST_F(MmioEmulate, MovStoresAndLoadsEverySize64) {
    r(Gpr::Rbx) = kDev + 0x10;
    r(Gpr::Rax) = 0x1122334455667788;
    const struct {
        std::initializer_list<uint8_t> bytes;
        uint8_t size;
        uint64_t value;
    } stores[] = {
        {{0x88, 0x03}, 1, 0x88},                 // mov [rbx], al
        {{0x88, 0x23}, 1, 0x77},                 // mov [rbx], ah
        {{0x66, 0x89, 0x03}, 2, 0x7788},         // mov [rbx], ax
        {{0x89, 0x03}, 4, 0x55667788},           // mov [rbx], eax
        {{0x48, 0x89, 0x03}, 8, 0x1122334455667788}, // mov [rbx], rax
        {{0x0F, 0xC3, 0x03}, 4, 0x55667788},     // movnti [rbx], eax
        {{0x48, 0x0F, 0xC3, 0x03}, 8, 0x1122334455667788}, // movnti [rbx], rax
        {{0xC6, 0x03, 0xAB}, 1, 0xAB},           // mov byte [rbx], 0xab
        {{0x66, 0xC7, 0x03, 0x34, 0x12}, 2, 0x1234},
        {{0xC7, 0x03, 0x78, 0x56, 0x34, 0x12}, 4, 0x12345678},
        {{0x48, 0xC7, 0x03, 0xFF, 0xFF, 0xFF, 0xFF}, 8, ~0ull}, // imm32 sign-extended
    };
    for (const auto& c : stores) {
        dev.log.clear();
        s.rip = kCode;
        code(c.bytes);
        ASSERT_EQ(run(), MmioOutcome::Done);
        ASSERT_EQ(dev.log.size(), 1u);
        EXPECT_EQ(dev.log[0], (Access{true, kDev + 0x10, c.size, c.value}));
        EXPECT_EQ(s.rip, kCode + length);
    }
}

TEST_F(MmioEmulate, MoffsFormsA0ToA3) {
    // mov eax, [moffs64]; mov [moffs64], al (64-bit: 8-byte offsets)
    dev.set32(kDev + 0x40, 0xCAFEBABE);
    r(Gpr::Rax) = ~0ull;
    code({0xA1, 0x40, 0x00, 0xB0, 0xFE, 0x00, 0x00, 0x00, 0x00});
    ASSERT_EQ(run(), MmioOutcome::Done);
    EXPECT_EQ(r(Gpr::Rax), 0xCAFEBABEu); // zero-extended
    EXPECT_EQ(s.rip, kCode + 9);
    s.rip = kCode;
    code({0xA2, 0x44, 0x00, 0xB0, 0xFE, 0x00, 0x00, 0x00, 0x00});
    ASSERT_EQ(run(), MmioOutcome::Done);
    EXPECT_EQ(dev.log.back(), (Access{true, kDev + 0x44, 1, 0xBE}));
    // 32-bit mode: 4-byte offsets; A0 mov al, [moffs32] merges into RAX.
    mode(Mode::Prot32);
    r(Gpr::Rax) = 0x11111111;
    code({0xA0, 0x41, 0x00, 0xB0, 0xFE});
    ASSERT_EQ(run(), MmioOutcome::Done);
    EXPECT_EQ(r(Gpr::Rax), 0x111111BAu);
    EXPECT_EQ(s.rip, kCode + 5);
    code({0x66, 0xA3, 0x48, 0x00, 0xB0, 0xFE}); // mov [moffs32], ax
    ASSERT_EQ(run(), MmioOutcome::Done);
    EXPECT_EQ(dev.log.back(), (Access{true, kDev + 0x48, 2, 0x11BA}));
}

TEST_F(MmioEmulate, LoadsFollowTheRegisterRules) {
    dev.set32(kDev + 0x20, 0x80818283);
    r(Gpr::Rbx) = kDev + 0x20;
    const struct {
        std::initializer_list<uint8_t> bytes;
        Gpr reg;
        uint64_t before, after;
    } loads[] = {
        {{0x8B, 0x0B}, Gpr::Rcx, ~0ull, 0x80818283},                       // mov ecx, [rbx]
        {{0x48, 0x8B, 0x0B}, Gpr::Rcx, 0, 0x0000000080818283},             // mov rcx, [rbx] (upper regs 0)
        {{0x8A, 0x2B}, Gpr::Rbp, 0, 0},                                    // mov ch, [rbx]: see below
        {{0x66, 0x8B, 0x0B}, Gpr::Rcx, 0xAAAAAAAAAAAAAAAA, 0xAAAAAAAAAAAA8283},
        {{0x0F, 0xB6, 0x0B}, Gpr::Rcx, ~0ull, 0x83},                       // movzx ecx, byte
        {{0x0F, 0xBF, 0x0B}, Gpr::Rcx, 0, 0xFFFF8283},                     // movsx ecx, word
        {{0x48, 0x0F, 0xBE, 0x0B}, Gpr::Rcx, 0, 0xFFFFFFFFFFFFFF83},       // movsx rcx, byte
        {{0x44, 0x8B, 0x03}, Gpr::R8, ~0ull, 0x80818283},                  // mov r8d, [rbx]
        {{0x40, 0x8A, 0x33}, Gpr::Rsi, 0x1100, 0x1183},                    // mov sil, [rbx] (REX: not DH)
    };
    for (const auto& c : loads) {
        if (c.reg == Gpr::Rbp) continue; // (AH-BH are covered in the next test)
        s.rip = kCode;
        r(c.reg) = c.before;
        code(c.bytes);
        ASSERT_EQ(run(), MmioOutcome::Done);
        EXPECT_EQ(r(c.reg), c.after);
    }
    r(Gpr::Rcx) = 0xFFFF;
    s.rip = kCode;
    code({0x8A, 0x2B}); // mov ch, [rbx]
    ASSERT_EQ(run(), MmioOutcome::Done);
    EXPECT_EQ(r(Gpr::Rcx), 0x83FFu);
    EXPECT_GT(dev.reads(), 0u);
}

TEST_F(MmioEmulate, ThirtyTwoBitModeAddressesAndSegments) {
    mode(Mode::Prot32);
    // mov [ebx+esi*4+8], ecx with a DS base: linear = base + offset (32-bit wrap)
    s.ds.base = 0x10;
    r(Gpr::Rbx) = kDev;
    r(Gpr::Rsi) = 2;
    r(Gpr::Rcx) = 0xDEADBEEF;
    code({0x89, 0x4C, 0xB3, 0x08});
    ASSERT_EQ(run(), MmioOutcome::Done);
    EXPECT_EQ(dev.log.back(), (Access{true, kDev + 0x10 + 8 + 8, 4, 0xDEADBEEF}));
    // FS override applies outside 64-bit mode too
    s.fs.base = 0x100;
    code({0x64, 0x89, 0x0B}); // mov fs:[ebx], ecx
    ASSERT_EQ(run(), MmioOutcome::Done);
    EXPECT_EQ(dev.log.back().gpa, kDev + 0x100);
}

TEST_F(MmioEmulate, SixteenBitModeAddressing) {
    mode(Mode::Real16);
    r(Gpr::Rbx) = 0x30;
    r(Gpr::Rsi) = 0x4;
    r(Gpr::Rax) = 0x12345678;
    code({0x89, 0x00}); // mov [bx+si], ax (16-bit operand)
    ASSERT_EQ(run(), MmioOutcome::Done);
    EXPECT_EQ(dev.log.back(), (Access{true, kDev + 0x34, 2, 0x5678}));
    EXPECT_EQ(s.rip, 2u);
    code({0x66, 0x8B, 0x0F}); // mov ecx, [bx]
    dev.set32(kDev + 0x30, 0xA5A5A5A5);
    ASSERT_EQ(run(), MmioOutcome::Done);
    EXPECT_EQ(r(Gpr::Rcx), 0xA5A5A5A5u);
    EXPECT_EQ(s.rip, 5u);
}

// The same operations in each mode (the 16-bit encodings use [bx] and 66h
// for 32-bit operands; DS/ES bases reach the device from real mode).
TEST_F(MmioEmulate, OneTableAcrossModes) {
    struct Row {
        const char* what;
        std::vector<uint8_t> wide, narrow; // 64/32-bit [rbx]/[ebx], 16-bit [bx]
        uint32_t before, after;
        uint64_t eax_after; // ~0: not checked
    };
    const Row rows[] = {
        {"mov [b], eax", {0x89, 0x03}, {0x66, 0x89, 0x07}, 0, 0x11223344, ~0ull},
        {"mov eax, [b]", {0x8B, 0x03}, {0x66, 0x8B, 0x07}, 0xCAFEF00D, 0xCAFEF00D, 0xCAFEF00D},
        {"add dword [b], 5", {0x83, 0x03, 0x05}, {0x66, 0x83, 0x07, 0x05}, 10, 15, ~0ull},
        {"lock or dword [b], eax", {0xF0, 0x09, 0x03}, {0xF0, 0x66, 0x09, 0x07}, 0x80000000, 0x91223344, ~0ull},
        {"xchg [b], eax", {0x87, 0x03}, {0x66, 0x87, 0x07}, 0x5A5A5A5A, 0x11223344, 0x5A5A5A5A},
        {"lock xadd [b], eax", {0xF0, 0x0F, 0xC1, 0x03}, {0xF0, 0x66, 0x0F, 0xC1, 0x07}, 1, 0x11223345, 1},
        {"movzx eax, byte [b]", {0x0F, 0xB6, 0x03}, {0x66, 0x0F, 0xB6, 0x07}, 0x1FF, 0x1FF, 0xFF},
    };
    unsigned done = 0;
    for (Mode m : {Mode::Long64, Mode::Prot32, Mode::Real16}) {
        for (const Row& row : rows) {
            mode(m);
            s.inject = {};
            const bool real = m == Mode::Real16;
            r(Gpr::Rbx) = real ? 0x700 : kDev + 0x700;
            r(Gpr::Rax) = 0x11223344;
            dev.set32(kDev + 0x700, row.before);
            const std::vector<uint8_t>& bytes = real ? row.narrow : row.wide;
            ram.write(s.cs.base + s.rip, bytes.data(), bytes.size());
            const uint64_t rip = s.rip;
            ASSERT_EQ(run(), MmioOutcome::Done) << row.what << " mode " << int(m);
            EXPECT_EQ(dev.get32(kDev + 0x700), row.after) << row.what << " mode " << int(m);
            if (row.eax_after != ~0ull) {
                EXPECT_EQ(r(Gpr::Rax) & 0xFFFFFFFF, row.eax_after) << row.what;
            }
            EXPECT_EQ(s.rip, rip + bytes.size()) << row.what;
            EXPECT_FALSE(s.inject.valid);
            ++done;
        }
    }
    EXPECT_EQ(done, 3 * (sizeof rows / sizeof rows[0]));
}

// --- straddles and page crossings ---

TEST_F(MmioEmulate, ReadsAndWritesStraddlingTheRangeEdgeAreRefused) {
    for (bool write : {true, false}) {
        for (uint64_t at : {kDev - 2, kDev + kDevLen - 2}) {
            s.rip = kCode;
            s.inject = {};
            r(Gpr::Rbx) = at;
            code({uint8_t(write ? 0x89 : 0x8B), 0x03});
            EXPECT_EQ(run(), MmioOutcome::Straddle);
            EXPECT_TRUE(s.inject.valid);
            EXPECT_EQ(s.inject.vector, exception_vector::gp);
            EXPECT_EQ(s.rip, kCode);
        }
    }
    EXPECT_TRUE(dev.log.empty());
    EXPECT_EQ(counters.refused_mmio_writes, 2u);
    EXPECT_EQ(counters.refused_mmio_reads, 2u);
}

TEST_F(MmioEmulate, AccessAcrossARegisterBoundaryInsideTheRangeIsHandedOverAsIs) {
    r(Gpr::Rbx) = kDev + 0x102;
    code({0x48, 0x89, 0x03}); // 8 bytes at +102h: spans three dwords
    ASSERT_EQ(run(), MmioOutcome::Done);
    EXPECT_EQ(dev.log.back(), (Access{true, kDev + 0x102, 8, r(Gpr::Rax)}));
}

TEST_F(MmioEmulate, PageCrossingTranslatesBothPages) {
    // Linear pages 1 and 2 of the window map the two device pages in order:
    // one access at the device's 0xFFE.
    r(Gpr::Rbx) = kPaged + 0x1FFE;
    r(Gpr::Rax) = 0xAABBCCDD;
    code({0x89, 0x03});
    ASSERT_EQ(run(), MmioOutcome::Done);
    EXPECT_EQ(dev.log.back(), (Access{true, kDev + 0xFFE, 4, 0xAABBCCDD}));
    // Pages 0 (RAM) and 1 (device): the bytes are not one trapped range.
    s.rip = kCode;
    r(Gpr::Rbx) = kPaged + 0xFFE;
    EXPECT_EQ(run(), MmioOutcome::Straddle);
    s.rip = kCode;
    s.inject = {};
    code({0x8B, 0x03}); // the same as a read
    EXPECT_EQ(run(), MmioOutcome::Straddle);
    // Pages 2 (device's second page) and 3 (RAM): refused too.
    s.rip = kCode;
    r(Gpr::Rbx) = kPaged + 0x2FFE;
    EXPECT_EQ(run(), MmioOutcome::Straddle);
    EXPECT_EQ(dev.log.size(), 1u);
    EXPECT_GT(counters.refused_mmio_reads, 0u);
    EXPECT_GT(counters.refused_mmio_writes, 0u);
}

TEST_F(MmioEmulate, UnmappedPageRaisesPageFault) {
    ram.write64(kPt + 8, 0); // device page 1 of the window not present
    r(Gpr::Rbx) = kPaged + 0x1010;
    code({0x89, 0x03});
    EXPECT_EQ(run(), MmioOutcome::Fault);
    EXPECT_EQ(s.inject.vector, exception_vector::pf);
    EXPECT_EQ(s.inject.error_code, 2u); // write, not present, supervisor
    EXPECT_EQ(s.cr2, kPaged + 0x1010);
    EXPECT_TRUE(dev.log.empty());
}

TEST_F(MmioEmulate, NonCanonicalAddressRaisesGp) {
    r(Gpr::Rbx) = 0x0000800000000000;
    code({0x89, 0x03});
    EXPECT_EQ(run(), MmioOutcome::Fault);
    EXPECT_EQ(s.inject.vector, exception_vector::gp);
}

TEST_F(MmioEmulate, InstructionThatTouchesNoTrappedRangeIsRefused) {
    r(Gpr::Rbx) = kData;
    code({0x89, 0x03});
    EXPECT_EQ(run(), MmioOutcome::NotMmio);
    EXPECT_EQ(s.inject.vector, exception_vector::gp);
    EXPECT_EQ(s.rip, kCode);
}

// --- string forms ---

TEST_F(MmioEmulate, StosWithoutRepAndWithDf) {
    r(Gpr::Rdi) = kDev + 0x10;
    r(Gpr::Rax) = 0x12345678;
    code({0xAB}); // stosd
    ASSERT_EQ(run(), MmioOutcome::Done);
    EXPECT_EQ(dev.log.back(), (Access{true, kDev + 0x10, 4, 0x12345678}));
    EXPECT_EQ(r(Gpr::Rdi), kDev + 0x14);
    EXPECT_EQ(s.rip, kCode + 1);
    s.rip = kCode;
    s.rflags |= fl::df;
    ASSERT_EQ(run(), MmioOutcome::Done);
    EXPECT_EQ(r(Gpr::Rdi), kDev + 0x10);
}

TEST_F(MmioEmulate, RepStosCountZeroOneMany) {
    r(Gpr::Rdi) = kDev;
    r(Gpr::Rax) = 0xAB;
    code({0xF3, 0xAA}); // rep stosb
    r(Gpr::Rcx) = 0;
    ASSERT_EQ(run(), MmioOutcome::Done);
    EXPECT_TRUE(dev.log.empty());
    EXPECT_EQ(s.rip, kCode + 2);
    s.rip = kCode;
    r(Gpr::Rcx) = 1;
    ASSERT_EQ(run(), MmioOutcome::Done);
    EXPECT_EQ(dev.log.size(), 1u);
    EXPECT_EQ(r(Gpr::Rcx), 0u);
    EXPECT_EQ(r(Gpr::Rdi), kDev + 1);
    EXPECT_EQ(s.rip, kCode + 2);
    // Many: one batch per call, RIP stays until RCX reaches 0.
    s.rip = kCode;
    dev.log.clear();
    const uint64_t n = MmioEmulator::kMaxRepBatch + 5;
    r(Gpr::Rcx) = n;
    r(Gpr::Rdi) = kDev;
    ASSERT_EQ(run(), MmioOutcome::Done);
    EXPECT_EQ(s.rip, kCode);
    EXPECT_EQ(r(Gpr::Rcx), 5u);
    EXPECT_EQ(r(Gpr::Rdi), kDev + MmioEmulator::kMaxRepBatch);
    ASSERT_EQ(run(), MmioOutcome::Done);
    EXPECT_EQ(s.rip, kCode + 2);
    EXPECT_EQ(r(Gpr::Rcx), 0u);
    EXPECT_EQ(dev.log.size(), n);
    for (uint64_t i = 0; i < n; ++i) EXPECT_EQ(dev.log[i], (Access{true, kDev + i, 1, 0xAB}));
}

TEST_F(MmioEmulate, RepMovsRamToMmioAndBack) {
    for (uint32_t i = 0; i < 8; ++i) ram.write32(kData + 4 * i, 0x1000 + i);
    r(Gpr::Rsi) = kData;
    r(Gpr::Rdi) = kDev + 0x200;
    r(Gpr::Rcx) = 8;
    code({0xF3, 0xA5}); // rep movsd
    ASSERT_EQ(run(), MmioOutcome::Done);
    EXPECT_EQ(s.rip, kCode + 2);
    ASSERT_EQ(dev.log.size(), 8u);
    for (uint32_t i = 0; i < 8; ++i) EXPECT_EQ(dev.log[i], (Access{true, kDev + 0x200 + 4 * i, 4, 0x1000 + i}));
    EXPECT_EQ(r(Gpr::Rsi), kData + 32);
    EXPECT_EQ(r(Gpr::Rdi), kDev + 0x220);
    // Back: device -> RAM, DF=1 (from the top down)
    s.rip = kCode;
    s.rflags |= fl::df;
    r(Gpr::Rsi) = kDev + 0x21C;
    r(Gpr::Rdi) = kData + 0x11C;
    r(Gpr::Rcx) = 8;
    dev.log.clear();
    ASSERT_EQ(run(), MmioOutcome::Done);
    EXPECT_EQ(dev.reads(), 8u);
    EXPECT_EQ(dev.log[0].gpa, kDev + 0x21C);
    for (uint32_t i = 0; i < 8; ++i) {
        uint32_t v;
        std::memcpy(&v, ram.map(kData + 0x100 + 4 * i, 4), 4);
        EXPECT_EQ(v, 0x1000 + i);
    }
    EXPECT_EQ(r(Gpr::Rsi), kDev + 0x1FC);
}

TEST_F(MmioEmulate, MovsMmioToMmio) {
    dev.set32(kDev + 0x10, 0x55AA55AA);
    r(Gpr::Rsi) = kDev + 0x10;
    r(Gpr::Rdi) = kDev + 0x1010;
    code({0xA5}); // movsd
    ASSERT_EQ(run(), MmioOutcome::Done);
    ASSERT_EQ(dev.log.size(), 2u);
    EXPECT_EQ(dev.log[0], (Access{false, kDev + 0x10, 4, 0x55AA55AA}));
    EXPECT_EQ(dev.log[1], (Access{true, kDev + 0x1010, 4, 0x55AA55AA}));
}

TEST_F(MmioEmulate, LodsLoadsTheAccumulator) {
    dev.set32(kDev + 0x8, 0x01020304);
    r(Gpr::Rsi) = kDev + 0x8;
    r(Gpr::Rax) = ~0ull;
    code({0xAD}); // lodsd
    ASSERT_EQ(run(), MmioOutcome::Done);
    EXPECT_EQ(r(Gpr::Rax), 0x01020304u);
    EXPECT_EQ(r(Gpr::Rsi), kDev + 0xC);
    code({0xAC}); // lodsb (merges)
    ASSERT_EQ(run(), MmioOutcome::Done);
    EXPECT_EQ(r(Gpr::Rax), 0x01020300u); // byte at +0Ch is 0
}

TEST_F(MmioEmulate, StringElementStraddlingTheEdgeStopsTheRep) {
    // rep stosd from 8 bytes below the range's end with RCX 4: elements 0, 1
    // are done, element 2 would leave the range: #GP with RCX/RDI there.
    r(Gpr::Rdi) = kDev + kDevLen - 8;
    r(Gpr::Rcx) = 4;
    code({0xF3, 0xAB});
    EXPECT_EQ(run(), MmioOutcome::NotMmio); // element 2 is past the end: not trapped and not RAM
    EXPECT_EQ(dev.log.size(), 2u);
    EXPECT_EQ(r(Gpr::Rcx), 2u);
    EXPECT_EQ(r(Gpr::Rdi), kDev + kDevLen);
    EXPECT_EQ(s.rip, kCode);
    // A misaligned element over the edge is a straddle.
    s.inject = {};
    r(Gpr::Rdi) = kDev + kDevLen - 2;
    r(Gpr::Rcx) = 1;
    EXPECT_EQ(run(), MmioOutcome::Straddle);
    EXPECT_GT(counters.refused_mmio_writes, 0u);
}

TEST_F(MmioEmulate, AddressSizeMasksStringRegisters) {
    // 64-bit mode, 67h: ESI/EDI/ECX, written zero-extended.
    r(Gpr::Rdi) = 0xFFFFFFFF00000000ull | kDev;
    r(Gpr::Rcx) = 0xFFFFFFFF00000002ull;
    r(Gpr::Rax) = 0x77;
    code({0x67, 0xF3, 0xAA}); // rep stosb [edi]
    ASSERT_EQ(run(), MmioOutcome::Done);
    EXPECT_EQ(dev.log.size(), 2u);
    EXPECT_EQ(r(Gpr::Rdi), kDev + 2);
    EXPECT_EQ(r(Gpr::Rcx), 0u);
    // 16-bit: DI wraps within 64 KiB and the upper bits stay. Element 0 is
    // at ES:FFFFh (in the range); element 1 at ES:0000h, 64 KiB below, is
    // neither trapped nor RAM: refused there, with the registers of the wrap.
    mode(Mode::Real16);
    s.es.base = kDev + 0x100 - 0xFFFF;
    r(Gpr::Rdi) = 0xABCDFFFF;
    r(Gpr::Rcx) = 0x12340002;
    code({0xF3, 0xAA});
    EXPECT_EQ(run(), MmioOutcome::NotMmio);
    ASSERT_EQ(dev.log.size(), 3u);
    EXPECT_EQ(dev.log[2].gpa, kDev + 0x100);
    EXPECT_EQ(r(Gpr::Rdi), 0xABCD0000u);
    EXPECT_EQ(r(Gpr::Rcx), 0x12340001u);
    EXPECT_EQ(s.rip, 0u);
}

// --- read-modify-write, flags ---

TEST_F(MmioEmulate, AluFormsReadModifyWriteWithFlags) {
    const uint64_t reg = kDev + 0x300;
    r(Gpr::Rbx) = reg;
    const struct {
        std::initializer_list<uint8_t> bytes;
        uint32_t before;
        uint32_t after; // device register after
        uint64_t flags_set, flags_clear;
        bool writes;
    } cases[] = {
        {{0x83, 0x03, 0x01}, 0xFFFFFFFF, 0, fl::zf | fl::cf | fl::pf | fl::af, fl::sf | fl::of, true}, // add dword [rbx], 1
        {{0x81, 0x0B, 0x00, 0x00, 0x00, 0x80}, 0x1, 0x80000001, fl::sf, fl::zf | fl::cf | fl::of, true}, // or dword, 80000000h
        {{0x83, 0x23, 0xF0}, 0x1234567F, 0x12345670, 0, fl::cf | fl::of | fl::zf, true},            // and dword [rbx], -16
        {{0x83, 0x2B, 0x01}, 0x80000000, 0x7FFFFFFF, fl::of | fl::af, fl::cf | fl::zf | fl::sf, true}, // sub dword, 1
        {{0x83, 0x33, 0xFF}, 0x0F0F0F0F, 0xF0F0F0F0, fl::sf | fl::pf, fl::zf, true},                 // xor dword, -1
        {{0x83, 0x3B, 0x05}, 0x3, 0x3, fl::cf | fl::sf, fl::zf, false},                              // cmp dword, 5
        {{0xF7, 0x03, 0x00, 0x01, 0x00, 0x00}, 0x100, 0x100, 0, fl::zf, false},                      // test dword, 100h
        {{0xFF, 0x03}, 0x7FFFFFFF, 0x80000000, fl::of | fl::sf, fl::zf, true},                       // inc dword [rbx]
        {{0xFF, 0x0B}, 0x1, 0x0, fl::zf, fl::sf, true},                                              // dec dword [rbx]
        {{0xF7, 0x13}, 0x0000FFFF, 0xFFFF0000, 0, 0, true},                                          // not dword [rbx]
        {{0xF7, 0x1B}, 0x1, 0xFFFFFFFF, fl::cf | fl::sf, fl::zf, true},                              // neg dword [rbx]
        {{0x01, 0x0B}, 0x10, 0x10 + 0x22, 0, fl::cf | fl::zf, true},                                 // add [rbx], ecx
        {{0x29, 0x0B}, 0x10, uint32_t(0x10 - 0x22), fl::cf | fl::sf, fl::zf, true},                  // sub [rbx], ecx
        {{0x85, 0x0B}, 0x22, 0x22, 0, fl::zf, false},                                                // test [rbx], ecx
        {{0x80, 0x0B, 0x80}, 0x00000001, 0x00000081, fl::sf, fl::zf, true},                          // or byte [rbx], 80h
        {{0x66, 0x83, 0x03, 0xFF}, 0xABCD0000, 0xABCDFFFF, fl::sf, fl::cf | fl::zf, true},           // add word, -1
    };
    unsigned n = 0;
    for (const auto& c : cases) {
        s.rip = kCode;
        s.rflags = 0x2;
        r(Gpr::Rcx) = 0x22;
        dev.set32(reg, c.before);
        dev.log.clear();
        code(c.bytes);
        ASSERT_EQ(run(), MmioOutcome::Done) << n;
        EXPECT_EQ(dev.get32(reg), c.after) << n;
        EXPECT_EQ(s.rflags & c.flags_set, c.flags_set) << n;
        EXPECT_EQ(s.rflags & c.flags_clear, 0u) << n;
        EXPECT_EQ(dev.log.size(), c.writes ? 2u : 1u) << n;
        EXPECT_FALSE(dev.log[0].write) << n;
        EXPECT_EQ(s.rip, kCode + length) << n;
        ++n;
    }
    EXPECT_GT(n, 0u);
}

TEST_F(MmioEmulate, AdcSbbUseTheCarry) {
    r(Gpr::Rbx) = kDev + 0x300;
    dev.set32(kDev + 0x300, 5);
    s.rflags = 0x2 | fl::cf;
    code({0x83, 0x13, 0x01}); // adc dword [rbx], 1
    ASSERT_EQ(run(), MmioOutcome::Done);
    EXPECT_EQ(dev.get32(kDev + 0x300), 7u);
    EXPECT_FALSE(s.rflags & fl::cf);
    s.rip = kCode;
    s.rflags = 0x2 | fl::cf;
    code({0x83, 0x1B, 0x01}); // sbb dword [rbx], 1
    ASSERT_EQ(run(), MmioOutcome::Done);
    EXPECT_EQ(dev.get32(kDev + 0x300), 5u);
}

TEST_F(MmioEmulate, RegisterDestinationAluReadsOnly) {
    dev.set32(kDev + 0x40, 0x10);
    r(Gpr::Rbx) = kDev + 0x40;
    r(Gpr::Rax) = 0xFFFFFFFF00000005ull;
    code({0x03, 0x03}); // add eax, [rbx]
    ASSERT_EQ(run(), MmioOutcome::Done);
    EXPECT_EQ(r(Gpr::Rax), 0x15u); // 32-bit result zero-extends
    ASSERT_EQ(dev.log.size(), 1u);
    EXPECT_FALSE(dev.log[0].write);
    s.rip = kCode;
    code({0x3A, 0x23}); // cmp ah, [rbx]
    r(Gpr::Rax) = 0x1000;
    ASSERT_EQ(run(), MmioOutcome::Done);
    EXPECT_TRUE(s.rflags & fl::zf);
    EXPECT_EQ(r(Gpr::Rax), 0x1000u);
}

TEST_F(MmioEmulate, BitTestFormsAddressTheBitString) {
    const uint64_t reg = kDev + 0x400;
    r(Gpr::Rbx) = reg;
    dev.set32(reg, 0x1);
    code({0x0F, 0xBA, 0x23, 0x00}); // bt dword [rbx], 0
    ASSERT_EQ(run(), MmioOutcome::Done);
    EXPECT_TRUE(s.rflags & fl::cf);
    EXPECT_EQ(dev.log.size(), 1u);
    s.rip = kCode;
    code({0xF0, 0x0F, 0xBA, 0x2B, 0x25}); // lock bts dword [rbx], 37 (mod 32 = 5)
    ASSERT_EQ(run(), MmioOutcome::Done);
    EXPECT_EQ(dev.get32(reg), 0x21u);
    EXPECT_FALSE(s.rflags & fl::cf);
    // Register bit offset 35: dword at +4, bit 3; -1: dword at -4, bit 31.
    s.rip = kCode;
    r(Gpr::Rcx) = 35;
    code({0x0F, 0xAB, 0x0B}); // bts [rbx], ecx
    ASSERT_EQ(run(), MmioOutcome::Done);
    EXPECT_EQ(dev.get32(reg + 4), 0x8u);
    EXPECT_EQ(dev.log.back().gpa, reg + 4);
    s.rip = kCode;
    r(Gpr::Rcx) = 0xFFFFFFFF;
    dev.set32(reg - 4, 0x80000000);
    code({0x0F, 0xB3, 0x0B}); // btr [rbx], ecx
    ASSERT_EQ(run(), MmioOutcome::Done);
    EXPECT_TRUE(s.rflags & fl::cf);
    EXPECT_EQ(dev.get32(reg - 4), 0u);
    s.rip = kCode;
    r(Gpr::Rcx) = 1;
    code({0x0F, 0xBB, 0x0B}); // btc [rbx], ecx
    ASSERT_EQ(run(), MmioOutcome::Done);
    EXPECT_EQ(dev.get32(reg), 0x23u);
}

TEST_F(MmioEmulate, XchgCmpxchgXadd) {
    const uint64_t reg = kDev + 0x500;
    r(Gpr::Rbx) = reg;
    dev.set32(reg, 0xAAAA);
    r(Gpr::Rcx) = 0xFFFFFFFF0000BBBBull;
    code({0x87, 0x0B}); // xchg [rbx], ecx
    ASSERT_EQ(run(), MmioOutcome::Done);
    EXPECT_EQ(dev.get32(reg), 0xBBBBu);
    EXPECT_EQ(r(Gpr::Rcx), 0xAAAAu);
    // lock cmpxchg [rbx], ecx: equal -> store ECX, ZF=1
    s.rip = kCode;
    r(Gpr::Rax) = 0xFFFFFFFF0000BBBBull;
    r(Gpr::Rcx) = 0xCCCC;
    code({0xF0, 0x0F, 0xB1, 0x0B});
    ASSERT_EQ(run(), MmioOutcome::Done);
    EXPECT_EQ(dev.get32(reg), 0xCCCCu);
    EXPECT_TRUE(s.rflags & fl::zf);
    EXPECT_EQ(r(Gpr::Rax), 0xFFFFFFFF0000BBBBull); // not written on success
    // not equal -> EAX = destination, ZF=0, no write
    s.rip = kCode;
    dev.log.clear();
    ASSERT_EQ(run(), MmioOutcome::Done);
    EXPECT_FALSE(s.rflags & fl::zf);
    EXPECT_EQ(r(Gpr::Rax), 0xCCCCu);
    ASSERT_EQ(dev.log.size(), 1u);
    EXPECT_FALSE(dev.log[0].write);
    // lock xadd [rbx], ecx
    s.rip = kCode;
    r(Gpr::Rcx) = 0xFFFF3334;
    code({0xF0, 0x0F, 0xC1, 0x0B});
    ASSERT_EQ(run(), MmioOutcome::Done);
    EXPECT_EQ(dev.get32(reg), 0u);
    EXPECT_EQ(r(Gpr::Rcx), 0xCCCCu);
    EXPECT_TRUE(s.rflags & fl::zf);
    EXPECT_TRUE(s.rflags & fl::cf);
    // byte forms: xchg [rbx], ah
    s.rip = kCode;
    r(Gpr::Rax) = 0x5500;
    code({0x86, 0x23});
    ASSERT_EQ(run(), MmioOutcome::Done);
    EXPECT_EQ(dev.regs[0x500], 0x55);
}

TEST_F(MmioEmulate, LockPrefixedRmwAndInvalidLock) {
    r(Gpr::Rbx) = kDev + 0x600;
    code({0xF0, 0x83, 0x03, 0x02}); // lock add dword [rbx], 2
    ASSERT_EQ(run(), MmioOutcome::Done);
    EXPECT_EQ(dev.get32(kDev + 0x600), 2u);
    code({0xF0, 0x89, 0x03}); // lock mov [rbx], eax: #UD
    EXPECT_EQ(run(), MmioOutcome::InvalidLock);
    EXPECT_EQ(s.inject.vector, exception_vector::ud);
    s.inject = {};
    code({0xF0, 0x83, 0x3B, 0x02}); // lock cmp: #UD
    EXPECT_EQ(run(), MmioOutcome::InvalidLock);
}

TEST_F(MmioEmulate, RmwOnAWriteOnlyRangeReadsTheDeviceDirectly) {
    uint32_t v = 0x100;
    apic_page.write(kApic + 0xF0, &v, 4);
    r(Gpr::Rbx) = kApic + 0xF0;
    code({0x81, 0x0B, 0x00, 0x01, 0x00, 0x00}); // or dword [rbx], 100h (SVR enable)
    v = 0x1FF;
    apic_page.write(kApic + 0xF0, &v, 4);
    ASSERT_EQ(run(), MmioOutcome::Done);
    ASSERT_EQ(apic.log.size(), 1u);
    EXPECT_EQ(apic.log[0], (Access{true, kApic + 0xF0, 4, 0x1FF}));
    // Without direct device access the read cannot be done: refused.
    emu.set_device_memory(nullptr);
    s.rip = kCode;
    EXPECT_EQ(run(), MmioOutcome::NotMmio);
    EXPECT_EQ(apic.log.size(), 1u);
}

TEST_F(MmioEmulate, UnsupportedFormsAreRefusedWithGp) {
    r(Gpr::Rbx) = kDev;
    const std::initializer_list<uint8_t> refused[] = {
        {0xF7, 0x23},             // mul dword [rbx]
        {0xD1, 0x23},             // shl dword [rbx], 1
        {0x0F, 0x10, 0x03},       // movups xmm0, [rbx]
        {0xC5, 0xFE, 0x6F, 0x03}, // vmovdqu ymm0, [rbx]
        {0xFF, 0x33},             // push qword [rbx]
        {0xA7},                   // cmpsd
    };
    unsigned n = 0;
    for (const auto& bytes : refused) {
        s.rip = kCode;
        s.inject = {};
        code(bytes);
        EXPECT_EQ(run(), MmioOutcome::Unsupported) << n;
        EXPECT_EQ(s.inject.vector, exception_vector::gp);
        EXPECT_EQ(s.rip, kCode);
        ++n;
    }
    EXPECT_TRUE(dev.log.empty());
    EXPECT_GT(n, 0u);
}

TEST_F(MmioEmulate, UserModeNeedsAUserPage) {
    s.ss.attributes = 3u << 5; // CPL 3; the tables have U=0
    r(Gpr::Rbx) = kDev;
    code({0x89, 0x03});
    EXPECT_EQ(run(), MmioOutcome::Fault);
    EXPECT_EQ(s.inject.vector, exception_vector::pf);
    EXPECT_EQ(s.inject.error_code, 2u | 4u | 1u); // write, user, protection
}

} // namespace
} // namespace sv
