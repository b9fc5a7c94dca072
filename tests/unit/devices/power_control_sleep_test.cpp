// Sleep requests at PM1 control (devices/acpi/power_control.hpp, issue 7
// classes 7 and 8): only S5 wipes and reaches the hardware; S3 goes to the
// SuspendHandler (the S3 engine) and, when it takes it, to the hardware
// without the wipe; S4, S0, unnamed and ambiguous types and refused S1-S3
// never reach the hardware with SLP_EN, keep the key, and make PM1a status
// show WAK_STS until the guest clears it (wake_status.hpp).
#include <gtest/gtest.h>

#include <map>
#include <vector>

#include "core/io_dispatch.hpp"
#include "devices/acpi/power_control.hpp"
#include "devices/acpi/wake_status.hpp"

namespace sv::acpi {
namespace {

// The hardware ports: writes recorded, PM1 status registers readable.
struct RecordingIo final : PortIo {
    std::vector<std::pair<uint16_t, uint32_t>> writes;
    std::map<uint16_t, uint32_t> regs;
    uint32_t in(uint16_t port, uint8_t size) override {
        const uint32_t v = regs.count(port) ? regs[port] : 0;
        return size == 4 ? v : v & ((1u << (8 * size)) - 1);
    }
    void out(uint16_t port, uint8_t, uint32_t v) override { writes.emplace_back(port, v); }
};

struct FakeSuspend final : SuspendHandler {
    bool allow = false;
    std::vector<unsigned> states;
    int returned = 0;
    bool on_suspend_to_ram(unsigned state, uint16_t, bool, uint16_t, uint8_t, uint32_t) override {
        states.push_back(state);
        return allow;
    }
    void sleep_write_returned() override { ++returned; }
};

int wipes = 0;
void count_wipe(const char*) { ++wipes; }

constexpr uint16_t pm1a_sts = 0x600;
constexpr uint16_t pm1a_cnt = 0x604;
constexpr uint32_t slp_en = 1u << 13;
constexpr uint32_t wak_sts = 1u << 15;
uint32_t sleep_value(uint32_t slp_typ) { return slp_en | (slp_typ << 10); }

SleepTypes qemu_types() { // QEMU pc DSDT with S3 and S4 enabled
    SleepTypes t;
    t.set(3, 1, 1);
    t.set(4, 2, 2);
    t.set(5, 0, 0);
    return t;
}

struct PowerControlSleep : ::testing::Test {
    RecordingIo hw;
    IoDispatcher io;
    PowerControl pc{hw, count_wipe};
    FakeSuspend s3;
    void SetUp() override {
        wipes = 0;
        hw.regs[pm1a_sts] = 0x0100; // PWRBTN_STS, say
        hw.regs[pm1a_sts + 1] = 0x01; // its byte lane
        pc.set_sleep_types(qemu_types());
        ASSERT_TRUE(pc.move_pm1(0, pm1a_cnt, false, io, pm1a_sts).ok());
    }
    void out(uint16_t port, uint8_t size, uint32_t value) { io.find(port)->io_out(port, size, value); }
    uint32_t in(uint16_t port, uint8_t size) { return io.find(port)->io_in(port, size); }
};

TEST_F(PowerControlSleep, SuspendToRamKeepsTheKey) {
    s3.allow = true;
    pc.set_suspend_handler(&s3);
    out(pm1a_cnt, 2, sleep_value(1));
    ASSERT_EQ(s3.states.size(), 1u);
    EXPECT_EQ(s3.states[0], 3u);
    EXPECT_EQ(wipes, 0);
    ASSERT_EQ(hw.writes.size(), 1u);
    EXPECT_EQ(hw.writes[0].second, sleep_value(1));
    EXPECT_EQ(s3.returned, 1); // the CPU came back from the write: undo
    EXPECT_TRUE(pc.wake_status_pending()); // and the guest's wait ends
    EXPECT_EQ(pc.stats().allowed_sleeps, 1u);
}

TEST_F(PowerControlSleep, RefusedSleepsKeepTheKeyAndNeverSetSlpEn) {
    pc.set_suspend_handler(&s3); // refuses
    for (uint32_t t = 1; t < 8; ++t) out(pm1a_cnt, 2, sleep_value(t)); // S3, S4, unnamed
    out(pm1a_cnt, 4, sleep_value(2)); // dword write: same rule
    EXPECT_EQ(wipes, 0);
    EXPECT_EQ(pc.stats().refused_sleeps, 8u);
    EXPECT_EQ(s3.states.size(), 1u); // only S3 is the handler's to decide
    ASSERT_EQ(hw.writes.size(), 8u);
    for (size_t i = 0; i < 7; ++i) EXPECT_EQ(hw.writes[i].second & slp_en, 0u) << i;
    EXPECT_EQ(hw.writes[7].second & slp_en, 0u);
}

TEST_F(PowerControlSleep, HibernateIsRefusedNotWiped) {
    // S4: the platform would boot afresh and the guest resume without the
    // hypervisor (issue 7 class 8): refused even with a handler that
    // would take anything.
    s3.allow = true;
    pc.set_suspend_handler(&s3);
    out(pm1a_cnt, 2, sleep_value(2));
    EXPECT_EQ(wipes, 0);
    EXPECT_TRUE(s3.states.empty());
    EXPECT_EQ(hw.writes.back().second, 2u << 10);
    EXPECT_EQ(pc.stats().refused_sleeps, 1u);
}

TEST_F(PowerControlSleep, WithoutS3InTheDsdtItsValueIsRefused) {
    // QEMU still suspends on SLP_TYP 1 when the DSDT hides \_S3: unnamed,
    // so it never reaches the hardware with SLP_EN.
    SleepTypes t;
    t.set(5, 0, 0);
    pc.set_sleep_types(t);
    s3.allow = true;
    pc.set_suspend_handler(&s3);
    out(pm1a_cnt, 2, sleep_value(1));
    EXPECT_TRUE(s3.states.empty());
    EXPECT_EQ(wipes, 0);
    EXPECT_EQ(hw.writes.back().second & slp_en, 0u);
}

TEST_F(PowerControlSleep, AmbiguousTypeIsNeitherAPowerOffNorASleep) {
    SleepTypes t = qemu_types();
    t.set(4, 1, 1); // \_S3 and \_S4 both 1
    pc.set_sleep_types(t);
    s3.allow = true;
    pc.set_suspend_handler(&s3);
    out(pm1a_cnt, 2, sleep_value(1));
    EXPECT_TRUE(s3.states.empty());
    EXPECT_EQ(wipes, 0);
    EXPECT_EQ(hw.writes.back().second & slp_en, 0u);
}

TEST_F(PowerControlSleep, PowerOffStillWipesFirst) {
    pc.set_suspend_handler(&s3);
    out(pm1a_cnt, 2, sleep_value(0));
    EXPECT_EQ(wipes, 1);
    ASSERT_EQ(hw.writes.size(), 1u);
    EXPECT_EQ(hw.writes[0].second, sleep_value(0));
    EXPECT_TRUE(s3.states.empty());
    EXPECT_FALSE(pc.wake_status_pending());
}

TEST_F(PowerControlSleep, WritesWithoutSlpEnPassUntouched) {
    pc.set_suspend_handler(&s3);
    out(pm1a_cnt, 2, 1u << 10); // SLP_TYP alone: Linux writes it before SLP_EN
    EXPECT_TRUE(s3.states.empty());
    ASSERT_EQ(hw.writes.size(), 1u);
    EXPECT_EQ(hw.writes[0].second, 1u << 10);
    EXPECT_EQ(wipes, 0);
    EXPECT_FALSE(pc.wake_status_pending());
}

TEST_F(PowerControlSleep, RefusalShowsWakStsUntilTheGuestClearsIt) {
    EXPECT_EQ(in(pm1a_sts, 2), 0x0100u); // nothing refused: pass-through
    out(pm1a_cnt, 2, sleep_value(2));    // S4: refused
    EXPECT_EQ(in(pm1a_sts, 2), 0x0100u | wak_sts);
    EXPECT_EQ(in(pm1a_sts + 1, 1), 0x81u);
    out(pm1a_sts, 2, wak_sts); // write-1-to-clear
    EXPECT_FALSE(pc.wake_status_pending());
    EXPECT_EQ(in(pm1a_sts, 2), 0x0100u);
}

TEST_F(PowerControlSleep, StatusRegisterMovesWithTheBlock) {
    ASSERT_TRUE(pc.move_pm1(0, 0xB004, false, io, 0xB000).ok());
    EXPECT_EQ(io.find(pm1a_sts), nullptr);
    EXPECT_EQ(io.find(pm1a_cnt), nullptr);
    EXPECT_EQ(pc.pm1_status_port(0), 0xB000);
    out(0xB004, 2, sleep_value(2));
    EXPECT_EQ(in(0xB000, 2) & wak_sts, wak_sts);
    // A PM1b block has no status trap of its own (OSPM reads WAK_STS in
    // PM1a status).
    ASSERT_TRUE(pc.move_pm1(1, 0xC004, true, io, 0xC000).ok());
    EXPECT_EQ(io.find(0xC000), nullptr);
    EXPECT_EQ(pc.pm1_status_port(1), 0);
}

TEST_F(PowerControlSleep, StatusPortOwnedElsewhereIsLeftAlone) {
    struct Other final : IoHandler {
        uint32_t io_in(uint16_t, uint8_t) override { return 0; }
        void io_out(uint16_t, uint8_t, uint32_t) override {}
    } other;
    ASSERT_TRUE(io.add(0xD000, 2, other).ok());
    ASSERT_TRUE(pc.move_pm1(2, 0xD004, false, io, 0xD000).ok()); // PM1 control still trapped
    EXPECT_NE(io.find(0xD004), nullptr);
    EXPECT_EQ(io.find(0xD000), &other);
    EXPECT_EQ(pc.pm1_status_port(2), 0);
}

} // namespace
} // namespace sv::acpi

