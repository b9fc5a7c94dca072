// Unit tests for core/cpuid_policy: what the guest sees from CPUID.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>

#include "core/cpuid_policy.hpp"

namespace sv {
namespace {

// Host answers from an AMD EPYC-like CPU (values as QEMU -cpu EPYC reports).
constexpr CpuidValues host_leaf1 = {0x00800f12, 0x00020800, 0x7ed8320b, 0x178bfbff};
constexpr CpuidValues host_ext1 = {0x00800f12, 0x40000000, 0x0040f3ff, 0x2fd3fbff};
constexpr CpuidValues host_svm = {0x00000001, 0x00000010, 0x00000000, 0x0001b6ff};

TEST(CoreCpuidPolicy, SignatureLeaf) {
    const CpuidValues v = guest_cpuid(0x40000000, 0, {0x11, 0x22, 0x33, 0x44});
    EXPECT_EQ(v.eax, hypervisor_leaf_max);
    char sig[12];
    std::memcpy(sig, &v.ebx, 4);
    std::memcpy(sig + 4, &v.ecx, 4);
    std::memcpy(sig + 8, &v.edx, 4);
    EXPECT_EQ(std::memcmp(sig, "ShadowVisor\0", 12), 0);
    EXPECT_EQ(v.ebx, 0x64616853u); // "Shad"
    EXPECT_EQ(v.ecx, 0x6956776fu); // "owVi"
    EXPECT_EQ(v.edx, 0x00726f73u); // "sor\0"
}

TEST(CoreCpuidPolicy, Leaf1SetsHypervisorBitAndHidesVmx) {
    CpuidValues host = host_leaf1;
    host.ecx |= 1u << 5; // an Intel host with VMX
    const CpuidValues v = guest_cpuid(1, 0, host);
    EXPECT_NE(v.ecx & (1u << 31), 0u);
    EXPECT_EQ(v.ecx & (1u << 5), 0u);
    // OSXSAVE (bit 27) follows the guest CR4 (here 0): see the OSXSAVE tests.
    constexpr uint32_t mine = (1u << 31) | (1u << 27) | (1u << 5);
    EXPECT_EQ(v.ecx & ~mine, host.ecx & ~mine);
    EXPECT_EQ(v.eax, host.eax);
    EXPECT_EQ(v.ebx, host.ebx);
    EXPECT_EQ(v.edx, host.edx);
}

TEST(CoreCpuidPolicy, ExtendedLeafHidesSvm) {
    ASSERT_NE(host_ext1.ecx & (1u << 2), 0u);
    const CpuidValues v = guest_cpuid(0x80000001, 0, host_ext1);
    EXPECT_EQ(v.ecx, host_ext1.ecx & ~(1u << 2));
    EXPECT_EQ(v.eax, host_ext1.eax);
    EXPECT_EQ(v.ebx, host_ext1.ebx);
    EXPECT_EQ(v.edx, host_ext1.edx);
}

TEST(CoreCpuidPolicy, SvmFeatureLeafIsZeroed) {
    const CpuidValues v = guest_cpuid(0x8000000A, 0, host_svm);
    EXPECT_EQ(v.eax, 0u);
    EXPECT_EQ(v.ebx, 0u);
    EXPECT_EQ(v.ecx, 0u);
    EXPECT_EQ(v.edx, 0u);
}

TEST(CoreCpuidPolicy, OtherHypervisorLeavesAreZero) {
    for (uint32_t leaf : {0x40000001u, 0x40000002u, 0x40000010u, 0x40000100u, 0x4000ffffu, 0x4fffffffu}) {
        const CpuidValues v = guest_cpuid(leaf, 0, {0x4b4d564b, 0x564b4d56, 0x4d, 0x1});
        EXPECT_EQ(v.eax, 0u) << std::hex << leaf;
        EXPECT_EQ(v.ebx, 0u) << std::hex << leaf;
        EXPECT_EQ(v.ecx, 0u) << std::hex << leaf;
        EXPECT_EQ(v.edx, 0u) << std::hex << leaf;
    }
}

TEST(CoreCpuidPolicy, OtherLeavesPassThrough) {
    const CpuidValues host = {0x12345678, 0x9abcdef0, 0x0fedcba9, 0x87654321};
    for (uint32_t leaf : {0x0u, 0x7u, 0xdu, 0x3fffffffu, 0x50000000u, 0x80000000u, 0x80000008u,
                          0x80000009u, 0x8000000Bu, 0x8000001Fu}) {
        for (uint32_t subleaf : {0u, 1u}) {
            const CpuidValues v = guest_cpuid(leaf, subleaf, host);
            EXPECT_EQ(v.eax, host.eax) << std::hex << leaf;
            EXPECT_EQ(v.ebx, host.ebx) << std::hex << leaf;
            EXPECT_EQ(v.ecx, host.ecx) << std::hex << leaf;
            EXPECT_EQ(v.edx, host.edx) << std::hex << leaf;
        }
    }
}

} // namespace
} // namespace sv
