// Unit tests for core/nested_paging in the NPT format: construction over a
// fake page-table allocator, hiding hypervisor memory behind a read-only zero
// page. EPT: nested_paging_ept_test.cpp.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/nested_paging.hpp"
#include "core/fake_page_table_memory.hpp"

namespace sv {
namespace {

constexpr uint64_t KiB = 1024, MiB = 1024 * KiB, GiB = 1024 * MiB;
constexpr uint64_t P = 1ull << 0, W = 1ull << 1, U = 1ull << 2, PS = 1ull << 7;
constexpr uint64_t addr_mask = 0x000FFFFFFFFFF000ull;


std::vector<uint64_t> raw_walk(FakePageTableMemory& mem, uint64_t root, uint64_t gpa) {
    return sv::raw_walk(mem, root, gpa, P);
}

class CoreNestedPaging : public ::testing::Test {
  protected:
    FakePageTableMemory mem{64};
    NestedPageTable npt{mem, nested_format_npt};
    void SetUp() override { ASSERT_TRUE(npt.init().ok()); }
};

TEST_F(CoreNestedPaging, InitAllocatesEmptyRoot) {
    EXPECT_EQ(npt.root(), FakePageTableMemory::base);
    EXPECT_EQ(mem.used(), 1u);
    EXPECT_EQ(npt.lookup(0).page_size, 0u);
    EXPECT_EQ(npt.lookup(0).access, NestedAccess::None);
}

TEST_F(CoreNestedPaging, IdentityMapUses2MiBPages) {
    ASSERT_TRUE(npt.map(0, 0, 1 * GiB, NestedAccess::ReadWriteExecute).ok());
    EXPECT_EQ(mem.used(), 3u); // PML4, PDPT, one PD of 512 large entries
    for (uint64_t gpa : std::initializer_list<uint64_t>{0x0, 0x9fc00, 0x100000, 0x12345678, 1 * GiB - 1}) {
        const NestedMapping m = npt.lookup(gpa);
        EXPECT_EQ(m.hpa, gpa);
        EXPECT_EQ(m.access, NestedAccess::ReadWriteExecute);
        EXPECT_EQ(m.page_size, 2 * MiB);
    }
    EXPECT_EQ(npt.lookup(1 * GiB).page_size, 0u); // past the end
}

TEST_F(CoreNestedPaging, IdentityMapAbove4GiB) {
    ASSERT_TRUE(npt.map(4 * GiB, 4 * GiB, 2 * GiB, NestedAccess::ReadWriteExecute).ok());
    const NestedMapping m = npt.lookup(5 * GiB + 0x1234);
    EXPECT_EQ(m.hpa, 5 * GiB + 0x1234);
    EXPECT_EQ(m.page_size, 2 * MiB);
    EXPECT_EQ(npt.lookup(3 * GiB).page_size, 0u);
}

TEST_F(CoreNestedPaging, NonIdentityAndReadOnlyMapping) {
    ASSERT_TRUE(npt.map(0x40000000, 0x80000000, 4 * MiB, NestedAccess::ReadExecute).ok());
    const NestedMapping m = npt.lookup(0x40201234);
    EXPECT_EQ(m.hpa, 0x80201234u);
    EXPECT_EQ(m.access, NestedAccess::ReadExecute);
    EXPECT_EQ(m.page_size, 2 * MiB);
    const std::vector<uint64_t> walk = raw_walk(mem, npt.root(), 0x40201234);
    ASSERT_EQ(walk.size(), 3u);
    EXPECT_EQ(walk[2] & W, 0u);
    EXPECT_EQ(walk[2] & (P | U | PS), P | U | PS);
}

TEST_F(CoreNestedPaging, UnalignedStartUses4KiBUntilAligned) {
    // [0x1ff000, 0x401000): one 4 KiB page, one 2 MiB page, one 4 KiB page.
    ASSERT_TRUE(npt.map(0x1ff000, 0x1ff000, 0x202000, NestedAccess::ReadWriteExecute).ok());
    EXPECT_EQ(npt.lookup(0x1ff000).page_size, 4 * KiB);
    EXPECT_EQ(npt.lookup(0x1fe000).page_size, 0u);
    EXPECT_EQ(npt.lookup(0x200000).page_size, 2 * MiB);
    EXPECT_EQ(npt.lookup(0x3fffff).hpa, 0x3fffffu);
    EXPECT_EQ(npt.lookup(0x400000).page_size, 4 * KiB);
    EXPECT_EQ(npt.lookup(0x400fff).hpa, 0x400fffu);
    EXPECT_EQ(npt.lookup(0x401000).page_size, 0u);
}

TEST_F(CoreNestedPaging, MisalignedGpaAndHpaNeverUse2MiBPages) {
    // gpa 2 MiB-aligned, hpa only 4 KiB-aligned: 4 KiB pages throughout.
    ASSERT_TRUE(npt.map(0x200000, 0x301000, 2 * MiB, NestedAccess::ReadWriteExecute).ok());
    const NestedMapping m = npt.lookup(0x3ff123);
    EXPECT_EQ(m.page_size, 4 * KiB);
    EXPECT_EQ(m.hpa, 0x3ff123u - 0x200000u + 0x301000u);
}

TEST_F(CoreNestedPaging, EveryLevelHasTheUserBit) {
    // AMD APM vol. 2 §15.25.5: nested walks are user accesses; U=0 anywhere
    // would fault every guest access.
    ASSERT_TRUE(npt.map(0, 0, 64 * MiB, NestedAccess::ReadWriteExecute).ok());
    ASSERT_TRUE(npt.map(512 * GiB + 0x5000, 0x5000, 0x3000, NestedAccess::ReadExecute).ok()); // 4 KiB, new PML4E
    ASSERT_TRUE(npt.map_all_to(16 * MiB, 0x4000, 0x9000, NestedAccess::ReadExecute).ok());        // split
    for (uint64_t gpa : std::initializer_list<uint64_t>{0x0, 0x1234000, 16 * MiB, 16 * MiB + 0x5000, 512 * GiB + 0x6000}) {
        const std::vector<uint64_t> walk = raw_walk(mem, npt.root(), gpa);
        ASSERT_GE(walk.size(), 3u) << std::hex << gpa;
        for (size_t level = 0; level < walk.size(); ++level) {
            EXPECT_NE(walk[level] & P, 0u) << std::hex << gpa << " level " << 4 - level;
            EXPECT_NE(walk[level] & U, 0u) << std::hex << gpa << " level " << 4 - level;
            if (level + 1 < walk.size()) {
                EXPECT_NE(walk[level] & W, 0u) << "non-leaf entries are writable";
            }
        }
    }
    // Every entry of the split page table, not just the ones looked up.
    const std::vector<uint64_t> walk = raw_walk(mem, npt.root(), 16 * MiB);
    ASSERT_EQ(walk.size(), 4u);
    ASSERT_EQ(walk[2] & PS, 0u);
    uint64_t* pt = mem.table(walk[2] & addr_mask);
    for (int i = 0; i < 512; ++i) EXPECT_EQ(pt[i] & (P | U), P | U) << i;
}

TEST_F(CoreNestedPaging, MapAllToHidesRangeAndKeepsNeighbours) {
    ASSERT_TRUE(npt.map(0, 0, 1 * GiB, NestedAccess::ReadWriteExecute).ok());
    const uint64_t zero_page = 0x9000;
    // Hypervisor memory: 5 pages starting 12 KiB into the 2 MiB page at 16 MiB.
    const uint64_t hide = 16 * MiB + 0x3000, hide_size = 0x5000;
    ASSERT_TRUE(npt.map_all_to(hide, hide_size, zero_page, NestedAccess::ReadExecute).ok());

    for (uint64_t gpa = hide; gpa < hide + hide_size; gpa += 0x1000) {
        const NestedMapping m = npt.lookup(gpa + 0x123);
        EXPECT_EQ(m.hpa, zero_page + 0x123) << std::hex << gpa;
        EXPECT_EQ(m.access, NestedAccess::ReadExecute);
        EXPECT_EQ(m.page_size, 4 * KiB);
    }
    // The rest of the split 2 MiB page keeps its identity mapping, writable.
    for (uint64_t gpa : {16 * MiB, 16 * MiB + 0x2fff, hide + hide_size, 18 * MiB - 1}) {
        const NestedMapping m = npt.lookup(gpa);
        EXPECT_EQ(m.hpa, gpa) << std::hex << gpa;
        EXPECT_EQ(m.access, NestedAccess::ReadWriteExecute) << std::hex << gpa;
        EXPECT_EQ(m.page_size, 4 * KiB) << std::hex << gpa;
    }
    // Neighbouring 2 MiB pages are untouched.
    EXPECT_EQ(npt.lookup(16 * MiB - 1).page_size, 2 * MiB);
    EXPECT_EQ(npt.lookup(16 * MiB - 1).hpa, 16 * MiB - 1);
    EXPECT_EQ(npt.lookup(18 * MiB).page_size, 2 * MiB);
    EXPECT_EQ(mem.used(), 4u); // one new page table for the split
}

TEST_F(CoreNestedPaging, SplitPreservesAll512Mappings) {
    ASSERT_TRUE(npt.map(2 * MiB, 2 * MiB, 2 * MiB, NestedAccess::ReadWriteExecute).ok());
    ASSERT_TRUE(npt.map(2 * MiB + 0x7000, 0xabc000, 0x1000, NestedAccess::ReadExecute).ok());
    for (uint64_t i = 0; i < 512; ++i) {
        const uint64_t gpa = 2 * MiB + i * 0x1000;
        const NestedMapping m = npt.lookup(gpa);
        EXPECT_EQ(m.page_size, 4 * KiB) << i;
        if (i == 7) {
            EXPECT_EQ(m.hpa, 0xabc000u);
            EXPECT_EQ(m.access, NestedAccess::ReadExecute);
        } else {
            EXPECT_EQ(m.hpa, gpa) << i;
            EXPECT_EQ(m.access, NestedAccess::ReadWriteExecute) << i;
        }
    }
}

TEST_F(CoreNestedPaging, Remapping2MiBOverSplitTableGoesThroughIt) {
    ASSERT_TRUE(npt.map(0, 0, 4 * MiB, NestedAccess::ReadWriteExecute).ok());
    ASSERT_TRUE(npt.map_all_to(0x1000, 0x1000, 0x9000, NestedAccess::ReadExecute).ok());
    // Now a 2 MiB-aligned request over the already split range.
    ASSERT_TRUE(npt.map(0, 0x40000000, 2 * MiB, NestedAccess::ReadExecute).ok());
    const NestedMapping m = npt.lookup(0x1234);
    EXPECT_EQ(m.hpa, 0x40001234u);
    EXPECT_EQ(m.access, NestedAccess::ReadExecute);
    EXPECT_EQ(m.page_size, 4 * KiB);
    EXPECT_EQ(npt.lookup(0x1fffff).hpa, 0x401fffffu);
}

TEST_F(CoreNestedPaging, OneGiBPageIsSplitOnDemand) {
    // A 1 GiB leaf (written directly: map() itself never creates one).
    ASSERT_TRUE(npt.map(1 * GiB, 1 * GiB, 2 * MiB, NestedAccess::ReadWriteExecute).ok());
    uint64_t* pml4 = mem.table(npt.root());
    uint64_t* pdpt = mem.table(pml4[0] & addr_mask);
    pdpt[1] = (1 * GiB) | P | W | U | PS;
    EXPECT_EQ(npt.lookup(1 * GiB + 0x12345678).page_size, 1 * GiB);
    EXPECT_EQ(npt.lookup(1 * GiB + 0x12345678).hpa, 1 * GiB + 0x12345678);
    ASSERT_TRUE(npt.map_all_to(1 * GiB + 0x10000000, 0x1000, 0x9000, NestedAccess::ReadExecute).ok());
    EXPECT_EQ(npt.lookup(1 * GiB + 0x10000000).hpa, 0x9000u);
    EXPECT_EQ(npt.lookup(1 * GiB + 0x10001000).hpa, 1 * GiB + 0x10001000);
    EXPECT_EQ(npt.lookup(1 * GiB + 0x10001000).page_size, 4 * KiB);
    EXPECT_EQ(npt.lookup(1 * GiB + 0x12345678).page_size, 2 * MiB);
    EXPECT_EQ(npt.lookup(1 * GiB + 0x12345678).hpa, 1 * GiB + 0x12345678);
    EXPECT_EQ(npt.lookup(2 * GiB - 1).hpa, 2 * GiB - 1);
}

TEST_F(CoreNestedPaging, AccessNoneUnmaps) {
    ASSERT_TRUE(npt.map(0, 0, 8 * MiB, NestedAccess::ReadWriteExecute).ok());
    ASSERT_TRUE(npt.map(2 * MiB, 2 * MiB, 2 * MiB, NestedAccess::None).ok());
    ASSERT_TRUE(npt.map(4 * MiB + 0x3000, 0, 0x1000, NestedAccess::None).ok());
    EXPECT_EQ(npt.lookup(2 * MiB + 5).page_size, 0u);
    EXPECT_EQ(npt.lookup(4 * MiB + 0x3000).page_size, 0u);
    EXPECT_EQ(npt.lookup(4 * MiB + 0x4000).hpa, 4 * MiB + 0x4000);
    EXPECT_EQ(npt.lookup(0).page_size, 2 * MiB);
}

TEST_F(CoreNestedPaging, UnalignedArgumentsAreRejected) {
    for (auto [gpa, hpa, size] : {std::array<uint64_t, 3>{0x1001, 0x1000, 0x1000},
                                  std::array<uint64_t, 3>{0x1000, 0x1010, 0x1000},
                                  std::array<uint64_t, 3>{0x1000, 0x1000, 0x800}}) {
        Result<void> r = npt.map(gpa, hpa, size, NestedAccess::ReadWriteExecute);
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.error(), Error::InvalidArgument);
        r = npt.map_all_to(gpa, size, hpa, NestedAccess::ReadExecute);
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.error(), Error::InvalidArgument);
    }
    EXPECT_EQ(mem.used(), 1u); // nothing was built
}

