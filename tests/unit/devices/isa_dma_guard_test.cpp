// The ISA DMA high page registers stay zero whatever the guest writes (any
// size, any lane); everything else passes through; boot-time range check.
#include <gtest/gtest.h>

#include <map>
#include <vector>

#include "core/hypervisor_memory.hpp"
#include "devices/isa/isa_dma_guard.hpp"

namespace sv::isa {
namespace {

struct FakePorts final : PortIo {
    std::map<uint16_t, uint8_t> bytes;
    std::vector<std::pair<uint16_t, uint8_t>> sizes;
    uint32_t in(uint16_t port, uint8_t) override { return bytes.count(port) ? bytes[port] : 0; }
    void out(uint16_t port, uint8_t size, uint32_t value) override {
        sizes.emplace_back(port, size);
        for (uint8_t i = 0; i < size; ++i) bytes[static_cast<uint16_t>(port + i)] = static_cast<uint8_t>(value >> (8 * i));
    }
};

TEST(IsaDmaGuard, HighPagesAreZeroedAndPinned) {
    FakePorts hw;
    hw.bytes[0x481] = 0x7F; // left set by firmware
    IoDispatcher io;
    IsaDmaGuard g(hw);
    ASSERT_TRUE(g.install(io).ok());
    EXPECT_EQ(hw.bytes[0x481], 0);
    for (uint16_t p = 0x480; p < 0x490; ++p) EXPECT_EQ(io.find(p), &g);
    EXPECT_EQ(io.find(0x47F), nullptr);
    EXPECT_EQ(io.find(0x490), nullptr);
    io.find(0x481)->io_out(0x481, 1, 0x3F); // channel 2 at 1008 MiB
    EXPECT_EQ(hw.bytes[0x481], 0);
    io.find(0x487)->io_out(0x487, 1, 0x01);
    EXPECT_EQ(hw.bytes[0x487], 0);
    EXPECT_EQ(g.refused(), 2u);
    io.find(0x481)->io_out(0x481, 1, 0x00); // zero: harmless, not counted
    EXPECT_EQ(g.refused(), 2u);
}

TEST(IsaDmaGuard, WideAccessesAreByteExact) {
    FakePorts hw;
    IsaDmaGuard g(hw);
    g.io_out(0x47E, 4, 0x11223344); // 0x47E, 0x47F pass; 0x480, 0x481 refused
    EXPECT_EQ(hw.bytes[0x47E], 0x44);
    EXPECT_EQ(hw.bytes[0x47F], 0x33);
    EXPECT_EQ(hw.bytes[0x480], 0);
    EXPECT_EQ(hw.bytes[0x481], 0);
    EXPECT_EQ(g.refused(), 2u);
    g.io_out(0x48F, 2, 0xAB01); // 0x48F refused, 0x490 passes
    EXPECT_EQ(hw.bytes[0x48F], 0);
    EXPECT_EQ(hw.bytes[0x490], 0xAB);
    EXPECT_EQ(g.refused(), 3u);
    hw.sizes.clear();
    g.io_out(0x81, 1, 0x12); // page register: not ours, unchanged
    ASSERT_EQ(hw.sizes.size(), 1u);
    EXPECT_EQ(hw.bytes[0x81], 0x12);
}

TEST(IsaDmaReach, BootCheck) {
    EXPECT_FALSE(above_isa_dma_reach(0x200000, 2 << 20)); // the old image place
    EXPECT_FALSE(above_isa_dma_reach(0xFFF000, 0x2000));
    EXPECT_TRUE(above_isa_dma_reach(0x1000000, 2 << 20));
    EXPECT_TRUE(above_isa_dma_reach(0, 0));
}

} // namespace
} // namespace sv::isa
