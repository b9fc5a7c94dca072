// VM exits per DMA command when the guest is Linux ata_piix (acceptance
// target: at most 12). Counted as trapped io_in/io_out calls in the ata_piix
// register sequence (see ata_piix_model.cpp for the sequence).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>

#include "ide/ide_fixture.hpp"

namespace {
using namespace svtest;

unsigned exits_per_dma(bool full_traps, bool write, bool lba48) {
    IdeRig r(true, full_traps);
    auto plain = pattern(16 * 512, 30);
    std::memcpy(r.ram(0x100000), plain.data(), plain.size());
    if (!write) {
        EXPECT_TRUE(r.dma(true, 40, 16, 0x100000, lba48).ok);
    }
    Outcome o = r.dma(write, 40, 16, 0x100000, lba48);
    EXPECT_TRUE(o.ok);
    return o.exits;
}

TEST(IdeExits, LinuxAtaPiixDmaCommandWithinBudget) {
    for (bool write : {false, true})
        for (bool lba48 : {false, true}) {
            const unsigned lean = exits_per_dma(false, write, lba48);
            const unsigned full = exits_per_dma(true, write, lba48);
            std::printf("[ exits ] ata_piix %s%s: %u (lean trap set), %u (with ctl + bm status)\n",
                        write ? "WRITE DMA" : "READ DMA", lba48 ? " EXT" : "", lean, full);
            EXPECT_LE(lean, 12u);
            EXPECT_EQ(full, 19u); // documented cost of also trapping ctl and bm+2
        }
}

TEST(IdeExits, TrappedPortSets) {
    IdeRig lean(true, false);
    uint16_t p[sv::ide::kMaxTrappedPorts];
    ASSERT_EQ(lean.channel->trapped_ports(p), 7u);
    EXPECT_EQ(p[0], 0x1f0);
    EXPECT_EQ(p[1], 0x1f7);
    EXPECT_EQ(p[2], 0xc000);
    EXPECT_EQ(p[3], 0xc004);
    EXPECT_EQ(p[6], 0xc007);
    IdeRig full(true, true);
    ASSERT_EQ(full.channel->trapped_ports(p), 9u);
    EXPECT_EQ(p[7], 0x3f6);
    EXPECT_EQ(p[8], 0xc002);
}

} // namespace
