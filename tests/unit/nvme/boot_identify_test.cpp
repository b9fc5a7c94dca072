// Boot identify (nvme_boot_identify.*) against the simulated controller:
// the facts the mediator keeps, the controller left disabled, and a
// controller that never gets ready failing closed within its bound.
#include <gtest/gtest.h>

#include "devices/storage/nvme/nvme_boot_identify.hpp"
#include "devices/storage/nvme/nvme_registers.hpp"
#include "nvme/sim_nvme.hpp"

namespace svtest {
namespace {
using namespace sv::nvme;

constexpr uint64_t kRam = 16ull << 20, kHvBase = 0x2000000, kHvBytes = 1 << 20;

struct BootIdentifyTest : ::testing::Test {
    SimPhysMemory mem{kRam, kHvBase, kHvBytes};
    SimNvme ctrl{mem, 8, 9};
    SimDmaAllocator dma{mem};
    ControllerFacts facts;
};

TEST_F(BootIdentifyTest, ReadsControllerAndEveryNamespace) {
    ctrl.add_namespace(65536, 512);
    ctrl.add_namespace(4096, 4096);
    ctrl.mdts = 5;
    BootIdentifyResult why;
    ASSERT_TRUE(boot_identify(ctrl, dma, facts, nullptr, &why).ok()) << to_string(why.failure);
    EXPECT_EQ(facts.cap, ctrl.cap);
    EXPECT_EQ(facts.mdts, 5);
    EXPECT_EQ(facts.nn, 2u);
    EXPECT_TRUE(facts.oacs & oacs::kDoorbellBuffer); // the real value: the filter hides it
    ASSERT_EQ(facts.namespace_count, 2u);
    ASSERT_NE(facts.find(1), nullptr);
    EXPECT_EQ(facts.find(1)->lba_bytes, 512u);
    EXPECT_EQ(facts.find(1)->blocks, 65536u);
    EXPECT_TRUE(facts.find(1)->supported);
    ASSERT_NE(facts.find(2), nullptr);
    EXPECT_EQ(facts.find(2)->lba_bytes, 4096u);
    EXPECT_EQ(facts.find(2)->blocks, 4096u);
    EXPECT_TRUE(facts.find(2)->supported);
    EXPECT_EQ(facts.find(3), nullptr);
    // Left disabled for the guest's driver, and every access was to the
    // hypervisor's own DMA memory.
    EXPECT_FALSE(ctrl.ready());
    EXPECT_EQ(ctrl.read32(reg::kCc) & cc::kEn, 0u);
    EXPECT_GT(ctrl.accesses.size(), 0u);
    EXPECT_TRUE(ctrl.only_touched({{kHvBase, kHvBytes}}));
    EXPECT_GE(ctrl.opcodes_admin.size(), 4u); // controller, active list, two namespaces
}

TEST_F(BootIdentifyTest, ControllerLeftEnabledByFirmwareIsResetFirst) {
    ctrl.add_namespace(1024, 512);
    ASSERT_TRUE(boot_identify(ctrl, dma, facts).ok());
    // Enabled again (as firmware would leave it): boot identify still works.
    ctrl.write32(reg::kCc, cc::kEn);
    ASSERT_TRUE(ctrl.ready());
    ControllerFacts again;
    ASSERT_TRUE(boot_identify(ctrl, dma, again).ok());
    EXPECT_EQ(again.namespace_count, 1u);
    EXPECT_FALSE(ctrl.ready());
}

TEST_F(BootIdentifyTest, NeverReadyFailsClosedWithAClearReason) {
    ctrl.add_namespace(1024, 512);
    ctrl.never_ready = true;
    BootIdentifyResult why;
    EXPECT_FALSE(boot_identify(ctrl, dma, facts, nullptr, &why).ok());
    EXPECT_EQ(why.failure, BootFailure::NotReadyOn);
    EXPECT_STREQ(to_string(why.failure), "CSTS.RDY did not set within CAP.TO");
    EXPECT_EQ(facts.namespace_count, 0u);
    EXPECT_TRUE(ctrl.opcodes_admin.empty()); // nothing was ever submitted
    EXPECT_EQ(ctrl.read32(reg::kCc) & cc::kEn, 0u);
}

TEST_F(BootIdentifyTest, ClockBoundsTheWaitByCapTimeout) {
    ctrl.add_namespace(1024, 512);
    ctrl.never_ready = true;
    static uint64_t now = 0;
    now = 0;
    auto clock = +[]() -> uint64_t { return now += 1000; }; // 1 ms per read
    BootIdentifyResult why;
    EXPECT_FALSE(boot_identify(ctrl, dma, facts, clock, &why).ok());
    EXPECT_EQ(why.failure, BootFailure::NotReadyOn);
    // CAP.TO of the simulated controller, in ms: the wait ended shortly after it.
    const uint64_t to_us = uint64_t{cap::timeout_ms(ctrl.cap)} * 1000;
    EXPECT_GT(now, to_us);
    EXPECT_LT(now, 3 * to_us + 100000);
}

TEST_F(BootIdentifyTest, MissingControllerIsNotFound) {
    struct Absent final : sv::MmioRegisters {
        uint32_t read32(uint32_t) override { return 0xffffffffu; }
        void write32(uint32_t, uint32_t) override { ++writes; }
        unsigned writes = 0;
    } absent;
    BootIdentifyResult why;
    const sv::Result<void> r = boot_identify(absent, dma, facts, nullptr, &why);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), sv::Error::NotFound);
    EXPECT_EQ(why.failure, BootFailure::NotPresent);
    EXPECT_EQ(absent.writes, 0u);
}

TEST_F(BootIdentifyTest, NoNamespaceIsAnError) {
    BootIdentifyResult why;
    EXPECT_FALSE(boot_identify(ctrl, dma, facts, nullptr, &why).ok());
    EXPECT_EQ(why.failure, BootFailure::NoNamespaces);
    EXPECT_FALSE(ctrl.ready());
}

} // namespace
} // namespace svtest
