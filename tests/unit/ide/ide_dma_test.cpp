// IDE mediator, DMA path, driven like Linux ata_piix against the simulated
// PIIX whose bus master really walks the PRD table in its PRD register.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "ide/ide_fixture.hpp"

namespace {
using namespace svtest;
using sv::ide::CommandKind;
using sv::ide::PrdFault;
using sv::ide::Reject;

constexpr uint32_t kBuf = 0x100000;  // guest data buffer
constexpr uint32_t kBuf2 = 0x2200000; // second guest buffer (read back)

void expect_only_shadow_dma(const IdeRig& r) {
    for (const SimDmaRun& run : r.dev.dma_runs) {
        EXPECT_TRUE(run.all_in_dma_region);
        EXPECT_TRUE(r.mem.in_dma_region(run.prd_table, 8));
    }
}

TEST(IdeDma, WriteStoresXtsCiphertextAndReadRoundTrips) {
    IdeRig r;
    const uint64_t lba = 1234;
    const uint32_t n = 24;
    auto plain = pattern(n * 512, 1);
    std::memcpy(r.ram(kBuf + 6), plain.data(), plain.size()); // odd split points
    r.write_prd(r.prd_table, {{kBuf + 6, 1000}, {kBuf + 1006, 3002}, {kBuf + 4008, n * 512 - 4002}});
    Outcome w = r.driver->dma(true, lba, n, false, r.prd_table);
    EXPECT_TRUE(w.ok);
    EXPECT_EQ(r.dev.commands.back(), 0xca);
    auto disk = r.platter(lba, n);
    EXPECT_EQ(disk, oracle_xts(r.key, plain.data(), plain.size(), lba, true));
    EXPECT_FALSE(contains_plaintext_run(disk, plain.data(), plain.size()));

    r.write_prd(r.prd_table, r.regions_for(kBuf2 + 512 + 2, n * 512, 700));
    Outcome rd = r.driver->dma(false, lba, n, false, r.prd_table);
    EXPECT_TRUE(rd.ok);
    EXPECT_EQ(0, std::memcmp(r.ram(kBuf2 + 514), plain.data(), plain.size()));
    expect_only_shadow_dma(r);
    EXPECT_EQ(r.dev.prd_register(), r.dev.dma_runs.front().prd_table);
    EXPECT_EQ(r.channel->stats().bytes_encrypted, n * 512u);
    EXPECT_EQ(r.channel->stats().bytes_decrypted, n * 512u);
    EXPECT_EQ(r.channel->stats().command_count(CommandKind::DmaWrite), 1u);
}

TEST(IdeDma, GuestSeesItsOwnPrdPointerButDeviceOnlyTheShadow) {
    IdeRig r;
    r.bus->out(r.dev.ports.bm + 4, 4, 0x12345678);
    EXPECT_EQ(r.bus->in(r.dev.ports.bm + 4, 4), 0x12345678u);
    EXPECT_EQ(r.bus->in(r.dev.ports.bm + 6, 2), 0x1234u);
    EXPECT_TRUE(r.mem.in_dma_region(r.dev.prd_register(), 8));
}

TEST(IdeDma, Lba48LargestRequest65536Sectors) {
    IdeRig r;
    const uint64_t lba = 3000;
    const uint64_t bytes = 65536ull * 512;
    auto plain = pattern(bytes, 2);
    std::memcpy(r.ram(kBuf), plain.data(), bytes);
    Outcome w = r.dma(true, lba, 65536, kBuf, true);
    ASSERT_TRUE(w.ok);
    EXPECT_EQ(r.dev.commands.back(), 0x35);
    auto disk = r.platter(lba, 65536);
    EXPECT_EQ(disk, oracle_xts(r.key, plain.data(), bytes, lba, true));
    EXPECT_EQ(r.platter(lba - 1, 1), std::vector<uint8_t>(512, 0)); // nothing outside
    EXPECT_EQ(r.platter(lba + 65536, 1), std::vector<uint8_t>(512, 0));
    std::memset(r.ram(kBuf), 0, bytes);
    Outcome rd = r.dma(false, lba, 65536, kBuf, true);
    ASSERT_TRUE(rd.ok);
    EXPECT_EQ(0, std::memcmp(r.ram(kBuf), plain.data(), bytes));
    expect_only_shadow_dma(r);
    // Set-up only: the shadow table, the pool's region and bookkeeping; the
    // channel borrowed its chunks once at init and nothing per request.
    EXPECT_EQ(r.alloc.allocations, r.allocations_at_init);
    EXPECT_EQ(r.alloc.allocations, 3u);
    EXPECT_EQ(r.pool.stats().borrows, 1u);
    EXPECT_EQ(r.pool.stats().returns, 0u);
}

TEST(IdeDma, Lba28CountZeroMeans256Sectors) {
    IdeRig r;
    auto plain = pattern(256 * 512, 3);
    std::memcpy(r.ram(kBuf), plain.data(), plain.size());
    EXPECT_TRUE(r.dma(true, 77, 0, kBuf).ok);
    EXPECT_EQ(r.platter(77, 256), oracle_xts(r.key, plain.data(), plain.size(), 77, true));
}

TEST(IdeDma, PassThroughWithoutKeyStillUsesShadowAndRefusesHypervisorMemory) {
    IdeRig r(false);
    auto plain = pattern(8 * 512, 4);
    std::memcpy(r.ram(kBuf), plain.data(), plain.size());
    EXPECT_TRUE(r.dma(true, 10, 8, kBuf).ok);
    EXPECT_EQ(r.platter(10, 8), plain);
    std::memset(r.ram(kBuf), 0, plain.size());
    EXPECT_TRUE(r.dma(false, 10, 8, kBuf).ok);
    EXPECT_EQ(0, std::memcmp(r.ram(kBuf), plain.data(), plain.size()));
    expect_only_shadow_dma(r);
    // A read aimed at the hypervisor region is refused before the device sees it.
    const size_t runs = r.dev.dma_runs.size();
    r.write_prd(r.prd_table, {{uint32_t(kDmaBase), 8 * 512}});
    Outcome bad = r.driver->dma(false, 10, 8, false, r.prd_table);
    EXPECT_FALSE(bad.ok);
    EXPECT_EQ(r.dev.commands.back(), 0x00);
    EXPECT_EQ(r.dev.dma_runs.size(), runs);
    EXPECT_EQ(r.channel->stats().prd_fault_count(PrdFault::EntryNotRam), 1u);
}

// ATAPI: PACKET + CDB through the data port (raw), then bus-master DMA of
// the CD data, unencrypted but through the shadow buffer, PRD total taken
// from the guest table (ATAPI lengths live in the CDB).
Outcome atapi_read10(IdeRig& r, uint32_t block, uint16_t blocks) {
    Outcome o;
    r.dev.out(r.dev.ports.cmd + 1, 1, 0x01); // Features: DMA
    r.dev.out(r.dev.ports.cmd + 6, 1, 0xa0);
    r.bus->out(r.dev.ports.bm + 2, 1, 0x06); // clear INTR/ERROR
    r.bus->out(r.dev.ports.bm + 4, 4, r.prd_table);
    r.bus->out(r.dev.ports.bm, 1, 0x08); // bus master writes memory
    r.bus->out(r.dev.ports.cmd + 7, 1, 0xa0);
    uint8_t cdb[12] = {0x28, 0, uint8_t(block >> 24), uint8_t(block >> 16), uint8_t(block >> 8),
                       uint8_t(block), 0, uint8_t(blocks >> 8), uint8_t(blocks)};
    r.bus->outs(r.dev.ports.cmd, 2, cdb, sizeof cdb);
    r.bus->out(r.dev.ports.bm, 1, 0x09); // START
    o.bm_status = uint8_t(r.bus->in(r.dev.ports.bm + 2, 1));
    r.bus->out(r.dev.ports.bm, 1, 0x08);
    o.status = uint8_t(r.bus->in(r.dev.ports.cmd + 7, 1));
    o.ok = (o.bm_status & 0x04) && !(o.bm_status & 0x02) && !(o.status & 0x89); // BSY DRQ ERR
    return o;
}

class IdeDmaModes : public ::testing::TestWithParam<TrapMode> {};
INSTANTIATE_TEST_SUITE_P(AllTrapModes, IdeDmaModes, ::testing::ValuesIn(kAllTrapModes),
                         [](const auto& i) { return std::string(to_string(i.param)); });

TEST_P(IdeDmaModes, AtapiPacketDmaGoesThroughShadowUnencrypted) {
    IdeRig r(true, GetParam()); // keyed channel: ATAPI data still passes unencrypted
    r.make_atapi();
    auto disc = pattern(4 * 2048, 6);
    std::memcpy(r.dev.platter.data() + 10 * 2048, disc.data(), disc.size());
    r.write_prd(r.prd_table, r.regions_for(kBuf + 64, disc.size(), 3000));
    Outcome o = atapi_read10(r, 10, 4);
    EXPECT_TRUE(o.ok);
    EXPECT_EQ(0, std::memcmp(r.ram(kBuf + 64), disc.data(), disc.size()));
    expect_only_shadow_dma(r);
    EXPECT_EQ(r.dev.dma_runs.size(), 1u);
    EXPECT_EQ(r.channel->stats().command_count(CommandKind::Packet), 1u);
    EXPECT_TRUE(r.dma_only_in_shadow());
    // A PRD table into hypervisor memory is refused: no bus-master run
    // (Minimal: the PACKET is replaced by NOP, so the guest's own START finds
    // no data phase; the shadow table is the zeroed scratch descriptor).
    r.write_prd(r.prd_table, {{uint32_t(kDmaBase + 0x1000), 2048}});
    Outcome bad = atapi_read10(r, 10, 1);
    EXPECT_FALSE(bad.ok);
    EXPECT_EQ(r.dev.dma_runs.size(), 1u);
    EXPECT_TRUE(r.dma_only_in_shadow());
    EXPECT_EQ(r.channel->stats().reject_count(Reject::PacketPrdInvalid), 1u);
}

TEST(IdeDma, NoShadowMemoryAbortsDmaButKeepsPio) {
    IdeRig r(true, TrapMode::Minimal, false); // falls back to Lean
    r.alloc.fail = true;
    EXPECT_FALSE(r.channel->init().ok());
    auto plain = pattern(512, 5);
    std::memcpy(r.ram(kBuf), plain.data(), 512);
    Outcome o = r.dma(true, 5, 1, kBuf);
    EXPECT_FALSE(o.ok);
    EXPECT_EQ(o.error & 0x04, 0x04);
    EXPECT_EQ(r.platter(5, 1), std::vector<uint8_t>(512, 0));
    EXPECT_EQ(r.channel->stats().reject_count(Reject::NoShadowMemory), 1u);
}

} // namespace
