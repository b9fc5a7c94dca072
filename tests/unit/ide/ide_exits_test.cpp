// VM exits per DMA command when the guest is Linux ata_piix (acceptance
// target: at most 12). Counted as trapped io_in/io_out calls in the ata_piix
// register sequence (see ata_piix_model.cpp for the sequence).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>

#include "ide/ide_fixture.hpp"

namespace {
using namespace svtest;

unsigned exits_per_dma(TrapMode mode, bool write, bool lba48) {
    IdeRig r(true, mode);
    auto plain = pattern(16 * 512, 30);
    std::memcpy(r.ram(0x100000), plain.data(), plain.size());
    if (!write) {
        EXPECT_TRUE(r.dma(true, 40, 16, 0x100000, lba48).ok);
        std::memset(r.ram(0x100000), 0, plain.size());
    }
    Outcome o = r.dma(write, 40, 16, 0x100000, lba48);
    EXPECT_TRUE(o.ok);
    if (!write) {
        EXPECT_EQ(0, std::memcmp(r.ram(0x100000), plain.data(), plain.size()));
    }
    EXPECT_TRUE(r.dma_only_in_shadow());
    return o.exits;
}

TEST(IdeExits, LinuxAtaPiixDmaCommandWithinBudget) {
    for (bool write : {false, true})
        for (bool lba48 : {false, true}) {
            const unsigned minimal = exits_per_dma(TrapMode::Minimal, write, lba48);
            const unsigned lean = exits_per_dma(TrapMode::Lean, write, lba48);
            const unsigned full = exits_per_dma(TrapMode::Full, write, lba48);
            std::printf("[ exits ] ata_piix %s%s: %u (minimal, default), %u (lean: + bm cmd), "
                        "%u (full: + ctl, bm status)\n",
                        write ? "WRITE DMA" : "READ DMA", lba48 ? " EXT" : "", minimal, lean, full);
            EXPECT_LE(minimal, 12u);
            // Model: 4 status reads + PRD pointer + command; Lean adds the 6
            // bus-master Command accesses.
            EXPECT_EQ(minimal, 6u);
            EXPECT_EQ(lean, minimal + 6);
            EXPECT_EQ(full, 19u); // documented cost of also trapping ctl and bm+2
        }
}

TEST(IdeExits, TrappedPortSets) {
    uint16_t p[sv::ide::kMaxTrappedPorts];
    IdeRig minimal(true, TrapMode::Minimal);
    EXPECT_EQ(minimal.channel->trap_mode(), TrapMode::Minimal);
    ASSERT_EQ(minimal.channel->trapped_ports(p), 6u);
    EXPECT_EQ(p[0], 0x1f0);
    EXPECT_EQ(p[1], 0x1f7);
    EXPECT_EQ(p[2], 0xc004);
    EXPECT_EQ(p[5], 0xc007);
    IdeRig lean(true, TrapMode::Lean);
    ASSERT_EQ(lean.channel->trapped_ports(p), 7u);
    EXPECT_EQ(p[0], 0x1f0);
    EXPECT_EQ(p[1], 0x1f7);
    EXPECT_EQ(p[2], 0xc000);
    EXPECT_EQ(p[3], 0xc004);
    EXPECT_EQ(p[6], 0xc007);
    IdeRig full(true, TrapMode::Full);
    ASSERT_EQ(full.channel->trapped_ports(p), 9u);
    EXPECT_EQ(p[7], 0x3f6);
    EXPECT_EQ(p[8], 0xc002);
    // Default config is Minimal; without shadow memory it keeps bm+0 trapped.
    EXPECT_EQ(sv::ide::IdeChannel::Config{}.trap_mode, TrapMode::Minimal);
    IdeRig none(true, TrapMode::Minimal, false);
    none.alloc.fail = true;
    EXPECT_FALSE(none.channel->init().ok());
    EXPECT_EQ(none.channel->trap_mode(), TrapMode::Lean);
    ASSERT_EQ(none.channel->trapped_ports(p), 7u);
    EXPECT_EQ(p[2], 0xc000);
}

} // namespace
