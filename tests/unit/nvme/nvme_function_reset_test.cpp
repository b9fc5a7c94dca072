// Resets of the NVMe function behind the mediator's registers (devices/pci/
// function_reset.hpp; nvme README "Resets"): the whole binding
// (NvmePciFunction + NvmeController + queue engine) over a simulated
// controller (sim_nvme) whose config space is the fake chipset's, driven by
// the Linux driver model. The fake function behaves as a PCIe endpoint
// does: Initiate FLR (Device Control bit 15) or D3hot -> D0 with
// NoSoftReset 0 resets the controller, its MSI-X (disabled, entries masked)
// and its config space (command 0, BAR0 0); outside D0 its BAR does not
// decode. The tests assert what a reset mid-command leaves: the command is
// dropped (no completion, nothing written), the shadow chunks are back in
// the pool, Bus Master Enable was off when the device reset, the
// hypervisor touched no register of a function outside D0, and after the
// guest restores the function and re-initialises the controller I/O works,
// as aes-xts-plain64 ciphertext on the namespace.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <memory>
#include <vector>

#include "core/guest_interrupts.hpp"
#include "core/mmio_dispatch.hpp"
#include "core/nmi_sink.hpp"
#include "crypto/xts.hpp"
#include "crypto/xts_test_support.hpp"
#include "devices/fake_chipset.hpp"
#include "devices/pci/bus_master_rule.hpp"
#include "devices/pci/function_reset.hpp"
#include "devices/storage/common/shadow_pool.hpp"
#include "devices/storage/nvme/msix_table.hpp"
#include "devices/storage/nvme/nvme_controller.hpp"
#include "devices/storage/nvme/nvme_pci_function.hpp"
#include "devices/storage/nvme/nvme_queues.hpp"
#include "nvme/linux_nvme_model.hpp"
#include "nvme/sim_nvme.hpp"

namespace svtest {
namespace {
using namespace sv::nvme;
using sv::crypto::test::Bytes;
using sv::pci::test::FakeChipset;

constexpr uint64_t kRam = 64ull << 20, kHvBase = 0x8000000, kHvBytes = 48ull << 20;
constexpr uint64_t kBuf = 0x3000000;
constexpr uint64_t kBarAtBoot = 0xFEB00000;
constexpr sv::pci::Address kFn{0, 4, 0};
constexpr unsigned kVectors = 3; // admin + 2 I/O queues
constexpr uint32_t kGuestVectorBase = 0x40;
// Config layout of the fake function (as QEMU 7.2's nvme on q35: MSI-X,
// PM, PCI Express with FLR).
constexpr uint8_t kMsixCap = 0x40, kPmCap = 0x60, kPcieCap = 0x80;
constexpr uint16_t kCommandMse = 1u << 1, kCommandBme = 1u << 2, kCommandIntxOff = 1u << 10;
constexpr uint16_t kDevctl = kPcieCap + sv::pci::pcie::device_control;
constexpr uint16_t kPmcsr = kPmCap + sv::pci::pm::pmcsr;

struct PageMapper final : sv::MmioMapper {
    std::map<uint64_t, sv::MmioTrap> trapped;
    sv::Result<void> set_trap(uint64_t base, uint64_t length, sv::MmioTrap trap) override {
        for (uint64_t p = base; p < base + length; p += 4096) {
            if (trap == sv::MmioTrap::Released) trapped.erase(p);
            else trapped[p] = trap;
        }
        return {};
    }
};
struct Placement final : sv::pci::MmioPlacement {
    bool placement_ok(uint64_t base, uint64_t length) override { return base >= kHvBase + kHvBytes && length; }
};

class RecordingInterrupts final : public sv::GuestInterrupts {
  public:
    void deliver(const sv::MsiMessage& m) override { vectors.push_back(sv::msi::vector(m.data)); }
    std::vector<uint8_t> vectors;
};

struct Rig;

// The function's side of the bus: config-space behaviour and BAR0 decode.
struct Device final : sv::pci::PhysicalRegisters {
    Rig& rig;
    explicit Device(Rig& r) : rig(r) {}
    uint32_t read32(uint64_t pa) override;
    void write32(uint64_t pa, uint32_t v) override;
    std::vector<uint64_t> stray; // hypervisor accesses where the function decodes nothing
};

// The guest's view of BAR0: every access exits into the binding.
struct GuestBar final : sv::MmioRegisters {
    Rig& rig;
    explicit GuestBar(Rig& r) : rig(r) {}
    uint32_t read32(uint32_t off) override;
    void write32(uint32_t off, uint32_t v) override;
};

// ECAM as the config mediator sees it (devices/pci/ecam.hpp hands every
// decoded ECAM write to ConfigMediator::guest_write with such a writer).
struct EcamWriter final : sv::pci::ConfigWriter {
    FakeChipset& chipset;
    explicit EcamWriter(FakeChipset& c) : chipset(c) {}
    void write(const sv::pci::ConfigWrite& w) override {
        const uint64_t pa = chipset.ecam_base + (uint64_t{w.address.bus} << 20) + (uint64_t{w.address.device} << 15) +
                            (uint64_t{w.address.function} << 12) + w.offset;
        chipset.write(pa, w.size, w.value);
    }
};

struct Rig : ::testing::Test {
    SimPhysMemory mem{kRam, kHvBase, kHvBytes};
    SimGuestMemory guest{mem};
    SimDmaAllocator alloc{mem};
    sv::storage::ShadowPool pool;
    sv::crypto::Xts xts;
    Bytes key = Bytes(64);
    SimNvme sim{mem, 2, kVectors};
    RecordingInterrupts irq;
    FakeChipset chipset;
    sv::pci::ConfigSpace config{chipset};
    sv::pci::ConfigMediator mediator{chipset};
    sv::MmioDispatcher mmio;
    PageMapper mapper;
    Placement placement;
    Device device{*this};
    sv::pci::BusMasterRule bus_master{config};
    NvmePciFunction fn{kFn, mediator, config, mmio, placement, device};
    std::unique_ptr<NvmeController> ctl;
    GuestBar bar{*this};
    LinuxNvme drv{bar, mem};
    EcamWriter ecam{chipset};
    size_t signals_seen = 0;
    uint64_t guest_accesses_unmapped = 0;
    // What the function's command register held each time it reset.
    std::vector<uint16_t> command_at_reset;
    uint8_t power_state = 0;
    bool no_soft_reset = false;
    bool ignores_pm_reset = false; // advertises NoSoftReset 0 but keeps its state (QEMU 7.2's PM capability)

