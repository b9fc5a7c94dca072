// IdeChannel on the shared storage layer: its shadow comes from the pool (a
// reservation of its largest request, held for good), and its counters are
// the shared StorageCounters plus its own.
#include <gtest/gtest.h>

#include <cstring>

#include "ide/ide_fixture.hpp"

namespace svtest {
namespace {

using sv::storage::Borrow;
using sv::storage::Refusal;
constexpr uint32_t kBuf = 0x400000;

TEST(IdeOnStorageLayer, ChannelHoldsItsReservationFromThePool) {
    for (TrapMode mode : kAllTrapModes) {
        IdeRig r(true, mode);
        EXPECT_EQ(r.pool.free_chunks(), 0u) << to_string(mode); // all 512 chunks are the channel's
        EXPECT_EQ(r.pool.total_bytes(), sv::ide::kShadowBufferBytes);
        // The shadow table names the chunks, one 64 KiB descriptor each.
        const uint8_t* t = r.mem.phys(r.channel->shadow_table_phys(), 4096);
        ASSERT_NE(t, nullptr);
        for (uint32_t i = 0; i < sv::ide::kShadowPrdEntries; ++i) {
            uint32_t base;
            std::memcpy(&base, t + 8 * i, 4);
            EXPECT_TRUE(r.channel->shadow_contains(base, 0x10000)) << i;
        }
        // Nobody else can take them, not even later.
        sv::storage::ShadowPool::Client other;
        uint32_t s[1];
        sv::storage::ShadowList l(s, 1);
        EXPECT_EQ(r.pool.try_borrow(other, 512, l), Borrow::Never);
        auto plain = pattern(8192, 3);
        std::memcpy(r.ram(kBuf), plain.data(), plain.size());
        ASSERT_TRUE(r.dma(true, 10, 16, kBuf).ok);
        EXPECT_EQ(r.pool.stats().borrows, 1u); // at init only, never per command
        EXPECT_EQ(r.pool.stats().returns, 0u);
        EXPECT_TRUE(r.dma_only_in_shadow());
    }
}

TEST(IdeOnStorageLayer, SharedCountersSeeDataAndRefusals) {
    for (TrapMode mode : kAllTrapModes) {
        IdeRig r(true, mode);
        auto plain = pattern(4096, 9);
        std::memcpy(r.ram(kBuf), plain.data(), plain.size());
        ASSERT_TRUE(r.dma(true, 10, 8, kBuf).ok) << to_string(mode);
        const sv::ide::IdeStats& s = r.channel->stats();
        EXPECT_EQ(s.data_commands, 1u);
        EXPECT_EQ(s.bytes_encrypted, 4096u);
        EXPECT_EQ(s.refused_total(), 0u);
        std::memset(r.ram(kBuf), 0, 4096);
        ASSERT_TRUE(r.dma(false, 10, 8, kBuf).ok);
        EXPECT_EQ(0, std::memcmp(r.ram(kBuf), plain.data(), 4096));
        EXPECT_EQ(s.data_commands, 2u);
        EXPECT_EQ(s.bytes_decrypted, 4096u);
        // A data region in hypervisor memory: refused, counted in both views.
        r.write_prd(r.prd_table, {{uint32_t(kDmaBase + 0x1000), 512}});
        Outcome bad = r.driver->dma(true, 20, 1, false, r.prd_table);
        EXPECT_FALSE(bad.ok);
        EXPECT_EQ(s.prd_fault_count(sv::ide::PrdFault::EntryNotRam), 1u);
        EXPECT_EQ(s.refused_count(Refusal::GuestMemory), 1u);
        EXPECT_EQ(r.platter(20, 1), std::vector<uint8_t>(512, 0));
        // A refused opcode (WRITE BUFFER): CommandNotAllowed.
        EXPECT_EQ(sv::ide::refusal_of(sv::ide::Reject::RefusedOpcode), Refusal::CommandNotAllowed);
        EXPECT_EQ(sv::ide::refusal_of(sv::ide::PrdFault::LengthMismatch), Refusal::LengthMismatch);
        EXPECT_EQ(sv::ide::refusal_of(sv::ide::Reject::NoShadowMemory), Refusal::NoShadowMemory);
    }
}

TEST(IdeOnStorageLayer, NoPoolMeansFailClosed) {
    IdeRig r(true, TrapMode::Minimal, false);
    sv::storage::ShadowPool empty; // never carved
    sv::ide::IdeChannel::Config cfg;
    cfg.ports = {r.dev.ports.cmd, r.dev.ports.ctl, r.dev.ports.bm};
    sv::ide::IdeChannel ch(cfg, r.dev, r.guest, r.alloc, empty, &r.xts);
    EXPECT_FALSE(ch.init().ok());
    EXPECT_EQ(ch.trap_mode(), TrapMode::Lean); // the guest may not own START
    // A pool that cannot cover the reservation fails the same way.
    SimPhysMemory mem(1 << 20, kDmaBase, 20ull << 20);
    SimDmaAllocator alloc(mem);
    SimGuestMemory guest(mem);
    SimPiix dev(mem, 100);
    sv::storage::ShadowPool small;
    ASSERT_TRUE(small.init(alloc, sv::ide::kShadowBufferBytes / 2).ok());
    sv::ide::IdeChannel ch2(cfg, dev, guest, alloc, small, &r.xts);
    EXPECT_FALSE(ch2.init().ok());
    EXPECT_EQ(ch2.trap_mode(), TrapMode::Lean);
    EXPECT_EQ(small.free_chunks(), small.total_chunks()); // nothing taken
}

} // namespace
} // namespace svtest
