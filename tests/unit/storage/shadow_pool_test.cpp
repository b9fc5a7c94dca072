// Shadow-memory pool: bounds, reservations, exhaustion, waiting and returns
// (devices/storage/common/shadow_pool.hpp).
#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <vector>

#include "devices/storage/common/shadow_pool.hpp"
#include "ide/sim_piix.hpp"

namespace sv::storage {
namespace {

constexpr uint64_t kBase = 0x8000000; // the simulated hypervisor region
constexpr uint64_t kChunk = kDefaultChunkBytes;

struct PoolRig {
    explicit PoolRig(uint64_t region_bytes = 8ull << 20) : mem(1 << 20, kBase, region_bytes), alloc(mem) {}
    svtest::SimPhysMemory mem;
    svtest::SimDmaAllocator alloc;
    ShadowPool pool;
};

struct CountingWaiter final : ShadowPool::Waiter {
    int calls = 0;
    std::function<void()> on_call;
    void shadow_space_available() override {
        ++calls;
        if (on_call) on_call();
    }
};

TEST(ShadowPool, CarvesAlignedChunksBelowTheLimit) {
    PoolRig r;
    ASSERT_TRUE(r.pool.init(r.alloc, 16 * kChunk).ok());
    EXPECT_EQ(r.pool.total_chunks(), 16u);
    EXPECT_EQ(r.pool.total_bytes(), 16 * kChunk);
    EXPECT_EQ(r.pool.free_chunks(), 16u);
    std::set<uint64_t> seen;
    for (uint32_t i = 0; i < 16; ++i) {
        const uint64_t p = r.pool.phys(i);
        EXPECT_EQ(p % kChunk, 0u) << i;
        EXPECT_TRUE(r.mem.in_dma_region(p, kChunk)) << i;
        EXPECT_EQ(r.mem.phys(p, kChunk), r.pool.host(i)) << i;
        seen.insert(p);
    }
    EXPECT_EQ(seen.size(), 16u);
    EXPECT_FALSE(r.pool.init(r.alloc, kChunk).ok()); // once only
}

TEST(ShadowPool, RefusesBadParametersAndMemoryAboveTheLimit) {
    PoolRig a;
    EXPECT_FALSE(a.pool.init(a.alloc, kChunk, 2048).ok());  // below 4 KiB
    EXPECT_FALSE(a.pool.init(a.alloc, kChunk, 12288).ok()); // not a power of two
    EXPECT_FALSE(a.pool.init(a.alloc, 0).ok());
    EXPECT_FALSE(a.pool.ready());
    PoolRig b;
    EXPECT_FALSE(b.pool.init(b.alloc, 4 * kChunk, kChunk, kBase + 2 * kChunk).ok()); // would end above
    EXPECT_FALSE(b.pool.ready());
    PoolRig c(2 * kChunk); // the allocator cannot give it
    EXPECT_FALSE(c.pool.init(c.alloc, 4 * kChunk).ok());
    ShadowPool::Client client;
    uint32_t storage[4];
    ShadowList list(storage, 4);
    EXPECT_EQ(c.pool.try_borrow(client, kChunk, list), Borrow::Never); // an empty pool gives nothing
}

TEST(ShadowPool, HeapBytesCoverWhatInitTakes) {
    for (uint64_t chunks : {1u, 7u, 512u, 1024u}) {
        PoolRig r(80ull << 20);
        ASSERT_TRUE(r.pool.init(r.alloc, chunks * kChunk).ok());
        // The sim allocator hands out memory upwards from kBase.
        const uint64_t used = (r.pool.phys(r.pool.total_chunks() - 1) + kChunk) - kBase;
        EXPECT_LE(used, pool_heap_bytes(chunks * kChunk)) << chunks;
        EXPECT_GE(pool_heap_bytes(chunks * kChunk), chunks * kChunk);
    }
    EXPECT_EQ(pool_heap_bytes(0), 0u);
}

TEST(ShadowPool, BorrowsWholeChunksAndTakesThemBack) {
    PoolRig r;
    ASSERT_TRUE(r.pool.init(r.alloc, 8 * kChunk).ok());
    ShadowPool::Client c;
    uint32_t s1[8], s2[8];
    ShadowList a(s1, 8), b(s2, 8);
    ASSERT_EQ(r.pool.try_borrow(c, 1, a), Borrow::Ok); // one byte: one chunk
    EXPECT_EQ(a.count(), 1u);
    ASSERT_EQ(r.pool.try_borrow(c, 3 * kChunk + 1, b), Borrow::Ok);
    EXPECT_EQ(b.count(), 4u);
    EXPECT_EQ(r.pool.free_chunks(), 3u);
    EXPECT_EQ(c.held_chunks(), 5u);
    std::set<uint32_t> distinct;
    for (uint32_t i = 0; i < a.count(); ++i) distinct.insert(a.chunk(i));
    for (uint32_t i = 0; i < b.count(); ++i) distinct.insert(b.chunk(i));
    EXPECT_EQ(distinct.size(), 5u); // never the same chunk twice
    EXPECT_EQ(r.pool.try_borrow(c, kChunk, a), Borrow::Never); // the list must be empty
    const uint64_t gen = r.pool.generation();
    r.pool.give_back(c, b);
    EXPECT_TRUE(b.empty());
    EXPECT_GT(r.pool.generation(), gen);
    EXPECT_EQ(r.pool.free_chunks(), 7u);
    EXPECT_EQ(c.held_chunks(), 1u);
    r.pool.give_back(c, a);
    EXPECT_EQ(r.pool.free_chunks(), 8u);
    const PoolStats st = r.pool.stats();
    EXPECT_EQ(st.borrows, 2u);
    EXPECT_EQ(st.returns, 2u);
    EXPECT_EQ(st.peak_chunks, 5u);
}

TEST(ShadowPool, ExhaustionSaysNotNowAndTooLargeSaysNever) {
    PoolRig r;
    ASSERT_TRUE(r.pool.init(r.alloc, 4 * kChunk).ok());
    ShadowPool::Client c;
    uint32_t s1[8], s2[8];
    ShadowList a(s1, 8), b(s2, 8);
    ASSERT_EQ(r.pool.try_borrow(c, 3 * kChunk, a), Borrow::Ok);
    EXPECT_EQ(r.pool.try_borrow(c, 2 * kChunk, b), Borrow::NotNow);
    EXPECT_TRUE(b.empty());
    EXPECT_EQ(r.pool.try_borrow(c, 5 * kChunk, b), Borrow::Never); // more than the pool
    uint32_t s3[2];
    ShadowList small(s3, 2);
    EXPECT_EQ(r.pool.try_borrow(c, 3 * kChunk, small), Borrow::Never); // more than the list
    EXPECT_EQ(r.pool.try_borrow(c, 0, b), Borrow::Never);
    const PoolStats st = r.pool.stats();
    EXPECT_EQ(st.waits, 1u);
    EXPECT_EQ(st.never, 3u);
    r.pool.give_back(c, a);
    EXPECT_EQ(r.pool.try_borrow(c, 2 * kChunk, b), Borrow::Ok);
}

TEST(ShadowPool, ReservationsAreHeldBackFromOtherClients) {
    PoolRig r;
    ASSERT_TRUE(r.pool.init(r.alloc, 8 * kChunk).ok());
    ShadowPool::Client ide, other;
    ASSERT_TRUE(r.pool.reserve(ide, 5 * kChunk).ok());
    EXPECT_EQ(ide.reserved_chunks(), 5u);
    EXPECT_FALSE(r.pool.reserve(other, 4 * kChunk).ok()); // only 3 unreserved
    uint32_t s1[8], s2[8], s3[8];
    ShadowList o(s1, 8), i1(s2, 8), i2(s3, 8);
    EXPECT_EQ(r.pool.try_borrow(other, 4 * kChunk, o), Borrow::Never); // others' reservation never comes
    ASSERT_EQ(r.pool.try_borrow(other, 3 * kChunk, o), Borrow::Ok);      // all of the shared space
    ASSERT_EQ(r.pool.try_borrow(ide, 5 * kChunk, i1), Borrow::Ok);       // its largest request, always
    EXPECT_EQ(r.pool.free_chunks(), 0u);
    r.pool.give_back(other, o);
    // Beyond its reservation a client competes for shared space like anyone.
    ASSERT_EQ(r.pool.try_borrow(ide, 3 * kChunk, i2), Borrow::Ok);
    ShadowList o2(s1, 8);
    EXPECT_EQ(r.pool.try_borrow(other, kChunk, o2), Borrow::NotNow);
    r.pool.give_back(ide, i1); // it holds 3 of its 5 now: 2 of the 5 free stay held back for it
    EXPECT_EQ(r.pool.free_chunks(), 5u);
    ASSERT_EQ(r.pool.try_borrow(other, 3 * kChunk, o2), Borrow::Ok);
    uint32_t s4[8];
    ShadowList o3(s4, 8), i3(s2, 8);
    EXPECT_EQ(r.pool.try_borrow(other, kChunk, o3), Borrow::NotNow); // the last 2 are the channel's
    EXPECT_EQ(r.pool.try_borrow(ide, 2 * kChunk, i3), Borrow::Ok);
    EXPECT_EQ(r.pool.free_chunks(), 0u);
}

TEST(ShadowPool, WaiterIsCalledOnceAfterAReturnAndMayBorrowThen) {
    PoolRig r;
    ASSERT_TRUE(r.pool.init(r.alloc, 4 * kChunk).ok());
    ShadowPool::Client c;
    uint32_t s1[8], s2[8];
    ShadowList held(s1, 8), wanted(s2, 8);
    ASSERT_EQ(r.pool.try_borrow(c, 4 * kChunk, held), Borrow::Ok);
    CountingWaiter w;
    Borrow second = Borrow::Never;
    w.on_call = [&] { second = r.pool.try_borrow(c, 2 * kChunk, wanted, &w); };
    EXPECT_EQ(r.pool.try_borrow(c, 2 * kChunk, wanted, &w), Borrow::NotNow);
    EXPECT_EQ(r.pool.try_borrow(c, 2 * kChunk, wanted, &w), Borrow::NotNow); // queued once
    EXPECT_EQ(w.calls, 0);
    r.pool.give_back(c, held);
    EXPECT_EQ(w.calls, 1);
    EXPECT_EQ(second, Borrow::Ok);
    EXPECT_EQ(wanted.count(), 2u);
    ShadowList more(s1, 8);
    ASSERT_EQ(r.pool.try_borrow(c, 2 * kChunk, more), Borrow::Ok);
    r.pool.give_back(c, more);
    EXPECT_EQ(w.calls, 1); // not queued any more
}

TEST(ShadowPool, WaitersAreServedInOrderAndACancelledOneIsNotCalled) {
    PoolRig r;
    ASSERT_TRUE(r.pool.init(r.alloc, 4 * kChunk).ok());
    ShadowPool::Client c;
    uint32_t s[4][8];
    ShadowList held(s[0], 8), w1l(s[1], 8), w2l(s[2], 8), w3l(s[3], 8);
    ASSERT_EQ(r.pool.try_borrow(c, 4 * kChunk, held), Borrow::Ok);
    std::vector<int> order;
    CountingWaiter w1, w2, w3;
    // w1 wants 3, w2 wants 3 (cannot have them after w1), w3 cancels.
    w1.on_call = [&] { order.push_back(1); (void)r.pool.try_borrow(c, 3 * kChunk, w1l, &w1); };
    w2.on_call = [&] { order.push_back(2); (void)r.pool.try_borrow(c, 3 * kChunk, w2l, &w2); };
    w3.on_call = [&] { order.push_back(3); };
    EXPECT_EQ(r.pool.try_borrow(c, 3 * kChunk, w1l, &w1), Borrow::NotNow);
    EXPECT_EQ(r.pool.try_borrow(c, 3 * kChunk, w2l, &w2), Borrow::NotNow);
    EXPECT_EQ(r.pool.try_borrow(c, 3 * kChunk, w3l, &w3), Borrow::NotNow);
    r.pool.cancel_wait(w3);
    r.pool.give_back(c, held);
    EXPECT_EQ(order, (std::vector<int>{1, 2}));
    EXPECT_EQ(w1l.count(), 3u);
    EXPECT_TRUE(w2l.empty()); // re-queued, for the next return (the loop ended)
    EXPECT_EQ(w3.calls, 0);
    r.pool.give_back(c, w1l);
    EXPECT_EQ(w2.calls, 2);
    EXPECT_EQ(w2l.count(), 3u);
    EXPECT_EQ(r.pool.stats().waits, 4u);
}

TEST(ShadowPool, SmallerChunksForManySmallCommands) {
    PoolRig r;
    ASSERT_TRUE(r.pool.init(r.alloc, 64 * 4096, 4096).ok());
    EXPECT_EQ(r.pool.total_chunks(), 64u);
    ShadowPool::Client c;
    std::vector<std::vector<uint32_t>> storage(64, std::vector<uint32_t>(1));
    std::vector<ShadowList> lists;
    for (auto& st : storage) lists.emplace_back(st.data(), 1);
    for (auto& l : lists) ASSERT_EQ(r.pool.try_borrow(c, 4096, l), Borrow::Ok);
    uint32_t extra_s[1];
    ShadowList extra(extra_s, 1);
    EXPECT_EQ(r.pool.try_borrow(c, 4096, extra), Borrow::NotNow);
    for (auto& l : lists) r.pool.give_back(c, l);
    EXPECT_EQ(r.pool.free_chunks(), 64u);
}

} // namespace
} // namespace sv::storage
