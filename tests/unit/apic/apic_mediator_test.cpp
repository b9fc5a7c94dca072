// The local APIC write mediator: INIT/STARTUP IPIs to other processors are
// virtualized, everything else reaches the (fake) APIC registers unchanged.
#include <gtest/gtest.h>

#include <map>
#include <utility>
#include <vector>

#include "devices/apic/apic_mediator.hpp"

namespace sv::apic {
namespace {

struct FakeRegs final : ApicRegisters {
    std::map<uint32_t, uint32_t> regs{{0x20, 0u << 24}};
    std::vector<std::pair<uint32_t, uint32_t>> writes;
    uint32_t read(uint32_t reg) override { return regs[reg]; }
    void write(uint32_t reg, uint32_t value) override {
        regs[reg] = value;
        writes.emplace_back(reg, value);
    }
};

struct FakeCpus final : ProcessorControl {
    std::vector<uint8_t> aps{1, 2, 3};
    std::vector<uint8_t> inits;
    std::vector<std::pair<uint8_t, uint8_t>> startups;
    void init(uint8_t id) override { inits.push_back(id); }
    void startup(uint8_t id, uint8_t vector) override { startups.emplace_back(id, vector); }
    void for_each_other(uint8_t self, void (*fn)(ProcessorControl&, uint8_t, uint8_t), uint8_t vector) override {
        for (uint8_t id : aps)
            if (id != self) fn(*this, id, vector);
    }
};

struct ApicMediatorTest : ::testing::Test {
    FakeRegs regs;
    FakeCpus cpus;
    ApicMediator m{regs, cpus};
    void icr(uint8_t dest, uint32_t low) {
        m.guest_write(0x310, 4, static_cast<uint32_t>(dest) << 24);
        m.guest_write(0x300, 4, low);
    }
};

TEST_F(ApicMediatorTest, LinuxInitStartupStartupIsVirtualized) {
    icr(2, 0x0000C500); // INIT, level assert, level triggered
    icr(2, 0x00008500); // INIT de-assert: no effect
    icr(2, 0x00000699); // STARTUP vector 0x99
    icr(2, 0x00000699);
    EXPECT_EQ(cpus.inits, (std::vector<uint8_t>{2}));
    ASSERT_EQ(cpus.startups.size(), 2u); // the AP itself ignores the second one
    EXPECT_EQ(cpus.startups[0], (std::pair<uint8_t, uint8_t>{2, 0x99}));
    for (auto& w : regs.writes) EXPECT_NE(w.first, 0x300u) << "INIT/STARTUP reached the real ICR";
}

TEST_F(ApicMediatorTest, OtherWritesReachTheApic) {
    m.guest_write(0xB0, 4, 0);          // EOI
    m.guest_write(0x380, 4, 123456);    // timer initial count
    icr(1, 0x000000F0);                 // fixed IPI, vector 0xF0
    EXPECT_EQ(regs.regs[0xB0], 0u);
    EXPECT_EQ(regs.regs[0x380], 123456u);
    EXPECT_EQ(regs.regs[0x300], 0xF0u);
    EXPECT_TRUE(cpus.inits.empty());
    EXPECT_TRUE(cpus.startups.empty());
}

TEST_F(ApicMediatorTest, ShorthandAllExcludingSelfReachesEveryOtherProcessor) {
    regs.regs[0x20] = 1u << 24; // we are APIC 1
    m.guest_write(0x300, 4, (3u << 18) | 0x4500);
    EXPECT_EQ(cpus.inits, (std::vector<uint8_t>{2, 3}));
}

TEST_F(ApicMediatorTest, HostileWritesAreDroppedNotForwarded) {
    m.guest_write(0x301, 4, 0x4500);        // misaligned
    m.guest_write(0x300, 2, 0x4500);        // wrong size
    m.guest_write(0x1000, 4, 0);            // past the page
    icr(2, (1u << 11) | 0x4500);            // logical destination INIT
    icr(2, (1u << 18) | 0x0600);            // STARTUP to self
    EXPECT_TRUE(regs.writes.size() == 2u);  // only the two ICR-high writes
    EXPECT_TRUE(cpus.inits.empty());
    EXPECT_TRUE(cpus.startups.empty());
    EXPECT_EQ(m.stats().dropped, 4u);
}

} // namespace
} // namespace sv::apic