    void SetUp() override {
        for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i * 13 + 1);
        ASSERT_TRUE(xts.set_key(key).ok());
        sim.add_namespace(8192, 512);
        build_config();
        chipset.after_write = [this] { device_reacts(); };
        mmio.set_mapper(&mapper);
        bus_master.set_enforcing(true);
        ASSERT_TRUE(mediator.add_rule(bus_master));
        ASSERT_TRUE(pool.init(alloc, NvmeController::pool_bytes()).ok());
        ASSERT_TRUE(fn.attach("nvme0").ok());
        ctl = std::make_unique<NvmeController>(guest, pool, &xts, fn.registers(), fn.msix(), fn.msix_registers(), irq);
        ASSERT_TRUE(fn.bind(*ctl, alloc, bus_master).ok());
        guest_init();
        free_idle = pool.free_chunks();
    }
    uint32_t free_idle = 0;
    void TearDown() override {
        if (ctl) sv::nmi_sinks().remove(*ctl);
    }

    std::vector<uint8_t>& cfg() { return *chipset.find(kFn); }
    void build_config() {
        std::vector<uint8_t>& c = chipset.add(kFn, 0x1b36, 0x0010);
        c[0x09] = kPciProgIfNvme;
        c[0x0A] = kPciSubclassNvm;
        c[0x0B] = kPciClassMassStorage;
        c[0x06] = 1u << 4; // capability list
        c[0x34] = kMsixCap;
        c[kMsixCap] = kPciCapMsix;
        c[kMsixCap + 1] = kPmCap;
        c[kMsixCap + 2] = kVectors - 1;
        put32(c, kMsixCap + 4, SimNvme::kMsixTable); // BIR 0
        put32(c, kMsixCap + 8, SimNvme::kMsixPba);
        c[kPmCap] = sv::pci::cap_id::power_management;
        c[kPmCap + 1] = kPcieCap;
        c[kPmCap + 2] = 3; // PM 1.2
        c[kPmcsr] = no_soft_reset ? sv::pci::pm::no_soft_reset : 0;
        c[kPcieCap] = sv::pci::cap_id::pci_express;
        put32(c, kPcieCap + sv::pci::pcie::device_capabilities, sv::pci::pcie::cap_flr);
        chipset.add_memory_bar(kFn, 0x10, SimNvme::kBarBytes, kBarAtBoot, true);
        c[4] = kCommandMse | kCommandBme;
    }
    static void put32(std::vector<uint8_t>& c, size_t at, uint32_t v) { std::memcpy(&c[at], &v, 4); }
    static uint32_t get32(const std::vector<uint8_t>& c, size_t at) {
        uint32_t v;
        std::memcpy(&v, &c[at], 4);
        return v;
    }
    uint16_t command() { return chipset.command(kFn); }
    uint64_t bar_base() {
        std::vector<uint8_t>& c = cfg();
        return (get32(c, 0x10) & ~0xFull) | uint64_t{get32(c, 0x14)} << 32;
    }
    bool decodes() { return (command() & kCommandMse) && power_state == 0; }

