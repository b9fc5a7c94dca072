// Unit tests for platform/backend_select: the backend follows the CPU's
// vendor string and feature bits.
#include <gtest/gtest.h>

#include "platform/backend_select.hpp"

namespace sv {
namespace {

struct FakeCpu {
    static inline uint32_t vendor_ebx, vendor_edx, vendor_ecx;
    static inline bool svm, vmx;
    static CpuidValues cpuid(uint32_t leaf, uint32_t) {
        switch (leaf) {
        case 0: return {0xD, vendor_ebx, vendor_ecx, vendor_edx};
        case 1: return {0x00800f12, 0, vmx ? (1u << 5) : 0u, 0};
        case 0x80000000: return {0x8000001F, 0, 0, 0};
        case 0x80000001: return {0, 0, svm ? (1u << 2) : 0u, 0};
        default: return {0, 0, 0, 0};
        }
    }
    static void set(const char (&vendor)[13], bool has_svm, bool has_vmx) {
        auto word = [&](int i) {
            return uint32_t(uint8_t(vendor[i])) | uint32_t(uint8_t(vendor[i + 1])) << 8 |
                   uint32_t(uint8_t(vendor[i + 2])) << 16 | uint32_t(uint8_t(vendor[i + 3])) << 24;
        };
        vendor_ebx = word(0);
        vendor_edx = word(4);
        vendor_ecx = word(8);
        svm = has_svm;
        vmx = has_vmx;
    }
};

BackendChoice choose(const char (&vendor)[13], bool svm, bool vmx) {
    FakeCpu::set(vendor, svm, vmx);
    return choose_backend(FakeCpu::cpuid);
}

TEST(PlatformBackendSelect, AmdWithSvmGetsSvm) {
    const BackendChoice c = choose("AuthenticAMD", true, false);
    EXPECT_EQ(c.vendor, CpuVendor::Amd);
    EXPECT_EQ(c.kind, BackendKind::Svm);
    EXPECT_EQ(choose("HygonGenuine", true, false).vendor, CpuVendor::Amd);
    EXPECT_EQ(choose("HygonGenuine", true, false).kind, BackendKind::Svm);
}

TEST(PlatformBackendSelect, IntelWithVmxGetsVmxEvenIfSvmIsReported) {
    const BackendChoice c = choose("GenuineIntel", true, true);
    EXPECT_EQ(c.vendor, CpuVendor::Intel);
    EXPECT_EQ(c.kind, BackendKind::Vmx);
    EXPECT_EQ(choose("AuthenticAMD", true, true).kind, BackendKind::Svm); // each vendor its own first
}

TEST(PlatformBackendSelect, TheOtherExtensionWhenTheVendorsOwnIsMissing) {
    // An emulator may report either extension under any vendor string.
    EXPECT_EQ(choose("GenuineIntel", true, false).kind, BackendKind::Svm);
    EXPECT_EQ(choose("AuthenticAMD", false, true).kind, BackendKind::Vmx);
    EXPECT_EQ(choose("SomeOtherCPU", true, false).vendor, CpuVendor::Other);
    EXPECT_EQ(choose("SomeOtherCPU", true, false).kind, BackendKind::Svm);
}

TEST(PlatformBackendSelect, NoExtensionMeansNoBackend) {
    EXPECT_EQ(choose("AuthenticAMD", false, false).kind, BackendKind::None);
    EXPECT_EQ(choose("GenuineIntel", false, false).kind, BackendKind::None);
    EXPECT_EQ(choose("SomeOtherCPU", false, false).kind, BackendKind::None);
}

TEST(PlatformBackendSelect, LeavesTheCpuDoesNotHaveAreNotTrusted) {
    // Max extended leaf below 8000_0001h: whatever that leaf returns is not SVM.
    FakeCpu::set("AuthenticAMD", true, false);
    EXPECT_EQ(choose_backend([](uint32_t leaf, uint32_t sub) {
                  return leaf == 0x80000000 ? CpuidValues{0x80000000, 0, 0, 0} : FakeCpu::cpuid(leaf, sub);
              }).kind,
              BackendKind::None);
}

} // namespace
} // namespace sv
