// Unit tests for virt/vmx/vmx_bitmaps (Intel SDM vol. 3C "I/O-Bitmap
// Addresses", "MSR-Bitmap Address") and the MSR set VMX intercepts.
#include <gtest/gtest.h>

#include <vector>

#include "core/msr_policy.hpp"
#include "virt/vmx/vmcs_fields.hpp"
#include "virt/vmx/vmx_bitmaps.hpp"
#include "virt/vmx/vmx_msrs.hpp"

namespace sv::vmx {
namespace {

TEST(VmxBitmaps, PortsLandInBitmapAOrB) {
    std::vector<uint8_t> io(io_bitmaps_size, 0);
    trap_port(io.data(), 0x1f0);
    trap_port(io.data(), 0x7fff);
    trap_port(io.data(), 0x8000);
    trap_port(io.data(), 0xffff);
    EXPECT_EQ(io[0x1f0 / 8], 1u << (0x1f0 % 8));
    EXPECT_EQ(io[0xfff], 0x80u) << "last bit of bitmap A";
    EXPECT_EQ(io[4096], 0x01u) << "first bit of bitmap B is port 8000h";
    EXPECT_EQ(io[8191], 0x80u);
    EXPECT_TRUE(port_trapped(io.data(), 0x1f0));
    EXPECT_FALSE(port_trapped(io.data(), 0x1f1));
    size_t set = 0;
    for (uint8_t b : io) set += static_cast<size_t>(__builtin_popcount(b));
    EXPECT_EQ(set, 4u);
}

TEST(VmxBitmaps, MsrReadAndWriteBits) {
    std::vector<uint8_t> m(msr_bitmap_size, 0);
    ASSERT_TRUE(trap_msr(m.data(), 0x1b)); // IA32_APIC_BASE
    EXPECT_EQ(m[0x1b / 8], 1u << (0x1b % 8));
    EXPECT_EQ(m[2048 + 0x1b / 8], 1u << (0x1b % 8));
    ASSERT_TRUE(trap_msr(m.data(), 0xC0000080)); // EFER
    EXPECT_EQ(m[1024 + 0x80 / 8], 1u << 0);
    EXPECT_EQ(m[3072 + 0x80 / 8], 1u << 0);
    ASSERT_TRUE(trap_msr(m.data(), 0x1fff));
    EXPECT_EQ(m[1023], 0x80u);
    EXPECT_EQ(m[3071], 0x80u);
    EXPECT_TRUE(msr_trapped(m.data(), 0x1b, false));
    EXPECT_TRUE(msr_trapped(m.data(), 0xC0000080, true));
    EXPECT_FALSE(msr_trapped(m.data(), 0xC0000081, true));
    EXPECT_FALSE(msr_trapped(m.data(), 0x10, false));
}

TEST(VmxBitmaps, MsrsOutsideTheRangesAlwaysExit) {
    std::vector<uint8_t> m(msr_bitmap_size, 0);
    EXPECT_FALSE(trap_msr(m.data(), 0x2000));
    EXPECT_FALSE(trap_msr(m.data(), 0xC0010114)); // AMD VM_CR: not in VMX's ranges
    for (uint8_t b : m) EXPECT_EQ(b, 0u);
    EXPECT_TRUE(msr_trapped(m.data(), 0x2000, false));
    EXPECT_TRUE(msr_trapped(m.data(), 0xC0002000, true));
}

TEST(VmxBitmaps, EveryInterceptedMsrIsInTheBitmapOrAlwaysExits) {
    std::vector<uint8_t> m(msr_bitmap_size, 0);
    size_t in_bitmap = 0;
    for (const MsrRange& r : neutral_msr_intercepts())
        for (uint32_t i = r.first; i <= r.last; ++i) in_bitmap += trap_msr(m.data(), i);
    for (uint32_t i : own_msr_intercepts()) in_bitmap += trap_msr(m.data(), i);
    EXPECT_GT(in_bitmap, 0u);
    for (const MsrRange& r : neutral_msr_intercepts())
        for (uint32_t i = r.first; i <= r.last; ++i) {
            EXPECT_TRUE(msr_trapped(m.data(), i, false)) << std::hex << i;
            EXPECT_TRUE(msr_trapped(m.data(), i, true)) << std::hex << i;
        }
    for (uint32_t i : own_msr_intercepts()) EXPECT_TRUE(msr_trapped(m.data(), i, true)) << std::hex << i;
}

TEST(VmxMsrs, FeatureControlReadsLockedWithVmxOff) {
    const VendorMsrPolicy& p = vendor_msr_policy();
    uint64_t v = 0xdead;
    ASSERT_EQ(p.access(msr::feature_control, false, 0, v), VendorMsrOutcome::Done);
    EXPECT_EQ(v, feature_control::lock);
    EXPECT_FALSE(v & (feature_control::vmx_inside_smx | feature_control::vmx_outside_smx));
    EXPECT_EQ(p.access(msr::feature_control, true, feature_control::lock | feature_control::vmx_outside_smx, v),
              VendorMsrOutcome::Fault);
}

TEST(VmxMsrs, CapabilityMsrsFaultAndOthersAreNotVmxs) {
    const VendorMsrPolicy& p = vendor_msr_policy();
    uint64_t v = 0;
    for (uint32_t i = msr::first_vmx_capability; i <= msr::last_vmx_capability; ++i) {
        EXPECT_EQ(p.access(i, false, 0, v), VendorMsrOutcome::Fault) << std::hex << i;
        EXPECT_EQ(p.access(i, true, 0, v), VendorMsrOutcome::Fault) << std::hex << i;
    }
    EXPECT_EQ(p.access(0x492, false, 0, v), VendorMsrOutcome::NotVendors);
    EXPECT_EQ(p.access(0xC0010114, false, 0, v), VendorMsrOutcome::NotVendors);
    EXPECT_EQ(p.efer_hidden, 0u);
    EXPECT_EQ(own_msr_intercepts().size(), 19u);
}

} // namespace
} // namespace sv::vmx