TEST_F(CoreNestedPaging, RangesBeyond48BitsAreRejected) {
    Result<void> r = npt.map(NestedPageTable::max_address - 0x1000, 0, 0x2000, NestedAccess::ReadWriteExecute);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::OutOfRange);
    r = npt.map(0, NestedPageTable::max_address, 0x1000, NestedAccess::ReadWriteExecute);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::OutOfRange);
    r = npt.map(~0ull - 0xfff, 0, 0x2000, NestedAccess::ReadWriteExecute); // wraps
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::OutOfRange);
    EXPECT_TRUE(npt.map(NestedPageTable::max_address - 0x1000, 0x1000, 0x1000, NestedAccess::ReadWriteExecute).ok());
    EXPECT_EQ(npt.lookup(NestedPageTable::max_address - 0x1000).hpa, 0x1000u);
}

TEST(CoreNestedPagingAlloc, ExhaustedAllocatorReturnsError) {
    FakePageTableMemory mem{3};
    NestedPageTable npt{mem, nested_format_npt};
    ASSERT_TRUE(npt.init().ok());
    ASSERT_TRUE(npt.map(0, 0, 1 * GiB, NestedAccess::ReadWriteExecute).ok()); // uses all 3 tables
    // A split needs a fourth table.
    Result<void> r = npt.map_all_to(0x1000, 0x1000, 0x9000, NestedAccess::ReadExecute);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::OutOfMemory);
    // The failed split left the 2 MiB mapping intact.
    EXPECT_EQ(npt.lookup(0x1000).page_size, 2 * MiB);
    EXPECT_EQ(npt.lookup(0x1000).hpa, 0x1000u);
    // So does a new PDPT for another 512 GiB slot.
    r = npt.map(512 * GiB, 0, 2 * MiB, NestedAccess::ReadWriteExecute);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::OutOfMemory);
    EXPECT_EQ(npt.lookup(512 * GiB).page_size, 0u);
    // With room again, the same request succeeds.
    mem.set_limit(5);
    ASSERT_TRUE(npt.map_all_to(0x1000, 0x1000, 0x9000, NestedAccess::ReadExecute).ok());
    EXPECT_EQ(npt.lookup(0x1000).hpa, 0x9000u);
}

