// Unit tests for virt/vmx/vmx_cr: CR0/CR4 guest/host masks, read shadows and
// the emulation of MOV-to-CR exits (Intel SDM vol. 3C "Guest/Host Masks and
// Read Shadows for CR0 and CR4", vol. 3D §A.7-§A.8, vol. 2B MOV CR).
#include <gtest/gtest.h>

#include "virt/vmx/vmx_cr.hpp"
#include "vmx/vmx_caps_fixture.hpp"

namespace sv::vmx {
namespace {

TEST(VmxCr, MasksOwnTheFixedBitsAndVmxe) {
    const VmxCapabilities c = test::skylake_like();
    const uint64_t cr0 = cr_guest_host_mask(guest_cr0_fixed(c, true));
    EXPECT_TRUE(cr0 & cr0_bit::ne);
    EXPECT_FALSE(cr0 & cr0_bit::pe) << "unrestricted guest owns PE";
    EXPECT_FALSE(cr0 & cr0_bit::pg);
    const uint64_t cr4 = cr_guest_host_mask(guest_cr4_fixed(c), cr4_bit::vmxe);
    EXPECT_TRUE(cr4 & cr4_bit::vmxe);
    EXPECT_TRUE(cr4 & (1ull << 22)) << "bits VMX forbids are owned";
    EXPECT_FALSE(cr4 & (1ull << 5)) << "PAE is the guest's";
    EXPECT_EQ(cr4 >> 32, 0u);
}

TEST(VmxCr, RealModeStartKeepsTheGuestsValueInTheShadow) {
    const VmxCapabilities c = test::skylake_like();
    const CrRegister r = cr_for_guest_value(guest_cr0_fixed(c, true), 0x60000010ull);
    EXPECT_EQ(r.shadow, 0x60000010ull);
    EXPECT_EQ(r.real, 0x60000030ull); // NE forced for the CPU
    const CrRegister r4 = cr_for_guest_value(guest_cr4_fixed(c), 0);
    EXPECT_EQ(r4.shadow, 0u);
    EXPECT_EQ(r4.real, cr4_bit::vmxe);
}

TEST(VmxCr, Cr0Writes) {
    const FixedBits f = guest_cr0_fixed(test::skylake_like(), true);
    Result<CrRegister> r = guest_write_cr0(f, 0x80050033ull); // Linux: PG WP AM NE ET MP PE
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value().real, 0x80050033ull);
    EXPECT_EQ(r.value().shadow, 0x80050033ull);
    r = guest_write_cr0(f, 0x11); // protected mode, NE clear: the guest reads NE 0
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value().real, 0x31u);
    EXPECT_EQ(r.value().shadow, 0x11u);
    EXPECT_EQ(guest_write_cr0(f, 1ull << 32).error(), Error::InvalidArgument);
    EXPECT_EQ(guest_write_cr0(f, cr0_bit::pg).error(), Error::InvalidArgument) << "PG without PE";
    EXPECT_EQ(guest_write_cr0(f, cr0_bit::nw | cr0_bit::pe).error(), Error::InvalidArgument) << "NW without CD";
    EXPECT_TRUE(guest_write_cr0(f, cr0_bit::nw | cr0_bit::cd).ok());
}

TEST(VmxCr, Cr0WriteOfABitVmxForbidsFaults) {
    VmxCapabilities c = test::skylake_like();
    c.cr0_fixed1 = 0xe005003full; // bits VMX does not allow (reserved) set to 0
    const FixedBits f = guest_cr0_fixed(c, true);
    EXPECT_FALSE(guest_write_cr0(f, 0x80050033ull | (1u << 8)).ok());
    EXPECT_TRUE(guest_write_cr0(f, 0x80050033ull).ok());
}

TEST(VmxCr, Cr4Writes) {
    const FixedBits f = guest_cr4_fixed(test::skylake_like());
    Result<CrRegister> r = guest_write_cr4(f, 0x3606f0ull & 0x003767ffull);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value().shadow, 0x3606f0ull & 0x003767ffull);
    EXPECT_EQ(r.value().real, (0x3606f0ull & 0x003767ffull) | cr4_bit::vmxe);
    EXPECT_EQ(guest_write_cr4(f, cr4_bit::vmxe).error(), Error::InvalidArgument) << "VMX is hidden";
    EXPECT_EQ(guest_write_cr4(f, 1ull << 22).error(), Error::InvalidArgument);
    EXPECT_EQ(guest_write_cr4(f, 1ull << 40).error(), Error::InvalidArgument);
}

} // namespace
} // namespace sv::vmx
