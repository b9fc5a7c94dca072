// Guest PRD table validation and shadow PRD construction (SFF-8038i §1.2).
#include <gtest/gtest.h>

#include <cstring>

#include "devices/storage/ide/prd_table.hpp"
#include "ide/sim_piix.hpp"

namespace {
using namespace sv::ide;
using svtest::SimGuestMemory;
using svtest::SimPhysMemory;

struct PrdRig {
    SimPhysMemory mem{4 << 20, 0x1000000, 1 << 20};
    SimGuestMemory guest{mem};
    void entry(uint32_t table, uint32_t i, uint32_t base, uint32_t count, bool eot) {
        uint32_t flags = (count & 0xffff) | (eot ? 0x80000000u : 0);
        std::memcpy(mem.ram(table + 8 * i), &base, 4);
        std::memcpy(mem.ram(table + 8 * i + 4), &flags, 4);
    }
    sv::Result<uint64_t> walk(uint32_t table, uint64_t max, PrdFault& f, unsigned* visits = nullptr) {
        return walk_guest_prd_table(guest, table, max, f, [&](const PrdSegment&) {
            if (visits) ++*visits;
        });
    }
};

TEST(PrdTable, LayoutMatchesSff8038i) {
    EXPECT_EQ(sizeof(PrdEntry), 8u);
    EXPECT_EQ(kPrdMaxEntries, 8192u);
    EXPECT_EQ(prd_table_capacity(0x10000), 8192u);
    EXPECT_EQ(prd_table_capacity(0x1fff8), 1u);
}

TEST(PrdTable, ValidTableSumsRegionsAndZeroCountMeans64K) {
    PrdRig r;
    r.entry(0x1000, 0, 0x20000, 0, false); // 64 KiB
    r.entry(0x1000, 1, 0x30100, 0x200, true);
    PrdFault f;
    unsigned visits = 0;
    auto t = r.walk(0x1000, 1 << 20, f, &visits);
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(t.value(), 0x10000u + 0x200u);
    EXPECT_EQ(visits, 2u);
    EXPECT_EQ(f, PrdFault::None);
}

TEST(PrdTable, RejectsEachMalformedDescriptor) {
    struct Case { uint32_t base, count; PrdFault want; };
    const Case cases[] = {
        {0x20001, 0x200, PrdFault::EntryOddAddress},
        {0x20000, 0x201, PrdFault::EntryOddLength},
        {0x2ff00, 0x200, PrdFault::EntryCrosses64K},
        {0x1000000, 0x200, PrdFault::EntryNotRam},   // hypervisor DMA region
        {0x500000, 0x1000, PrdFault::EntryNotRam},    // beyond the end of RAM
        {0xfffffe00, 0x200, PrdFault::EntryNotRam},
    };
    for (const Case& c : cases) {
        PrdRig r;
        r.entry(0x1000, 0, c.base, c.count, true);
        PrdFault f;
        EXPECT_FALSE(r.walk(0x1000, 1 << 20, f).ok());
        EXPECT_EQ(f, c.want) << std::hex << c.base;
    }
}

TEST(PrdTable, RejectsBadTablePointer) {
    PrdRig r;
    PrdFault f;
    EXPECT_FALSE(r.walk(0x1002, 1 << 20, f).ok());
    EXPECT_EQ(f, PrdFault::TableMisaligned);
    EXPECT_FALSE(r.walk(0x1000000, 1 << 20, f).ok()); // table in hypervisor memory
    EXPECT_EQ(f, PrdFault::TableNotRam);
    EXPECT_FALSE(r.walk(0xfffffff8, 1 << 20, f).ok());
    EXPECT_EQ(f, PrdFault::TableNotRam);
}

TEST(PrdTable, NoEotWithin8192EntriesIsRefused) {
    PrdRig r;
    for (uint32_t i = 0; i < 8192; ++i) r.entry(0x10000, i, 0x200000, 2, false);
    r.entry(0x20000, 0, 0x200000, 2, true); // EOT just past the 64 KiB page: not read
    PrdFault f;
    unsigned visits = 0;
    EXPECT_FALSE(r.walk(0x10000, 1 << 20, f, &visits).ok());
    EXPECT_EQ(f, PrdFault::NoEot);
    EXPECT_EQ(visits, 8192u);
    // A table starting near the end of its 64 KiB page holds fewer entries.
    PrdRig r2;
    r2.entry(0x1fff0, 0, 0x200000, 2, false);
    r2.entry(0x1fff0, 1, 0x200000, 2, false);
    r2.entry(0x1fff0, 2, 0x200000, 2, true);
    EXPECT_FALSE(r2.walk(0x1fff0, 1 << 20, f).ok());
    EXPECT_EQ(f, PrdFault::NoEot);
}

TEST(PrdTable, StopsAtTransferLimit) {
    PrdRig r;
    r.entry(0x1000, 0, 0x20000, 0x1000, false);
    r.entry(0x1000, 1, 0x30000, 0x1000, true);
    PrdFault f;
    unsigned visits = 0;
    EXPECT_FALSE(r.walk(0x1000, 0x1800, f, &visits).ok());
    EXPECT_EQ(f, PrdFault::TooLong);
    EXPECT_EQ(visits, 1u);
}

TEST(PrdTable, ShadowTableCoversLargestTransferIn64KRegions) {
    PrdEntry t[kPrdMaxEntries] = {};
    auto n = build_shadow_prd_table(t, 512, 0x4000000, 32ull << 20);
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(n.value(), 512u);
    for (uint32_t i = 0; i < 512; ++i) {
        EXPECT_EQ(t[i].base, 0x4000000u + i * 0x10000u);
        EXPECT_EQ(t[i].byte_count, 0); // 64 KiB
        EXPECT_EQ(t[i].flags, i == 511 ? kPrdEot : 0);
    }
    auto m = build_shadow_prd_table(t, 512, 0x4000000, 0x10200);
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m.value(), 2u);
    EXPECT_EQ(t[1].byte_count, 0x200);
    EXPECT_EQ(t[1].flags, kPrdEot);
    EXPECT_FALSE(build_shadow_prd_table(t, 512, 0x4000000, (32ull << 20) + 0x200).ok());
    EXPECT_FALSE(build_shadow_prd_table(t, 512, 0x4001000, 0x200).ok());  // not 64K aligned
    EXPECT_FALSE(build_shadow_prd_table(t, 512, 0xffff0000, 0x20000).ok()); // past 4 GiB
    EXPECT_FALSE(build_shadow_prd_table(t, 512, 0x4000000, 0).ok());
}

} // namespace