    // The function's reaction to a config write (what QEMU's nvme and PCIe
    // core do): MSI-X control to the controller, FLR, PMCSR transitions.
    void device_reacts() {
        std::vector<uint8_t>& c = cfg();
        const uint16_t mc = static_cast<uint16_t>(c[kMsixCap + 2] | c[kMsixCap + 3] << 8);
        sim.set_msix(mc & msix::kEnable, mc & msix::kFunctionMask);
        if (c[kDevctl + 1] & 0x80) {
            c[kDevctl + 1] &= 0x7F; // FLR: the bit reads 0 (PCIe Base 4.0 §7.5.3.4)
            function_reset();
        }
        const uint8_t next = c[kPmcsr] & 3;
        if (next != power_state) {
            const bool resets = power_state == 3 && next == 0 && !no_soft_reset && !ignores_pm_reset;
            power_state = next;
            if (resets) function_reset();
        }
    }
    void function_reset() {
        std::vector<uint8_t>& c = cfg();
        command_at_reset.push_back(static_cast<uint16_t>(c[4] | c[5] << 8));
        sim.function_reset();
        c[4] = c[5] = 0;
        put32(c, 0x10, 0x4); // 64-bit memory BAR, address 0
        put32(c, 0x14, 0);
        c[kMsixCap + 3] = 0; // Enable and Function Mask clear
        c[kPmcsr] &= static_cast<uint8_t>(~3u);
        power_state = 0;
    }

    // The guest: config writes through 0xCF8/0xCFC, or ECAM.
    void port_write(uint16_t offset, uint8_t size, uint32_t value) {
        mediator.io_out(0xCF8, 4, FakeChipset::at(kFn, static_cast<uint8_t>(offset & 0xFC)));
        mediator.io_out(static_cast<uint16_t>(0xCFC + (offset & 3)), size, value);
    }
    void ecam_write(uint16_t offset, uint8_t size, uint32_t value) {
        sv::pci::ConfigWrite w;
        w.address = kFn;
        w.offset = offset;
        w.size = size;
        w.value = value;
        mediator.guest_write(w, ecam);
    }
    // pci_alloc_irq_vectors: table entries (through the trapped BAR), then MSI-X on.
    void program_msix() {
        for (uint32_t v = 0; v < kVectors; ++v) {
            const uint32_t e = SimNvme::kMsixTable + msix::kEntryBytes * v;
            bar.write32(e + msix::kEntryAddrLo, sv::msi::kAddressWindow);
            bar.write32(e + msix::kEntryAddrHi, 0);
            bar.write32(e + msix::kEntryData, kGuestVectorBase + v);
            bar.write32(e + msix::kEntryControl, 0);
        }
        port_write(kMsixCap + 2, 2, msix::kEnable | (kVectors - 1));
    }
    void guest_init() {
        program_msix();
        ASSERT_TRUE(drv.enable());
        deliver_interrupts();
        ASSERT_TRUE(drv.identify());
        ASSERT_TRUE(drv.create_io_queues(2, 64));
        deliver_interrupts();
    }
    // Linux pci_restore_state after the reset: BAR0, command, MSI-X.
    void guest_restore_config() {
        port_write(0x10, 4, static_cast<uint32_t>(kBarAtBoot));
        port_write(0x14, 4, 0);
        port_write(4, 2, kCommandMse | kCommandBme);
        program_msix();
    }

