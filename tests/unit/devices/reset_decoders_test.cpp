// Reset and sleep request decoding for every size and byte lane: 0xCF9
// (byte/word/dword, through 0xCF8 too), port 92h, the 8042's reset
// sequences, PM1 control SLP_EN in either byte lane; and PowerControl
// wiping, forwarding, refusing S3 and following moved PM1 blocks.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "devices/acpi/pm_base.hpp"
#include "devices/acpi/power_control.hpp"
#include "devices/acpi/reset_decoders.hpp"

namespace sv::acpi {
namespace {

TEST(ResetDecoders, ByteLanes) {
    EXPECT_TRUE(byte_lane(0xCF8, 2, 0x0600, 0xCF9).covered);
    EXPECT_EQ(byte_lane(0xCF8, 2, 0x0600, 0xCF9).value, 6);
    EXPECT_FALSE(byte_lane(0xCF8, 1, 0x06, 0xCF9).covered);
    EXPECT_EQ(byte_lane(0xCF6, 4, 0x00060000, 0xCF9).value, 0);
    EXPECT_EQ(byte_lane(0xCF6, 4, 0x06000000, 0xCF9).value, 6);
    EXPECT_FALSE(byte_lane(0xCFA, 4, ~0u, 0xCF9).covered);
}

TEST(ResetDecoders, Cf9AnySize) {
    EXPECT_TRUE(resets_via_cf9(0xCF9, 1, 0x06));
    EXPECT_TRUE(resets_via_cf9(0xCF9, 1, 0x04));
    EXPECT_FALSE(resets_via_cf9(0xCF9, 1, 0x02)); // SYS_RST alone only selects the kind
    EXPECT_TRUE(resets_via_cf9(0xCF9, 2, 0x0006));
    EXPECT_TRUE(resets_via_cf9(0xCF9, 4, 0x00000006));
    EXPECT_TRUE(resets_via_cf9(0xCF8, 2, 0x0600)); // 16-bit at 0xCF8: not CONFIG_ADDRESS
    EXPECT_FALSE(resets_via_cf9(0xCF8, 4, 0x80000600)); // dword at 0xCF8: CONFIG_ADDRESS
    EXPECT_TRUE(resets_via_cf9(0xCF7, 4, 0x00060000));
    EXPECT_TRUE(resets_via_cf9(0xCF6, 4, 0x06000000));
    EXPECT_FALSE(resets_via_cf9(0xCF6, 2, 0xFFFF));
    EXPECT_FALSE(resets_via_cf9(0xCFA, 4, 0xFFFFFFFF));
}

TEST(ResetDecoders, Port92FastReset) {
    EXPECT_TRUE(resets_via_port92(0x92, 1, 0x01));
    EXPECT_TRUE(resets_via_port92(0x92, 1, 0x03));
    EXPECT_FALSE(resets_via_port92(0x92, 1, 0x02)); // A20 only
    EXPECT_TRUE(resets_via_port92(0x91, 2, 0x0100));
    EXPECT_TRUE(resets_via_port92(0x90, 4, 0x00010000));
    EXPECT_FALSE(resets_via_port92(0x93, 1, 0x01));
}

TEST(ResetDecoders, Kbc8042Commands) {
    Kbc8042 k;
    EXPECT_TRUE(k.write(0x64, 1, 0xFE));
    EXPECT_TRUE(k.write(0x64, 1, 0xF0));
    EXPECT_TRUE(k.write(0x64, 1, 0xFA));
    EXPECT_FALSE(k.write(0x64, 1, 0xFF)); // pulse nothing
    EXPECT_FALSE(k.write(0x64, 1, 0xF1));
    EXPECT_FALSE(k.write(0x64, 1, 0xAE));
    EXPECT_FALSE(k.write(0x60, 1, 0x00)); // keyboard data, no command pending
    EXPECT_TRUE(k.write(0x63, 2, 0xFE00)); // word below the command port
    EXPECT_TRUE(k.write(0x64, 2, 0x00FE));
}

TEST(ResetDecoders, Kbc8042OutputPortWrite) {
    Kbc8042 k;
    EXPECT_FALSE(k.write(0x64, 1, 0xD1));
    EXPECT_FALSE(k.write(0x60, 1, 0x03)); // reset bit high: A20 on, no reset
    EXPECT_FALSE(k.write(0x60, 1, 0x00)); // consumed: plain keyboard data now
    EXPECT_FALSE(k.write(0x64, 1, 0xD1));
    EXPECT_TRUE(k.write(0x60, 1, 0xFE)); // bit 0 low: reset
    // An unrelated command in between keeps the write pending (as QEMU does).
    EXPECT_FALSE(k.write(0x64, 1, 0xD1));
    EXPECT_FALSE(k.write(0x64, 1, 0xAD));
    EXPECT_TRUE(k.write(0x60, 2, 0x0002)); // word write: byte 0x60 is the output port
    // A data-taking command replaces it.
    EXPECT_FALSE(k.write(0x64, 1, 0xD1));
    EXPECT_FALSE(k.write(0x64, 1, 0x60));
    EXPECT_FALSE(k.write(0x60, 1, 0x00));
}

TEST(ResetDecoders, Pm1ControlAnyLane) {
    constexpr uint16_t cnt = 0x604;
    const uint32_t s5 = (1u << 13) | (0u << 10) | 1; // SLP_EN, SLP_TYP 0, SCI_EN
    SleepRequest r = decode_pm1_control(cnt, 2, s5, cnt);
    EXPECT_TRUE(r.requested);
    EXPECT_EQ(r.slp_typ, 0);
    r = decode_pm1_control(cnt + 1, 1, 0x20 | (1 << 2), cnt); // byte write to PM1_CNT+1: SLP_EN, SLP_TYP 1
    EXPECT_TRUE(r.requested);
    EXPECT_EQ(r.slp_typ, 1);
    EXPECT_FALSE(decode_pm1_control(cnt, 1, 0xFF, cnt).requested); // low byte only: no SLP_EN
    EXPECT_TRUE(decode_pm1_control(cnt - 2, 4, s5 << 16, cnt).requested); // dword from PM1_EN
    EXPECT_TRUE(decode_pm1_control(cnt - 1, 4, 0x20u << 16, cnt).requested);
    EXPECT_TRUE(decode_pm1_control(cnt + 1, 2, 0x0020, cnt).requested);
    EXPECT_FALSE(decode_pm1_control(cnt + 2, 2, 0xFFFF, cnt).requested);
    EXPECT_FALSE(decode_pm1_control(cnt, 2, 0x1C01, cnt).requested); // SLP_TYP without SLP_EN
    EXPECT_EQ(without_slp_en(cnt, 2, s5, cnt), 1u);
    EXPECT_EQ(without_slp_en(cnt + 1, 1, 0x24, cnt), 0x04u);
    EXPECT_EQ(without_slp_en(cnt - 2, 4, s5 << 16, cnt), 1u << 16);
}

// Ports as a recording fake: what reached the hardware.
struct FakePorts final : PortIo {
    std::vector<std::pair<uint16_t, uint32_t>> writes;
    std::map<uint16_t, uint32_t> regs;
    uint32_t in(uint16_t port, uint8_t) override { return regs.count(port) ? regs[port] : 0xFFFFFFFF; }
    void out(uint16_t port, uint8_t, uint32_t value) override { writes.emplace_back(port, value); }
};

std::vector<std::string> hook_calls;
void record(const char* why) { hook_calls.emplace_back(why); }

struct PowerControlTest : ::testing::Test {
    FakePorts ports;
    IoDispatcher io;
    PowerControl power{ports, record};
    void SetUp() override {
        hook_calls.clear();
        ASSERT_TRUE(power.register_fixed_ports(io).ok());
    }
    void out(uint16_t port, uint8_t size, uint32_t value) { io.find(port)->io_out(port, size, value); }
};

TEST_F(PowerControlTest, FixedPortsAreOwned) {
    for (uint16_t p : {0x60, 0x64, 0x92, 0xCF9}) EXPECT_EQ(io.find(p), &power) << p;
    // CONFIG_ADDRESS and the data window are the PCI mediator's; the port
    // dispatcher hands PowerControl the 0xCF9 byte of any access covering it.
    EXPECT_EQ(io.find(0xCF8), nullptr);
    EXPECT_EQ(io.find(0xCFA), nullptr);
}

TEST_F(PowerControlTest, WipesBeforeTheResetReachesTheHardware) {
    out(0xCF9, 2, 0x0006); // a word at 0xCF9: its low byte is the reset control register
    ASSERT_EQ(hook_calls.size(), 1u);
    EXPECT_EQ(ports.writes.back(), (std::pair<uint16_t, uint32_t>{0xCF9, 0x0006}));
    out(0x64, 1, 0xFE);
    out(0x92, 1, 0x01);
    out(0xCF9, 1, 0x06);
    EXPECT_EQ(hook_calls.size(), 4u);
    EXPECT_EQ(power.stats().wipes, 4u);
    out(0x64, 1, 0xAE);
    out(0x92, 1, 0x02);
    out(0xCF9, 1, 0x00);
    EXPECT_EQ(hook_calls.size(), 4u);
}

TEST_F(PowerControlTest, Pm1PowerOffAndMovedBlock) {
    ASSERT_TRUE(power.move_pm1(0, 0x604, false, io).ok());
    out(0x605, 1, 0x20); // SLP_TYP 0 (S5 on QEMU) + SLP_EN, byte lane 1
    ASSERT_EQ(hook_calls.size(), 1u);
    EXPECT_EQ(ports.writes.back(), (std::pair<uint16_t, uint32_t>{0x605, 0x20}));
    // Moved: the old ports are free, the new ones trapped.
    ASSERT_TRUE(power.move_pm1(0, 0xB004, false, io).ok());
    EXPECT_EQ(io.find(0x604), nullptr);
    out(0xB004, 2, 0x2001);
    EXPECT_EQ(hook_calls.size(), 2u);
    // Ports another mediator owns: refused.
    ASSERT_TRUE(power.move_pm1(1, 0x1F0, false, io).ok());
    EXPECT_FALSE(power.move_pm1(0, 0x1F0, false, io).ok());
    EXPECT_EQ(power.pm1_port(0), 0);
}

struct RecordingSuspend final : SuspendHandler {
    bool allow = false;
    unsigned calls = 0, state = 0;
    bool on_suspend_to_ram(unsigned s, uint16_t, bool, uint16_t, uint8_t, uint32_t) override {
        ++calls;
        state = s;
        return allow;
    }
};

TEST_F(PowerControlTest, SuspendIsRefusedWithoutAHandler) {
    SleepTypes t;
    t.set(3, 1, 1);
    t.set(5, 0, 0);
    power.set_sleep_types(t);
    ASSERT_TRUE(power.move_pm1(0, 0x604, false, io).ok());
    out(0x604, 2, 0x2401); // S3
    EXPECT_TRUE(hook_calls.empty());
    EXPECT_EQ(power.stats().refused_sleeps, 1u);
    EXPECT_EQ(ports.writes.back(), (std::pair<uint16_t, uint32_t>{0x604, 0x0401})); // SLP_EN dropped
    RecordingSuspend s3;
    power.set_suspend_handler(&s3);
    out(0x604, 2, 0x2401);
    EXPECT_EQ(s3.calls, 1u);
    EXPECT_EQ(s3.state, 3u);
    EXPECT_EQ(ports.writes.back().second, 0x0401u);
    s3.allow = true;
    out(0x605, 1, 0x24);
    EXPECT_EQ(ports.writes.back(), (std::pair<uint16_t, uint32_t>{0x605, 0x24}));
    EXPECT_EQ(power.stats().allowed_sleeps, 1u);
    EXPECT_TRUE(hook_calls.empty());
    // SLP_TYP 2: no \_S4 here -> unknown -> refused like every sleep the
    // hypervisor cannot survive (issue 7 class 8): no wipe, SLP_EN dropped.
    out(0x604, 2, 0x2801);
    EXPECT_TRUE(hook_calls.empty());
    EXPECT_EQ(ports.writes.back(), (std::pair<uint16_t, uint32_t>{0x604, 0x0801}));
    EXPECT_EQ(power.stats().refused_sleeps, 3u);
    out(0x604, 2, 0x2001); // S5: the one sleep type that wipes
    EXPECT_EQ(hook_calls.size(), 1u);
}

TEST(PowerControlReset, FadtResetRegisterIoAndMemory) {
    hook_calls.clear();
    FakePorts ports;
    IoDispatcher io;
    PowerControl power{ports, record};
    power.set_reset_register(ResetRegister{AddressSpace::Io, 0xB2, 1, 0x0F}, nullptr);
    ASSERT_TRUE(power.register_fixed_ports(io).ok());
    ASSERT_EQ(io.find(0xB2), &power);
    io.find(0xB2)->io_out(0xB2, 1, 0x0F);
    EXPECT_EQ(hook_calls.size(), 1u);

    struct Mem final : MemoryWriter {
        std::vector<uint64_t> writes;
        void write(uint64_t pa, uint8_t, uint64_t) override { writes.push_back(pa); }
    } mem;
    PowerControl mmio{ports, record};
    mmio.set_reset_register(ResetRegister{AddressSpace::Memory, 0xFED00F00, 1, 0x06}, &mem);
    mmio.mmio_write(0xFED00F04, 4, 0); // same page, other register: forwarded only
    EXPECT_EQ(hook_calls.size(), 1u);
    mmio.mmio_write(0xFED00EFC, 8, 0x06ull << 32); // covers it
    EXPECT_EQ(hook_calls.size(), 2u);
    EXPECT_EQ(mem.writes.size(), 2u);
}

// PIIX4 PM function config space behind 0xCF8/0xCFC.
struct FakeConfig final : PortIo {
    uint32_t address = 0;
    std::map<uint32_t, uint32_t> dwords;
    uint32_t in(uint16_t port, uint8_t size) override {
        if (port == 0xCF8) return address;
        const uint32_t dw = dwords.count(address & ~3u) ? dwords[address & ~3u] : 0xFFFFFFFF;
        const uint32_t mask = size == 4 ? 0xFFFFFFFF : (1u << (8 * size)) - 1;
        return (dw >> (8 * (port - 0xCFC))) & mask;
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
};

TEST(PmBase, DecodesPiix4AndIch) {
    EXPECT_EQ(pm_chipset_of(0x71138086, 0x06, 0x80), PmChipset::Piix4);
    EXPECT_EQ(pm_chipset_of(0x29188086, 0x06, 0x01), PmChipset::Ich);
    EXPECT_EQ(pm_chipset_of(0x70008086, 0x06, 0x01), PmChipset::None);
    EXPECT_EQ(pm1_control_port(PmChipset::Piix4, 0x601, 1), 0x604);
    EXPECT_EQ(pm1_control_port(PmChipset::Piix4, 0x601, 0), 0);
    EXPECT_EQ(pm1_control_port(PmChipset::Piix4, 0xB03F, 1), 0xB004);
    EXPECT_EQ(pm1_control_port(PmChipset::Ich, 0x601, 0x80), 0x604);
    EXPECT_EQ(pm1_control_port(PmChipset::Ich, 0x6C1, 0x80), 0x684);
    EXPECT_EQ(pm1_control_port(PmChipset::Ich, 0x601, 0x00), 0);
    EXPECT_EQ(pm1_control_port(PmChipset::Ich, 0x1, 0x80), 0);
}

TEST(PmBase, FollowsAGuestMoveAndRefusesAnUntrappablePlace) {
    hook_calls.clear();
    FakeConfig cfg;
    const pci::Address pm{0, 1, 3};
    const uint32_t base = 0x80000000u | 1u << 11 | 3u << 8;
    cfg.dwords[base | 0x40] = 0x601;
    cfg.dwords[base | 0x80] = 0x1;
    pci::ConfigSpace space(cfg);
    IoDispatcher io;
    PowerControl power{cfg, record};
    PmBaseTracker tracker(space, cfg, power, io);
    Result<uint16_t> port = tracker.track(pm, PmChipset::Piix4, 0);
    ASSERT_TRUE(port.ok());
    EXPECT_EQ(port.value(), 0x604);
    EXPECT_NE(io.find(0x605), nullptr);
    // The guest moves PMBA to 0xB000.
    cfg.dwords[base | 0x40] = 0xB001;
    tracker.config_written(pci::ConfigWrite{pm, 0x40, 4, 0});
    EXPECT_EQ(power.pm1_port(0), 0xB004);
    EXPECT_EQ(io.find(0x604), nullptr);
    EXPECT_NE(io.find(0xB005), nullptr);
    EXPECT_EQ(tracker.moves(), 1u);
    // Onto ports another mediator owns: the old PMBA is written back.
    PowerControl other{cfg, record};
    ASSERT_TRUE(other.move_pm1(0, 0x1C4, false, io).ok());
    cfg.dwords[base | 0x40] = 0x1C1; // PM1_CNT 0x1C4
    tracker.config_written(pci::ConfigWrite{pm, 0x40, 4, 0});
    EXPECT_EQ(tracker.refusals(), 1u);
    EXPECT_EQ(cfg.dwords[base | 0x40], 0xB001u);
    EXPECT_EQ(power.pm1_port(0), 0xB004);
    // Disabled (PMIOSE clear): nothing to trap.
    cfg.dwords[base | 0x80] = 0;
    tracker.config_written(pci::ConfigWrite{pm, 0x80, 4, 0});
    EXPECT_EQ(power.pm1_port(0), 0);
    EXPECT_EQ(io.find(0xB004), nullptr);
    // Other functions' writes are ignored.
    cfg.dwords[base | 0x80] = 1;
    tracker.config_written(pci::ConfigWrite{pci::Address{0, 1, 1}, 0x40, 4, 0});
    EXPECT_EQ(power.pm1_port(0), 0);
}

} // namespace
} // namespace sv::acpi

namespace sv::acpi {
namespace {

TEST(TcoGuard, KeepsTheWatchdogHaltedAndFollowsPmBase) {
    struct Recorder final : PortIo {
        std::vector<std::pair<uint16_t, uint32_t>> w;
        uint32_t in(uint16_t, uint8_t) override { return 0; }
        void out(uint16_t p, uint8_t, uint32_t v) override { w.emplace_back(p, v); }
    } hw, tco_hw;
    FakeConfig cfg;
    const pci::Address lpc{0, 31, 0};
    const uint32_t base = 0x80000000u | 31u << 11;
    cfg.dwords[base | 0x40] = 0x601;
    cfg.dwords[base | 0x44] = 0x80;
    pci::ConfigSpace space(cfg);
    IoDispatcher io;
    PowerControl power{cfg, record};
    TcoGuard tco(tco_hw);
    PmBaseTracker tracker(space, cfg, power, io);
    tracker.set_tco_guard(&tco);
    ASSERT_EQ(tracker.track(lpc, PmChipset::Ich, 0).value(), 0x604);
    EXPECT_EQ(tco.tco1_cnt(), 0x668);
    EXPECT_EQ(io.find(0x669), &tco);

    IoDispatcher io2;
    TcoGuard g(hw);
    ASSERT_TRUE(g.move(0x600, io2).ok());
    ASSERT_EQ(hw.w.size(), 1u);
    EXPECT_EQ(hw.w[0], (std::pair<uint16_t, uint32_t>{0x668, 0x0800})); // halted at once
    g.io_out(0x668, 2, 0x0000); // start the timer: refused
    EXPECT_EQ(hw.w.back().second, 0x0800u);
    g.io_out(0x669, 1, 0x02); // byte lane: bit 11 forced on
    EXPECT_EQ(hw.w.back().second, 0x0Au);
    g.io_out(0x666, 4, 0x00001234); // dword from TCO2_STS: high byte of TCO1_CNT is byte 3
    EXPECT_EQ(hw.w.back().second, 0x08001234u);
    g.io_out(0x668, 1, 0x00); // low byte only: nothing to force
    EXPECT_EQ(hw.w.back().second, 0x00u);
    EXPECT_EQ(g.refused(), 3u);
    g.io_out(0x668, 2, 0x0800); // keeps it halted: fine
    EXPECT_EQ(g.refused(), 3u);

    // The guest moves PMBASE: the TCO trap follows.
    cfg.dwords[base | 0x40] = 0xB001;
    tracker.config_written(pci::ConfigWrite{lpc, 0x40, 4, 0});
    EXPECT_EQ(tco.tco1_cnt(), 0xB068);
    EXPECT_EQ(io.find(0x668), nullptr);
    EXPECT_EQ(io.find(0xB068), &tco);
    // Disabled (ACPI_EN clear): nothing decodes, nothing trapped.
    cfg.dwords[base | 0x44] = 0;
    tracker.config_written(pci::ConfigWrite{lpc, 0x44, 4, 0});
    EXPECT_EQ(tco.tco1_cnt(), 0);
}

} // namespace
} // namespace sv::acpi
