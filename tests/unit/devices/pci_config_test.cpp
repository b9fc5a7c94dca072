// PCI configuration mechanism #1 interception: the hypervisor's own config
// reads are invisible to the guest (the CONFIG_ADDRESS latch is restored),
// guest writes reach the device and notify the watcher of that function, and
// IDE channel ports follow ProgIf and the BARs.
#include <gtest/gtest.h>

#include <map>
#include <vector>

#include "devices/pci/pci_config.hpp"
#include "devices/storage/ide/ide_pci_function.hpp"

namespace sv::pci {
namespace {

// Config space of a few functions behind ports 0xCF8/0xCFC.
struct FakePciBus final : PortIo {
    uint32_t address = 0;
    std::map<uint32_t, uint32_t> dwords; // key: address with offset, enable bit set
    uint32_t in(uint16_t port, uint8_t size) override {
        if (port == 0xCF8) return address;
        const uint32_t dw = dwords.count(address & ~3u) ? dwords[address & ~3u] : 0xFFFFFFFF;
        const unsigned shift = 8 * (port - 0xCFC);
        const uint32_t mask = size == 4 ? 0xFFFFFFFF : (1u << (8 * size)) - 1;
        return (dw >> shift) & mask;
    }
    void out(uint16_t port, uint8_t size, uint32_t value) override {
        if (port == 0xCF8) {
            address = value;
            return;
        }
        const unsigned shift = 8 * (port - 0xCFC);
        const uint32_t mask = (size == 4 ? 0xFFFFFFFF : (1u << (8 * size)) - 1) << shift;
        uint32_t& dw = dwords[address & ~3u];
        dw = (dw & ~mask) | ((value << shift) & mask);
    }
    static uint32_t at(Address a, uint8_t offset) {
        return 0x80000000u | a.bus << 16 | a.device << 11 | a.function << 8 | offset;
    }
};

struct RecordingWatcher final : ConfigWatcher {
    std::vector<std::pair<Address, uint16_t>> seen;
    void config_written(Address a, uint16_t offset, uint8_t) override { seen.emplace_back(a, offset); }
};

constexpr Address ide{0, 1, 1};

TEST(PciConfig, OwnReadsRestoreTheGuestsLatch) {
    FakePciBus bus;
    bus.dwords[FakePciBus::at(ide, 0)] = 0x70108086;
    ConfigSpace config(bus);
    bus.address = 0x80000810; // the guest's last CONFIG_ADDRESS
    EXPECT_EQ(config.read32(ide, 0), 0x70108086u);
    EXPECT_EQ(config.read16(ide, 2), 0x7010u);
    EXPECT_EQ(bus.address, 0x80000810u);
}

TEST(PciConfig, GuestWritesPassThroughAndNotifyOnlyTheWatchedFunction) {
    FakePciBus bus;
    ConfigMediator mediator(bus);
    RecordingWatcher w;
    ASSERT_TRUE(mediator.watch(ide, w));
    mediator.io_out(0xCF8, 4, FakePciBus::at(ide, 0x20));
    mediator.io_out(0xCFC, 4, 0xC041);
    mediator.io_out(0xCF8, 4, FakePciBus::at(ide, 0x08));
    mediator.io_out(0xCFD, 1, 0x8F); // ProgIf byte at offset 0x09
    mediator.io_out(0xCF8, 4, FakePciBus::at(Address{0, 2, 0}, 0x10));
    mediator.io_out(0xCFC, 4, 0xFEB00000);
    EXPECT_EQ(bus.dwords[FakePciBus::at(ide, 0x20)], 0xC041u);
    ASSERT_EQ(w.seen.size(), 2u);
    EXPECT_EQ(w.seen[0].second, 0x20);
    EXPECT_EQ(w.seen[1].second, 0x09);
    EXPECT_EQ(mediator.io_in(0xCF8, 4), FakePciBus::at(Address{0, 2, 0}, 0x10));
}

TEST(PciConfig, WritesWithTheEnableBitClearNotifyNobody) {
    FakePciBus bus;
    ConfigMediator mediator(bus);
    RecordingWatcher w;
    ASSERT_TRUE(mediator.watch(ide, w));
    mediator.io_out(0xCF8, 4, FakePciBus::at(ide, 0x20) & ~0x80000000u);
    mediator.io_out(0xCFC, 4, 0x1234);
    EXPECT_TRUE(w.seen.empty());
}

TEST(PciConfig, BlockedFunctionNeverGetsBusMasterEnable) {
    FakePciBus bus;
    constexpr Address ahci{0, 3, 0};
    bus.dwords[FakePciBus::at(ahci, 0x04)] = 0x00100007; // firmware left BME on
    ConfigMediator mediator(bus);
    bus.address = 0x80000000;
    ASSERT_TRUE(mediator.block_bus_mastering(ahci));
    EXPECT_EQ(bus.dwords[FakePciBus::at(ahci, 0x04)], 0x00100003u);
    EXPECT_EQ(bus.address, 0x80000000u); // guest latch restored
    mediator.io_out(0xCF8, 4, FakePciBus::at(ahci, 0x04));
    mediator.io_out(0xCFC, 4, 0x00000407); // dword write with BME
    EXPECT_EQ(bus.dwords[FakePciBus::at(ahci, 0x04)] & 0xFFFF, 0x0403u);
    mediator.io_out(0xCFC, 1, 0x06);       // byte write of the command register
    EXPECT_EQ(bus.dwords[FakePciBus::at(ahci, 0x04)] & 0xFF, 0x02u);
    mediator.io_out(0xCF8, 4, FakePciBus::at(ahci, 0x00));
    mediator.io_out(0xCFC, 4, 0xFFFFFFFF); // offset 0 write does not touch offset 4
    mediator.io_out(0xCF8, 4, FakePciBus::at(ide, 0x04));
    mediator.io_out(0xCFC, 2, 0x0005);     // other functions unaffected
    EXPECT_EQ(bus.dwords[FakePciBus::at(ide, 0x04)] & 0xFFFF, 0x0005u);
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