TEST(CoreNestedPagingAlloc, InitFailsWithoutMemory) {
    FakePageTableMemory mem{0};
    NestedPageTable npt{mem, nested_format_npt};
    Result<void> r = npt.init();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::OutOfMemory);
}

// --- Exact NPT entry bits (APM vol. 2 §15.25.5; long-mode entry layout §5.3) ---

constexpr uint64_t NX = 1ull << 63, PWT = 1ull << 3, PCD = 1ull << 4;

TEST_F(CoreNestedPaging, NptEntriesAreExactlyTheLongModeBits) {
    ASSERT_TRUE(npt.map(0, 0, 2 * MiB, NestedAccess::ReadWriteExecute).ok());
    ASSERT_TRUE(npt.map(4 * MiB, 8 * MiB, 2 * MiB, NestedAccess::ReadExecute).ok());
    ASSERT_TRUE(npt.map(6 * MiB + 0x1000, 0x55000, 0x1000, NestedAccess::ReadWriteExecute).ok());
    const std::vector<uint64_t> rw = raw_walk(mem, npt.root(), 0);
    ASSERT_EQ(rw.size(), 3u);
    // Table references: the next table's address and P, R/W, U, nothing else.
    EXPECT_EQ(rw[0] & ~addr_mask, P | W | U);
    EXPECT_EQ(rw[1] & ~addr_mask, P | W | U);
    EXPECT_EQ(rw[2], 0 | P | W | U | PS);
    EXPECT_EQ(raw_walk(mem, npt.root(), 4 * MiB)[2], 8 * MiB | P | U | PS);
    const std::vector<uint64_t> small = raw_walk(mem, npt.root(), 6 * MiB + 0x1000);
    ASSERT_EQ(small.size(), 4u);
    EXPECT_EQ(small[2] & ~addr_mask, P | W | U);
    EXPECT_EQ(small[3], 0x55000 | P | W | U);
}

