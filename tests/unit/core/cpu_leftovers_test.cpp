// Issue #7 class 9, host-testable halves: XSETBV checks and the guest's own
// XCR0, INVLPGA -> #UD, CPUID bits that follow the guest's CR4/XCR0/XSS, the
// MSR table (virtualized / read-only), and the crypto's per-request XCR0.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "core/cpuid_policy.hpp"
#include "core/exit_handler.hpp"
#include "core/msr_policy.hpp"
#include "core/xcr0_policy.hpp"
#include "crypto/xcr0_switch.hpp"
#include "fake_guest_memory.hpp"

namespace sv {
namespace {

constexpr uint64_t kSupported = 0x2e7; // x87 SSE AVX opmask zmm_hi256 hi16_zmm pkru
constexpr uint32_t kOsxsave = 1u << 27;

// Host CPUID with XSAVE components (sizes/offsets as on a Zen 4).
CpuidValues host_cpuid(uint32_t leaf, uint32_t subleaf) {
    switch (leaf) {
    case 1: return {0x00a10f11, 0x00020800, 0x7ef8320b | kOsxsave, 0x178bfbff};
    case 7: return {0, 0xf1bf97a9, 0x00405fce | (1u << 4), 0};
    case 0xD:
        switch (subleaf) {
        case 0: return {uint32_t(kSupported), 2440 /* hypervisor's XCR0 */, 2696, 0};
        case 1: return {0xf, 1000, 0x1800, 0};
        case 2: return {256, 576, 0, 0};
        case 5: return {64, 832, 0, 0};
        case 6: return {512, 896, 0, 0};
        case 7: return {1024, 1408, 0, 0};
        case 9: return {8, 2432, 0, 0};
        case 11: return {16, 0, 1, 0}; // CET_U (supervisor): IA32_XSS
        case 12: return {24, 0, 1, 0}; // CET_S
        default: return {0, 0, 0, 0};
        }
    default: return {0, 0, 0, 0};
    }
}

TEST(CpuXsetbv, ChecksAsTheCpuDoes) {
    constexpr uint64_t osx = kCr4Osxsave;
    EXPECT_EQ(check_xsetbv(osx, 0, 0, 0x7, kSupported), XsetbvFault::None);
    EXPECT_EQ(check_xsetbv(osx, 0, 0, 0x1, kSupported), XsetbvFault::None); // x87 only is legal
    EXPECT_EQ(check_xsetbv(osx, 0, 0, 0x3, kSupported), XsetbvFault::None);
    EXPECT_EQ(check_xsetbv(osx, 0, 0, 0xe7, kSupported), XsetbvFault::None);
    EXPECT_EQ(check_xsetbv(osx, 0, 0, 0x2e7, kSupported), XsetbvFault::None);
    EXPECT_EQ(check_xsetbv(0, 0, 0, 0x7, kSupported), XsetbvFault::InvalidOpcode);
    EXPECT_EQ(check_xsetbv(osx, 3, 0, 0x7, kSupported), XsetbvFault::GeneralProtection);
    EXPECT_EQ(check_xsetbv(osx, 0, 1, 0x7, kSupported), XsetbvFault::GeneralProtection);
    EXPECT_EQ(check_xsetbv(osx, 0, 0, 0x6, kSupported), XsetbvFault::GeneralProtection);  // no x87
    EXPECT_EQ(check_xsetbv(osx, 0, 0, 0x5, kSupported), XsetbvFault::GeneralProtection);  // AVX w/o SSE
    EXPECT_EQ(check_xsetbv(osx, 0, 0, 0x27, kSupported), XsetbvFault::GeneralProtection); // AVX-512 partial
    EXPECT_EQ(check_xsetbv(osx, 0, 0, 0xe3, kSupported), XsetbvFault::GeneralProtection); // AVX-512 w/o AVX
    EXPECT_EQ(check_xsetbv(osx, 0, 0, 0x1f, 0x1f), XsetbvFault::None);                   // MPX pair
    EXPECT_EQ(check_xsetbv(osx, 0, 0, 0xf, 0x1f), XsetbvFault::GeneralProtection);       // MPX half
    EXPECT_EQ(check_xsetbv(osx, 0, 0, 0x7 | (1ull << 17), 0x60007), XsetbvFault::GeneralProtection); // AMX half
    EXPECT_EQ(check_xsetbv(osx, 0, 0, 0x1f, kSupported), XsetbvFault::GeneralProtection); // unsupported bits
    EXPECT_EQ(check_xsetbv(osx, 0, 0, 1ull << 63 | 7, kSupported), XsetbvFault::GeneralProtection);
}

TEST(CpuCpuid, OsxsaveAndOspkeFollowGuestCr4) {
    GuestCpuidState g;
    g.cr4 = 0;
    EXPECT_EQ(guest_cpuid(1, 0, host_cpuid(1, 0), g).ecx & kOsxsave, 0u);
    EXPECT_EQ(guest_cpuid(7, 0, host_cpuid(7, 0), g).ecx & (1u << 4), 0u);
    g.cr4 = kCr4Osxsave;
    EXPECT_EQ(guest_cpuid(1, 0, host_cpuid(1, 0), g).ecx & kOsxsave, kOsxsave);
    g.cr4 = kCr4Pke;
    EXPECT_EQ(guest_cpuid(7, 0, host_cpuid(7, 0), g).ecx & (1u << 4), 1u << 4);
    // The host (the hypervisor's CR4) has neither: the guest's OSXSAVE still shows.
    CpuidValues plain = host_cpuid(1, 0);
    plain.ecx &= ~kOsxsave;
    g.cr4 = kCr4Osxsave;
    EXPECT_EQ(guest_cpuid(1, 0, plain, g).ecx & kOsxsave, kOsxsave);
    // Leaf 7 sub-leaf 1 is not touched.
    EXPECT_EQ(guest_cpuid(7, 1, {1, 2, 0x10, 4}, GuestCpuidState{}).ecx, 0x10u);
}

TEST(CpuCpuid, Leaf0dSizesFollowGuestXcr0AndXss) {
    GuestCpuidState g;
    g.host = host_cpuid;
    g.cr4 = kCr4Osxsave;
    g.xcr0 = 0x3;
    EXPECT_EQ(guest_cpuid(0xD, 0, host_cpuid(0xD, 0), g).ebx, 576u);
    g.xcr0 = 0x7;
    EXPECT_EQ(guest_cpuid(0xD, 0, host_cpuid(0xD, 0), g).ebx, 832u);
    g.xcr0 = 0xe7;
    EXPECT_EQ(guest_cpuid(0xD, 0, host_cpuid(0xD, 0), g).ebx, 2432u);
    g.xcr0 = 0x2e7;
    EXPECT_EQ(guest_cpuid(0xD, 0, host_cpuid(0xD, 0), g).ebx, 2440u);
    // ECX (the maximum) and EAX (supported) stay the host's.
    EXPECT_EQ(guest_cpuid(0xD, 0, host_cpuid(0xD, 0), g).ecx, 2696u);
    EXPECT_EQ(guest_cpuid(0xD, 0, host_cpuid(0xD, 0), g).eax, uint32_t(kSupported));
    // Sub-leaf 1 (XSAVES, compacted): XCR0 | XSS.
    g.xcr0 = 0x7;
    g.xss = 0;
    EXPECT_EQ(guest_cpuid(0xD, 1, host_cpuid(0xD, 1), g).ebx, 576u + 256u);
    g.xss = 1u << 11;
    EXPECT_EQ(guest_cpuid(0xD, 1, host_cpuid(0xD, 1), g).ebx, 576u + 256u + 16u);
}

TEST(CpuMsrTable, ListsEveryMemoryMapMsr) {
    const uint32_t virtualized[] = {0x200, 0x205, 0x20f, 0x250, 0x258, 0x259, 0x268, 0x26f, 0x2ff,
                                    0xC0010010, 0xC0010015, 0xC0010016, 0xC0010019, 0xC001001A, 0xC001001D,
                                    0xC001001F, 0xC0010058};
    for (uint32_t m : virtualized) {
        const MsrPolicy* p = msr_policy(m);
        ASSERT_NE(p, nullptr) << std::hex << m;
        EXPECT_EQ(p->rule, MsrRule::Virtualize) << std::hex << m;
    }
    for (uint32_t m : {0xC0010111u, 0xC0010112u, 0xC0010113u}) {
        ASSERT_NE(msr_policy(m), nullptr);
        EXPECT_EQ(msr_policy(m)->rule, MsrRule::ReadOnly);
    }
    for (uint32_t m : {0x277u, 0xFEu, 0x251u, 0x25Au, 0x267u, 0x270u, 0xC001001Bu, 0xC0010011u})
        EXPECT_EQ(msr_policy(m), nullptr) << std::hex << m;
}

struct FakeMsrs {
    static inline std::vector<std::pair<uint32_t, uint64_t>> writes;
    static uint64_t read(uint32_t msr) { return 0x1000000ull + msr; } // "firmware" values
    static void write(uint32_t msr, uint64_t v) { writes.emplace_back(msr, v); }
};

struct FakeXcr0 {
    static inline uint64_t value = 1;
    static inline std::vector<uint64_t> writes;
    static uint64_t read() { return value; }
    static void write(uint64_t v) {
        value = v;
        writes.push_back(v);
    }
};

class CpuExits : public ::testing::Test {
  protected:
    test::FakeGuestMemory mem{0, 1 << 20};
    IoDispatcher io;
    VirtualMsrs msrs;
    std::unique_ptr<ExitHandler> h;
    VcpuState s;
    void SetUp() override {
        h = std::make_unique<ExitHandler>(io, mem, &host_cpuid, 0x000100);
        h->set_host_msr(FakeMsrs::read, FakeMsrs::write);
        h->set_xcr0(FakeXcr0::read, FakeXcr0::write);
        h->set_virtual_msrs(&msrs);
        FakeMsrs::writes.clear();
        FakeXcr0::writes.clear();
        FakeXcr0::value = 1;
        s.cr0 = 0x80000011;
        s.cr4 = kCr4Osxsave;
        s.cs = SegmentState{0x10, 0xC9B, 0xffffffff, 0};
        s.ss = SegmentState{0x18, 0xC93, 0xffffffff, 0};
        s.rip = 0x1000;
    }
    VmExit exit(ExitReason r) {
        VmExit e;
        e.reason = r;
        e.next_rip = s.rip + 3;
        return e;
    }
    void msr(uint32_t m, bool write, uint64_t v = 0) {
        s.inject = {};
        s.reg(Gpr::Rcx) = m;
        s.reg(Gpr::Rax) = v & 0xffffffff;
        s.reg(Gpr::Rdx) = v >> 32;
        h->handle(s, exit(write ? ExitReason::MsrWrite : ExitReason::MsrRead));
    }
    uint64_t edx_eax() const { return (gpr(Gpr::Rdx) << 32) | (gpr(Gpr::Rax) & 0xffffffff); }
    uint64_t gpr(Gpr r) const { return s.gpr[static_cast<unsigned>(r)]; }
};

TEST_F(CpuExits, XsetbvLoadsExactlyTheGuestValue) {
    s.reg(Gpr::Rcx) = 0;
    s.reg(Gpr::Rax) = 0x7;
    s.reg(Gpr::Rdx) = 0;
    const uint64_t rip = s.rip;
    h->handle(s, exit(ExitReason::Xsetbv));
    EXPECT_FALSE(s.inject.valid);
    EXPECT_EQ(FakeXcr0::writes, std::vector<uint64_t>{0x7});
    EXPECT_EQ(s.rip, rip + 3);
    // Invalid value: #GP(0), XCR0 unchanged, RIP unchanged.
    s.reg(Gpr::Rax) = 0x5;
    h->handle(s, exit(ExitReason::Xsetbv));
    EXPECT_TRUE(s.inject.valid);
    EXPECT_EQ(s.inject.vector, exception_vector::gp);
    EXPECT_EQ(FakeXcr0::writes.size(), 1u);
    EXPECT_EQ(s.rip, rip + 3);
    // From user mode: #GP.
    s.inject = {};
    s.reg(Gpr::Rax) = 0x3;
    s.ss.attributes = 0xCF3; // DPL 3
    h->handle(s, exit(ExitReason::Xsetbv));
    EXPECT_EQ(s.inject.vector, exception_vector::gp);
    EXPECT_EQ(FakeXcr0::writes.size(), 1u);
}

TEST_F(CpuExits, XsetbvWithoutOsxsaveOrXsaveIsUd) {
    s.cr4 = 0;
    s.reg(Gpr::Rax) = 0x7;
    h->handle(s, exit(ExitReason::Xsetbv));
    EXPECT_EQ(s.inject.vector, exception_vector::ud);
    ExitHandler bare(io, mem, &host_cpuid, 0);
    s.cr4 = kCr4Osxsave;
    s.inject = {};
    bare.handle(s, exit(ExitReason::Xsetbv));
    EXPECT_EQ(s.inject.vector, exception_vector::ud);
    EXPECT_TRUE(FakeXcr0::writes.empty());
}

TEST_F(CpuExits, InvlpgaIsUdLikeOtherSvmInstructions) {
    const uint64_t rip = s.rip;
    h->handle(s, exit(ExitReason::VirtInstruction));
    EXPECT_TRUE(s.inject.valid);
    EXPECT_EQ(s.inject.vector, exception_vector::ud);
    EXPECT_EQ(s.rip, rip);
}

TEST_F(CpuExits, CpuidLeaf0dFollowsTheRealXcr0) {
    FakeXcr0::value = 0x7;
    s.reg(Gpr::Rax) = 0xD;
    s.reg(Gpr::Rcx) = 0;
    h->handle(s, exit(ExitReason::Cpuid));
    EXPECT_EQ(gpr(Gpr::Rbx), 832u);
    FakeXcr0::value = 0x3;
    s.reg(Gpr::Rax) = 0xD;
    s.reg(Gpr::Rcx) = 0;
    h->handle(s, exit(ExitReason::Cpuid));
    EXPECT_EQ(gpr(Gpr::Rbx), 576u);
    s.reg(Gpr::Rax) = 1;
    s.cr4 = 0;
    h->handle(s, exit(ExitReason::Cpuid));
    EXPECT_EQ(gpr(Gpr::Rcx) & kOsxsave, 0u);
}

TEST_F(CpuExits, MemoryMapMsrsAreVirtualized) {
    for (uint32_t m : {0xC001001Au, 0xC001001Du, 0xC0010010u, 0x2ffu, 0x200u, 0xC0010015u, 0xC0010016u}) {
        msr(m, false);
        EXPECT_FALSE(s.inject.valid);
        EXPECT_EQ(edx_eax(), FakeMsrs::read(m)) << std::hex << m; // firmware value
        msr(m, true, 0x1234'0000'5000ull);
        EXPECT_FALSE(s.inject.valid);
        msr(m, false);
        EXPECT_EQ(edx_eax(), 0x1234'0000'5000ull) << std::hex << m; // reads back
    }
    EXPECT_TRUE(FakeMsrs::writes.empty()); // the hardware never saw a write
    EXPECT_GT(h->virtual_msr_writes(), 0u);
    // Another vCPU sharing the copies sees the same values (Linux AP MTRR sync).
    ExitHandler other(io, mem, &host_cpuid, 0);
    other.set_host_msr(FakeMsrs::read, FakeMsrs::write);
    other.set_virtual_msrs(&msrs);
    s.reg(Gpr::Rcx) = 0x2ff;
    other.handle(s, exit(ExitReason::MsrRead));
    EXPECT_EQ(edx_eax(), 0x1234'0000'5000ull);
}

TEST_F(CpuExits, SmmRangeIsReadOnly) {
    msr(0xC0010112, false);
    EXPECT_EQ(edx_eax(), FakeMsrs::read(0xC0010112));
    msr(0xC0010113, true, 0);
    EXPECT_TRUE(s.inject.valid);
    EXPECT_EQ(s.inject.vector, exception_vector::gp);
    EXPECT_TRUE(FakeMsrs::writes.empty());
}

TEST(CryptoXcr0Switch, GivesTheGuestBackExactlyItsValue) {
    FakeXcr0::writes.clear();
    crypto::set_xcr0_access({FakeXcr0::read, FakeXcr0::write});
    for (uint64_t guest : {0x1ull, 0x3ull, 0x7ull, 0xe7ull, 0x2e3ull}) {
        FakeXcr0::value = guest;
        FakeXcr0::writes.clear();
        {
            crypto::Xcr0Switch sw(0x6);
            EXPECT_EQ(FakeXcr0::value & 0x6, 0x6u);
            EXPECT_EQ(FakeXcr0::value & ~0x6ull, guest & ~0x6ull);
            EXPECT_EQ(sw.switched(), (guest & 0x6) != 0x6);
        }
        EXPECT_EQ(FakeXcr0::value, guest);
        EXPECT_EQ(FakeXcr0::writes.size(), (guest & 0x6) == 0x6 ? 0u : 2u);
    }
    { // nothing needed (AES-NI engine: legacy SSE does not depend on XCR0)
        FakeXcr0::value = 1;
        FakeXcr0::writes.clear();
        crypto::Xcr0Switch sw(0);
        EXPECT_TRUE(FakeXcr0::writes.empty());
    }
    crypto::set_xcr0_access({});
    { // hosted build (no accessors): never switches
        crypto::Xcr0Switch sw(0x6);
        EXPECT_FALSE(sw.switched());
    }
}

} // namespace
} // namespace sv
