// devices/pci/function_reset: which config writes reset a function (FLR
// through the PCI Express or Advanced Features capability, PCIe Base 4.0
// §6.6.2 / PCI AF ECN) or change its power state (PCI PM 1.2 §5.4, §7.3),
// found from the capabilities in the real config space, whatever byte lane
// or size carries the write; Bus Master Enable off before a resetting write
// reaches the function, back when a later rule drops the write.
#include <gtest/gtest.h>

#include <vector>

#include "devices/fake_chipset.hpp"
#include "devices/pci/function_reset.hpp"

namespace sv::pci {
namespace {

using test::FakeChipset;

constexpr Address fn{0, 3, 0};
constexpr uint8_t pm_at = 0x50, pcie_at = 0x60, af_at = 0x90;
constexpr uint16_t bme = 1u << 2, mse = 1u << 1;

struct Function {
    FakeChipset chipset;
    ConfigSpace config{chipset};
    FunctionResetWatch watch;
    // Capabilities: PM at 50h (D1 only), PCIe at 60h, AF at 90h.
    Function(bool pcie_flr, bool af_flr, bool no_soft_reset) {
        std::vector<uint8_t>& c = chipset.add(fn, 0x8086, 0x1234);
        c[0x06] = 1u << 4;
        c[0x34] = pm_at;
        c[pm_at] = cap_id::power_management;
        c[pm_at + 1] = pcie_at;
        c[pm_at + 2] = 0x03;
        c[pm_at + 3] = pm::pmc_d1 >> 8;
        c[pm_at + pm::pmcsr] = no_soft_reset ? pm::no_soft_reset : 0;
        c[pcie_at] = cap_id::pci_express;
        c[pcie_at + 1] = af_at;
        if (pcie_flr) c[pcie_at + pcie::device_capabilities + 3] = pcie::cap_flr >> 24;
        c[af_at] = cap_id::advanced_features;
        c[af_at + 1] = 0;
        c[af_at + 2] = 6;
        c[af_at + af::capabilities] = af_flr ? af::cap_flr : 0;
        c[4] = mse | bme;
        watch.attach(config, fn);
    }
    static ConfigWrite write(uint16_t offset, uint8_t size, uint32_t value, Address a = fn) {
        ConfigWrite w;
        w.address = a;
        w.offset = offset;
        w.size = size;
        w.value = value;
        return w;
    }
    // The write as the config mediator delivers it: before, hardware, after.
    ResetEvent deliver(const ConfigWrite& w) {
        const ResetEvent before = watch.before_write(w);
        command_seen = chipset.command(fn);
        chipset.put(w.address, w.offset, w.size, w.value);
        const ResetEvent after = watch.after_write(w);
        EXPECT_EQ(before, after);
        return after;
    }
    uint16_t command_seen = 0;
};

TEST(FunctionReset, CapabilitiesAreWalkedFromTheRealConfigSpace) {
    Function f(true, true, false);
    const ResetCapabilities& c = f.watch.capabilities();
    EXPECT_EQ(c.pm, pm_at);
    EXPECT_EQ(c.pcie, pcie_at);
    EXPECT_EQ(c.af, af_at);
    EXPECT_TRUE(c.pcie_flr);
    EXPECT_TRUE(c.af_flr);
    EXPECT_TRUE(c.d1);
    EXPECT_FALSE(c.d2);
    EXPECT_FALSE(c.no_soft_reset);
    EXPECT_EQ(find_capability(f.config, fn, 0x11), 0); // no MSI-X
}

TEST(FunctionReset, InitiateFlrInDeviceControlIsAResetAnySizeAndLane) {
    Function f(true, false, false);
    const uint16_t devctl = pcie_at + pcie::device_control;
    EXPECT_EQ(f.deliver(Function::write(devctl, 2, pcie::control_initiate_flr | 0x2810)), ResetEvent::Flr);
    EXPECT_EQ(f.command_seen & bme, 0) << "Bus Master Enable still on when the reset reached the function";
    EXPECT_EQ(f.command_seen & mse, mse);
    EXPECT_EQ(f.deliver(Function::write(devctl + 1, 1, 0x80)), ResetEvent::Flr);
    EXPECT_EQ(f.deliver(Function::write(devctl, 4, 0x00048000u)), ResetEvent::Flr); // with Device Status
    EXPECT_EQ(f.watch.stats().flrs, 3u);
    f.chipset.put(fn, 4, 2, mse | bme); // the guest restores its command register
    // Device Control without bit 15, the low byte alone, Device Status (bit 31 there): no reset.
    EXPECT_EQ(f.deliver(Function::write(devctl, 2, 0x2810)), ResetEvent::None);
    EXPECT_EQ(f.deliver(Function::write(devctl, 1, 0xFF)), ResetEvent::None);
    EXPECT_EQ(f.deliver(Function::write(devctl + 2, 2, 0xFFFF)), ResetEvent::None);
    EXPECT_EQ(f.deliver(Function::write(devctl, 4, 0x80000000u)), ResetEvent::None);
    EXPECT_EQ(f.command_seen & bme, bme);
    // Another function's identical write is not ours.
    EXPECT_EQ(f.watch.classify(Function::write(devctl, 2, 0x8000, Address{0, 4, 0})), ResetEvent::None);
}

TEST(FunctionReset, FlrBitsOfAFunctionWithoutFlrAreNoReset) {
    Function f(false, false, false);
    EXPECT_EQ(f.deliver(Function::write(pcie_at + pcie::device_control, 2, 0x8000)), ResetEvent::None);
    EXPECT_EQ(f.deliver(Function::write(af_at + af::control, 1, af::control_initiate_flr)), ResetEvent::None);
    EXPECT_EQ(f.command_seen & bme, bme);
}

TEST(FunctionReset, AdvancedFeaturesInitiateFlrIsAReset) {
    Function f(false, true, false);
    EXPECT_EQ(f.deliver(Function::write(af_at + af::control, 1, af::control_initiate_flr)), ResetEvent::Flr);
    EXPECT_EQ(f.deliver(Function::write(af_at + 4, 4, 0x0001)), ResetEvent::Flr); // dword: control + status
    EXPECT_EQ(f.deliver(Function::write(af_at + af::control + 1, 1, 0x01)), ResetEvent::None); // AF Status
    EXPECT_EQ(f.watch.stats().flrs, 2u);
}

TEST(FunctionReset, D3hotThenD0WithoutNoSoftResetIsAReset) {
    Function f(true, false, false);
    const uint16_t pmcsr = pm_at + pm::pmcsr;
    EXPECT_EQ(f.deliver(Function::write(pmcsr, 2, pm::d3hot)), ResetEvent::PowerDown);
    EXPECT_FALSE(f.watch.in_d0());
    EXPECT_EQ(f.command_seen & bme, bme); // entering D3hot keeps the function's state
    EXPECT_EQ(f.deliver(Function::write(pmcsr, 2, pm::d3hot)), ResetEvent::None); // already there
    EXPECT_EQ(f.deliver(Function::write(pmcsr, 1, 1)), ResetEvent::None);          // D3hot -> D1: not allowed
    EXPECT_EQ(f.watch.power_state(), pm::d3hot);
    EXPECT_EQ(f.deliver(Function::write(pmcsr, 4, 0x8000u | pm::d0)), ResetEvent::PowerUpReset); // PME_Status W1C too
    EXPECT_EQ(f.command_seen & bme, 0);
    EXPECT_TRUE(f.watch.in_d0());
    EXPECT_EQ(f.watch.stats().power_downs, 1u);
    EXPECT_EQ(f.watch.stats().power_up_resets, 1u);
}

TEST(FunctionReset, NoSoftResetKeepsStateAcrossD3hot) {
    Function f(true, false, true);
    const uint16_t pmcsr = pm_at + pm::pmcsr;
    EXPECT_EQ(f.deliver(Function::write(pmcsr, 2, pm::d3hot)), ResetEvent::PowerDown);
    EXPECT_EQ(f.deliver(Function::write(pmcsr, 2, pm::d0)), ResetEvent::PowerUp);
    EXPECT_EQ(f.command_seen & bme, bme);
    EXPECT_EQ(f.watch.stats().power_up_resets, 0u);
}

TEST(FunctionReset, UnsupportedStatesAreDiscardedAndD1IsNoReset) {
    Function f(true, false, false);
    const uint16_t pmcsr = pm_at + pm::pmcsr;
    EXPECT_EQ(f.deliver(Function::write(pmcsr, 1, 2)), ResetEvent::None); // D2 not in PMC: discarded (§7.3)
    EXPECT_TRUE(f.watch.in_d0());
    EXPECT_EQ(f.deliver(Function::write(pmcsr, 1, 1)), ResetEvent::PowerDown); // D1
    EXPECT_EQ(f.deliver(Function::write(pmcsr, 1, pm::d3hot)), ResetEvent::None); // D1 -> D3hot: still off
    EXPECT_EQ(f.watch.power_state(), pm::d3hot);
    EXPECT_EQ(f.deliver(Function::write(pmcsr, 1, pm::d0)), ResetEvent::PowerUpReset);
    // The byte above PMCSR (PMCSR_BSE, Data) carries no power state.
    EXPECT_EQ(f.deliver(Function::write(pmcsr + 2, 2, 0xFFFF)), ResetEvent::None);
}

TEST(FunctionReset, AnFlrLeavesTheFunctionInD0) {
    Function f(true, false, false);
    EXPECT_EQ(f.deliver(Function::write(pm_at + pm::pmcsr, 2, pm::d3hot)), ResetEvent::PowerDown);
    EXPECT_EQ(f.deliver(Function::write(pcie_at + pcie::device_control, 2, 0x8000)), ResetEvent::Flr);
    EXPECT_TRUE(f.watch.in_d0());
}

TEST(FunctionReset, ADroppedResetWriteGivesTheCommandRegisterBack) {
    Function f(true, false, false);
    const ConfigWrite w = Function::write(pcie_at + pcie::device_control, 2, 0x8000);
    EXPECT_EQ(f.watch.before_write(w), ResetEvent::Flr);
    EXPECT_EQ(f.chipset.command(fn) & bme, 0);
    f.watch.write_dropped(w); // a later rule refused it: no reset
    EXPECT_EQ(f.chipset.command(fn), mse | bme);
    EXPECT_EQ(f.watch.stats().flrs, 0u);
}

TEST(FunctionReset, AFunctionWithoutCapabilitiesNeverResets) {
    FakeChipset chipset;
    chipset.add(fn, 0x8086, 0x1234)[4] = bme;
    ConfigSpace config{chipset};
    FunctionResetWatch w;
    w.attach(config, fn);
    EXPECT_EQ(w.capabilities().pm, 0);
    for (uint16_t off = 0x40; off < 0x100; off += 2)
        EXPECT_EQ(w.before_write(Function::write(off, 2, 0xFFFF)), ResetEvent::None) << off;
    EXPECT_EQ(chipset.command(fn), bme);
}

} // namespace
} // namespace sv::pci