TEST_F(CoreNestedPaging, NptNoExecuteIsTheNxBit) {
    const NestedAccess rw_nx{NestedAccess::read | NestedAccess::write};
    const NestedAccess ro_nx{NestedAccess::read};
    ASSERT_TRUE(npt.map(0, 0, 2 * MiB, rw_nx).ok());
    ASSERT_TRUE(npt.map(2 * MiB, 2 * MiB, 0x1000, ro_nx).ok());
    EXPECT_EQ(raw_walk(mem, npt.root(), 0)[2], P | W | U | PS | NX);
    EXPECT_EQ(raw_walk(mem, npt.root(), 2 * MiB)[3], 2 * MiB | P | U | NX);
    EXPECT_EQ(npt.lookup(0x1234).access, rw_nx);
    EXPECT_EQ(npt.lookup(2 * MiB).access, ro_nx);
    EXPECT_FALSE(npt.lookup(2 * MiB).access.executable());
}

TEST_F(CoreNestedPaging, NptRecordsNoMemoryType) {
    // The host MTRRs and the guest's PAT decide (APM vol. 2 §15.25.8): a UC
    // request leaves PWT/PCD/PAT clear, the same bits as write-back.
    EXPECT_FALSE(nested_format_npt.records_memory_type());
    ASSERT_TRUE(npt.map(0, 0, 2 * MiB, NestedAccess::ReadWriteExecute.with(CacheType::Uncacheable)).ok());
    const uint64_t leaf = raw_walk(mem, npt.root(), 0)[2];
    EXPECT_EQ(leaf, P | W | U | PS);
    EXPECT_EQ(leaf & (PWT | PCD), 0u);
    EXPECT_EQ(npt.lookup(0).access, NestedAccess::ReadWriteExecute); // PAT entry 0: write-back
}

