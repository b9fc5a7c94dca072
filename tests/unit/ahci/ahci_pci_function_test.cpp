// devices/storage/ahci/ahci_pci_function: the PCI binding of an AHCI HBA
// (AHCI 1.3.1 §2.1.2 class code, §2.1.11 ABAR = BAR5) against the fake
// chipset of tests/unit/devices: the ABAR is trapped for reads and writes
// wherever the guest puts it, guest accesses reach the controller as ABAR
// offsets (also after a move through 0xCF8/0xCFC or ECAM), the controller's
// MmioRegisters follow the BAR's physical address, refused placements keep
// the old BAR, and the controller is initialised with Bus Master Enable off
// and registered as mediated only when that succeeded.
#include <gtest/gtest.h>

#include <map>
#include <tuple>
#include <utility>
#include <vector>

#include "core/mmio_dispatch.hpp"
#include "devices/fake_chipset.hpp"
#include "devices/pci/bus_master_rule.hpp"
#include "devices/pci/config_decode.hpp"
#include "devices/pci/function_reset.hpp"
#include "devices/storage/ahci/ahci_pci_function.hpp"
#include "devices/storage/ahci/ahci_registers.hpp"

namespace sv::ahci {
namespace {

using pci::test::FakeChipset;

constexpr uint64_t page = 4096;
constexpr uint64_t ram_end = 0x20000000; // 512 MiB of RAM at 0
constexpr pci::Address hba{0, 0x1F, 2};
constexpr uint16_t bar5 = 0x24;
constexpr uint64_t abar_at_boot = 0xFEBF1000;
constexpr uint16_t command_bme = 1u << 2, command_mse = 1u << 1;

struct PageMapper final : MmioMapper {
    std::map<uint64_t, MmioTrap> trapped;
    Result<void> set_trap(uint64_t base, uint64_t length, MmioTrap trap) override {
        for (uint64_t p = base; p < base + length; p += page) {
            if (trap == MmioTrap::Released) trapped.erase(p);
            else trapped[p] = trap;
        }
        return {};
    }
    MmioTrap mode_of(uint64_t p) const {
        auto it = trapped.find(p);
        return it == trapped.end() ? MmioTrap::Released : it->second;
    }
};

struct Placement final : pci::MmioPlacement {
    bool placement_ok(uint64_t base, uint64_t length) override {
        return base >= ram_end && base + length > base && base + length <= (64ull << 30);
    }
};

// Physical memory as the hypervisor's identity map sees it: one register
// block that answers at wherever the fake chipset decodes BAR5.
struct Physical final : pci::PhysicalRegisters {
    FakeChipset& chipset;
    std::map<uint32_t, uint32_t> regs; // ABAR offset -> value
    std::vector<std::pair<uint64_t, uint32_t>> writes;
    std::vector<uint64_t> stray; // accesses where no BAR decodes
    explicit Physical(FakeChipset& c) : chipset(c) {}
    bool decoded(uint64_t pa, uint32_t& off) {
        const uint64_t base = chipset.get(hba, bar5, 4) & ~0xFull;
        if (!(chipset.command(hba) & command_mse) || pa < base || pa >= base + 0x1000) return false;
        off = static_cast<uint32_t>(pa - base);
        return true;
    }
    uint32_t read32(uint64_t pa) override {
        uint32_t off = 0;
        if (!decoded(pa, off)) {
            stray.push_back(pa);
            return 0xFFFFFFFFu;
        }
        return regs[off];
    }
    void write32(uint64_t pa, uint32_t v) override {
        uint32_t off = 0;
        if (!decoded(pa, off)) {
            stray.push_back(pa);
            return;
        }
        writes.emplace_back(pa, v);
        regs[off] = v;
    }
};

// Stands in for AhciController (ahci-contract §2): records offsets, and in
// init() what the function's command register was and reaches the HBA.
struct Controller final : AbarClient {
    MmioRegisters* regs = nullptr;
    FakeChipset* chipset = nullptr;
    bool fail_init = false;
    std::vector<uint16_t> command_in_init;
    std::vector<std::pair<uint32_t, uint8_t>> reads;
    std::vector<std::tuple<uint32_t, uint8_t, uint64_t>> writes;
    Result<void> init(DmaAllocator&) override {
        command_in_init.push_back(chipset->command(hba));
        regs->write32(0x100, 0x12345400); // P0CLB: the shadow command list
        if (fail_init) return fail(Error::OutOfMemory);
        return {};
    }
    uint64_t read(uint32_t offset, uint8_t size) override {
        reads.emplace_back(offset, size);
        return 0xA0000000u + offset;
    }
    void write(uint32_t offset, uint8_t size, uint64_t value) override { writes.emplace_back(offset, size, value); }
    unsigned implemented_ports() const override { return 6; }
    unsigned function_resets = 0;
    void function_reset() override { ++function_resets; }
};

struct NoDma final : DmaAllocator {
    Result<DmaBuffer> allocate(size_t, size_t) override { return fail(Error::OutOfMemory); }
};

struct Machine {
    FakeChipset chipset;
    pci::ConfigSpace config{chipset};
    pci::ConfigMediator mediator{chipset};
    MmioDispatcher mmio;
    PageMapper mapper;
    Placement placement;
    Physical physical{chipset};
    pci::BusMasterRule bus_master{config};
    Controller controller;
    NoDma dma;
    AhciPciFunction fn{hba, mediator, config, mmio, placement, physical};

