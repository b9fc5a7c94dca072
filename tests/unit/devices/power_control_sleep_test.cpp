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
