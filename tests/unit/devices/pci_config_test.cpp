// PCI configuration mechanism #1 interception: the hypervisor's own config
// reads are invisible to the guest (the CONFIG_ADDRESS latch is restored),
// guest writes reach the device through the one filter/notify path, every
// byte lane and size decodes to the right offset, and what the chipset
// decodes uncertainly is refused. IDE channel ports follow ProgIf and BARs.
#include <gtest/gtest.h>

#include <vector>

#include "devices/pci/pci_config.hpp"
#include "devices/storage/ide/ide_pci_function.hpp"
#include "devices/fake_chipset.hpp"

namespace sv::pci {
namespace {
using test::FakeChipset;

struct RecordingWatcher final : ConfigWatcher {
    std::vector<ConfigWrite> seen;
    void config_written(const ConfigWrite& w) override { seen.push_back(w); }
};

constexpr Address ide{0, 1, 1};

TEST(PciConfig, OwnReadsRestoreTheGuestsLatch) {
    FakeChipset bus;
    bus.add(ide, 0x8086, 0x7010);
    ConfigSpace config(bus);
    bus.latch = 0x80000810; // the guest's last CONFIG_ADDRESS
    EXPECT_EQ(config.read32(ide, 0), 0x70108086u);
    EXPECT_EQ(config.read16(ide, 2), 0x7010u);
    config.write16(ide, 4, 0x0005);
    EXPECT_EQ(bus.command(ide), 0x0005);
    EXPECT_EQ(bus.latch, 0x80000810u);
}

TEST(PciConfig, GuestWritesPassThroughAndNotifyOnlyTheWatchedFunction) {
    FakeChipset bus;
    bus.add(ide, 0x8086, 0x7010);
    bus.add(Address{0, 2, 0}, 0x1234, 0x1111);
    ConfigMediator mediator(bus);
    RecordingWatcher w;
    ASSERT_TRUE(mediator.watch(ide, w));
    mediator.io_out(0xCF8, 4, FakeChipset::at(ide, 0x20));
    mediator.io_out(0xCFC, 4, 0xC041);
    mediator.io_out(0xCF8, 4, FakeChipset::at(ide, 0x08));
    mediator.io_out(0xCFD, 1, 0x8F); // ProgIf byte at offset 0x09
    mediator.io_out(0xCF8, 4, FakeChipset::at(Address{0, 2, 0}, 0x10));
    mediator.io_out(0xCFC, 4, 0xFEB00000);
    EXPECT_EQ(bus.get(ide, 0x20, 4), 0xC041u);
    EXPECT_EQ(bus.get(ide, 0x09, 1), 0x8Fu);
    ASSERT_EQ(w.seen.size(), 2u);
    EXPECT_EQ(w.seen[0].offset, 0x20);
    EXPECT_EQ(w.seen[0].size, 4);
    EXPECT_EQ(w.seen[1].offset, 0x09);
    EXPECT_EQ(w.seen[1].size, 1);
    EXPECT_EQ(mediator.io_in(0xCF8, 4), FakeChipset::at(Address{0, 2, 0}, 0x10));
}

TEST(PciConfig, EveryLaneAndSizeReachesTheRightOffset) {
    FakeChipset bus;
    bus.add(ide, 0x8086, 0x7010);
    ConfigMediator mediator(bus);
    RecordingWatcher w;
    ASSERT_TRUE(mediator.watch(ide, w));
    for (uint8_t size : {1, 2, 4}) {
        for (uint16_t lane = 0; lane < 4; lane = static_cast<uint16_t>(lane + size)) {
            w.seen.clear();
            mediator.io_out(0xCF8, 4, FakeChipset::at(ide, 0x40));
            mediator.io_out(static_cast<uint16_t>(0xCFC + lane), size, 0xA1B2C3D4u);
            ASSERT_EQ(w.seen.size(), 1u) << int(size) << " " << lane;
            EXPECT_EQ(w.seen[0].offset, 0x40 + lane);
            EXPECT_EQ(w.seen[0].size, size);
            const uint32_t mask = size == 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1;
            EXPECT_EQ(w.seen[0].value, 0xA1B2C3D4u & mask);
            EXPECT_EQ(bus.get(ide, static_cast<uint16_t>(0x40 + lane), size), 0xA1B2C3D4u & mask);
        }
    }
}

TEST(PciConfig, UncertainDecodesAreRefused) {
    FakeChipset bus;
    bus.add(ide, 0x8086, 0x7010);
    ConfigMediator mediator(bus);
    RecordingWatcher w;
    ASSERT_TRUE(mediator.watch(ide, w));
    mediator.io_out(0xCF8, 4, FakeChipset::at(ide, 0x04));
    mediator.io_out(0xCFD, 2, 0x0505);     // misaligned word
    mediator.io_out(0xCFE, 4, 0x05050505); // runs past 0xCFF
    mediator.io_out(0xCFB, 2, 0x0500);     // starts in CONFIG_ADDRESS, ends on 0xCFC
    mediator.io_out(0xCF9 + 1, 4, 0x05050505); // 0xCFA-0xCFD
    mediator.io_out(0xCF8, 4, FakeChipset::at(ide, 0x04) | 0x01000000u); // reserved bits 30-24
    mediator.io_out(0xCFC, 2, 0x0005);
    mediator.io_out(0xCF8, 4, FakeChipset::at(ide, 0x04) | 0x1u); // reserved bits 1-0
    mediator.io_out(0xCFC, 2, 0x0005);
    EXPECT_EQ(bus.command(ide), 0u);
    EXPECT_TRUE(w.seen.empty());
    EXPECT_EQ(mediator.stats().refused, 6u);
    // A byte write inside CONFIG_ADDRESS goes to the hardware, which ignores it.
    mediator.io_out(0xCF8, 4, FakeChipset::at(ide, 0x04));
    mediator.io_out(0xCFB, 1, 0x00);
    EXPECT_EQ(bus.latch, FakeChipset::at(ide, 0x04));
}

TEST(PciConfig, WritesWithTheEnableBitClearNotifyNobody) {
    FakeChipset bus;
    bus.add(ide, 0x8086, 0x7010);
    ConfigMediator mediator(bus);
    RecordingWatcher w;
    ASSERT_TRUE(mediator.watch(ide, w));
    mediator.io_out(0xCF8, 4, FakeChipset::at(ide, 0x20) & ~0x80000000u);
    mediator.io_out(0xCFC, 4, 0x1234);
    EXPECT_TRUE(w.seen.empty());
    EXPECT_EQ(bus.get(ide, 0x20, 4), 0u);
}

struct RefuseOffset final : ConfigRule {
    uint16_t offset;
    explicit RefuseOffset(uint16_t o) : offset(o) {}
    bool filter(ConfigWrite& w) override { return !w.covers(offset); }
};

TEST(PciConfig, ARuleRefusalKeepsTheOldValueAndNotifiesNobody) {
    FakeChipset bus;
    bus.add(ide, 0x8086, 0x7010);
    ConfigMediator mediator(bus);
    RefuseOffset rule(0x21);
    RecordingWatcher w;
    ASSERT_TRUE(mediator.add_rule(rule));
    ASSERT_TRUE(mediator.watch(ide, w));
    mediator.io_out(0xCF8, 4, FakeChipset::at(ide, 0x20));
    mediator.io_out(0xCFC, 4, 0xC041);
    mediator.io_out(0xCFC, 1, 0x41);
    EXPECT_EQ(bus.get(ide, 0x20, 4), 0x41u);
    ASSERT_EQ(w.seen.size(), 1u);
    EXPECT_EQ(w.seen[0].size, 1);
}

TEST(IdeChannelPorts, CompatibilityAndNativeModes) {
    const uint16_t bars[5] = {0xD000, 0xD100, 0xD200, 0xD300, 0xC040};
    auto p0 = ide::channel_ports(0x80, bars, 0); // compatibility: legacy ports
    EXPECT_EQ(p0.command_base, 0x1F0);
    EXPECT_EQ(p0.control, 0x3F6);
    EXPECT_EQ(p0.bus_master_base, 0xC040);
    auto p1 = ide::channel_ports(0x80, bars, 1);
    EXPECT_EQ(p1.command_base, 0x170);
    EXPECT_EQ(p1.control, 0x376);
    EXPECT_EQ(p1.bus_master_base, 0xC048);
    auto n1 = ide::channel_ports(0x85, bars, 1); // secondary native (ProgIf bit 2)
    EXPECT_EQ(n1.command_base, 0xD200);
    EXPECT_EQ(n1.control, 0xD302);
    const uint16_t no_bm[5] = {0, 0, 0, 0, 0};
    EXPECT_EQ(ide::channel_ports(0x80, no_bm, 0).bus_master_base, 0); // unassigned BAR4
}

} // namespace
} // namespace sv::pci
