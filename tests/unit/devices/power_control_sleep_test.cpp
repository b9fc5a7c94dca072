// The PM1 control hook for sleeping states (devices/acpi/power_control.hpp,
// SleepControl): S3 goes to the hardware without the key wipe, refused sleep
// types never reach the hardware, power-off still wipes first.
#include <gtest/gtest.h>

#include <vector>

#include "devices/acpi/power_control.hpp"

namespace sv::acpi {
namespace {

struct RecordingIo final : PortIo {
    std::vector<uint32_t> writes;
    uint32_t in(uint16_t, uint8_t) override { return 0; }
    void out(uint16_t, uint8_t, uint32_t v) override { writes.push_back(v); }
};

struct FakeSleep final : SleepControl {
    Decision answer = Decision::PowerOff;
    std::vector<uint8_t> asked;
    int returned = 0;
    Decision sleep_requested(uint8_t slp_typ) override {
        asked.push_back(slp_typ);
        return answer;
    }
    void sleep_write_returned() override { ++returned; }
};

int wipes = 0;
void count_wipe(const char*) { ++wipes; }

constexpr uint16_t pm1a = 0x604;
constexpr uint32_t slp_en = 1u << 13;
uint32_t sleep_value(uint32_t slp_typ) { return slp_en | (slp_typ << 10); }

TEST(PowerControlSleep, SuspendToRamKeepsTheKey) {
    RecordingIo io;
    FakeSleep sleep;
    sleep.answer = SleepControl::Decision::Sleep;
    PowerControl pc(io, count_wipe);
    pc.set_sleep_control(&sleep);
    wipes = 0;
    pc.io_out(pm1a, 2, sleep_value(1));
    ASSERT_EQ(sleep.asked.size(), 1u);
    EXPECT_EQ(sleep.asked[0], 1);
    EXPECT_EQ(wipes, 0);
    ASSERT_EQ(io.writes.size(), 1u);
    EXPECT_EQ(io.writes[0], sleep_value(1));
    EXPECT_EQ(sleep.returned, 1); // the CPU came back from the write: undo
}

TEST(PowerControlSleep, RefusedSleepNeverReachesTheHardware) {
    RecordingIo io;
    FakeSleep sleep;
    sleep.answer = SleepControl::Decision::Refuse;
    PowerControl pc(io, count_wipe);
    pc.set_sleep_control(&sleep);
    wipes = 0;
    for (uint32_t t = 0; t < 8; ++t) pc.io_out(pm1a, 2, sleep_value(t));
    pc.io_out(pm1a, 4, sleep_value(2)); // dword write: same rule
    EXPECT_TRUE(io.writes.empty());
    EXPECT_EQ(wipes, 0);
    EXPECT_EQ(sleep.asked.size(), 9u);
}

TEST(PowerControlSleep, PowerOffStillWipesFirst) {
    RecordingIo io;
    FakeSleep sleep;
    PowerControl pc(io, count_wipe);
    pc.set_sleep_control(&sleep);
    wipes = 0;
    pc.io_out(pm1a, 2, sleep_value(0));
    EXPECT_EQ(wipes, 1);
    ASSERT_EQ(io.writes.size(), 1u);
    EXPECT_EQ(sleep.returned, 0);
}

TEST(PowerControlSleep, WritesWithoutSlpEnPassUntouched) {
    RecordingIo io;
    FakeSleep sleep;
    PowerControl pc(io, count_wipe);
    pc.set_sleep_control(&sleep);
    wipes = 0;
    pc.io_out(pm1a, 2, 1u << 10); // SLP_TYP alone: Linux writes it before SLP_EN
    EXPECT_TRUE(sleep.asked.empty());
    EXPECT_EQ(io.writes.size(), 1u);
    EXPECT_EQ(wipes, 0);
}

} // namespace
} // namespace sv::acpi

#include "devices/acpi/wake_status.hpp"

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
