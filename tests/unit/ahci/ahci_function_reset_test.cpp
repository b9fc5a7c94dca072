// The AHCI mediator after a reset of its PCI function (FLR, D3hot -> D0;
// devices/pci/function_reset.hpp, AHCI README "Resets"):
// AhciController::function_reset() drops every in-flight command with
// nothing copied (as GHC.HR), returns the shadow chunks, touches no register
// while the function resets, re-points the real PxCLB/PxFB (0 after the
// reset) at the shadows at the guest's next access, and the driver's
// re-initialisation then works, encrypted.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "ahci/ahci_controller_rig.hpp"
#include "devices/storage/ahci/ahci_registers.hpp"

namespace svtest {
namespace {
using namespace sv::ahci;

struct AhciFunctionReset : AhciMediatorRig {
    void SetUp() override {
        AhciMediatorRig::SetUp();
        build();
        boot_linux();
    }
    uint32_t vreg(unsigned p, uint32_t r) { return static_cast<uint32_t>(ctl->read(port_base(p) + r, 4)); }
};

TEST_F(AhciFunctionReset, FlrMidCommandDropsItCopiesNothingAndReinitIsEncrypted) {
    hba.hold_commands = true;
    const auto plain = pattern(32 * 512, 7);
    put(kBuf, plain);
    drv.rw(kDisk, 0, true, 900, 32, kBuf); // a write in the HBA
    std::memset(ram(kBuf + 0x100000), 0xee, 16 * 512);
    drv.rw(kDisk2, 0, false, 10, 16, kBuf + 0x100000); // a read in the HBA
    ASSERT_LT(pool.free_chunks(), pool.total_chunks());
    const uint64_t dropped = ctl->stats().dropped_in_flight;
    const uint64_t hba_accesses = hba.accesses.size();
    // The function resets (the binding forwarded the FLR with Bus Master
    // Enable off), then tells the controller.
    hba.function_reset();
    const uint64_t reads_before = hba.accesses.size();
    ctl->function_reset();
    EXPECT_EQ(hba.accesses.size(), reads_before);
    EXPECT_EQ(ctl->stats().function_resets, 1u);
    EXPECT_EQ(ctl->stats().dropped_in_flight, dropped + 2);
    // Held until the ports are seen stopped, at the next access.
    EXPECT_LT(pool.free_chunks(), pool.total_chunks());
    hba.hold_commands = false;
    hba.complete_held(kDisk); // the HBA forgot them
    hba.complete_held(kDisk2);
    EXPECT_EQ(hba.accesses.size(), hba_accesses);
    EXPECT_TRUE(std::all_of(ram(kBuf + 0x100000), ram(kBuf + 0x100000) + 16 * 512, [](uint8_t b) { return b == 0xee; }));
    EXPECT_EQ(platter(kDisk, 900, plain.size()), std::vector<uint8_t>(plain.size(), 0));
    // The guest's registers read their reset values; the first access re-points the real ones.
    EXPECT_EQ(vreg(kDisk, preg::kClb), 0u);
    EXPECT_EQ(pool.free_chunks(), pool.total_chunks()) << "shadow chunks not returned";
    EXPECT_EQ(vreg(kDisk, preg::kCi), 0u);
    EXPECT_EQ(real(kDisk, preg::kClb), static_cast<uint32_t>(ctl->port(kDisk)->shadow_list_phys()));
    EXPECT_EQ(real(kDisk2, preg::kFb), static_cast<uint32_t>(ctl->port(kDisk2)->shadow_fis_phys()));
    // libahci after the reset: the whole init again, then I/O.
    ASSERT_TRUE(drv.init_controller());
    ASSERT_TRUE(drv.start_port(kDisk));
    const auto again = pattern(8 * 512, 8);
    put(kBuf, again);
    drv.rw(kDisk, 0, true, 1200, 8, kBuf);
    const AhciCompletion c = drv.interrupt(kDisk);
    ASSERT_FALSE(c.error);
    ASSERT_EQ(c.completed, 1u);
    EXPECT_EQ(platter(kDisk, 1200, again.size()), oracle_xts(key, again.data(), again.size(), 1200, true));
    std::memset(ram(kBuf), 0, again.size());
    drv.rw(kDisk, 0, false, 1200, 8, kBuf);
    ASSERT_FALSE(drv.interrupt(kDisk).error);
    EXPECT_EQ(get(kBuf, again.size()), again);
    EXPECT_TRUE(hba_only_touched_shadows());
}

TEST_F(AhciFunctionReset, StartingAPortRightAfterTheResetStillUsesTheShadows) {
    hba.function_reset();
    ctl->function_reset();
    // A hostile guest skips the HBA init: its PxCLB/PxFB writes and ST come first.
    ASSERT_TRUE(drv.start_port(kDisk));
    EXPECT_EQ(real(kDisk, preg::kClb), static_cast<uint32_t>(ctl->port(kDisk)->shadow_list_phys()));
    const auto plain = pattern(512, 3);
    put(kBuf, plain);
    drv.rw(kDisk, 0, true, 5, 1, kBuf);
    ASSERT_FALSE(drv.interrupt(kDisk).error);
    EXPECT_EQ(platter(kDisk, 5, 512), oracle_xts(key, plain.data(), 512, 5, true));
    EXPECT_TRUE(hba_only_touched_shadows());
}

TEST_F(AhciFunctionReset, AnHbaThatDidNotReallyResetIsStoppedBeforeItsShadowsAreReused) {
    hba.hold_commands = true;
    std::memset(ram(kBuf), 0xee, 8 * 512);
    drv.rw(kDisk, 0, false, 40, 8, kBuf);
    // The reset write was forwarded but the function ignored it (a device
    // advertising NoSoftReset 0 that keeps its state): its port still runs.
    ctl->function_reset();
    EXPECT_NE(real(kDisk, preg::kCmd) & pcmd::kSt, 0u);
    EXPECT_LT(pool.free_chunks(), pool.total_chunks());
    (void)vreg(kDisk, preg::kCmd); // the guest's next access
    EXPECT_EQ(real(kDisk, preg::kCmd) & (pcmd::kSt | pcmd::kCr), 0u) << "the port was not stopped";
    EXPECT_EQ(pool.free_chunks(), pool.total_chunks());
    hba.hold_commands = false;
    hba.complete_held(kDisk);
    EXPECT_TRUE(std::all_of(ram(kBuf), ram(kBuf) + 8 * 512, [](uint8_t b) { return b == 0xee; }));
    EXPECT_EQ(real(kDisk, preg::kClb), static_cast<uint32_t>(ctl->port(kDisk)->shadow_list_phys()));
    ASSERT_TRUE(drv.init_controller());
    ASSERT_TRUE(drv.start_port(kDisk));
    const auto plain = pattern(512, 4);
    put(kBuf, plain);
    drv.rw(kDisk, 0, true, 6, 1, kBuf);
    ASSERT_FALSE(drv.interrupt(kDisk).error);
    EXPECT_EQ(platter(kDisk, 6, 512), oracle_xts(key, plain.data(), 512, 6, true));
    EXPECT_TRUE(hba_only_touched_shadows());
}

} // namespace
} // namespace svtest