TEST_F(CoreNestedPaging, NptSplitKeepsNoExecute) {
    const NestedAccess rw_nx{NestedAccess::read | NestedAccess::write};
    ASSERT_TRUE(npt.map(0, 0, 2 * MiB, rw_nx).ok());
    ASSERT_TRUE(npt.map(0x5000, 0x5000, 0x1000, NestedAccess::ReadExecute).ok());
    const std::vector<uint64_t> walk = raw_walk(mem, npt.root(), 0);
    ASSERT_EQ(walk.size(), 4u);
    uint64_t* pt = mem.table(walk[2] & addr_mask);
    for (uint64_t i = 0; i < 512; ++i) {
        const uint64_t want = i == 5 ? (0x5000 | P | U) : ((i * 0x1000) | P | W | U | NX);
        EXPECT_EQ(pt[i], want) << i;
    }
}

TEST_F(CoreNestedPaging, WriteOrExecuteWithoutReadIsRejected) {
    for (uint8_t rights : {NestedAccess::write, NestedAccess::execute,
                           static_cast<uint8_t>(NestedAccess::write | NestedAccess::execute),
                           static_cast<uint8_t>(NestedAccess::read | 0x8)}) {
        Result<void> r = npt.map(0, 0, 0x1000, NestedAccess{rights});
        ASSERT_FALSE(r.ok()) << int(rights);
        EXPECT_EQ(r.error(), Error::InvalidArgument);
        r = npt.map_all_to(0, 0x1000, 0x9000, NestedAccess{rights});
        ASSERT_FALSE(r.ok()) << int(rights);
    }
    EXPECT_EQ(mem.used(), 1u);
}

