// The AHCI command slot engine (devices/storage/ahci/ahci_command.*) in front
// of the simulated HBA: encryption byte-exact against OpenSSL, reads back
// through the regions kept at prepare, copy-once, sectors split across PRDT
// entries, the longest PRDT and the largest request, NCQ out of order, pool
// exhaustion (Wait, then Issue), IDENTIFY filtering, ATAPI and non-data.
#include "ahci/ahci_command_rig.hpp"

namespace svtest {
namespace {
using namespace sv::ahci;

void read_ext(uint8_t (&f)[20], uint64_t lba, uint32_t n) { fis_rw_ext(f, false, lba, n); }

TEST_F(SlotRig, WriteIsXtsCiphertextOnThePlatterAndReadsBack) {
    const auto data = pattern(64 * 512, 1);
    std::memcpy(ram(kBuf), data.data(), data.size());
    uint8_t f[20];
    fis_rw_ext(f, true, 1000, 64);
    put_command(kDisk, 0, f, LinuxAhci::split(kBuf, data.size(), 4096), true);
    EXPECT_EQ(prepare(kDisk, 0), Prepared::Issue);
    EXPECT_TRUE(slot(kDisk, 0).is_write());
    EXPECT_FALSE(slot(kDisk, 0).queued());
    EXPECT_TRUE(shadow_only(kDisk));
    issue(kDisk, 0);
    const Done d = finish(kDisk, 0);
    EXPECT_TRUE(d.ok);
    EXPECT_EQ(platter(1000, 64), oracle_xts(key, data.data(), data.size(), 1000, true));
    EXPECT_FALSE(contains_plaintext_run(hba.device(kDisk).platter, data.data(), data.size()));
    EXPECT_EQ(guest_prdbc(kDisk, 0), data.size());
    EXPECT_EQ(counters.bytes_encrypted, data.size());
    EXPECT_EQ(counters.data_commands, 1u);
    EXPECT_GT(hba.count(SimAhciAccess::What::Data), 0u);
    EXPECT_TRUE(hba_touched_only_shadows());
    EXPECT_FALSE(slot(kDisk, 0).active());
    EXPECT_EQ(pool.free_chunks(), pool.total_chunks());

    std::memset(ram(kBuf + 0x100000), 0, data.size());
    read_ext(f, 1000, 64);
    put_command(kDisk, 7, f, LinuxAhci::split(kBuf + 0x100000, data.size(), 8192), false);
    EXPECT_TRUE(run(kDisk, 7).ok);
    EXPECT_EQ(0, std::memcmp(ram(kBuf + 0x100000), data.data(), data.size()));
    EXPECT_EQ(counters.bytes_decrypted, data.size());
    EXPECT_EQ(guest_prdbc(kDisk, 7), data.size());
    EXPECT_TRUE(hba_touched_only_shadows());
}

TEST_F(SlotRig, WithoutKeyDataPassesThroughTheShadowsUnchanged) {
    bind(false);
    const auto data = pattern(8 * 512, 2);
    std::memcpy(ram(kBuf), data.data(), data.size());
    uint8_t f[20];
    fis_rw_ext(f, true, 50, 8);
    put_command(kDisk, 1, f, {{kBuf, 4096}}, true);
    EXPECT_TRUE(run(kDisk, 1).ok);
    EXPECT_EQ(platter(50, 8), data);
    EXPECT_EQ(counters.bytes_copied, data.size());
    EXPECT_EQ(counters.bytes_encrypted, 0u);
    EXPECT_TRUE(hba_touched_only_shadows());
}

TEST_F(SlotRig, SectorsSplitAcrossPrdtEntriesBothWays) {
    // Entries of 2, 510, 1000, 24, 1536, 1024 bytes at scattered addresses.
    const std::vector<uint32_t> sizes = {2, 510, 1000, 24, 1536, 1024};
    Prdt prdt;
    uint64_t at = kBuf, total = 0;
    for (uint32_t s : sizes) {
        prdt.push_back({at, s});
        at += s + 0x1002; // never contiguous, word aligned
        total += s;
    }
    ASSERT_EQ(total, 8u * 512);
    const auto data = pattern(total, 3);
    uint64_t off = 0;
    for (auto& [gpa, n] : prdt) {
        std::memcpy(ram(gpa), data.data() + off, n);
        off += n;
    }
    uint8_t f[20];
    fis_rw_ext(f, true, 777, 8);
    put_command(kDisk, 2, f, prdt, true);
    EXPECT_TRUE(run(kDisk, 2).ok);
    EXPECT_EQ(platter(777, 8), oracle_xts(key, data.data(), total, 777, true));

    for (auto& [gpa, n] : prdt) std::memset(ram(gpa), 0xee, n);
    read_ext(f, 777, 8);
    put_command(kDisk, 3, f, prdt, false);
    EXPECT_TRUE(run(kDisk, 3).ok);
    off = 0;
    for (auto& [gpa, n] : prdt) {
        EXPECT_EQ(0, std::memcmp(ram(gpa), data.data() + off, n)) << "region at " << std::hex << gpa;
        off += n;
    }
    EXPECT_TRUE(hba_touched_only_shadows());
}

TEST_F(SlotRig, CopyOnceGuestEditsAfterPrepareChangeNothing) {
    const auto data = pattern(16 * 512, 4);
    std::memcpy(ram(kBuf), data.data(), data.size());
    uint8_t f[20];
    fis_rw_ext(f, true, 300, 16);
    const uint64_t t = put_command(kDisk, 4, f, {{kBuf, 8192}}, true);
    ASSERT_EQ(prepare(kDisk, 4), Prepared::Issue);
    // The guest now rewrites everything: data, LBA, opcode, CTBA, PRDT.
    std::memset(ram(kBuf), 0x55, data.size());
    ram(t)[4] = 0x99;                                 // LBA
    ram(t)[2] = 0x25;                                 // -> READ DMA EXT
    put_entry(t, 0, kHv, 8191);                       // PRDT -> hypervisor memory
    put_header(kDisk, 4, 5u | hdr::kW | 1u << 16, kHv); // CTBA -> hypervisor memory
    issue(kDisk, 4);
    EXPECT_TRUE(finish(kDisk, 4).ok);
    EXPECT_EQ(platter(300, 16), oracle_xts(key, data.data(), data.size(), 300, true));
    EXPECT_EQ(hba.device(kDisk).commands.back(), 0x35);
    EXPECT_TRUE(hba_touched_only_shadows());

    // A read: the regions are those validated at prepare, not the edited PRDT.
    std::memset(ram(kBuf), 0, data.size());
    std::memset(ram(kBuf + 0x10000), 0, data.size());
    read_ext(f, 300, 16);
    const uint64_t t2 = put_command(kDisk, 5, f, {{kBuf, 8192}}, false);
    ASSERT_EQ(prepare(kDisk, 5), Prepared::Issue);
    put_entry(t2, 0, kBuf + 0x10000, 8191);
    issue(kDisk, 5);
    EXPECT_TRUE(finish(kDisk, 5).ok);
    EXPECT_EQ(0, std::memcmp(ram(kBuf), data.data(), data.size()));
    const std::vector<uint8_t> zeros(data.size(), 0);
    EXPECT_EQ(0, std::memcmp(ram(kBuf + 0x10000), zeros.data(), zeros.size()));
}

TEST_F(SlotRig, PrdtLongerThanTheCountUsesThePrefixOnly) {
    // Entries beyond the 4 sectors name hypervisor memory and a hole: never
    // mapped, never given to the HBA.
    const auto data = pattern(4 * 512, 5);
    std::memcpy(ram(kBuf), data.data(), data.size());
    uint8_t f[20];
    fis_rw_ext(f, true, 10, 4);
    put_command(kDisk, 6, f, {{kBuf, 1024}, {kBuf + 1024, 4096}, {kHv, 4096}, {0x6000000, 4096}}, true);
    ASSERT_EQ(prepare(kDisk, 6), Prepared::Issue);
    const auto* h = reinterpret_cast<const CommandHeader*>(cl[0].host) + 6;
    EXPECT_EQ(hdr::prdtl(h->dw0), 1u);
    EXPECT_EQ(slot(kDisk, 6).data_bytes(), data.size());
    issue(kDisk, 6);
    EXPECT_TRUE(finish(kDisk, 6).ok);
    EXPECT_EQ(platter(10, 4), oracle_xts(key, data.data(), data.size(), 10, true));
    EXPECT_EQ(guest_prdbc(kDisk, 6), data.size());
    EXPECT_TRUE(hba_touched_only_shadows());
}

TEST_F(SlotRig, LongestPrdtOfTwoByteEntriesKeepsItsRegionsInPoolChunks) {
    // PRDTL 65535 entries of 2 bytes, 4 bytes apart: a 255-sector command
    // uses the first 65280 (the rest is the longer-PRDT prefix rule), so
    // the read's region list (far more than kInlineRegions) lives in pool
    // chunks until complete().
    constexpr uint32_t kEntries = 0xffff, kSectorsN = 255;
    constexpr uint64_t bytes = uint64_t{kSectorsN} * 512;
    const auto data = pattern(bytes, 6);
    const uint64_t t = kBigTable;
    for (uint32_t i = 0; i < kEntries; ++i) put_entry(t, i, kBuf + 4ull * i, 1);
    for (uint64_t i = 0; i < bytes / 2; ++i) std::memcpy(ram(kBuf + 4 * i), data.data() + 2 * i, 2);
    uint8_t f[20];
    fis_rw_ext(f, true, 2000, kSectorsN);
    std::memcpy(ram(t), f, 20);
    put_header(kDisk, 8, 5u | hdr::kW | kEntries << hdr::kPrdtlShift, t);
    EXPECT_TRUE(run(kDisk, 8).ok);
    EXPECT_EQ(platter(2000, kSectorsN), oracle_xts(key, data.data(), bytes, 2000, true));

    for (uint64_t i = 0; i < bytes / 2; ++i) std::memset(ram(kBuf + 4 * i), 0, 2);
    read_ext(f, 2000, kSectorsN);
    std::memcpy(ram(t), f, 20);
    put_header(kDisk, 9, 5u | kEntries << hdr::kPrdtlShift, t);
    ASSERT_EQ(prepare(kDisk, 9), Prepared::Issue);
    EXPECT_GT(client.held_chunks(), pool.chunks_for(bytes)); // the region list
    issue(kDisk, 9);
    EXPECT_TRUE(finish(kDisk, 9).ok);
    bool same = true;
    for (uint64_t i = 0; i < bytes / 2 && same; ++i) same = std::memcmp(ram(kBuf + 4 * i), data.data() + 2 * i, 2) == 0;
    EXPECT_TRUE(same);
    EXPECT_EQ(client.held_chunks(), 0u);
    EXPECT_TRUE(hba_touched_only_shadows());
}

TEST_F(SlotRig, LargestRequestOverTheLongestPrdt) {
    // 65536 sectors (count 0 = 65536): 65534 entries of 512 B and one of 1 KiB.
    constexpr uint32_t n = 65536;
    constexpr uint64_t bytes = uint64_t{n} * 512;
    const auto data = pattern(bytes, 7);
    std::memcpy(ram(kBuf), data.data(), bytes);
    const uint64_t t = kBigTable;
    for (uint32_t i = 0; i < 0xfffe; ++i) put_entry(t, i, kBuf + 512ull * i, 511);
    put_entry(t, 0xfffe, kBuf + 512ull * 0xfffe, 1023);
    uint8_t f[20];
    fis_rw_ext(f, true, 100, n);
    std::memcpy(ram(t), f, 20);
    put_header(kDisk, 10, 5u | hdr::kW | 0xffffu << hdr::kPrdtlShift, t);
    ASSERT_EQ(prepare(kDisk, 10), Prepared::Issue);
    EXPECT_EQ(slot(kDisk, 10).data_bytes(), kMaxCommandBytes);
    const auto* h = reinterpret_cast<const CommandHeader*>(cl[0].host) + 10;
    EXPECT_LE(hdr::prdtl(h->dw0), kShadowPrdtEntries);
    EXPECT_TRUE(shadow_only(kDisk));
    issue(kDisk, 10);
    EXPECT_TRUE(finish(kDisk, 10).ok);
    EXPECT_EQ(guest_prdbc(kDisk, 10), bytes);
    EXPECT_TRUE(platter(100, n) == oracle_xts(key, data.data(), bytes, 100, true));

    std::memset(ram(kBuf), 0, bytes);
    read_ext(f, 100, n);
    put_command(kDisk, 11, f, LinuxAhci::split(kBuf, bytes, 0x400000), false, 0, guest_table(kDisk, 11));
    EXPECT_TRUE(run(kDisk, 11).ok);
    EXPECT_EQ(0, std::memcmp(ram(kBuf), data.data(), bytes));
    EXPECT_TRUE(hba_touched_only_shadows());
}

TEST_F(SlotRig, AllThirtyTwoNcqTagsCompleteOutOfOrder) {
    constexpr uint32_t per = 8; // sectors per tag
    const auto data = pattern(32 * per * 512, 8);
    std::memcpy(ram(kBuf), data.data(), data.size());
    for (unsigned s = 0; s < 32; ++s) {
        uint8_t f[20];
        fis_fpdma(f, true, 5000 + s * per, per, s);
        put_command(kDisk, s, f, {{kBuf + s * per * 512ull, per * 512}}, true);
        ASSERT_EQ(prepare(kDisk, s, true), Prepared::Issue);
        EXPECT_TRUE(slot(kDisk, s).queued());
        issue(kDisk, s);
    }
    EXPECT_EQ(hba.outstanding_ncq(kDisk), 0xffffffffu);
    hba.complete_all_ncq(kDisk, SimAhci::Order::Random, 42);
    EXPECT_EQ(preg_read(kDisk, preg::kSact), 0u);
    for (unsigned s = 0; s < 32; ++s) slot(kDisk, s).complete(true);
    preg_write(kDisk, preg::kIs, 0xffffffff);
    EXPECT_EQ(platter(5000, 32 * per), oracle_xts(key, data.data(), data.size(), 5000, true));

    std::memset(ram(kBuf), 0, data.size());
    for (unsigned s = 0; s < 32; ++s) {
        uint8_t f[20];
        fis_fpdma(f, false, 5000 + s * per, per, s);
        put_command(kDisk, s, f, {{kBuf + s * per * 512ull, per * 512}}, false);
        ASSERT_EQ(prepare(kDisk, s, true), Prepared::Issue);
        issue(kDisk, s);
    }
    std::vector<unsigned> order;
    for (unsigned s = 32; s-- > 0;) order.push_back(s);
    hba.complete_ncq(kDisk, order);
    for (unsigned s : order) {
        ASSERT_FALSE(preg_read(kDisk, preg::kSact) & (1u << s));
        slot(kDisk, s).complete(true);
    }
    EXPECT_EQ(0, std::memcmp(ram(kBuf), data.data(), data.size()));
    EXPECT_EQ(counters.data_commands, 64u);
    EXPECT_TRUE(hba_touched_only_shadows());
    EXPECT_EQ(pool.free_chunks(), pool.total_chunks());
}

TEST_F(SlotRig, ExhaustedPoolWaitsThenIssues) {
    // The pool holds 40 MiB: one largest request fits, a second must wait.
    const auto data = pattern(kMaxCommandBytes, 9);
    std::memcpy(ram(kBuf), data.data(), data.size());
    uint8_t f[20];
    fis_rw_ext(f, true, 0, 65536);
    put_command(kDisk, 0, f, LinuxAhci::split(kBuf, kMaxCommandBytes, 0x400000), true);
    fis_rw_ext(f, false, 0, 65536);
    put_command(kDisk, 1, f, LinuxAhci::split(kBuf, kMaxCommandBytes, 0x400000), false);
    ASSERT_EQ(prepare(kDisk, 0), Prepared::Issue);
    EXPECT_EQ(prepare(kDisk, 1), Prepared::Wait);
    EXPECT_EQ(prepare(kDisk, 1), Prepared::Wait); // retried: counted once
    EXPECT_EQ(counters.pool_waits, 1u);
    EXPECT_FALSE(slot(kDisk, 1).active());
    const auto* h = reinterpret_cast<const CommandHeader*>(cl[0].host) + 1;
    EXPECT_EQ(hdr::prdtl(h->dw0), 0u); // the device sees nothing of it yet
    EXPECT_EQ(waiter.calls, 0u);
    issue(kDisk, 0);
    EXPECT_TRUE(finish(kDisk, 0).ok);
    EXPECT_EQ(waiter.calls, 1u); // give_back woke the port
    std::memset(ram(kBuf), 0, data.size());
    ASSERT_EQ(prepare(kDisk, 1), Prepared::Issue);
    issue(kDisk, 1);
    EXPECT_TRUE(finish(kDisk, 1).ok);
    EXPECT_EQ(0, std::memcmp(ram(kBuf), data.data(), data.size()));
    EXPECT_EQ(counters.pool_waits, 1u);
}

TEST_F(SlotRig, IdentifyDeviceHidesTrimWithAValidChecksum) {
    ASSERT_TRUE(hba.device(kDisk).trim_supported);
    uint8_t f[20];
    fis_command(f, 0xec);
    put_command(kDisk, 12, f, {{kBuf, 200}, {kBuf + 0x1000, 312}}, false);
    EXPECT_TRUE(run(kDisk, 12).ok);
    uint8_t id[512];
    std::memcpy(id, ram(kBuf), 200);
    std::memcpy(id + 200, ram(kBuf + 0x1000), 312);
    EXPECT_EQ(id[2 * 169] & 1, 0);
    EXPECT_EQ(id[510], 0xa5);
    uint8_t sum = 0;
    for (uint8_t b : id) sum = static_cast<uint8_t>(sum + b);
    EXPECT_EQ(sum, 0);
    EXPECT_EQ(guest_prdbc(kDisk, 12), 512u);
    EXPECT_NE(id[2 * 27], 0); // model string: real identify data arrived
    EXPECT_TRUE(hba_touched_only_shadows());
}

TEST_F(SlotRig, AtapiPacketDataPassesUnencrypted) {
    auto& disc = hba.device(kCd).platter;
    for (size_t i = 0; i < disc.size(); ++i) disc[i] = static_cast<uint8_t>(i * 7 + 1);
    uint8_t f[20];
    fis_command(f, 0xa0, 0x01); // PACKET, DMA
    uint8_t cdb[16] = {0x28, 0, 0, 0, 0, 3, 0, 0, 2}; // READ(10) LBA 3, 2 blocks
    put_command(kCd, 0, f, {{kBuf, 4096}}, false, 0, 0, cdb);
    EXPECT_TRUE(run(kCd, 0).ok);
    EXPECT_EQ(0, std::memcmp(ram(kBuf), disc.data() + 3 * 2048, 4096));
    EXPECT_EQ(counters.bytes_decrypted, 0u);
    EXPECT_GE(counters.bytes_copied, 4096u);
    EXPECT_TRUE(hba_touched_only_shadows());
    // IDENTIFY PACKET DEVICE passes on the ATAPI port, unchanged.
    fis_command(f, 0xa1);
    put_command(kCd, 1, f, {{kBuf + 0x2000, 512}}, false);
    EXPECT_TRUE(run(kCd, 1).ok);
    EXPECT_EQ(ram(kBuf + 0x2000)[1], 0x85);
}

TEST_F(SlotRig, NonDataCommandsNeverGiveTheHbaAPrdt) {
    uint8_t f[20];
    fis_command(f, 0xe7); // FLUSH CACHE, with a PRDT into hypervisor memory
    put_command(kDisk, 13, f, {{kHv, 4096}}, false);
    ASSERT_EQ(prepare(kDisk, 13), Prepared::Issue);
    const auto* h = reinterpret_cast<const CommandHeader*>(cl[0].host) + 13;
    EXPECT_EQ(hdr::prdtl(h->dw0), 0u);
    issue(kDisk, 13);
    EXPECT_TRUE(finish(kDisk, 13).ok);
    EXPECT_EQ(hba.device(kDisk).commands.back(), 0xe7);
    EXPECT_EQ(counters.data_commands, 0u);
    EXPECT_TRUE(hba_touched_only_shadows());
}

TEST_F(SlotRig, PioDataCommandsTakeTheSameShadowPath) {
    // On AHCI the HBA moves PIO data through the PRDT too (AHCI 1.3.1 §5.3.9):
    // WRITE SECTOR(S) EXT is encrypted like WRITE DMA EXT, READ SECTOR(S)
    // (28-bit) decrypted like READ DMA.
    const auto data = pattern(4 * 512, 11);
    std::memcpy(ram(kBuf), data.data(), data.size());
    uint8_t f[20];
    fis_rw_ext(f, true, 400, 4);
    f[2] = 0x34;
    put_command(kDisk, 15, f, {{kBuf, 1536}, {kBuf + 0x3000, 512}}, true);
    std::memcpy(ram(kBuf + 0x3000), data.data() + 1536, 512);
    EXPECT_TRUE(run(kDisk, 15).ok);
    EXPECT_EQ(platter(400, 4), oracle_xts(key, data.data(), data.size(), 400, true));
    fis_command(f, 0x20);
    f[4] = static_cast<uint8_t>(400);
    f[5] = static_cast<uint8_t>(400 >> 8);
    f[12] = 4;
    std::memset(ram(kBuf + 0x8000), 0, data.size());
    put_command(kDisk, 16, f, {{kBuf + 0x8000, 2048}}, false);
    EXPECT_TRUE(run(kDisk, 16).ok);
    EXPECT_EQ(0, std::memcmp(ram(kBuf + 0x8000), data.data(), data.size()));
    EXPECT_EQ(hba.device(kDisk).commands.back(), 0x20);
    EXPECT_TRUE(hba_touched_only_shadows());
}

TEST_F(SlotRig, AbandonGivesEverythingBackAndCopiesNothing) {
    uint8_t f[20];
    read_ext(f, 0, 8);
    std::memset(ram(kBuf), 0x33, 4096);
    put_command(kDisk, 14, f, {{kBuf, 4096}}, false);
    ASSERT_EQ(prepare(kDisk, 14), Prepared::Issue);
    EXPECT_GT(client.held_chunks(), 0u);
    slot(kDisk, 14).abandon();
    EXPECT_FALSE(slot(kDisk, 14).active());
    EXPECT_EQ(client.held_chunks(), 0u);
    EXPECT_TRUE(shadow_only(kDisk));
    slot(kDisk, 14).complete(true); // no longer active: nothing happens
    EXPECT_EQ(ram(kBuf)[0], 0x33);
    // A failed read copies nothing either.
    ASSERT_EQ(prepare(kDisk, 14), Prepared::Issue);
    issue(kDisk, 14);
    EXPECT_EQ(preg_read(kDisk, preg::kCi), 0u);
    slot(kDisk, 14).complete(false);
    EXPECT_EQ(ram(kBuf)[0], 0x33);
    EXPECT_EQ(client.held_chunks(), 0u);
}

} // namespace
} // namespace svtest
