// Unit tests for core/nested_paging in the Intel EPT format: exact entry bits
// against the layouts of Intel SDM vol. 3C "EPT Translation Mechanism" (R, W,
// X in bits 2:0, not present when all three are clear, table references with
// bits 7:3 clear) and "Memory Type Used for Translated Guest-Physical
// Addresses" (memory type in leaf bits 5:3, IPAT in bit 6), splits, lookups.
#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <vector>

#include "core/fake_page_table_memory.hpp"
#include "core/nested_paging.hpp"

namespace sv {
namespace {

constexpr uint64_t KiB = 1024, MiB = 1024 * KiB, GiB = 1024 * MiB;
constexpr uint64_t R = 1ull << 0, W = 1ull << 1, X = 1ull << 2, IPAT = 1ull << 6, PS = 1ull << 7;
constexpr uint64_t addr_mask = 0x000FFFFFFFFFF000ull;
constexpr uint64_t type(uint64_t t) { return t << 3; } // EPT memory type, bits 5:3
constexpr uint64_t UC = type(0), WC = type(1), WT = type(4), WP = type(5), WB = type(6);


std::vector<uint64_t> raw_walk(FakePageTableMemory& mem, uint64_t root, uint64_t gpa) {
    return sv::raw_walk(mem, root, gpa, R | W | X);
}

class CoreNestedPagingEpt : public ::testing::Test {
  protected:
    FakePageTableMemory mem{64};
    NestedPageTable ept{mem, nested_format_ept};
    void SetUp() override { ASSERT_TRUE(ept.init().ok()); }
};

TEST_F(CoreNestedPagingEpt, WriteBackIdentityUses2MiBLeaves) {
    ASSERT_TRUE(ept.map(0, 0, 1 * GiB, NestedAccess::ReadWriteExecute).ok());
    EXPECT_EQ(mem.used(), 3u);
    const std::vector<uint64_t> walk = raw_walk(mem, ept.root(), 0x12345678);
    ASSERT_EQ(walk.size(), 3u);
    // Table references: address | R | W | X; bits 7:3 (and everything else) clear.
    EXPECT_EQ(walk[0] & ~addr_mask, R | W | X);
    EXPECT_EQ(walk[1] & ~addr_mask, R | W | X);
    EXPECT_EQ(walk[2], 0x12200000 | R | W | X | WB | PS);
    const NestedMapping m = ept.lookup(0x12345678);
    EXPECT_EQ(m.hpa, 0x12345678u);
    EXPECT_EQ(m.page_size, 2 * MiB);
    EXPECT_EQ(m.access, NestedAccess::ReadWriteExecute);
    EXPECT_EQ(m.access.cache, CacheType::WriteBack);
    EXPECT_FALSE(m.access.ignore_guest_pat);
}

TEST_F(CoreNestedPagingEpt, PermissionsAreTheRwxBits) {
    ASSERT_TRUE(ept.map(0x1000, 0xa000, 0x1000, NestedAccess::ReadExecute).ok());
    ASSERT_TRUE(ept.map(0x2000, 0xb000, 0x1000, NestedAccess{NestedAccess::read}).ok());
    ASSERT_TRUE(ept.map(0x3000, 0xc000, 0x1000, NestedAccess{NestedAccess::read | NestedAccess::write}).ok());
    ASSERT_TRUE(ept.map(0x4000, 0xd000, 0x1000, NestedAccess::ReadWriteExecute).ok());
    EXPECT_EQ(raw_walk(mem, ept.root(), 0x1000)[3], 0xa000 | R | X | WB);
    EXPECT_EQ(raw_walk(mem, ept.root(), 0x2000)[3], 0xb000 | R | WB);
    EXPECT_EQ(raw_walk(mem, ept.root(), 0x3000)[3], 0xc000 | R | W | WB);
    EXPECT_EQ(raw_walk(mem, ept.root(), 0x4000)[3], 0xd000 | R | W | X | WB);
    // A 4 KiB leaf never carries bit 7; its page table reference has none either.
    EXPECT_EQ(raw_walk(mem, ept.root(), 0x1000)[2] & ~addr_mask, R | W | X);
    EXPECT_EQ(ept.lookup(0x1000).access, NestedAccess::ReadExecute);
    EXPECT_EQ(ept.lookup(0x2000).access.rights, NestedAccess::read);
    EXPECT_EQ(ept.lookup(0x3000).access.rights, NestedAccess::read | NestedAccess::write);
    EXPECT_EQ(ept.lookup(0x4fff).hpa, 0xdfffu);
}

TEST_F(CoreNestedPagingEpt, MemoryTypeAndIgnorePat) {
    struct Case {
        CacheType type;
        uint64_t bits;
    };
    uint64_t gpa = 0x100000;
    for (const Case c : {Case{CacheType::Uncacheable, UC}, Case{CacheType::WriteCombining, WC},
                         Case{CacheType::WriteThrough, WT}, Case{CacheType::WriteProtected, WP},
                         Case{CacheType::WriteBack, WB}}) {
        for (bool ipat : {false, true}) {
            NestedAccess a = NestedAccess::ReadWriteExecute.with(c.type);
            a.ignore_guest_pat = ipat;
            ASSERT_TRUE(ept.map(gpa, gpa, 0x1000, a).ok());
            EXPECT_EQ(raw_walk(mem, ept.root(), gpa)[3], gpa | R | W | X | c.bits | (ipat ? IPAT : 0))
                << int(c.type) << " ipat " << ipat;
            EXPECT_EQ(ept.lookup(gpa).access, a);
            gpa += 0x1000;
        }
    }
}

TEST_F(CoreNestedPagingEpt, ReservedMemoryTypesAndWriteOnlyAreRejected) {
    // Types 2, 3 and 7 are reserved; write without read is an EPT
    // misconfiguration; execute-only needs a capability we do not assume.
    for (uint8_t t : {2, 3, 7}) {
        Result<void> r = ept.map(0, 0, 0x1000, NestedAccess::ReadWriteExecute.with(static_cast<CacheType>(t)));
        ASSERT_FALSE(r.ok()) << int(t);
        EXPECT_EQ(r.error(), Error::InvalidArgument);
    }
    for (uint8_t rights : {NestedAccess::write, NestedAccess::execute}) {
        Result<void> r = ept.map(0, 0, 0x1000, NestedAccess{rights});
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.error(), Error::InvalidArgument);
    }
    EXPECT_EQ(mem.used(), 1u);
}

TEST_F(CoreNestedPagingEpt, NoneIsNotPresent) {
    ASSERT_TRUE(ept.map(0, 0, 4 * MiB, NestedAccess::ReadWriteExecute).ok());
    ASSERT_TRUE(ept.map(2 * MiB, 2 * MiB, 2 * MiB, NestedAccess::None).ok());
    ASSERT_TRUE(ept.map(0x5000, 0x5000, 0x1000, NestedAccess::None.with(CacheType::Uncacheable)).ok());
    EXPECT_EQ(raw_walk(mem, ept.root(), 2 * MiB)[2], 0u);
    EXPECT_EQ(raw_walk(mem, ept.root(), 0x5000)[3], 0u);
    EXPECT_EQ(ept.lookup(2 * MiB + 5).page_size, 0u);
    EXPECT_EQ(ept.lookup(0x5000).page_size, 0u);
    EXPECT_EQ(ept.lookup(0x5000).access, NestedAccess::None);
    EXPECT_EQ(ept.lookup(0x6000).hpa, 0x6000u);
}

TEST_F(CoreNestedPagingEpt, ExecuteOnlyEntryWrittenByHandIsPresent) {
    // Bits 2:0 decide presence (SDM "EPT Translation Mechanism"): an entry
    // with only X set is present, though map() never creates one.
    ASSERT_TRUE(ept.map(0, 0, 0x1000, NestedAccess::ReadWriteExecute).ok());
    const std::vector<uint64_t> walk = raw_walk(mem, ept.root(), 0);
    uint64_t* pt = mem.table(walk[2] & addr_mask);
    pt[1] = 0x77000 | X | WB;
    const NestedMapping m = ept.lookup(0x1abc);
    EXPECT_EQ(m.page_size, 4 * KiB);
    EXPECT_EQ(m.hpa, 0x77abcu);
    EXPECT_EQ(m.access.rights, NestedAccess::execute);
}

TEST_F(CoreNestedPagingEpt, SplitKeepsPermissionsTypeAndIpat) {
    NestedAccess uc_ipat = NestedAccess::ReadExecute.with(CacheType::Uncacheable);
    uc_ipat.ignore_guest_pat = true;
    ASSERT_TRUE(ept.map(2 * MiB, 0x40000000, 2 * MiB, uc_ipat).ok());
    ASSERT_TRUE(ept.map(2 * MiB + 0x9000, 0x9000, 0x1000, NestedAccess::ReadWriteExecute).ok());
    const std::vector<uint64_t> walk = raw_walk(mem, ept.root(), 2 * MiB);
    ASSERT_EQ(walk.size(), 4u);
    EXPECT_EQ(walk[2] & ~addr_mask, R | W | X);
    uint64_t* pt = mem.table(walk[2] & addr_mask);
    for (uint64_t i = 0; i < 512; ++i) {
        const uint64_t want = i == 9 ? (0x9000 | R | W | X | WB) : ((0x40000000 + i * 0x1000) | R | X | UC | IPAT);
        EXPECT_EQ(pt[i], want) << i;
    }
    EXPECT_EQ(ept.lookup(2 * MiB + 0x8123).access, uc_ipat);
    EXPECT_EQ(ept.lookup(2 * MiB + 0x8123).hpa, 0x40008123u);
}

TEST_F(CoreNestedPagingEpt, OneGiBLeafIsLookedUpAndSplitWithItsAttributes) {
    ASSERT_TRUE(ept.map(0, 0, 2 * MiB, NestedAccess::ReadWriteExecute).ok());
    uint64_t* pml4 = mem.table(ept.root());
    uint64_t* pdpt = mem.table(pml4[0] & addr_mask);
    pdpt[1] = (1 * GiB) | R | W | WT | PS; // 1 GiB, not executable, write-through
    const NestedMapping big = ept.lookup(1 * GiB + 0x12345678);
    EXPECT_EQ(big.page_size, 1 * GiB);
    EXPECT_EQ(big.hpa, 1 * GiB + 0x12345678);
    EXPECT_EQ(big.access.rights, NestedAccess::read | NestedAccess::write);
    EXPECT_EQ(big.access.cache, CacheType::WriteThrough);
    ASSERT_TRUE(ept.map_all_to(1 * GiB + 0x10000000, 0x1000, 0x9000, NestedAccess::ReadExecute).ok());
    EXPECT_EQ(ept.lookup(1 * GiB + 0x10000000).hpa, 0x9000u);
    // The 1 GiB leaf became 512 2 MiB leaves with bit 7 and the same bits.
    uint64_t* pd = mem.table(pdpt[1] & addr_mask);
    EXPECT_EQ(pdpt[1] & ~addr_mask, R | W | X);
    for (uint64_t i = 0; i < 512; ++i) {
        if (i == 0x10000000 / (2 * MiB)) continue;
        EXPECT_EQ(pd[i], (1 * GiB + i * 2 * MiB) | R | W | WT | PS) << i;
    }
    const NestedMapping neighbour = ept.lookup(1 * GiB + 0x10001000);
    EXPECT_EQ(neighbour.page_size, 4 * KiB);
    EXPECT_EQ(neighbour.access.rights, NestedAccess::read | NestedAccess::write);
    EXPECT_EQ(neighbour.access.cache, CacheType::WriteThrough);
    EXPECT_EQ(ept.lookup(2 * GiB - 1).hpa, 2 * GiB - 1);
}

TEST_F(CoreNestedPagingEpt, FormatHelpersMatchTheLayout) {
    const NestedFormat& f = nested_format_ept;
    EXPECT_TRUE(f.records_memory_type());
    EXPECT_EQ(f.table_entry(0x123456789000), 0x123456789000 | R | W | X);
    EXPECT_EQ(f.leaf_entry(0x200000, NestedAccess::ReadWriteExecute, true), 0x200000 | R | W | X | WB | PS);
    EXPECT_EQ(f.leaf_entry(0x200000, NestedAccess::None, true), 0u);
    EXPECT_FALSE(f.is_present(IPAT | WB | PS));
    EXPECT_EQ(f.leaf_attributes(), R | W | X | type(7) | IPAT);
}

} // namespace
} // namespace sv