    explicit Machine(uint64_t abar_size = 0x1000) {
        std::vector<uint8_t>& c = chipset.add(hba, 0x8086, 0x2922);
        c[0x09] = 0x01;
        c[0x0A] = 0x06;
        c[0x0B] = 0x01;
        chipset.add_memory_bar(hba, bar5, abar_size, abar_at_boot, false);
        chipset.put(hba, 4, 2, command_mse | command_bme);
        physical.regs[reg::kPi] = 0x3F;
        mmio.set_mapper(&mapper);
        bus_master.set_enforcing(true);
        EXPECT_TRUE(mediator.add_rule(bus_master));
        controller.regs = &fn.registers();
        controller.chipset = &chipset;
    }
    void bind() {
        ASSERT_TRUE(fn.attach("ahci0").ok());
        ASSERT_TRUE(fn.bind(controller, dma, bus_master).ok());
    }
    void port_write(uint16_t offset, uint8_t size, uint32_t value) {
        mediator.io_out(0xCF8, 4, FakeChipset::at(hba, static_cast<uint8_t>(offset & 0xFC)));
        mediator.io_out(static_cast<uint16_t>(0xCFC + (offset & 3)), size, value);
    }
    // A guest access as the exit handler delivers it: to the range's handlers.
    uint64_t guest_read(uint64_t gpa, uint8_t size) {
        const MmioRange* r = mmio.find(gpa);
        EXPECT_NE(r, nullptr) << std::hex << gpa;
        if (!r || !r->reader) return 0;
        return r->reader->mmio_read(gpa, size);
    }
    void guest_write(uint64_t gpa, uint8_t size, uint64_t v) {
        const MmioRange* r = mmio.find(gpa);
        ASSERT_NE(r, nullptr);
        r->handler->mmio_write(gpa, size, v);
    }
};

TEST(AhciPciFunction, ClassCodeIsMassStorageSataAhci) {
    EXPECT_TRUE(is_ahci_function(0x01, 0x06, 0x01));
    EXPECT_FALSE(is_ahci_function(0x01, 0x06, 0x00)); // vendor-specific SATA
    EXPECT_FALSE(is_ahci_function(0x01, 0x01, 0x80)); // IDE
    EXPECT_FALSE(is_ahci_function(0x01, 0x08, 0x02)); // NVMe
}

TEST(AhciPciFunction, PortsAtBootComeFromPiOrTheMaximum) {
    Machine m;
    EXPECT_EQ(AhciPciFunction::ports_at_boot(m.config, hba, m.physical), 6u);
    m.physical.regs[reg::kPi] = 0x80000001;
    EXPECT_EQ(AhciPciFunction::ports_at_boot(m.config, hba, m.physical), 2u);
    m.physical.regs[reg::kPi] = 0; // broken: size for the most
    EXPECT_EQ(AhciPciFunction::ports_at_boot(m.config, hba, m.physical), kMaxPorts);
    m.physical.regs[reg::kPi] = 0x3F;
    m.chipset.put(hba, 4, 2, command_bme); // decode off: nothing to read
    EXPECT_EQ(AhciPciFunction::ports_at_boot(m.config, hba, m.physical), kMaxPorts);
    EXPECT_TRUE(m.physical.stray.empty());
}

TEST(AhciPciFunction, ControllerInitRunsWithBusMasterOffThenTheFunctionIsMediated) {
    Machine m;
    EXPECT_EQ(m.bus_master.decide(m.bus_master.identify(hba)), pci::MasterDecision::Blocked);
    m.bind();
    ASSERT_EQ(m.controller.command_in_init.size(), 1u);
    EXPECT_EQ(m.controller.command_in_init[0] & command_bme, 0);
    EXPECT_NE(m.controller.command_in_init[0] & command_mse, 0);
    EXPECT_EQ(m.chipset.command(hba), command_mse | command_bme); // restored
    EXPECT_EQ(m.bus_master.decide(m.bus_master.identify(hba)), pci::MasterDecision::Mediated);
    // The controller's register write reached the real ABAR.
    ASSERT_EQ(m.physical.writes.size(), 1u);
    EXPECT_EQ(m.physical.writes[0].first, abar_at_boot + 0x100);
    EXPECT_TRUE(m.fn.bound());
    // A guest BME write now passes the rule.
    m.port_write(4, 2, command_mse | command_bme);
    EXPECT_EQ(m.chipset.command(hba), command_mse | command_bme);
}

TEST(AhciPciFunction, AFailedControllerInitLeavesTheFunctionUnmediatedAndDead) {
    Machine m;
    m.controller.fail_init = true;
    ASSERT_TRUE(m.fn.attach("ahci0").ok());
    EXPECT_FALSE(m.fn.bind(m.controller, m.dma, m.bus_master).ok());
    EXPECT_EQ(m.chipset.command(hba) & command_bme, 0);
    EXPECT_EQ(m.bus_master.decide(m.bus_master.identify(hba)), pci::MasterDecision::Blocked);
    m.port_write(4, 2, command_mse | command_bme);
    EXPECT_EQ(m.chipset.command(hba) & command_bme, 0); // the rule keeps it off
    EXPECT_EQ(m.guest_read(abar_at_boot + 0x100, 4), 0xFFFFFFFFu);
    m.guest_write(abar_at_boot + 0x118, 4, 0x11);
    EXPECT_TRUE(m.controller.reads.empty());
    EXPECT_TRUE(m.controller.writes.empty());
    EXPECT_EQ(m.fn.stats().unbound, 2u);
}

TEST(AhciPciFunction, GuestAccessesReachTheControllerAsAbarOffsetsOfAnySize) {
    Machine m;
    m.bind();
    EXPECT_EQ(m.mapper.mode_of(abar_at_boot), MmioTrap::ReadsAndWrites);
    EXPECT_EQ(m.guest_read(abar_at_boot + 0x118, 4), 0xA0000118u);
    EXPECT_EQ(m.guest_read(abar_at_boot + 0x2, 2), 0xA0000002u);
    m.guest_write(abar_at_boot + 0x138, 4, 0x1);
    m.guest_write(abar_at_boot + 0x7, 1, 0x5A);
    m.guest_write(abar_at_boot + 0xFF8, 8, 0x1122334455667788ull);
    const std::vector<std::pair<uint32_t, uint8_t>> reads{{0x118, 4}, {0x2, 2}};
    EXPECT_EQ(m.controller.reads, reads);
    ASSERT_EQ(m.controller.writes.size(), 3u);
    EXPECT_EQ(m.controller.writes[0], std::make_tuple(0x138u, uint8_t{4}, uint64_t{1}));
    EXPECT_EQ(m.controller.writes[1], std::make_tuple(0x7u, uint8_t{1}, uint64_t{0x5A}));
    EXPECT_EQ(m.controller.writes[2], std::make_tuple(0xFF8u, uint8_t{8}, uint64_t{0x1122334455667788ull}));
    EXPECT_EQ(m.fn.stats().reads, 2u);
    EXPECT_EQ(m.fn.stats().writes, 3u);
}

TEST(AhciPciFunction, BarMovesAreFollowedByTheTrapAndByTheControllerRegisters) {
    Machine m;
    m.bind();
    constexpr uint64_t moved = 0xC0003000;
    m.port_write(bar5, 4, static_cast<uint32_t>(moved));
    EXPECT_EQ(m.chipset.get(hba, bar5, 4), moved);
    EXPECT_EQ(m.mmio.find(abar_at_boot), nullptr);
    EXPECT_EQ(m.mapper.mode_of(abar_at_boot), MmioTrap::Released);
    EXPECT_EQ(m.mapper.mode_of(moved), MmioTrap::ReadsAndWrites);
    EXPECT_EQ(m.guest_read(moved + 0x128, 4), 0xA0000128u);
    EXPECT_EQ(m.controller.reads.back(), std::make_pair(0x128u, uint8_t{4}));
    // The controller's own accesses land at the new physical address.
    m.fn.registers().write32(0x100, 0x55);
    EXPECT_EQ(m.physical.writes.back().first, moved + 0x100);
    EXPECT_TRUE(m.physical.stray.empty());
    // Decode off: no registers to reach, nothing trapped, nothing strays.
    m.port_write(4, 2, command_bme);
    EXPECT_EQ(m.mmio.find(moved), nullptr);
    EXPECT_EQ(m.fn.registers().read32(0), 0xFFFFFFFFu);
    m.fn.registers().write32(0x100, 0x66);
    EXPECT_TRUE(m.physical.stray.empty());
    EXPECT_EQ(m.physical.writes.back().second, 0x55u);
    // Decode back on: trapped again where it decodes.
    m.port_write(4, 2, command_mse | command_bme);
    EXPECT_EQ(m.guest_read(moved + 0x4, 4), 0xA0000004u);
}

TEST(AhciPciFunction, RefusedPlacementsKeepTheOldAbar) {
    Machine m;
    m.bind();
    m.port_write(bar5, 4, 0x00100000); // over guest RAM
    EXPECT_EQ(m.chipset.get(hba, bar5, 4), abar_at_boot);
    EXPECT_EQ(m.fn.abar().stats().refused, 1u);
    EXPECT_EQ(m.guest_read(abar_at_boot + 0x10, 4), 0xA0000010u);
    m.port_write(bar5, 4, 0xFFFFFFFF); // with decode on: the top page, vetted like any other
    EXPECT_EQ(m.guest_read(m.fn.abar().address() + 0x10, 4), 0xA0000010u);
    m.fn.registers().write32(0x10, 1);
    EXPECT_TRUE(m.physical.stray.empty());
}

TEST(AhciPciFunction, BytesOfTheTrappedPageBeyondASmallAbarNeverReachTheController) {
    Machine m(0x800); // a 2 KiB ABAR: its page is trapped whole
    m.bind();
    EXPECT_EQ(m.guest_read(abar_at_boot + 0x7FC, 4), 0xA00007FCu);
    EXPECT_EQ(m.guest_read(abar_at_boot + 0x800, 4), 0xFFFFFFFFu);
    EXPECT_EQ(m.guest_read(abar_at_boot + 0x7FE, 4), 0xFFFFFFFFu); // straddles the end
    EXPECT_EQ(m.guest_read(abar_at_boot + 0x7FC, 8), ~uint64_t{0});
    m.guest_write(abar_at_boot + 0x900, 4, 1);
    EXPECT_EQ(m.controller.reads.size(), 1u);
    EXPECT_TRUE(m.controller.writes.empty());
    EXPECT_EQ(m.fn.stats().outside_abar, 4u);
    // The controller's own registers stay inside the BAR as well.
    EXPECT_EQ(m.fn.registers().read32(0x800), 0xFFFFFFFFu);
    EXPECT_EQ(m.fn.registers().read32(0x102), 0xFFFFFFFFu);
    EXPECT_TRUE(m.physical.stray.empty());
}

TEST(AhciPciFunction, AnAbarThatDoesNotDecodeAtBootIsNotMediated) {
    Machine m;
    m.chipset.put(hba, 4, 2, command_bme);
    EXPECT_FALSE(m.fn.attach("ahci0").ok());
    EXPECT_FALSE(m.fn.bind(m.controller, m.dma, m.bus_master).ok());
    EXPECT_TRUE(m.controller.command_in_init.empty());
    EXPECT_EQ(m.bus_master.decide(m.bus_master.identify(hba)), pci::MasterDecision::Blocked);
}

// Resets behind the ABAR (pci::FunctionResetWatch): the HBA with a PM
// capability at 50h and a PCI Express capability with FLR at 60h.
struct ResettableMachine : Machine {
    static constexpr uint16_t pmcsr = 0x54, devctl = 0x68;
    std::vector<uint16_t> command_at_flr;
    explicit ResettableMachine(bool no_soft_reset = false) {
        std::vector<uint8_t>& c = *chipset.find(hba);
        c[0x06] = 1u << 4;
        c[0x34] = 0x50;
        c[0x50] = pci::cap_id::power_management;
        c[0x51] = 0x60;
        c[0x52] = 0x03;
        c[pmcsr] = no_soft_reset ? pci::pm::no_soft_reset : 0;
        c[0x60] = pci::cap_id::pci_express;
        c[0x64 + 3] = pci::pcie::cap_flr >> 24;
        chipset.after_write = [this] {
            std::vector<uint8_t>& cfg = *chipset.find(hba);
            if (!(cfg[devctl + 1] & 0x80)) return;
            cfg[devctl + 1] &= 0x7F; // the function resets: command 0, ABAR 0
            command_at_flr.push_back(chipset.command(hba));
            cfg[4] = cfg[5] = 0;
            for (int i = 0; i < 4; ++i) cfg[bar5 + i] = 0;
        };
    }
    void ecam(uint16_t offset, uint8_t size, uint32_t value) {
        struct Writer final : pci::ConfigWriter {
            FakeChipset& c;
            explicit Writer(FakeChipset& chip) : c(chip) {}
            void write(const pci::ConfigWrite& w) override {
                c.write(c.ecam_base + (uint64_t{w.address.device} << 15) + (uint64_t{w.address.function} << 12) +
                            w.offset,
                        w.size, w.value);
            }
        } writer{chipset};
        pci::ConfigWrite w;
        w.address = hba;
        w.offset = offset;
        w.size = size;
        w.value = value;
        mediator.guest_write(w, writer);
    }
};

TEST(AhciPciFunction, AnFlrThroughEitherMechanismResetsTheControllerWithBusMasteringOff) {
    ResettableMachine m;
    m.bind();
    EXPECT_TRUE(m.fn.resets().capabilities().pcie_flr);
    m.port_write(ResettableMachine::devctl, 2, pci::pcie::control_initiate_flr);
    ASSERT_EQ(m.command_at_flr.size(), 1u);
    EXPECT_EQ(m.command_at_flr[0] & command_bme, 0) << "the HBA could still master the bus when it reset";
    EXPECT_EQ(m.controller.function_resets, 1u);
    // Linux restores BAR5 and the command register (here at another
    // address): the trap follows what the function decodes.
    m.port_write(bar5, 4, static_cast<uint32_t>(abar_at_boot + 0x10000));
    EXPECT_FALSE(m.fn.abar().decoding()); // command 0 after the reset: nothing decodes
    m.port_write(4, 2, command_mse | command_bme);
    EXPECT_TRUE(m.fn.abar().decoding());
    EXPECT_EQ(m.fn.abar().address(), abar_at_boot + 0x10000);
    m.port_write(bar5, 4, static_cast<uint32_t>(abar_at_boot)); // moved back (decode on: vetted, followed)
    EXPECT_EQ(m.guest_read(abar_at_boot + 0x10, 4), 0xA0000010u);
    // The same through ECAM, with a dword write that also carries Device Status.
    m.ecam(ResettableMachine::devctl, 4, pci::pcie::control_initiate_flr);
    ASSERT_EQ(m.command_at_flr.size(), 2u);
    EXPECT_EQ(m.command_at_flr[1] & command_bme, 0);
    EXPECT_EQ(m.controller.function_resets, 2u);
    // Device Control without Initiate FLR is no reset.
    m.port_write(ResettableMachine::devctl, 2, 0x2810);
    EXPECT_EQ(m.controller.function_resets, 2u);
}

TEST(AhciPciFunction, OutsideD0TheAbarReadsOnesAndTheControllerIsNotAsked) {
    ResettableMachine m(true); // NoSoftReset: D3hot -> D0 keeps the state
    m.bind();
    m.port_write(ResettableMachine::pmcsr, 2, pci::pm::d3hot);
    EXPECT_FALSE(m.fn.resets().in_d0());
    const size_t reads = m.controller.reads.size(), writes = m.controller.writes.size();
    const size_t physical_writes = m.physical.writes.size();
    EXPECT_EQ(m.guest_read(abar_at_boot + 0x04, 4), 0xFFFFFFFFu);
    m.guest_write(abar_at_boot + 0x04, 4, 1);
    EXPECT_EQ(m.controller.reads.size(), reads);
    EXPECT_EQ(m.controller.writes.size(), writes);
    // The controller's own register accesses do not reach the function either.
    EXPECT_EQ(m.fn.registers().read32(0x0), 0xFFFFFFFFu);
    m.fn.registers().write32(0x100, 1);
    EXPECT_EQ(m.physical.writes.size(), physical_writes);
    EXPECT_GE(m.fn.stats().not_ready, 2u);
    m.port_write(ResettableMachine::pmcsr, 2, pci::pm::d0);
    EXPECT_TRUE(m.fn.resets().in_d0());
    EXPECT_EQ(m.controller.function_resets, 0u);
    EXPECT_EQ(m.guest_read(abar_at_boot + 0x04, 4), 0xA0000004u);
}

TEST(AhciPciFunction, D3hotToD0WithoutNoSoftResetIsAFunctionReset) {
    ResettableMachine m(false);
    m.bind();
    m.port_write(ResettableMachine::pmcsr, 2, pci::pm::d3hot);
    EXPECT_EQ(m.controller.function_resets, 0u);
    m.port_write(ResettableMachine::pmcsr, 2, pci::pm::d0);
    EXPECT_EQ(m.controller.function_resets, 1u);
}

} // namespace
} // namespace sv::ahci
