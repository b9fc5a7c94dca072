// Unit tests for the MSR intercept lists and SVM permission maps: core's vendor-neutral list
// (core/msr_policy.hpp) and SVM's own (virt/svm/svm_msrs.hpp), which the SVM
// backend puts into its permission map.
#include <gtest/gtest.h>

#include <cstdint>

#include "core/msr_policy.hpp"
#include "virt/svm/permission_maps.hpp"
#include "virt/svm/svm_msrs.hpp"
#include "virt/svm/vmcb.hpp"

namespace sv {
namespace {

bool in(std::span<const MsrRange> ranges, uint32_t msr) {
    for (const MsrRange& r : ranges)
        if (msr >= r.first && msr <= r.last) return true;
    return false;
}

TEST(MsrIntercepts, NeutralListHasApicBaseEferAndEveryPolicyMsr) {
    const std::span<const MsrRange> neutral = neutral_msr_intercepts();
    EXPECT_TRUE(in(neutral, 0x1B));
    EXPECT_TRUE(in(neutral, 0xC0000080));
    ASSERT_GT(msr_policy_count(), 0u);
    for (size_t i = 0; i < msr_policy_count(); ++i) {
        EXPECT_TRUE(in(neutral, msr_policy_at(i).first)) << std::hex << msr_policy_at(i).first;
        EXPECT_TRUE(in(neutral, msr_policy_at(i).last)) << std::hex << msr_policy_at(i).last;
    }
    // SVM's own MSRs are the vendor's business, not core's.
    EXPECT_FALSE(in(neutral, svm::msr::vm_cr));
    EXPECT_FALSE(in(neutral, svm::msr::vm_hsave_pa));
    // Nor does core intercept MSRs it has no rule for (PAT: G_PAT covers it).
    EXPECT_FALSE(in(neutral, 0x277));
}

TEST(MsrIntercepts, SvmAddsVmCrAndVmHsavePa) {
    const std::span<const uint32_t> own = svm::own_msr_intercepts();
    ASSERT_EQ(own.size(), 2u);
    EXPECT_EQ(own[0], svm::msr::vm_cr);
    EXPECT_EQ(own[1], svm::msr::vm_hsave_pa);
}

TEST(SvmMsrPolicy, HidesSvmeAndAnswersAsSvmDisabledByFirmware) {
    const VendorMsrPolicy& p = svm::vendor_msr_policy();
    EXPECT_EQ(p.efer_hidden, svm::efer_svme);
    EXPECT_EQ(p.efer_writable, (1ull << 13) | (1ull << 14) | (1ull << 15)); // LMSLE, FFXSR, TCE
    ASSERT_NE(p.access, nullptr);
    uint64_t v = 0;
    EXPECT_EQ(p.access(svm::msr::vm_cr, false, 0, v), VendorMsrOutcome::Done);
    EXPECT_EQ(v, svm::vm_cr_lock | svm::vm_cr_svmdis);
    EXPECT_EQ(p.access(svm::msr::vm_cr, true, 0, v), VendorMsrOutcome::Fault);
    EXPECT_EQ(p.access(svm::msr::vm_hsave_pa, false, 0, v), VendorMsrOutcome::Fault);
    EXPECT_EQ(p.access(svm::msr::vm_hsave_pa, true, 0x1000, v), VendorMsrOutcome::Fault);
    EXPECT_EQ(p.access(0xC0010115, false, 0, v), VendorMsrOutcome::NotVendors); // IGNNE: not intercepted
}

} // namespace
} // namespace sv

namespace sv::svm {
namespace {

// AMD APM vol. 2 §15.11: MSR n of a range sits at bits 2n (read) and 2n+1
// (write) of that range's 2 KiB.
TEST(SvmPermissionMaps, MsrBitsLandInTheirRange) {
    uint8_t map[msrpm_size] = {};
    ASSERT_TRUE(trap_msr(map, 0x1B)); // APIC_BASE: bits 54, 55 of range 0
    EXPECT_EQ(map[6], 0xC0);
    ASSERT_TRUE(trap_msr(map, 0xC0000080)); // EFER: bits 256, 257 of range 1 (0x800)
    EXPECT_EQ(map[0x800 + 32], 0x03);
    ASSERT_TRUE(trap_msr(map, msr::vm_cr)); // C001_0114h: bits 552, 553 of range 2 (0x1000)
    EXPECT_EQ(map[0x1000 + 69], 0x03);
    ASSERT_TRUE(trap_msr(map, 0xC0011FFF)); // last MSR of range 2: the map's last two bits
    EXPECT_EQ(map[0x17FF], 0xC0);
    size_t set = 0;
    for (uint8_t b : map) set += static_cast<size_t>(__builtin_popcount(b));
    EXPECT_EQ(set, 8u); // nothing else
}

TEST(SvmPermissionMaps, MsrOutsideTheRangesIsRefusedAndTheMapUntouched) {
    uint8_t map[msrpm_size] = {};
    for (uint32_t msr : {0x2000u, 0x40000000u, 0xC0002000u, 0xC000FFFFu, 0xC0012000u, 0xFFFFFFFFu})
        EXPECT_FALSE(trap_msr(map, msr)) << std::hex << msr;
    for (uint8_t b : map) ASSERT_EQ(b, 0);
}

TEST(SvmPermissionMaps, EveryInterceptedMsrFitsTheMap) {
    uint8_t map[msrpm_size] = {};
    for (const MsrRange& r : neutral_msr_intercepts())
        for (uint32_t msr = r.first; msr <= r.last; ++msr) EXPECT_TRUE(trap_msr(map, msr)) << std::hex << msr;
    for (uint32_t msr : own_msr_intercepts()) EXPECT_TRUE(trap_msr(map, msr)) << std::hex << msr;
}

TEST(SvmPermissionMaps, PortBitIsPortNumber) {
    uint8_t map[iopm_size] = {};
    trap_port(map, 0x1F7); // the ATA Command register
    EXPECT_EQ(map[0x1F7 / 8], 1u << 7);
    trap_port(map, 0xFFFF);
    EXPECT_EQ(map[0x1FFF], 0x80);
    trap_port(map, 0);
    EXPECT_EQ(map[0], 0x01);
}

} // namespace
} // namespace sv::svm