    void take_nmis() {
        while (signals_seen < sim.signalled.size()) {
            ++signals_seen;
            ctl->on_nmi(0);
        }
    }
    std::vector<NvmeDone> deliver_interrupts() {
        std::vector<NvmeDone> done;
        while (!irq.vectors.empty()) {
            const uint8_t v = irq.vectors.front();
            irq.vectors.erase(irq.vectors.begin());
            for (const NvmeDone& d : drv.interrupt(static_cast<uint16_t>(v - kGuestVectorBase))) done.push_back(d);
        }
        return done;
    }
    Bytes pattern(size_t n, uint32_t seed) {
        Bytes v(n);
        for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>((i * 77 + seed * 5 + (i >> 9)) ^ seed);
        return v;
    }
    Bytes media(uint64_t lba, size_t bytes) {
        const auto& m = sim.ns(1).media;
        return {m.begin() + static_cast<long>(lba * 512), m.begin() + static_cast<long>(lba * 512 + bytes)};
    }
    uint16_t one(uint16_t qid, bool write, uint64_t lba, uint32_t blocks) {
        const uint16_t cid = drv.rw(qid, write, 1, lba, blocks, kBuf);
        take_nmis();
        const auto done = deliver_interrupts();
        if (done.size() != 1 || done[0].cid != cid) return 0xffff;
        return done[0].status;
    }
    // A write held in the device (submitted, its shadow chunks borrowed).
    void write_in_flight(uint64_t lba, uint32_t blocks) {
        const Bytes plain = pattern(size_t{blocks} * 512, 9);
        std::memcpy(mem.ram(kBuf), plain.data(), plain.size());
        sim.hold_io = true;
        (void)drv.rw(1, true, 1, lba, blocks, kBuf);
        take_nmis();
        ASSERT_EQ(sim.held(), 1u);
    }
    // After the reset and Linux's restore: re-initialise, write and read
    // back a pattern; the namespace holds its ciphertext.
    void reinit_and_check_io(uint64_t lba) {
        sim.hold_io = false;
        guest_restore_config();
        ASSERT_TRUE(drv.enable());
        // The first register access after the reset saw the device idle:
        // the dropped command's shadow chunks are back.
        EXPECT_EQ(pool.free_chunks(), free_idle) << "shadow chunks of the dropped command not returned";
        deliver_interrupts();
        ASSERT_TRUE(drv.identify());
        ASSERT_TRUE(drv.create_io_queues(2, 64));
        deliver_interrupts();
        const Bytes plain = pattern(4096, 21);
        std::memcpy(mem.ram(kBuf), plain.data(), plain.size());
        ASSERT_EQ(one(1, true, lba, 8), 0);
        EXPECT_EQ(media(lba, 4096), sv::crypto::test::openssl_xts(true, key, plain, 512, lba));
        std::memset(mem.ram(kBuf), 0x5A, 4096);
        ASSERT_EQ(one(2, false, lba, 8), 0);
        EXPECT_EQ(0, std::memcmp(mem.ram(kBuf), plain.data(), 4096));
        for (const SimNvmeAccess& a : sim.accesses)
            ASSERT_TRUE(a.addr >= kHvBase && a.addr + a.len <= kHvBase + kHvBytes)
                << "the controller touched guest memory directly at " << std::hex << a.addr;
    }
    uint32_t all_chunks_free() { return pool.free_chunks(); }
    bool held_chunks() { return pool.free_chunks() < free_idle; }
};

uint32_t Device::read32(uint64_t pa) {
    const uint64_t base = rig.bar_base();
    if (!rig.decodes() || pa < base || pa >= base + SimNvme::kBarBytes) {
        stray.push_back(pa);
        return 0xFFFFFFFFu;
    }
    return rig.sim.read32(static_cast<uint32_t>(pa - base));
}
void Device::write32(uint64_t pa, uint32_t v) {
    const uint64_t base = rig.bar_base();
    if (!rig.decodes() || pa < base || pa >= base + SimNvme::kBarBytes) {
        stray.push_back(pa);
        return;
    }
    rig.sim.write32(static_cast<uint32_t>(pa - base), v);
}

uint32_t GuestBar::read32(uint32_t off) {
    const uint64_t gpa = kBarAtBoot + off;
    const sv::MmioRange* r = rig.mmio.find(gpa);
    if (!r || !r->reader) {
        ++rig.guest_accesses_unmapped;
        return 0xFFFFFFFFu;
    }
    const uint32_t v = static_cast<uint32_t>(r->reader->mmio_read(gpa, 4));
    rig.take_nmis();
    return v;
}
void GuestBar::write32(uint32_t off, uint32_t v) {
    const uint64_t gpa = kBarAtBoot + off;
    const sv::MmioRange* r = rig.mmio.find(gpa);
    if (!r) {
        ++rig.guest_accesses_unmapped;
        return;
    }
    r->handler->mmio_write(gpa, 4, v);
    rig.take_nmis();
}

using NvmeFunctionReset = Rig;

TEST_F(NvmeFunctionReset, TheCapabilitiesAreFoundInTheRealConfigSpace) {
    const sv::pci::ResetCapabilities& c = fn.resets().capabilities();
    EXPECT_EQ(c.pcie, kPcieCap);
    EXPECT_TRUE(c.pcie_flr);
    EXPECT_EQ(c.pm, kPmCap);
    EXPECT_FALSE(c.no_soft_reset);
    EXPECT_EQ(c.af, 0);
}

TEST_F(NvmeFunctionReset, FlrMidCommandDropsItReturnsTheShadowsAndReinitIsEncrypted) {
    write_in_flight(100, 64);
    EXPECT_TRUE(held_chunks()) << "the write holds shadow chunks while in the device";
    // pcie_flr(): Initiate FLR through ECAM, command register as it was (a
    // hostile guest need not disable the function first).
    ecam_write(kDevctl, 2, sv::pci::pcie::control_initiate_flr);
    ASSERT_EQ(sim.function_resets, 1u);
    ASSERT_EQ(command_at_reset.size(), 1u);
    EXPECT_EQ(command_at_reset[0] & kCommandBme, 0) << "the function could still master the bus when it reset";
    EXPECT_EQ(fn.resets().stats().flrs, 1u);
    EXPECT_EQ(ctl->stats().function_resets, 1u);
    EXPECT_FALSE(ctl->enabled());
    // The command was dropped: no completion, no interrupt, nothing on the disk.
    take_nmis();
    EXPECT_TRUE(irq.vectors.empty());
    EXPECT_TRUE(drv.interrupt(1).empty());
    EXPECT_EQ(media(100, 64 * 512), Bytes(64 * 512, 0));
    reinit_and_check_io(300);
    EXPECT_TRUE(device.stray.empty()) << "the hypervisor accessed BAR0 where the function decoded nothing";
}

TEST_F(NvmeFunctionReset, LinuxResetSequenceThroughThePortMechanismWorks) {
    // pci_reset_function: nvme_reset_prepare (controller disabled), then
    // pci_dev_save_and_disable (command = INTx disable), FLR, restore.
    bar.write32(reg::kCc, 0); // nvme_disable_ctrl
    for (int n = 0; n < 100 && (bar.read32(reg::kCsts) & csts::kRdy); ++n) {
    }
    EXPECT_FALSE(ctl->enabled());
    port_write(4, 2, kCommandIntxOff);
    EXPECT_FALSE(fn.bar0().decoding());
    port_write(kDevctl, 2, sv::pci::pcie::control_initiate_flr);
    ASSERT_EQ(sim.function_resets, 1u);
    EXPECT_EQ(ctl->stats().function_resets, 1u);
    reinit_and_check_io(500);
    EXPECT_TRUE(device.stray.empty());
}

TEST_F(NvmeFunctionReset, AfterTheResetTheRealMsixIsOnAgainAndCompletionsAreCaught) {
    ecam_write(kDevctl, 2, sv::pci::pcie::control_initiate_flr);
    const uint16_t mc_after = static_cast<uint16_t>(cfg()[kMsixCap + 2] | cfg()[kMsixCap + 3] << 8);
    EXPECT_FALSE(mc_after & msix::kEnable); // the device's reset value
    reinit_and_check_io(64);
    const uint16_t mc = static_cast<uint16_t>(cfg()[kMsixCap + 2] | cfg()[kMsixCap + 3] << 8);
    EXPECT_TRUE(mc & msix::kEnable);
    EXPECT_FALSE(mc & msix::kFunctionMask);
    EXPECT_GT(ctl->stats().nmis_with_work + ctl->stats().nmis_owed, 0u) << "completions were not caught by NMIs";
}

TEST_F(NvmeFunctionReset, D3hotMidCommandKeepsOffTheBarThenTheResetToD0DropsIt) {
    write_in_flight(200, 16);
    port_write(kPmcsr, 2, sv::pci::pm::d3hot);
    EXPECT_EQ(fn.resets().power_state(), sv::pci::pm::d3hot);
    EXPECT_EQ(sim.function_resets, 0u); // entering D3hot keeps the state
    // The guest sees all ones; the hypervisor touches nothing, NMIs included.
    EXPECT_EQ(bar.read32(reg::kCsts), 0xFFFFFFFFu);
    bar.write32(reg::kCc, 0);
    sim.signalled.push_back(1); // an NMI (any device's) while in D3hot
    take_nmis();
    EXPECT_FALSE(ctl->on_nmi(0));
    EXPECT_TRUE(device.stray.empty()) << "the hypervisor accessed the BAR of a function in D3hot";
    EXPECT_GT(fn.stats().not_ready, 0u);
    // D3hot -> D0 with NoSoftReset 0: the function resets.
    port_write(kPmcsr, 2, sv::pci::pm::d0);
    ASSERT_EQ(sim.function_resets, 1u);
    EXPECT_EQ(command_at_reset[0] & kCommandBme, 0);
    EXPECT_EQ(fn.resets().stats().power_up_resets, 1u);
    EXPECT_EQ(ctl->stats().function_resets, 1u);
    EXPECT_TRUE(drv.interrupt(1).empty());
    reinit_and_check_io(700);
    EXPECT_TRUE(device.stray.empty());
}

// NoSoftReset 1: D3hot -> D0 keeps the function's state; the mediator keeps
// its own, and the held write completes, encrypted, once the function is back.
struct NvmeNoSoftReset : Rig {
    void SetUp() override {
        no_soft_reset = true;
        Rig::SetUp();
    }
};

TEST_F(NvmeNoSoftReset, D3hotToD0KeepsStateAndTheCommandCompletes) {
    const Bytes plain = pattern(16 * 512, 9);
    write_in_flight(200, 16);
    EXPECT_TRUE(fn.resets().capabilities().no_soft_reset);
    port_write(kPmcsr, 2, sv::pci::pm::d3hot);
    EXPECT_EQ(bar.read32(reg::kCsts), 0xFFFFFFFFu);
    port_write(kPmcsr, 2, sv::pci::pm::d0);
    EXPECT_EQ(sim.function_resets, 0u);
    EXPECT_EQ(fn.resets().stats().power_ups, 1u);
    EXPECT_EQ(ctl->stats().function_resets, 0u);
    EXPECT_TRUE(ctl->enabled());
    sim.complete_held();
    take_nmis();
    const auto done = deliver_interrupts();
    ASSERT_EQ(done.size(), 1u);
    EXPECT_EQ(done[0].status, 0);
    EXPECT_EQ(media(200, plain.size()), sv::crypto::test::openssl_xts(true, key, plain, 512, 200));
    EXPECT_TRUE(device.stray.empty());
}

TEST_F(NvmeFunctionReset, DeviceControlWritesWithoutInitiateFlrAndOtherFunctionsAreNoReset) {
    // Another function's Device Control: not ours.
    sv::pci::ConfigWrite w;
    w.address = sv::pci::Address{0, 5, 0};
    w.offset = kDevctl;
    w.size = 2;
    w.value = sv::pci::pcie::control_initiate_flr;
    mediator.guest_write(w, ecam);
    EXPECT_EQ(ctl->stats().function_resets, 0u);
    // Device Control writes without Initiate FLR (Linux sets MPS, relaxed ordering ...).
    port_write(kDevctl, 2, 0x2810);
    EXPECT_EQ(ctl->stats().function_resets, 0u);
    EXPECT_TRUE(ctl->enabled());
    EXPECT_EQ(command() & kCommandBme, kCommandBme);
}

TEST_F(NvmeFunctionReset, ADeviceThatIgnoresItsD3hotResetIsDisabledBeforeItsShadowsAreReused) {
    ignores_pm_reset = true;
    write_in_flight(250, 8);
    port_write(kPmcsr, 2, sv::pci::pm::d3hot);
    port_write(kPmcsr, 2, sv::pci::pm::d0);
    EXPECT_EQ(sim.function_resets, 0u);
    EXPECT_EQ(ctl->stats().function_resets, 1u); // the mediator took it as the reset PMCSR announces
    EXPECT_TRUE(sim.ready());                     // the device still runs the shadow queues
    EXPECT_TRUE(held_chunks()) << "shadow chunks given back while the device may still use them";
    take_nmis();
    EXPECT_TRUE(drv.interrupt(1).empty());
    reinit_and_check_io(900); // its first register access disables the device: chunks back
    EXPECT_EQ(media(250, 8 * 512), Bytes(8 * 512, 0)); // the dropped write never ran
    EXPECT_TRUE(device.stray.empty());
}

} // namespace
} // namespace svtest
