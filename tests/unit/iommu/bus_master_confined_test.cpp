// The Bus Master rule with an IOMMU confining some functions (issue 12): a
// confined function keeps Bus Master Enable with a key loaded, one the
// IOMMU does not confine still loses it; bridges' bus numbers stay pinned.
#include <gtest/gtest.h>

#include "devices/fake_chipset.hpp"
#include "devices/pci/bus_master_rule.hpp"
#include "devices/pci/config_decode.hpp"

namespace sv::pci {
namespace {
using test::FakeChipset;

constexpr Address nic{0, 2, 0}, usb{0, 0x1D, 0}, bridge{0, 0x1C, 0};

struct OnlyTheNic final : DmaConfinement {
    bool confines(Address a) const override { return a == nic; }
};

struct Machine {
    FakeChipset chipset;
    ConfigSpace config{chipset};
    ConfigMediator mediator{chipset};
    BusMasterRule rule{config};
    OnlyTheNic iommu;
    Machine() {
        chipset.add(nic, 0x8086, 0x100E);
        chipset.add(usb, 0x8086, 0x293A);
        chipset.add(bridge, 0x1B36, 0x000C, header_type_bridge);
        chipset.put(bridge, 0x18, 4, 0x00010100);
        rule.set_enforcing(true);
        EXPECT_TRUE(mediator.add_rule(rule));
    }
    void port_write(Address a, uint16_t offset, uint8_t size, uint32_t value) {
        mediator.io_out(0xCF8, 4, FakeChipset::at(a, static_cast<uint8_t>(offset & 0xFC)));
        mediator.io_out(static_cast<uint16_t>(0xCFC + (offset & 3)), size, value);
    }
};

TEST(BusMasterRuleWithIommu, ConfinedFunctionsKeepBusMastering) {
    Machine m;
    EXPECT_EQ(m.rule.decide(m.rule.identify(nic)), MasterDecision::Blocked); // no IOMMU yet
    m.rule.set_confinement(&m.iommu);
    EXPECT_EQ(m.rule.decide(m.rule.identify(nic)), MasterDecision::Confined);
    EXPECT_EQ(m.rule.decide(m.rule.identify(usb)), MasterDecision::Blocked);
    m.port_write(nic, 4, 2, 0x0006);
    EXPECT_EQ(m.chipset.command(nic), 0x0006);
    m.port_write(usb, 4, 2, 0x0006);
    EXPECT_EQ(m.chipset.command(usb), 0x0002);
    EXPECT_EQ(m.rule.stats().bme_cleared, 1u);
    // Bus numbers stay pinned: a renumbered bus would change requester IDs.
    m.port_write(bridge, 0x18, 4, 0x00050500);
    EXPECT_EQ(m.chipset.get(bridge, 0x18, 4), 0x00010100u);
    EXPECT_STREQ(to_string(MasterDecision::Confined), "confined by the IOMMU");
}

} // namespace
} // namespace sv::pci
