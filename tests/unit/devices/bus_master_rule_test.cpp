// Default-deny Bus Master Enable with a key (issue 7, class 6): the allow
// list parser, the decision per function, and the rule over both config
// mechanisms, every size and offset that covers the command register.
#include <gtest/gtest.h>

#include <cstring>

#include "core/mmio_dispatch.hpp"
#include "devices/fake_chipset.hpp"
#include "devices/pci/bus_master_rule.hpp"
#include "devices/pci/config_decode.hpp"
#include "devices/pci/dma_allow_list.hpp"
#include "devices/pci/ecam.hpp"

namespace sv::pci {
namespace {
using test::FakeChipset;

bool parse(DmaAllowList& l, const char* s) { return l.parse(s, std::strlen(s)); }

TEST(DmaAllowList, ParsesVendorDeviceAndAddresses) {
    DmaAllowList l;
    ASSERT_TRUE(parse(l, "8086:100e,00:03.0"));
    ASSERT_TRUE(parse(l, "1AF4:1000,1f:1F.7"));
    ASSERT_EQ(l.size(), 4u);
    EXPECT_TRUE(l.allows(Address{0, 9, 0}, 0x8086, 0x100E));
    EXPECT_TRUE(l.allows(Address{0, 3, 0}, 0x1234, 0x5678));
    EXPECT_TRUE(l.allows(Address{0x1F, 0x1F, 7}, 0, 0));
    EXPECT_TRUE(l.allows(Address{2, 0, 0}, 0x1AF4, 0x1000));
    EXPECT_FALSE(l.allows(Address{0, 3, 1}, 0x8086, 0x100F));
}

TEST(DmaAllowList, MalformedValuesFailClosedAndAddNothing) {
    for (const char* bad : {"", ",", "8086:100e,", "8086-100e", "8086:100", "808:1000e", "00:03", "00:20.0",
                            "00:03.8", "0:03.0", "zz:03.0", "8086:100g", "00:03.0,nope", "8086:100e 00:03.0"}) {
        DmaAllowList l;
        EXPECT_FALSE(parse(l, bad)) << bad;
        EXPECT_EQ(l.size(), 0u) << bad;
    }
    DmaAllowList full;
    for (int i = 0; i < 16; ++i) ASSERT_TRUE(parse(full, "8086:100e"));
    EXPECT_FALSE(parse(full, "8086:100e"));
}

constexpr Address ide{0, 1, 1};
constexpr Address ahci{0, 31, 2};
constexpr Address nic{0, 3, 0};
constexpr Address bridge{0, 28, 0};
constexpr Address behind{1, 0, 0};

struct Machine {
    FakeChipset chipset;
    ConfigSpace config{chipset};
    ConfigMediator mediator{chipset};
    BusMasterRule rule{config};
    DmaAllowList allow;
    Machine() {
        chipset.add(ide, 0x8086, 0x7010);
        chipset.add(ahci, 0x8086, 0x2922);
        chipset.add(nic, 0x8086, 0x100E);
        chipset.add(bridge, 0x1B36, 0x000C, header_type_bridge)[0x19] = 1; // secondary bus 1
        chipset.get(bridge, 0, 1);
        chipset.put(bridge, 0x18, 4, 0x00010100); // primary 0, secondary 1, subordinate 1
        chipset.add(behind, 0x1AF4, 0x1041);
        EXPECT_TRUE(rule.add_mediated(ide));
        rule.set_allow_list(&allow);
        rule.set_enforcing(true);
        EXPECT_TRUE(mediator.add_rule(rule));
    }
    void port_write(Address a, uint16_t offset, uint8_t size, uint32_t value) {
        mediator.io_out(0xCF8, 4, FakeChipset::at(a, static_cast<uint8_t>(offset & 0xFC)));
        mediator.io_out(static_cast<uint16_t>(0xCFC + (offset & 3)), size, value);
    }
};

TEST(BusMasterRule, Decisions) {
    Machine m;
    ASSERT_TRUE(parse(m.allow, "01:00.0"));
    EXPECT_EQ(m.rule.decide(m.rule.identify(ide)), MasterDecision::Mediated);
    EXPECT_EQ(m.rule.decide(m.rule.identify(ahci)), MasterDecision::Blocked);
    EXPECT_EQ(m.rule.decide(m.rule.identify(nic)), MasterDecision::Blocked);
    EXPECT_EQ(m.rule.decide(m.rule.identify(bridge)), MasterDecision::Bridge);
    EXPECT_EQ(m.rule.decide(m.rule.identify(behind)), MasterDecision::Allowed);
}

TEST(BusMasterRule, EveryPortSizeAndLaneCoveringTheCommandRegister) {
    Machine m;
    // (offset, size, value with BME in the command byte)
    const struct { uint16_t offset; uint8_t size; uint32_t value; } writes[] = {
        {4, 4, 0x00000407}, {4, 2, 0x0007}, {4, 1, 0x07},
    };
    for (Address target : {ahci, nic}) {
        for (const auto& w : writes) {
            m.port_write(target, w.offset, w.size, w.value);
            EXPECT_EQ(m.chipset.command(target) & command_bus_master, 0) << int(w.size);
            EXPECT_EQ(m.chipset.command(target) & 3, 3) << "other command bits pass";
        }
        m.port_write(target, 5, 1, 0x04); // offset 5 (command high byte) does not carry BME
        EXPECT_EQ(m.chipset.get(target, 5, 1), 0x04u);
        m.port_write(target, 0, 4, 0xFFFFFFFF); // offset 0 does not reach offset 4
    }
    m.port_write(ide, 4, 2, 0x0005); // the mediated function keeps its BME
    EXPECT_EQ(m.chipset.command(ide), 0x0005);
    EXPECT_GT(m.rule.stats().bme_cleared, 0u);
}

TEST(BusMasterRule, EcamWritesMeetTheSameRule) {
    Machine m;
    MmioDispatcher mmio;
    struct AnyPlace final : EcamPlacement {
        bool placement_ok(uint64_t, uint64_t) override { return true; }
    } anywhere;
    EcamMediator ecam(m.mediator, m.config, mmio, m.chipset, anywhere);
    ASSERT_TRUE(ecam.trap_fixed(m.chipset.ecam_base, 256ull << 20).ok());
    for (Address target : {ahci, nic, behind}) {
        for (uint8_t size : {1, 2, 4}) {
            ecam.mmio_write(m.chipset.ecam_base + ecam_offset(target, 4), size, 0x00000407);
            EXPECT_EQ(m.chipset.command(target) & command_bus_master, 0);
            EXPECT_EQ(m.chipset.command(target) & 3, 3);
        }
        // An 8-byte write at offset 0 and a misaligned dword are not config accesses.
        ecam.mmio_write(m.chipset.ecam_base + ecam_offset(target, 0), 8, 0x0000040700000000ull);
        ecam.mmio_write(m.chipset.ecam_base + ecam_offset(target, 2), 4, 0x04070000);
        EXPECT_EQ(m.chipset.command(target) & command_bus_master, 0);
    }
    EXPECT_EQ(ecam.stats().refused, 6u);
    ecam.mmio_write(m.chipset.ecam_base + ecam_offset(ide, 4), 2, 0x0005);
    EXPECT_EQ(m.chipset.command(ide), 0x0005);
    ASSERT_TRUE(parse(m.allow, "8086:100e"));
    ecam.mmio_write(m.chipset.ecam_base + ecam_offset(nic, 4), 2, 0x0007);
    EXPECT_EQ(m.chipset.command(nic), 0x0007); // allowed by vendor:device
}

TEST(BusMasterRule, BridgesKeepBmeButTheirBusNumbersArePinned) {
    Machine m;
    m.port_write(bridge, 4, 2, 0x0007);
    EXPECT_EQ(m.chipset.command(bridge), 0x0007);
    m.port_write(bridge, 0x18, 4, 0x40020200); // renumber to 2..2, latency timer 0x40
    EXPECT_EQ(m.chipset.get(bridge, 0x18, 4), 0x40010100u); // bus numbers kept, timer written
    m.port_write(bridge, 0x19, 1, 0x05);
    m.port_write(bridge, 0x1A, 2, 0x0009);
    EXPECT_EQ(m.chipset.get(bridge, 0x18, 3), 0x010100u);
    EXPECT_GT(m.rule.stats().bus_numbers_pinned, 0u);
}

TEST(BusMasterRule, BootClearsBmeOfBlockedFunctionsOnly) {
    Machine m;
    for (Address a : {ide, ahci, nic, bridge, behind}) m.chipset.put(a, 4, 2, 0x0007);
    ASSERT_TRUE(parse(m.allow, "01:00.0"));
    for (Address a : {ide, ahci, nic, bridge, behind}) m.rule.apply_at_boot(m.rule.identify(a));
    EXPECT_EQ(m.chipset.command(ide), 0x0007);
    EXPECT_EQ(m.chipset.command(ahci), 0x0003);
    EXPECT_EQ(m.chipset.command(nic), 0x0003);
    EXPECT_EQ(m.chipset.command(bridge), 0x0007);
    EXPECT_EQ(m.chipset.command(behind), 0x0007);
    EXPECT_EQ(m.rule.stats().cleared_at_boot, 2u);
}

TEST(BusMasterRule, WithoutAKeyNothingChanges) {
    Machine m;
    m.rule.set_enforcing(false);
    m.port_write(nic, 4, 2, 0x0007);
    m.port_write(bridge, 0x19, 1, 0x05);
    EXPECT_EQ(m.chipset.command(nic), 0x0007);
    EXPECT_EQ(m.chipset.get(bridge, 0x19, 1), 0x05u);
}

} // namespace
} // namespace sv::pci
