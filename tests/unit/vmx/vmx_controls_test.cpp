// Unit tests for virt/vmx/vmx_controls: control values from the capability
// MSRs' allowed-0/allowed-1 settings, TRUE_* selection, EPT/VPID needs and
// the CR0/CR4 fixed bits (Intel SDM vol. 3D Appendix A).
#include <gtest/gtest.h>

#include "virt/vmx/vmcs_fields.hpp"
#include "virt/vmx/vmx_controls.hpp"
#include "vmx/vmx_caps_fixture.hpp"

namespace sv::vmx {
namespace {

ControlCapability cap(uint32_t must_be_one, uint32_t may_be_one) { return ControlCapability{must_be_one, may_be_one}; }

TEST(VmxControls, CapabilityFromMsrSplitsAllowed0AndAllowed1) {
    const ControlCapability c = ControlCapability::from_msr(0x0000007f00000016ull);
    EXPECT_EQ(c.must_be_one, 0x16u);
    EXPECT_EQ(c.may_be_one, 0x7fu);
    EXPECT_TRUE(c.allows(0x48));
    EXPECT_FALSE(c.allows(0x80));
}

TEST(VmxControls, AdjustSetsMustBeOneAndClearsMustBeZero) {
    Result<uint32_t> v = adjust_controls(cap(0x16, 0x7f), 0x08, 0x100 | 0x20);
    ASSERT_TRUE(v.ok());
    // 0x16 forced, 0x08 required, 0x20 wanted and allowed, 0x100 not allowed.
    EXPECT_EQ(v.value(), 0x16u | 0x08u | 0x20u);
}

TEST(VmxControls, AdjustFailsWhenARequiredBitIsNotAllowed) {
    Result<uint32_t> v = adjust_controls(cap(0x16, 0x7f), 0x80);
    ASSERT_FALSE(v.ok());
    EXPECT_EQ(v.error(), Error::Unsupported);
}

TEST(VmxControls, AdjustFailsWhenAForbiddenInterceptIsForced) {
    Result<uint32_t> v = adjust_controls(cap(0x18000, 0xffffffff), 0, 0, 0x8000);
    ASSERT_FALSE(v.ok());
    EXPECT_EQ(v.error(), Error::Unsupported);
    // A forbidden bit that is merely allowed stays clear even if wanted.
    Result<uint32_t> w = adjust_controls(cap(0, 0xffffffff), 0, 0x8000 | 0x4, 0x8000);
    ASSERT_TRUE(w.ok());
    EXPECT_EQ(w.value(), 0x4u);
}

TEST(VmxControls, AdjustRejectsAnInconsistentCapability) {
    // Bit 3 must be one but may not be one: no value satisfies both.
    Result<uint32_t> v = adjust_controls(cap(0x8, 0x7), 0);
    ASSERT_FALSE(v.ok());
    EXPECT_EQ(v.error(), Error::Malformed);
}

TEST(VmxControls, BasicFields) {
    const VmxCapabilities c = test::skylake_like();
    EXPECT_TRUE(c.has_true_controls());
    EXPECT_EQ(c.revision_id(), 4u);
    EXPECT_EQ(c.region_size(), 0x400u);
}

TEST(VmxControls, TrueMsrsAreUsedOnlyWhenBasicBit55IsSet) {
    VmxCapabilities c = test::skylake_like();
    EXPECT_EQ(proc_capability(c).must_be_one, 0x04006172u);
    EXPECT_EQ(exit_capability(c).must_be_one, 0x00036dfbu);
    EXPECT_EQ(entry_capability(c).must_be_one, 0x000011fbu);
    c.basic &= ~basic::true_controls;
    EXPECT_EQ(proc_capability(c).must_be_one, 0x0401e172u);
    EXPECT_EQ(exit_capability(c).must_be_one, 0x00036dffu);
    EXPECT_EQ(entry_capability(c).must_be_one, 0x000011ffu);
    EXPECT_EQ(pin_capability(c).must_be_one, 0x16u);
}

TEST(VmxControls, SecondaryControlsNeedTheActivateBit) {
    VmxCapabilities c = test::skylake_like();
    EXPECT_EQ(proc2_capability(c).may_be_one, 0x0057dfffu);
    c.true_procbased &= ~(static_cast<uint64_t>(proc::activate_secondary) << 32);
    EXPECT_EQ(proc2_capability(c).may_be_one, 0u);
    EXPECT_EQ(proc2_capability(c).must_be_one, 0u);
    Result<VmcsControls> v = compute_controls(c);
    ASSERT_FALSE(v.ok());
    EXPECT_EQ(v.error(), Error::Unsupported);
}

TEST(VmxControls, ComputeForASkylakeLikeCpu) {
    Result<VmcsControls> r = compute_controls(test::skylake_like());
    ASSERT_TRUE(r.ok());
    const VmcsControls& v = r.value();
    EXPECT_EQ(v.pin, 0x16u | pin::nmi_exiting | pin::virtual_nmis);
    EXPECT_FALSE(v.pin & pin::external_interrupt_exiting);
    EXPECT_TRUE(v.proc & proc::use_io_bitmaps);
    EXPECT_TRUE(v.proc & proc::use_msr_bitmaps);
    EXPECT_TRUE(v.proc & proc::activate_secondary);
    EXPECT_FALSE(v.proc & (proc::cr3_load_exiting | proc::cr3_store_exiting | proc::hlt_exiting |
                           proc::unconditional_io_exiting | proc::rdtsc_exiting));
    EXPECT_EQ(v.proc & 0x04006172u, 0x04006172u) << "every must-be-one bit is set";
    EXPECT_EQ(v.proc2 & (proc2::enable_ept | proc2::enable_vpid | proc2::unrestricted_guest),
              proc2::enable_ept | proc2::enable_vpid | proc2::unrestricted_guest);
    EXPECT_TRUE(v.proc2 & proc2::enable_rdtscp);
    EXPECT_TRUE(v.proc2 & proc2::enable_xsaves);
    EXPECT_FALSE(v.proc2 & (proc2::wbinvd_exiting | proc2::descriptor_table_exiting));
    EXPECT_TRUE(v.exit & exit_ctl::host_address_space_size);
    EXPECT_TRUE(v.exit & exit_ctl::load_efer);
    EXPECT_TRUE(v.exit & exit_ctl::save_efer);
    EXPECT_TRUE(v.exit & exit_ctl::load_pat);
    EXPECT_FALSE(v.exit & exit_ctl::ack_interrupt_on_exit);
    EXPECT_EQ(v.exit & 0x00036dfbu, 0x00036dfbu);
    EXPECT_TRUE(v.entry & entry_ctl::load_efer);
    EXPECT_FALSE(v.entry & entry_ctl::ia32e_mode_guest) << "set per entry from EFER.LMA";
    EXPECT_FALSE(v.entry & entry_ctl::entry_to_smm);
    EXPECT_EQ(v.entry & 0x000011fbu, 0x000011fbu);
}

TEST(VmxControls, LegacyMsrsThatForceCr3ExitingAreRefused) {
    VmxCapabilities c = test::skylake_like();
    c.basic &= ~basic::true_controls;
    Result<VmcsControls> v = compute_controls(c);
    ASSERT_FALSE(v.ok());
    EXPECT_EQ(v.error(), Error::Unsupported);
}

TEST(VmxControls, NoUnrestrictedGuestIsRefused) {
    VmxCapabilities c = test::skylake_like();
    c.procbased2 &= ~(static_cast<uint64_t>(proc2::unrestricted_guest) << 32);
    EXPECT_FALSE(compute_controls(c).ok());
}

TEST(VmxControls, NoEptOrNoVpidIsRefused) {
    for (uint32_t bit : {proc2::enable_ept, proc2::enable_vpid}) {
        VmxCapabilities c = test::skylake_like();
        c.procbased2 &= ~(static_cast<uint64_t>(bit) << 32);
        EXPECT_FALSE(compute_controls(c).ok()) << bit;
    }
}

TEST(VmxControls, NoLoadEferOrNo64BitHostIsRefused) {
    VmxCapabilities c = test::skylake_like();
    c.true_entry &= ~(static_cast<uint64_t>(entry_ctl::load_efer) << 32);
    EXPECT_FALSE(compute_controls(c).ok());
    c = test::skylake_like();
    c.true_exit &= ~(static_cast<uint64_t>(exit_ctl::host_address_space_size) << 32);
    EXPECT_FALSE(compute_controls(c).ok());
}

TEST(VmxControls, WantedControlsAreDroppedWhereNotAllowed) {
    VmxCapabilities c = test::skylake_like();
    c.procbased2 &= ~(static_cast<uint64_t>(proc2::enable_xsaves | proc2::enable_invpcid) << 32);
    c.true_exit &= ~(static_cast<uint64_t>(exit_ctl::load_pat | exit_ctl::save_pat) << 32);
    c.true_pinbased &= ~(static_cast<uint64_t>(pin::virtual_nmis) << 32);
    Result<VmcsControls> r = compute_controls(c);
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r.value().proc2 & (proc2::enable_xsaves | proc2::enable_invpcid));
    EXPECT_TRUE(r.value().proc2 & proc2::enable_rdtscp);
    EXPECT_FALSE(r.value().exit & (exit_ctl::load_pat | exit_ctl::save_pat));
    EXPECT_FALSE(r.value().pin & pin::virtual_nmis);
    EXPECT_TRUE(r.value().pin & pin::nmi_exiting);
}

TEST(VmxControls, EptVpidCapability) {
    VmxCapabilities c = test::skylake_like();
    EXPECT_TRUE(check_ept_vpid(c).ok());
    for (uint64_t bit : {ept_cap::walk_length_4, ept_cap::memtype_wb, ept_cap::pde_2mb, ept_cap::invept,
                         ept_cap::invvpid}) {
        VmxCapabilities d = c;
        d.ept_vpid_cap &= ~bit;
        EXPECT_FALSE(check_ept_vpid(d).ok()) << std::hex << bit;
    }
    VmxCapabilities d = c;
    d.ept_vpid_cap &= ~(ept_cap::invept_single | ept_cap::invept_all);
    EXPECT_FALSE(check_ept_vpid(d).ok());
    d = c;
    d.ept_vpid_cap &= ~ept_cap::invept_single; // all-context alone is enough
    EXPECT_TRUE(check_ept_vpid(d).ok());
    d = c;
    d.ept_vpid_cap &= ~(ept_cap::invvpid_single | ept_cap::invvpid_all);
    EXPECT_FALSE(check_ept_vpid(d).ok());
}

TEST(VmxControls, HostCrFixedBits) {
    const VmxCapabilities c = test::skylake_like();
    const FixedBits cr0 = host_cr0_fixed(c);
    EXPECT_EQ(cr0.must_be_one, 0x80000021ull);
    EXPECT_EQ(cr0.apply(0x80000011ull), 0x80000031ull); // NE added
    EXPECT_FALSE(cr0.satisfied_by(0x80000011ull));
    EXPECT_TRUE(cr0.satisfied_by(0x80000031ull));
    const FixedBits cr4 = host_cr4_fixed(c);
    EXPECT_EQ(cr4.apply(0x20), 0x2020ull);
    EXPECT_EQ(cr4.apply(0x00400000ull | 0x20), 0x2020ull) << "bit 22 is fixed to 0 here";
    EXPECT_TRUE(cr4.must_be_zero & (1ull << 22));
}

TEST(VmxControls, UnrestrictedGuestRelaxesPeAndPgOnly) {
    const VmxCapabilities c = test::skylake_like();
    const FixedBits restricted = guest_cr0_fixed(c, false);
    const FixedBits ug = guest_cr0_fixed(c, true);
    EXPECT_EQ(restricted.must_be_one, 0x80000021ull);
    EXPECT_EQ(ug.must_be_one, cr0_bit::ne);
    // Real mode at INIT: CR0 = 60000010h (SDM vol. 3A Table 9-1) plus NE.
    EXPECT_EQ(ug.apply(0x60000010ull), 0x60000030ull);
    EXPECT_TRUE(ug.satisfied_by(0x60000030ull));
    EXPECT_FALSE(restricted.satisfied_by(0x60000030ull));
    EXPECT_EQ(guest_cr4_fixed(c).must_be_one, cr4_bit::vmxe);
}

} // namespace
} // namespace sv::vmx
