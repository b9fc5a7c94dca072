// The AMD IOMMU's own PCI function refuses every guest config write (its
// capability block holds the register base and enable; AMD IOMMU
// Specification 48882 §3.2), through the one ConfigMediator write path.
#include <gtest/gtest.h>

#include "devices/iommu/amdvi/function_guard.hpp"

namespace sv::amdvi {
namespace {

TEST(AmdviFunctionGuard, RefusesWritesToTheIommuFunctionOnly) {
    FunctionGuard g;
    ASSERT_TRUE(g.add({0, 2, 0}));
    pci::ConfigWrite base_low{{0, 2, 0}, 0x44, 4, 0xFEE00001};
    pci::ConfigWrite command{{0, 2, 0}, 0x04, 2, 0};
    pci::ConfigWrite other{{0, 2, 1}, 0x04, 2, 0x0006};
    pci::ConfigWrite nic{{0, 3, 0}, 0x04, 2, 0x0006};
    EXPECT_FALSE(g.filter(base_low));
    EXPECT_FALSE(g.filter(command));
    EXPECT_TRUE(g.filter(other));
    EXPECT_TRUE(g.filter(nic));
    EXPECT_EQ(g.refused(), 2u);
    EXPECT_EQ(nic.value, 0x0006u) << "other functions' writes pass unchanged";
}

TEST(AmdviFunctionGuard, Bounded) {
    FunctionGuard g;
    for (size_t i = 0; i < FunctionGuard::max_functions; ++i)
        EXPECT_TRUE(g.add({0, static_cast<uint8_t>(i), 0}));
    EXPECT_FALSE(g.add({1, 0, 0}));
    EXPECT_TRUE(g.guards({0, 7, 0}));
    EXPECT_FALSE(g.guards({1, 0, 0}));
}

} // namespace
} // namespace sv::amdvi
