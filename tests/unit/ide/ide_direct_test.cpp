// TrapMode::Minimal: the guest owns the real bus-master Command register
// (bm+0 untrapped) and may START/stop the simulated bus master at any time.
// Whatever it does, the bus master only walks the shadow table over the
// shadow buffer (SimDmaRun touched range), no plaintext reaches the platter
// or lingers in the shadow buffer, and read data reaches the guest exactly
// once, at the first trapped access after the transfer is done.
#include <gtest/gtest.h>

#include <cstring>

#include "ide/ide_fixture.hpp"

namespace {
using namespace svtest;
using sv::ide::PrdFault;
using sv::ide::Reject;

constexpr uint32_t kBuf = 0x100000;
constexpr uint32_t kBuf2 = 0x300000;
constexpr uint64_t kLba = 900;
constexpr uint32_t kSectors = 32;
constexpr uint32_t kBytes = kSectors * 512;

struct Direct {
    IdeRig r{true, TrapMode::Minimal};
    SimPorts p = r.dev.ports;
    // ata_bmdma_setup + command, without START (hostile orders built from these).
    void command(bool write, uint64_t lba, uint32_t buf, uint8_t op = 0, uint8_t dev = 0x40,
                 bool start_first = false) {
        r.write_prd(r.prd_table, r.regions_for(buf, kBytes, 3000));
        r.dev.out(uint16_t(p.cmd + 2), 1, kSectors);
        r.dev.out(uint16_t(p.cmd + 3), 1, uint8_t(lba));
        r.dev.out(uint16_t(p.cmd + 4), 1, uint8_t(lba >> 8));
        r.dev.out(uint16_t(p.cmd + 5), 1, uint8_t(lba >> 16));
        r.dev.out(uint16_t(p.cmd + 6), 1, dev);
        r.bus->out(uint16_t(p.bm + 4), 4, r.prd_table);
        // untrapped: straight to the device (hostile: START before the command)
        r.bus->out(p.bm, 1, uint8_t((write ? 0x00 : 0x08) | (start_first ? 1 : 0)));
        r.bus->out(uint16_t(p.cmd + 7), 1, op ? op : (write ? 0xca : 0xc8));
    }
    void start() { r.bus->out(p.bm, 1, uint8_t(r.bus->in(p.bm, 1) | 1)); }
    void stop() { r.bus->out(p.bm, 1, uint8_t(r.bus->in(p.bm, 1) & ~1)); }
    uint8_t status() { return uint8_t(r.bus->in(uint16_t(p.cmd + 7), 1)); }
    std::vector<uint8_t> shadow() {
        const uint64_t at = r.channel->shadow_buffer_phys();
        const uint8_t* s = r.mem.phys(at, r.channel->shadow_buffer_bytes());
        return {s, s + r.channel->shadow_buffer_bytes()};
    }
    void write_plain(uint32_t seed, uint32_t buf = kBuf) {
        plain = pattern(kBytes, seed);
        std::memcpy(r.ram(buf), plain.data(), kBytes);
    }
    void expect_safe() {
        EXPECT_TRUE(r.dma_only_in_shadow());
        EXPECT_FALSE(contains_plaintext_run(r.dev.platter, plain.data(), plain.size()));
        EXPECT_FALSE(contains_plaintext_run(shadow(), plain.data(), plain.size()));
    }
    std::vector<uint8_t> plain;
};

TEST(IdeDirect, BusMasterCommandIsNotTrapped) {
    Direct d;
    EXPECT_FALSE(d.r.bus->trapped(d.p.bm, 1));
    EXPECT_FALSE(d.r.bus->trapped(uint16_t(d.p.bm + 2), 1));
    EXPECT_TRUE(d.r.bus->trapped(uint16_t(d.p.bm + 4), 4));
    // The real PRD register holds the shadow table from init on, even
    // after the guest wrote its own pointer.
    EXPECT_EQ(d.r.dev.prd_register(), d.r.channel->shadow_table_phys());
    d.r.bus->out(uint16_t(d.p.bm + 4), 4, 0x1000);
    EXPECT_EQ(d.r.bus->in(uint16_t(d.p.bm + 4), 4), 0x1000u);
    EXPECT_EQ(d.r.dev.prd_register(), d.r.channel->shadow_table_phys());
}

TEST(IdeDirect, StartWithNoCommandMovesNothing) {
    Direct d;
    d.write_plain(1);
    d.r.bus->out(uint16_t(d.p.bm + 4), 4, kBuf); // hostile pointer: virtual only
    d.r.bus->out(d.p.bm, 1, 0x01);               // START, device -> nothing
    d.r.bus->out(d.p.bm, 1, 0x00);
    d.r.bus->out(d.p.bm, 1, 0x09);               // START to memory
    d.r.bus->out(d.p.bm, 1, 0x08);
    EXPECT_TRUE(d.r.dev.dma_runs.empty());
    EXPECT_EQ(d.r.dev.idle_starts, 2u);
    // A valid write issued while the guest left START set: the shadow is
    // complete before the opcode goes out, so the transfer is right.
    d.command(true, kLba, kBuf, 0, 0x40, true);
    ASSERT_EQ(d.r.dev.dma_runs.size(), 1u);
    EXPECT_EQ(d.r.platter(kLba, kSectors), oracle_xts(d.r.key, d.plain.data(), kBytes, kLba, true));
    EXPECT_FALSE(d.status() & 0x01);
    d.stop();
    d.expect_safe();
}

TEST(IdeDirect, StartAfterRejectedCommandOnlyTouchesZeroedScratch) {
    for (int kind = 0; kind < 3; ++kind) {
        SCOPED_TRACE(kind);
        Direct d;
        d.write_plain(2);
        // First a good write so the shadow table describes a real transfer...
        d.command(true, kLba, kBuf);
        d.start();
        EXPECT_FALSE(d.status() & 0x01);
        d.stop();
        // ...then a refused one: bad table / refused opcode / CHS.
        if (kind == 0) {
            d.r.write_prd(d.r.prd_table, {{uint32_t(kDmaBase), kBytes}});
            d.r.bus->out(d.p.bm, 1, 0x00);
            d.r.bus->out(uint16_t(d.p.cmd + 7), 1, 0xca);
        } else {
            d.command(true, kLba + 100, kBuf, kind == 1 ? 0xcb : 0, kind == 2 ? 0x00 : 0x40);
        }
        EXPECT_EQ(d.r.dev.commands.back(), 0x00); // NOP
        const size_t runs = d.r.dev.dma_runs.size();
        d.start();
        d.stop();
        d.start();
        EXPECT_TRUE(d.status() & 0x01); // ERR/ABRT
        d.stop();
        EXPECT_EQ(d.r.dev.dma_runs.size(), runs); // the device is in no data phase
        // The table was switched to the zeroed scratch descriptor: if a
        // device did run a data phase now, it would move shadow zeros only.
        const auto sh = d.shadow();
        EXPECT_EQ(std::vector<uint8_t>(sh.begin(), sh.begin() + sv::ide::kScratchBytes),
                  std::vector<uint8_t>(sv::ide::kScratchBytes, 0));
        const uint8_t* t = d.r.mem.phys(d.r.channel->shadow_table_phys(), 8);
        uint32_t base, flags;
        std::memcpy(&base, t, 4);
        std::memcpy(&flags, t + 4, 4);
        EXPECT_EQ(base, d.r.channel->shadow_buffer_phys());
        EXPECT_EQ(flags, 0x80000000u | sv::ide::kScratchBytes);
        EXPECT_EQ(d.r.platter(kLba + 100, kSectors), std::vector<uint8_t>(kBytes, 0));
        d.expect_safe();
    }
}

TEST(IdeDirect, StartTwiceTransfersOnce) {
    Direct d;
    d.write_plain(3);
    d.command(true, kLba, kBuf);
    d.start();
    d.start(); // START already set: no new edge
    d.stop();
    d.start(); // new edge after completion: the device has no data phase
    d.stop();
    EXPECT_EQ(d.r.dev.dma_runs.size(), 1u);
    EXPECT_EQ(d.r.dev.idle_starts, 1u);
    EXPECT_FALSE(d.status() & 0x01);
    EXPECT_EQ(d.r.platter(kLba, kSectors), oracle_xts(d.r.key, d.plain.data(), kBytes, kLba, true));
    d.expect_safe();
}

TEST(IdeDirect, ReadIsDecryptedAtTheStatusReadExactlyOnce) {
    Direct d;
    d.write_plain(4);
    ASSERT_TRUE(d.r.dma(true, kLba, kSectors, kBuf).ok);
    std::memset(d.r.ram(kBuf2), 0xee, kBytes);
    d.command(false, kLba, kBuf2);
    // Before START the device waits in its data phase (DRQ): no decryption.
    EXPECT_TRUE(d.status() & 0x08);
    EXPECT_EQ(d.r.ram(kBuf2)[0], 0xee);
    d.start();
    // The transfer is done but no trapped access happened yet: the guest
    // buffer still holds its old bytes (ciphertext only sits in the shadow).
    EXPECT_EQ(d.r.ram(kBuf2)[0], 0xee);
    d.stop();
    const uint8_t st = d.status();
    EXPECT_FALSE(st & 0x89);
    EXPECT_EQ(0, std::memcmp(d.r.ram(kBuf2), d.plain.data(), kBytes));
    EXPECT_EQ(d.r.channel->stats().bytes_decrypted, uint64_t{kBytes});
    // Never twice: a later status read leaves the guest buffer alone.
    d.r.ram(kBuf2)[0] ^= 0xff;
    d.status();
    EXPECT_EQ(d.r.ram(kBuf2)[0], uint8_t(d.plain[0] ^ 0xff));
    EXPECT_EQ(d.r.channel->stats().bytes_decrypted, uint64_t{kBytes});
    d.expect_safe();
}

TEST(IdeDirect, ReadCompletionAtPrdPointerReadOrNextCommand) {
    Direct d;
    d.write_plain(5);
    ASSERT_TRUE(d.r.dma(true, kLba, kSectors, kBuf).ok);
    // PRD pointer read as the first trapped access after the transfer.
    std::memset(d.r.ram(kBuf2), 0, kBytes);
    d.command(false, kLba, kBuf2);
    d.start();
    d.stop();
    EXPECT_EQ(d.r.bus->in(uint16_t(d.p.bm + 4), 4), d.r.prd_table);
    EXPECT_EQ(0, std::memcmp(d.r.ram(kBuf2), d.plain.data(), kBytes));
    // START, then a new command before any status read: the read is
    // delivered first (nothing lost), then the new command runs.
    d.status();
    std::memset(d.r.ram(kBuf2), 0, kBytes);
    d.command(false, kLba, kBuf2);
    d.start();
    auto plain2 = pattern(kBytes, 55);
    std::memcpy(d.r.ram(kBuf), plain2.data(), kBytes);
    d.r.prd_table = 0x20000; // the read's table stays intact until it is delivered
    d.command(true, kLba + 200, kBuf);
    EXPECT_EQ(0, std::memcmp(d.r.ram(kBuf2), d.plain.data(), kBytes));
    d.stop();
    d.start();
    EXPECT_FALSE(d.status() & 0x01);
    d.stop();
    EXPECT_EQ(d.r.platter(kLba + 200, kSectors), oracle_xts(d.r.key, plain2.data(), kBytes, kLba + 200, true));
    EXPECT_EQ(d.r.channel->stats().bytes_decrypted, 2ull * kBytes);
    d.expect_safe();
    EXPECT_FALSE(contains_plaintext_run(d.r.dev.platter, plain2.data(), kBytes));
}

TEST(IdeDirect, CommandWhileDataPhasePendingIsDroppedAndReadStillCompletes) {
    Direct d;
    d.write_plain(6);
    ASSERT_TRUE(d.r.dma(true, kLba, kSectors, kBuf).ok);
    std::memset(d.r.ram(kBuf2), 0, kBytes);
    d.command(false, kLba, kBuf2);
    // New command before START: the device still has DRQ, the write is
    // dropped (the read's shadow table stays), nothing is decrypted.
    auto plain2 = pattern(kBytes, 66);
    std::memcpy(d.r.ram(kBuf), plain2.data(), kBytes);
    d.r.bus->out(uint16_t(d.p.cmd + 7), 1, 0xca);
    EXPECT_EQ(d.r.channel->stats().reject_count(Reject::DeviceBusy), 1u);
    EXPECT_EQ(d.r.ram(kBuf2)[0], 0);
    d.start();
    d.stop();
    EXPECT_FALSE(d.status() & 0x01);
    EXPECT_EQ(0, std::memcmp(d.r.ram(kBuf2), d.plain.data(), kBytes));
    d.expect_safe();
    EXPECT_FALSE(contains_plaintext_run(d.r.dev.platter, plain2.data(), kBytes));
}

TEST(IdeDirect, WrongDirectionOnlyReversesAShadowTransfer) {
    Direct d;
    d.write_plain(7);
    d.command(true, kLba, kBuf);
    d.r.bus->out(d.p.bm, 1, 0x08); // hostile: WRITE DMA with the bus master to memory
    d.start();
    d.stop();
    EXPECT_TRUE(d.status() & 0x01); // the simulated transfer fails
    // Read with the bus master from memory: the guest buffer is not touched.
    std::memset(d.r.ram(kBuf2), 0x5a, kBytes);
    d.command(false, kLba, kBuf2);
    d.r.bus->out(d.p.bm, 1, 0x00);
    d.start();
    d.stop();
    EXPECT_TRUE(d.status() & 0x01);
    EXPECT_EQ(d.r.ram(kBuf2)[0], 0x5a);
    d.expect_safe();
}

// ATAPI PACKET DMA in Minimal mode: set up at the PACKET command (libata's
// bmdma_setup wrote PRD pointer and direction before it), CDB through the
// data port, guest START; unencrypted, through the shadow, scrubbed after.
Outcome atapi_packet(Direct& d, bool write, uint32_t block, uint16_t blocks) {
    IdeRig& r = d.r;
    Outcome o;
    r.dev.out(d.p.cmd + 1, 1, 0x01); // Features: DMA
    r.dev.out(d.p.cmd + 6, 1, 0xa0);
    r.bus->out(d.p.bm + 2, 1, 0x06);
    r.bus->out(d.p.bm + 4, 4, r.prd_table);
    r.bus->out(d.p.bm, 1, write ? 0x00 : 0x08);
    r.bus->out(d.p.cmd + 7, 1, 0xa0);
    uint8_t cdb[12] = {uint8_t(write ? 0x2a : 0x28), 0, uint8_t(block >> 24), uint8_t(block >> 16),
                       uint8_t(block >> 8), uint8_t(block), 0, uint8_t(blocks >> 8), uint8_t(blocks)};
    r.bus->outs(d.p.cmd, 2, cdb, sizeof cdb);
    d.start();
    o.bm_status = uint8_t(r.bus->in(d.p.bm + 2, 1));
    d.stop();
    o.status = d.status();
    o.ok = (o.bm_status & 0x04) && !(o.bm_status & 0x02) && !(o.status & 0x89);
    return o;
}

TEST(IdeDirect, AtapiPacketReadAndWriteThroughShadow) {
    Direct d;
    d.r.make_atapi();
    auto disc = pattern(3 * 2048, 8);
    d.plain = disc;
    std::memcpy(d.r.ram(kBuf + 64), disc.data(), disc.size());
    d.r.write_prd(d.r.prd_table, d.r.regions_for(kBuf + 64, disc.size(), 2500));
    Outcome w = atapi_packet(d, true, 20, 3);
    EXPECT_TRUE(w.ok);
    // ATAPI is not encrypted: the CD holds the guest's bytes...
    EXPECT_EQ(0, std::memcmp(d.r.dev.platter.data() + 20 * 2048, disc.data(), disc.size()));
    // ...but they went through the shadow and were scrubbed from it.
    EXPECT_TRUE(d.r.dma_only_in_shadow());
    EXPECT_FALSE(contains_plaintext_run(d.shadow(), disc.data(), disc.size()));
    std::memset(d.r.ram(kBuf2), 0, disc.size());
    d.r.write_prd(d.r.prd_table, d.r.regions_for(kBuf2 + 2, disc.size(), 1000));
    Outcome rd = atapi_packet(d, false, 20, 3);
    EXPECT_TRUE(rd.ok);
    EXPECT_EQ(0, std::memcmp(d.r.ram(kBuf2 + 2), disc.data(), disc.size()));
    EXPECT_TRUE(d.r.dma_only_in_shadow());
    EXPECT_FALSE(contains_plaintext_run(d.shadow(), disc.data(), disc.size()));
    EXPECT_EQ(d.r.dev.dma_runs.size(), 2u);
    // Direction flipped by the guest after the PACKET (set up as a read):
    // zeros go to the device, nothing comes back to the guest.
    std::memset(d.r.ram(kBuf2), 0x77, disc.size());
    d.r.write_prd(d.r.prd_table, d.r.regions_for(kBuf2, 2048));
    IdeRig& r = d.r;
    r.dev.out(d.p.cmd + 1, 1, 0x01);
    r.bus->out(d.p.bm + 4, 4, r.prd_table);
    r.bus->out(d.p.bm, 1, 0x08);
    r.bus->out(d.p.cmd + 7, 1, 0xa0);
    uint8_t cdb[12] = {0x2a, 0, 0, 0, 0, 30, 0, 0, 1};
    r.bus->outs(d.p.cmd, 2, cdb, sizeof cdb);
    r.bus->out(d.p.bm, 1, 0x01); // START from memory
    d.stop();
    d.status();
    EXPECT_EQ(std::vector<uint8_t>(r.dev.platter.begin() + 30 * 2048, r.dev.platter.begin() + 31 * 2048),
              std::vector<uint8_t>(2048, 0));
    EXPECT_EQ(r.ram(kBuf2)[0], 0x77);
    EXPECT_TRUE(d.r.dma_only_in_shadow());
}

TEST(IdeDirect, AtapiPioPacketWithoutPrdWriteGetsNoDmaSetUp) {
    Direct d;
    d.r.make_atapi();
    const uint64_t runs = d.r.channel->stats().dma_transfers;
    d.r.bus->out(d.p.cmd + 7, 1, 0xa0); // no PRD pointer write since the last command
    EXPECT_EQ(d.r.channel->stats().dma_transfers, runs);
    EXPECT_EQ(d.r.channel->stats().reject_count(Reject::PacketPrdInvalid), 0u);
}

} // namespace