namespace sv::acpi {
namespace {

struct StatusIo final : PortIo {
    uint32_t value = 0x0100; // PWRBTN_STS, say
    std::vector<std::pair<uint16_t, uint32_t>> writes;
    uint32_t in(uint16_t port, uint8_t size) override {
        const uint32_t v = port == 0x601 ? value >> 8 : value;
        return size == 1 ? (v & 0xFF) : v;
    }
    void out(uint16_t port, uint8_t, uint32_t v) override { writes.push_back({port, v}); }
};

TEST(RefusedSleepStatus, WakStsShowsUntilTheGuestClearsIt) {
    StatusIo io;
    RefusedSleepStatus st(io);
    st.set_port(0x600);
    EXPECT_EQ(st.io_in(0x600, 2), 0x0100u); // nothing refused yet: pass-through
    st.sleep_refused();
    EXPECT_EQ(st.io_in(0x600, 2), 0x8100u);
    EXPECT_EQ(st.io_in(0x601, 1), 0x81u);   // byte lane of bit 15
    EXPECT_EQ(st.io_in(0x600, 1), 0x00u);   // low byte: unchanged
    EXPECT_EQ(st.io_in(0x600, 4) & 0x8000u, 0x8000u);
    st.io_out(0x600, 2, 0x0100); // clears PWRBTN only
    EXPECT_TRUE(st.pending());
    st.io_out(0x601, 1, 0x80);   // WAK_STS written 1: cleared
    EXPECT_FALSE(st.pending());
    EXPECT_EQ(st.io_in(0x600, 2), 0x0100u);
    EXPECT_EQ(io.writes.size(), 2u); // writes always reach the hardware
}

} // namespace
} // namespace sv::acpi
