// PRP walk against NVMe 1.4 §4.3: PRP1 with offset, PRP2 as page or list,
// chained lists, offset rules, loops, MDTS, memory that is not guest RAM,
// copy-once of list pages (the guest rewriting its list mid-walk changes
// nothing), and a fuzz of hostile pointers.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "devices/storage/nvme/nvme_queues.hpp"
#include "devices/storage/nvme/prp_walk.hpp"
#include "ide/sim_piix.hpp"

namespace svtest {
namespace {
using namespace sv::nvme;
using sv::storage::GuestRegion;

constexpr uint64_t kRam = 16ull << 20, kHvBase = 0x2000000, kHvBytes = 1 << 20;
constexpr uint64_t kPage = 4096;

struct PrpRig : ::testing::Test {
    SimPhysMemory phys{kRam, kHvBase, kHvBytes};
    SimGuestMemory mem{phys};
    std::vector<GuestRegion> out = std::vector<GuestRegion>(8200);
    std::vector<uint8_t> scratch = std::vector<uint8_t>(1 << 16);
    PrpLimits limits{4096, 64ull << 20};

    void put(uint64_t gpa, uint64_t v) { std::memcpy(phys.ram(gpa), &v, 8); }
    // A list at `at` with the given entries.
    void list(uint64_t at, const std::vector<uint64_t>& e) {
        for (size_t i = 0; i < e.size(); ++i) put(at + 8 * i, e[i]);
    }
    PrpWalk walk(uint64_t prp1, uint64_t prp2, uint64_t bytes) {
        return walk_prps(mem, prp1, prp2, bytes, limits, out, scratch);
    }
    uint64_t total(const PrpWalk& w) {
        uint64_t t = 0;
        for (uint32_t i = 0; i < w.regions; ++i) t += out[i].bytes;
        return t;
    }
};

TEST_F(PrpRig, Prp1AloneWithOffset) {
    const PrpWalk w = walk(0x10200, 0xdeadbeef /* unused: reserved */, 512);
    ASSERT_TRUE(w.ok()) << to_string(w.fault);
    ASSERT_EQ(w.regions, 1u);
    EXPECT_EQ(out[0].gpa, 0x10200u);
    EXPECT_EQ(out[0].bytes, 512u);
    EXPECT_EQ(w.list_pages, 0u);
    // The whole rest of the page still fits PRP1.
    EXPECT_TRUE(walk(0x10200, 0, kPage - 0x200).ok());
}

TEST_F(PrpRig, Prp2IsTheSecondPage) {
    const PrpWalk w = walk(0x10800, 0x30000, 4096); // 2 KiB in each page
    ASSERT_TRUE(w.ok());
    ASSERT_EQ(w.regions, 2u);
    EXPECT_EQ(out[0].bytes, 2048u);
    EXPECT_EQ(out[1].gpa, 0x30000u);
    EXPECT_EQ(out[1].bytes, 2048u);
    EXPECT_EQ(w.list_pages, 0u);
    EXPECT_EQ(w.data_pages, 2u);
    // Adjacent pages merge into one region.
    const PrpWalk m = walk(0x10000, 0x11000, 8192);
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m.regions, 1u);
    EXPECT_EQ(out[0].bytes, 8192u);
}

TEST_F(PrpRig, Prp2PageWithOffsetIsRefused) {
    const PrpWalk w = walk(0x10000, 0x30010, 8192);
    EXPECT_EQ(w.fault, PrpFault::Prp2Offset);
    EXPECT_EQ(w.fault_addr, 0x30010u);
    EXPECT_EQ(status::sc(prp_fault_status(w.fault)), sc::kPrpOffsetInvalid);
    EXPECT_TRUE(prp_fault_status(w.fault) & status::kDnr);
}

TEST_F(PrpRig, ListWithOffsetAndScatteredPages) {
    // PRP2 points into the middle of a list page (qword aligned offset).
    list(0x50100, {0x70000, 0x90000, 0x91000});
    const PrpWalk w = walk(0x60e00, 0x50100, 512 + 3 * kPage - 1024);
    ASSERT_TRUE(w.ok()) << to_string(w.fault);
    EXPECT_EQ(w.list_pages, 1u);
    EXPECT_EQ(w.data_pages, 4u);
    ASSERT_EQ(w.regions, 3u); // 0x90000 and 0x91000 merge
    EXPECT_EQ(out[0].gpa, 0x60e00u);
    EXPECT_EQ(out[0].bytes, 512u);
    EXPECT_EQ(out[1].gpa, 0x70000u);
    EXPECT_EQ(out[2].gpa, 0x90000u);
    EXPECT_EQ(out[2].bytes, 2 * kPage - 1024);
    EXPECT_EQ(total(w), w.bytes);
}

TEST_F(PrpRig, ListPointerMustBeQwordAligned) {
    list(0x50000, {0x70000, 0x71000});
    EXPECT_EQ(walk(0x60000, 0x50004, 3 * kPage).fault, PrpFault::ListUnaligned);
    EXPECT_EQ(walk(0x60002, 0x50000, 3 * kPage).fault, PrpFault::Prp1Unaligned);
}

TEST_F(PrpRig, EntryWithOffsetIsRefused) {
    list(0x50000, {0x70000, 0x71200});
    const PrpWalk w = walk(0x60000, 0x50000, 3 * kPage);
    EXPECT_EQ(w.fault, PrpFault::EntryOffset);
    EXPECT_EQ(w.fault_addr, 0x71200u);
    EXPECT_EQ(status::sc(prp_fault_status(w.fault)), sc::kPrpOffsetInvalid);
}

// 4 KiB pages hold 512 entries: with 512 pages after PRP1 the list page is
// full of data entries (no chain); with 513 its last slot points on.
TEST_F(PrpRig, FullListPageWithoutChain) {
    std::vector<uint64_t> e;
    for (uint64_t i = 0; i < 512; ++i) e.push_back(0x200000 + 2 * i * kPage); // not adjacent
    list(0x50000, e);
    const PrpWalk w = walk(0x100000, 0x50000, 513 * kPage);
    ASSERT_TRUE(w.ok()) << to_string(w.fault);
    EXPECT_EQ(w.list_pages, 1u);
    EXPECT_EQ(w.data_pages, 513u);
    EXPECT_EQ(w.regions, 513u);
    EXPECT_EQ(out[512].gpa, 0x200000 + 2 * 511 * kPage);
}

TEST_F(PrpRig, ChainedListPages) {
    // 1200 data pages after PRP1: 511 + 511 in two chained pages, 178 in a third.
    std::vector<uint64_t> pages;
    for (uint64_t i = 0; i < 1200; ++i) pages.push_back(0x400000 + 2 * i * kPage);
    const uint64_t lists[3] = {0x50000, 0x58000, 0x53000};
    size_t next = 0;
    for (int l = 0; l < 3; ++l) {
        std::vector<uint64_t> e;
        while (e.size() < 511 && next < pages.size()) e.push_back(pages[next++]);
        if (l < 2) e.push_back(lists[l + 1]);
        list(lists[l], e);
    }
    const PrpWalk w = walk(0x100800, 0x50000, 2048 + 1200 * kPage);
    ASSERT_TRUE(w.ok()) << to_string(w.fault) << " at " << std::hex << w.fault_addr;
    EXPECT_EQ(w.list_pages, 3u);
    EXPECT_EQ(w.data_pages, 1201u);
    EXPECT_EQ(w.bytes, 2048 + 1200 * kPage);
    EXPECT_EQ(total(w), w.bytes);
    for (uint32_t i = 1; i < w.regions; ++i) EXPECT_EQ(out[i].gpa, pages[i - 1]);
    // A partial last page.
    const PrpWalk p = walk(0x100800, 0x50000, 2048 + 1100 * kPage + 100);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(out[p.regions - 1].bytes, 100u);
}

TEST_F(PrpRig, ChainPointerWithOffsetIsRefused) {
    std::vector<uint64_t> e;
    for (uint64_t i = 0; i < 511; ++i) e.push_back(0x400000 + i * kPage);
    e.push_back(0x58010);
    list(0x50000, e);
    const PrpWalk w = walk(0x100000, 0x50000, 700 * kPage);
    EXPECT_EQ(w.fault, PrpFault::ChainOffset);
    EXPECT_EQ(w.fault_addr, 0x58010u);
}

TEST_F(PrpRig, LoopingChainIsRefused) {
    // The last slot points back at the list page itself: without the loop
    // rule this "list" repeats the same 511 pages until the length runs out.
    std::vector<uint64_t> e;
    for (uint64_t i = 0; i < 511; ++i) e.push_back(0x400000 + i * kPage);
    e.push_back(0x50000);
    list(0x50000, e);
    const PrpWalk w = walk(0x100000, 0x50000, 1500 * kPage);
    EXPECT_EQ(w.fault, PrpFault::ListLoop);
    EXPECT_EQ(w.list_pages, 1u);
    EXPECT_EQ(status::sc(prp_fault_status(w.fault)), sc::kInvalidField);
    // Two pages pointing at each other.
    e.back() = 0x58000;
    list(0x50000, e);
    e.back() = 0x50000;
    list(0x58000, e);
    EXPECT_EQ(walk(0x100000, 0x50000, 1500 * kPage).fault, PrpFault::ListLoop);
}

TEST_F(PrpRig, TransferAboveMdtsIsRefusedBeforeAnyRead) {
    limits.max_bytes = 128 << 10; // MDTS 5 with 4 KiB MPSMIN
    list(0x50000, {0x70000});
    const unsigned before = mem.maps;
    const PrpWalk w = walk(0x60000, 0x50000, (128 << 10) + 512);
    EXPECT_EQ(w.fault, PrpFault::TooLong);
    EXPECT_EQ(mem.maps, before); // nothing of the guest's was even looked at
    EXPECT_EQ(status::sc(prp_fault_status(w.fault)), sc::kInvalidField);
    EXPECT_EQ(walk(0x60000, 0, 0).fault, PrpFault::ZeroLength);
}

TEST_F(PrpRig, HypervisorMemoryIsNeverAccepted) {
    // Data page in hypervisor memory (a bus master would reach it).
    EXPECT_EQ(walk(kHvBase, 0, 512).fault, PrpFault::DataNotRam);
    EXPECT_EQ(walk(0x10000, kHvBase, 8192).fault, PrpFault::DataNotRam);
    // A list page in hypervisor memory.
    PrpWalk w = walk(0x10000, kHvBase + 0x100, 3 * kPage);
    EXPECT_EQ(w.fault, PrpFault::ListNotRam);
    EXPECT_EQ(status::sc(prp_fault_status(w.fault)), sc::kDataTransferError);
    // A list entry naming hypervisor memory.
    list(0x50000, {0x70000, kHvBase + kPage});
    w = walk(0x10000, 0x50000, 3 * kPage);
    EXPECT_EQ(w.fault, PrpFault::DataNotRam);
    EXPECT_EQ(w.fault_addr, kHvBase + kPage);
    // Past the end of RAM, and a PRP1 whose page straddles it.
    EXPECT_EQ(walk(kRam, 0, 512).fault, PrpFault::DataNotRam);
    EXPECT_EQ(walk(~0ull & ~3ull, 0, 4).fault, PrpFault::DataNotRam);
    // A list page past the end of RAM.
    EXPECT_EQ(walk(0x10000, kRam, 3 * kPage).fault, PrpFault::ListNotRam);
}

// A GuestMemory that rewrites the guest's list as soon as the walk maps a
// data page after having read the list: the walk must keep using what it
// copied (the entries it checked).
struct RewritingMemory final : sv::GuestMemory {
    SimPhysMemory& phys;
    uint64_t list_at, evil;
    bool rewritten = false;
    unsigned list_maps = 0;
    RewritingMemory(SimPhysMemory& p, uint64_t l, uint64_t e) : phys(p), list_at(l), evil(e) {}
    uint8_t* map(uint64_t gpa, uint64_t len) override {
        if (len == 0 || gpa + len < gpa || gpa + len > phys.ram_size()) return nullptr;
        if (gpa >= list_at && gpa < list_at + kPage) ++list_maps;
        else if (list_maps > 0 && !rewritten) {
            for (int i = 0; i < 4; ++i) std::memcpy(phys.ram(list_at + 8 * i), &evil, 8);
            rewritten = true;
        }
        return phys.ram(gpa);
    }
};

TEST_F(PrpRig, ListPagesAreCopiedOnce) {
    list(0x50000, {0x70000, 0x80000, 0x90000, 0xa0000});
    RewritingMemory rm(phys, 0x50000, kHvBase);
    const PrpWalk w = walk_prps(rm, 0x60000, 0x50000, 5 * kPage, limits, out, scratch);
    ASSERT_TRUE(w.ok()) << to_string(w.fault);
    EXPECT_TRUE(rm.rewritten);
    EXPECT_EQ(rm.list_maps, 1u);
    ASSERT_EQ(w.regions, 5u);
    EXPECT_EQ(out[1].gpa, 0x70000u);
    EXPECT_EQ(out[4].gpa, 0xa0000u);
}

TEST_F(PrpRig, LargerMemoryPageSize) {
    limits.page_bytes = 16384; // CC.MPS = 2
    list(0x50000, {0x80000, 0xc0000});
    const PrpWalk w = walk(0x64000 + 0x3000, 0x50000, 0x1000 + 2 * 16384);
    ASSERT_TRUE(w.ok()) << to_string(w.fault);
    EXPECT_EQ(w.data_pages, 3u);
    EXPECT_EQ(out[0].bytes, 0x1000u);
    // A 4 KiB-aligned entry is not 16 KiB-aligned.
    list(0x50000, {0x81000, 0xc0000});
    EXPECT_EQ(walk(0x64000, 0x50000, 3 * 16384).fault, PrpFault::EntryOffset);
    limits.page_bytes = 6000;
    EXPECT_EQ(walk(0x64000, 0, 512).fault, PrpFault::BadPageSize);
}

TEST_F(PrpRig, RegionCapacityIsHonoured) {
    std::vector<uint64_t> e;
    for (uint64_t i = 0; i < 8; ++i) e.push_back(0x400000 + 2 * i * kPage);
    list(0x50000, e);
    std::vector<GuestRegion> small(4);
    const PrpWalk w = walk_prps(mem, 0x100000, 0x50000, 9 * kPage, limits, small, scratch);
    EXPECT_EQ(w.fault, PrpFault::TooManyRegions);
    EXPECT_EQ(max_prp_regions(9 * kPage, kPage), 10u);
}

TEST_F(PrpRig, HostilePointersFuzz) {
    std::mt19937_64 rng(7);
    // Fill some list pages with random words: half RAM pages, half garbage.
    for (uint64_t a = 0x50000; a < 0x60000; a += 8) {
        const uint64_t r = rng();
        put(a, (r & 1) ? (r % kRam) & ~(kPage - 1) : r);
    }
    unsigned ok = 0, refused = 0;
    for (int i = 0; i < 20000; ++i) {
        const uint64_t pick = rng() % 4;
        const uint64_t prp1 = pick == 0 ? rng() : (rng() % kRam) & ~3ull;
        const uint64_t prp2 = pick == 1 ? rng() : 0x50000 + (rng() % 0x10000 & ~7ull);
        const uint64_t bytes = 1 + rng() % ((rng() & 1) ? 16384 : (3 << 20));
        const PrpWalk w = walk(prp1, prp2, bytes);
        if (!w.ok()) {
            ++refused;
            continue;
        }
        ++ok;
        ASSERT_EQ(w.bytes, bytes);
        ASSERT_EQ(total(w), bytes);
        for (uint32_t r = 0; r < w.regions; ++r) ASSERT_LE(out[r].gpa + out[r].bytes, kRam);
    }
    EXPECT_GT(ok, 0u);
    EXPECT_GT(refused, 0u);
}

} // namespace
} // namespace svtest