// --- The flush hook (core/nested_tlb.hpp) ---

struct RecordingFlush final : NestedTlbFlush {
    struct Call {
        uint64_t gpa, length;
    };
    std::vector<Call> calls;
    void nested_mapping_changed(uint64_t gpa, uint64_t length) override { calls.push_back({gpa, length}); }
};

TEST_F(CoreNestedPaging, FlushHookSeesEveryChangeOnceAttached) {
    RecordingFlush flush;
    ASSERT_TRUE(npt.map(0, 0, 1 * GiB, NestedAccess::ReadWriteExecute).ok()); // building: no hook yet
    npt.set_tlb_flush(&flush);
    EXPECT_TRUE(flush.calls.empty());
    ASSERT_TRUE(npt.map(0xfee00000, 0xfee00000, 0x1000, NestedAccess::ReadExecute).ok());
    ASSERT_TRUE(npt.map_all_to(16 * MiB, 0x3000, 0x9000, NestedAccess::ReadExecute).ok());
    ASSERT_TRUE(npt.map(0xb0000000, 0xb0000000, 0x2000, NestedAccess::None).ok());
    ASSERT_EQ(flush.calls.size(), 3u);
    EXPECT_EQ(flush.calls[0].gpa, 0xfee00000u);
    EXPECT_EQ(flush.calls[0].length, 0x1000u);
    EXPECT_EQ(flush.calls[1].gpa, 16 * MiB);
    EXPECT_EQ(flush.calls[1].length, 0x3000u);
    EXPECT_EQ(flush.calls[2].gpa, 0xb0000000u);
    EXPECT_EQ(flush.calls[2].length, 0x2000u);
    // A rejected request changes nothing and asks for no flush.
    EXPECT_FALSE(npt.map(0x1001, 0x1000, 0x1000, NestedAccess::ReadExecute).ok());
    EXPECT_FALSE(npt.map(NestedPageTable::max_address, 0, 0x1000, NestedAccess::ReadExecute).ok());
    EXPECT_EQ(flush.calls.size(), 3u);
    npt.set_tlb_flush(nullptr);
    ASSERT_TRUE(npt.map(0, 0, 0x1000, NestedAccess::ReadWriteExecute).ok());
    EXPECT_EQ(flush.calls.size(), 3u);
}

TEST(CoreNestedPagingAlloc, FlushHookRunsAfterAPartlyFailedChange) {
    FakePageTableMemory mem{3};
    NestedPageTable npt{mem, nested_format_npt};
    ASSERT_TRUE(npt.init().ok());
    RecordingFlush flush;
    npt.set_tlb_flush(&flush);
    ASSERT_EQ(flush.calls.size(), 0u);
    // 2 MiB fits in the 3 tables, the 4 KiB tail needs a fourth: the first
    // part is mapped when the allocation fails, so vCPUs must still flush.
    Result<void> r = npt.map(0, 0, 2 * MiB + 0x1000, NestedAccess::ReadWriteExecute);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::OutOfMemory);
    EXPECT_EQ(npt.lookup(0x1000).page_size, 2 * MiB);
    ASSERT_EQ(flush.calls.size(), 1u);
    EXPECT_EQ(flush.calls[0].length, 2 * MiB + 0x1000);
}

TEST(CoreNestedTlbGeneration, EachVcpuFlushesOncePerChange) {
    NestedTlbGeneration tlb;
    NestedTlbFlush& hook = tlb;
    uint64_t vcpu0 = 0, vcpu1 = 0;
    EXPECT_FALSE(tlb.flush_due(vcpu0));
    hook.nested_mapping_changed(0x1000, 0x1000);
    hook.nested_mapping_changed(0x3000, 0x1000);
    EXPECT_EQ(tlb.generation(), 2u);
    EXPECT_TRUE(tlb.flush_due(vcpu0));
    EXPECT_FALSE(tlb.flush_due(vcpu0)); // flushed for both changes at once
    EXPECT_TRUE(tlb.flush_due(vcpu1));  // the other vCPU still has to
    EXPECT_FALSE(tlb.flush_due(vcpu1));
    hook.nested_mapping_changed(0, 0x1000);
    EXPECT_TRUE(tlb.flush_due(vcpu1));
    EXPECT_TRUE(tlb.flush_due(vcpu0));
}

} // namespace
} // namespace sv
