// Unit tests for the MSR intercept lists: core's vendor-neutral one
// (core/msr_policy.hpp) and SVM's own (virt/svm/svm_msrs.hpp), which the SVM
// backend puts into its permission map.
#include <gtest/gtest.h>

#include <cstdint>

#include "core/msr_policy.hpp"
#include "virt/svm/svm_msrs.hpp"

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
