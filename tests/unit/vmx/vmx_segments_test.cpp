// Unit tests for virt/vmx/vmx_segments: VMCS access rights <-> the packed
// attribute form of VcpuState (Intel SDM vol. 3C "Guest Register State").
#include <gtest/gtest.h>

#include "virt/vmx/vmx_segments.hpp"

namespace sv::vmx {
namespace {

TEST(VmxSegments, PackedAndVmxFormsRoundTrip) {
    // 64-bit code: P S type B, L, G -> packed 0xA9B, VMX 0xA09B.
    EXPECT_EQ(to_vmx_access_rights(0xA9B), 0xA09Bu);
    EXPECT_EQ(from_vmx_access_rights(0xA09B), 0xA9Bu);
    // 32-bit flat data: G, D/B.
    EXPECT_EQ(to_vmx_access_rights(0xC93), 0xC093u);
    for (uint16_t p : {0x09B, 0xC9B, 0x08B, 0x082, 0xA93}) EXPECT_EQ(from_vmx_access_rights(to_vmx_access_rights(p)), p);
}

TEST(VmxSegments, UnusableSegmentReadsAsNullAttributes) {
    EXPECT_EQ(from_vmx_access_rights(access_rights_unusable | 0x93), 0u);
}

} // namespace
} // namespace sv::vmx
