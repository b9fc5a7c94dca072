// IDE mediator, PIO data port: per-sector XTS with any access chunking,
// LBA48, READ/WRITE MULTIPLE blocks, IDENTIFY patching, and the data-out
// guard (no raw data-port writes outside an ATAPI PACKET).
#include <gtest/gtest.h>

#include <cstring>

#include "ide/ide_fixture.hpp"

namespace {
using namespace svtest;
using sv::ide::Reject;

struct Chunking {
    size_t chunk;
    uint8_t elem;
};

class IdePioChunks : public ::testing::TestWithParam<Chunking> {};

TEST_P(IdePioChunks, WriteThenReadRoundTripsThroughXts) {
    IdeRig r;
    const uint64_t lba = 4321;
    const uint32_t n = 5;
    auto plain = pattern(n * 512, 20);
    auto buf = plain;
    Outcome w = r.driver->pio(true, lba, n, false, false, buf.data(), GetParam().chunk, GetParam().elem);
    EXPECT_TRUE(w.ok);
    auto disk = r.platter(lba, n);
    EXPECT_EQ(disk, oracle_xts(r.key, plain.data(), plain.size(), lba, true));
    EXPECT_FALSE(contains_plaintext_run(disk, plain.data(), plain.size()));
    std::vector<uint8_t> back(n * 512, 0);
    Outcome rd = r.driver->pio(false, lba, n, false, false, back.data(), GetParam().chunk, GetParam().elem);
    EXPECT_TRUE(rd.ok);
    EXPECT_EQ(back, plain);
    EXPECT_EQ(r.dev.stray_data_writes, 0u);
}
INSTANTIATE_TEST_SUITE_P(Chunks, IdePioChunks,
                         ::testing::Values(Chunking{512, 2}, Chunking{2, 2}, Chunking{6, 2},
                                           Chunking{130, 2}, Chunking{4096, 2}, Chunking{512, 4},
                                           Chunking{4, 4}, Chunking{1000, 4}));

TEST(IdePio, Lba48ExtAndMultipleBlocks) {
    IdeRig r;
    EXPECT_TRUE(r.driver->nondata(0xc6, 4).ok); // SET MULTIPLE MODE 4 passes through
    EXPECT_EQ(r.dev.multiple, 4);
    const uint64_t lba = 66000;
    const uint32_t n = 7; // blocks of 4 + 3
    auto plain = pattern(n * 512, 21);
    auto buf = plain;
    EXPECT_TRUE(r.driver->pio(true, lba, n, true, true, buf.data(), 512).ok);
    EXPECT_EQ(r.dev.commands.back(), 0x39);
    EXPECT_EQ(r.platter(lba, n), oracle_xts(r.key, plain.data(), plain.size(), lba, true));
    std::vector<uint8_t> back(n * 512);
    EXPECT_TRUE(r.driver->pio(false, lba, n, true, true, back.data(), 2048).ok);
    EXPECT_EQ(back, plain);
    std::vector<uint8_t> back2(n * 512);
    EXPECT_TRUE(r.driver->pio(false, lba, n, true, false, back2.data(), 510).ok); // READ SECTORS EXT
    EXPECT_EQ(back2, plain);
}

TEST(IdePio, IdentifyHidesTrimOnly) {
    IdeRig r;
    uint8_t id[512];
    EXPECT_TRUE(r.driver->identify(id).ok);
    EXPECT_EQ(id[2 * 169] & 1, 0);
    EXPECT_EQ(id[0], 0x40);
    EXPECT_EQ(id[2 * 100] | id[2 * 100 + 1] << 8, int(kDiskSectors & 0xffff));
    uint8_t sum = 0;
    for (uint8_t b : id) sum = uint8_t(sum + b);
    EXPECT_EQ(sum, 0); // integrity word still valid
}

TEST(IdePio, RawDataOutIsDroppedOutsideWriteCommands) {
    IdeRig r;
    auto plain = pattern(512, 22);
    // After a non-data command, and with no command at all: dropped.
    EXPECT_TRUE(r.driver->nondata(0xe7).ok);
    r.bus->outs(r.dev.ports.cmd, 2, plain.data(), 512);
    r.bus->out(r.dev.ports.cmd, 2, 0x4141);
    EXPECT_EQ(r.dev.stray_data_writes, 0u);
    EXPECT_EQ(r.channel->stats().pio_bytes_dropped, 514u);
    // Writes beyond the transfer of a WRITE SECTORS are dropped too.
    auto buf = pattern(512, 23);
    EXPECT_TRUE(r.driver->pio(true, 9, 1, false, false, buf.data(), 512).ok);
    r.bus->outs(r.dev.ports.cmd, 2, plain.data(), 512);
    EXPECT_EQ(r.channel->stats().pio_bytes_dropped, 1026u);
    EXPECT_FALSE(contains_plaintext_run(r.dev.platter, plain.data(), 512));
}

TEST(IdePio, CommandWhileDeviceWaitsForDataIsDropped) {
    IdeRig r;
    // WRITE SECTORS: the device raises DRQ and waits for 512 bytes.
    r.dev.out(r.dev.ports.cmd + 2, 1, 1);
    r.dev.out(r.dev.ports.cmd + 3, 1, 50);
    r.dev.out(r.dev.ports.cmd + 6, 1, 0x40);
    r.bus->out(r.dev.ports.cmd + 7, 1, 0x30);
    ASSERT_TRUE(r.dev.status() & 0x08);
    // The guest tries to switch the mediator to pass-through with PACKET,
    // then writes plaintext: the command is dropped, the data still encrypted.
    r.bus->out(r.dev.ports.cmd + 7, 1, 0xa0);
    EXPECT_EQ(r.channel->stats().reject_count(Reject::DeviceBusy), 1u);
    auto plain = pattern(512, 24);
    r.bus->outs(r.dev.ports.cmd, 2, plain.data(), 512);
    EXPECT_EQ(r.platter(50, 1), oracle_xts(r.key, plain.data(), 512, 50, true));
}

} // namespace
