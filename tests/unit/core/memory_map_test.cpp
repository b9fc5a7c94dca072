// Unit tests for core/memory_map: e820 map building, normalisation and carving.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "core/memory_map.hpp"

namespace sv {
namespace {

constexpr uint64_t KiB = 1024, MiB = 1024 * KiB, GiB = 1024 * MiB;

// Sorted, non-overlapping, no empty region, no two touching regions of one type.
::testing::AssertionResult well_formed(const MemoryMap& m) {
    for (size_t i = 0; i < m.size(); ++i) {
        if (m[i].length == 0) return ::testing::AssertionFailure() << "empty region " << i;
        if (i == 0) continue;
        if (m[i - 1].end() > m[i].base)
            return ::testing::AssertionFailure() << "region " << i << " overlaps or is unsorted";
        if (m[i - 1].end() == m[i].base && m[i - 1].type == m[i].type)
            return ::testing::AssertionFailure() << "region " << i << " should have merged";
    }
    return ::testing::AssertionSuccess();
}

void expect_region(const MemoryMap& m, size_t i, uint64_t base, uint64_t length, MemoryType type) {
    ASSERT_LT(i, m.size());
    EXPECT_EQ(m[i].base, base) << "region " << i;
    EXPECT_EQ(m[i].length, length) << "region " << i;
    EXPECT_EQ(m[i].type, type) << "region " << i;
}

// QEMU (SeaBIOS) e820 for -m 128M, handed over in a scrambled order.
void add_qemu_128m(MemoryMap& m) {
    ASSERT_TRUE(m.add(0xfffc0000, 0x40000, MemoryType::Reserved).ok());
    ASSERT_TRUE(m.add(0x100000, 0x7ee0000, MemoryType::Ram).ok());
    ASSERT_TRUE(m.add(0xf0000, 0x10000, MemoryType::Reserved).ok());
    ASSERT_TRUE(m.add(0x0, 0x9fc00, MemoryType::Ram).ok());
    ASSERT_TRUE(m.add(0x7fe0000, 0x20000, MemoryType::Reserved).ok());
    ASSERT_TRUE(m.add(0x9fc00, 0x400, MemoryType::Reserved).ok());
}

// RAM bytes of `m` inside [base, base+length).
uint64_t ram_inside(const MemoryMap& m, uint64_t base, uint64_t length) {
    uint64_t sum = 0;
    for (size_t i = 0; i < m.size(); ++i) {
        if (m[i].type != MemoryType::Ram) continue;
        const uint64_t lo = std::max(m[i].base, base);
        const uint64_t hi = std::min(m[i].end(), base + length);
        if (hi > lo) sum += hi - lo;
    }
    return sum;
}

TEST(CoreMemoryMap, QemuMapIsSortedAndKeepsEveryRegion) {
    MemoryMap m;
    add_qemu_128m(m);
    ASSERT_TRUE(m.normalize().ok());
    ASSERT_TRUE(well_formed(m));
    ASSERT_EQ(m.size(), 6u);
    expect_region(m, 0, 0x0, 0x9fc00, MemoryType::Ram);
    expect_region(m, 1, 0x9fc00, 0x400, MemoryType::Reserved);
    expect_region(m, 2, 0xf0000, 0x10000, MemoryType::Reserved);
    expect_region(m, 3, 0x100000, 0x7ee0000, MemoryType::Ram);
    expect_region(m, 4, 0x7fe0000, 0x20000, MemoryType::Reserved);
    expect_region(m, 5, 0xfffc0000, 0x40000, MemoryType::Reserved);
    EXPECT_EQ(m.total(MemoryType::Ram), 0x9fc00u + 0x7ee0000u);
    EXPECT_EQ(m.total(MemoryType::Reserved), 0x400u + 0x10000u + 0x20000u + 0x40000u);
    EXPECT_EQ(m.highest_end(), 4 * GiB);
}

TEST(CoreMemoryMap, QemuMapWithRamAbove4G) {
    // -m 6G: 3 GiB below the PCI hole, the rest remapped above 4 GiB.
    MemoryMap m;
    ASSERT_TRUE(m.add(0x0, 0x9fc00, MemoryType::Ram).ok());
    ASSERT_TRUE(m.add(0x9fc00, 0x400, MemoryType::Reserved).ok());
    ASSERT_TRUE(m.add(0xf0000, 0x10000, MemoryType::Reserved).ok());
    ASSERT_TRUE(m.add(0x100000, 0xbfee0000, MemoryType::Ram).ok());
    ASSERT_TRUE(m.add(0xbffe0000, 0x20000, MemoryType::Reserved).ok());
    ASSERT_TRUE(m.add(0xfeffc000, 0x4000, MemoryType::Reserved).ok());
    ASSERT_TRUE(m.add(0xfffc0000, 0x40000, MemoryType::Reserved).ok());
    ASSERT_TRUE(m.add(0x100000000, 0xc0000000, MemoryType::Ram).ok());
    ASSERT_TRUE(m.normalize().ok());
    ASSERT_TRUE(well_formed(m));
    EXPECT_EQ(m.size(), 8u);
    EXPECT_EQ(m.highest_end(), 0x1c0000000u);
    EXPECT_EQ(m.total(MemoryType::Ram), 0x9fc00ull + 0xbfee0000ull + 0xc0000000ull);
    EXPECT_TRUE(m.is_ram(4 * GiB, 3 * GiB));
    EXPECT_FALSE(m.is_ram(4 * GiB - 4096, 8192)); // straddles the hole
    // Highest 2 MiB-aligned 64 MiB: above 4 GiB without a limit, below 3 GiB with one.
    EXPECT_EQ(m.find_top_ram(64 * MiB, 2 * MiB, ~0ull), 0x1c0000000u - 64 * MiB);
    EXPECT_EQ(m.find_top_ram(64 * MiB, 2 * MiB, 4 * GiB), 0xbbe00000u); // (0xbffe0000 - 64 MiB) & ~(2 MiB - 1)
}

TEST(CoreMemoryMap, OverlapNonRamWins) {
    MemoryMap m;
    ASSERT_TRUE(m.add(0, 16 * MiB, MemoryType::Ram).ok());
    ASSERT_TRUE(m.add(1 * MiB, 1 * MiB, MemoryType::AcpiNvs).ok());
    ASSERT_TRUE(m.add(15 * MiB, 2 * MiB, MemoryType::Reserved).ok()); // crosses RAM's end
    ASSERT_TRUE(m.normalize().ok());
    ASSERT_TRUE(well_formed(m));
    ASSERT_EQ(m.size(), 4u);
    expect_region(m, 0, 0, 1 * MiB, MemoryType::Ram);
    expect_region(m, 1, 1 * MiB, 1 * MiB, MemoryType::AcpiNvs);
    expect_region(m, 2, 2 * MiB, 13 * MiB, MemoryType::Ram);
    expect_region(m, 3, 15 * MiB, 2 * MiB, MemoryType::Reserved);
    EXPECT_EQ(m.total(MemoryType::Ram), 14 * MiB);
}

TEST(CoreMemoryMap, OverlapWinsEvenWhenRamIsAddedLast) {
    MemoryMap m;
    ASSERT_TRUE(m.add(0x9f000, 0x61000, MemoryType::Reserved).ok());
    ASSERT_TRUE(m.add(0, 0x200000, MemoryType::Ram).ok());
    ASSERT_TRUE(m.normalize().ok());
    ASSERT_TRUE(well_formed(m));
    ASSERT_EQ(m.size(), 3u);
    expect_region(m, 0, 0, 0x9f000, MemoryType::Ram);
    expect_region(m, 1, 0x9f000, 0x61000, MemoryType::Reserved);
    expect_region(m, 2, 0x100000, 0x100000, MemoryType::Ram);
    EXPECT_FALSE(m.is_ram(0x9f000, 1));
}

TEST(CoreMemoryMap, OverlappingAndDuplicateRamMerges) {
    MemoryMap m;
    ASSERT_TRUE(m.add(1 * MiB, 2 * MiB, MemoryType::Ram).ok());
    ASSERT_TRUE(m.add(0, 2 * MiB, MemoryType::Ram).ok());
    ASSERT_TRUE(m.add(0, 2 * MiB, MemoryType::Ram).ok());
    ASSERT_TRUE(m.add(3 * MiB, 1 * MiB, MemoryType::Ram).ok()); // touching: merges
    ASSERT_TRUE(m.normalize().ok());
    ASSERT_EQ(m.size(), 1u);
    expect_region(m, 0, 0, 4 * MiB, MemoryType::Ram);
    EXPECT_EQ(m.total(MemoryType::Ram), 4 * MiB);
}

TEST(CoreMemoryMap, TouchingRegionsOfDifferentTypeStaySeparate) {
    MemoryMap m;
    ASSERT_TRUE(m.add(0, 1 * MiB, MemoryType::Ram).ok());
    ASSERT_TRUE(m.add(1 * MiB, 1 * MiB, MemoryType::AcpiReclaimable).ok());
    ASSERT_TRUE(m.add(2 * MiB, 1 * MiB, MemoryType::AcpiReclaimable).ok());
    ASSERT_TRUE(m.add(3 * MiB, 1 * MiB, MemoryType::Ram).ok());
    ASSERT_TRUE(m.normalize().ok());
    ASSERT_EQ(m.size(), 3u);
    expect_region(m, 1, 1 * MiB, 2 * MiB, MemoryType::AcpiReclaimable);
}

TEST(CoreMemoryMap, NormalizeIsIdempotent) {
    MemoryMap m;
    add_qemu_128m(m);
    ASSERT_TRUE(m.normalize().ok());
    std::vector<MemoryRegion> first(&m[0], &m[0] + m.size());
    ASSERT_TRUE(m.normalize().ok());
    ASSERT_EQ(m.size(), first.size());
    for (size_t i = 0; i < first.size(); ++i) {
        EXPECT_EQ(m[i].base, first[i].base);
        EXPECT_EQ(m[i].length, first[i].length);
        EXPECT_EQ(m[i].type, first[i].type);
    }
}

TEST(CoreMemoryMap, ZeroLengthIgnoredAndWrappingRejected) {
    MemoryMap m;
    EXPECT_TRUE(m.add(0x1000, 0, MemoryType::Ram).ok());
    EXPECT_EQ(m.size(), 0u);
    Result<void> r = m.add(0xFFFFFFFFFFFFF000ull, 0x2000, MemoryType::Ram);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::InvalidArgument);
    EXPECT_EQ(m.size(), 0u);
    // Ending exactly at 2^64 - 1 is representable and accepted.
    EXPECT_TRUE(m.add(0xFFFFFFFFFFFFF000ull, 0xFFF, MemoryType::Reserved).ok());

    ASSERT_TRUE(m.add(0, 1 * MiB, MemoryType::Ram).ok());
    ASSERT_TRUE(m.normalize().ok());
    const size_t before = m.size();
    Result<void> c = m.carve(~0ull - 0xFFF, 0x2000, MemoryType::Reserved);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error(), Error::InvalidArgument);
    EXPECT_TRUE(m.carve(0x1000, 0, MemoryType::Reserved).ok());
    EXPECT_EQ(m.size(), before);
    EXPECT_EQ(m.total(MemoryType::Ram), 1 * MiB);
}

TEST(CoreMemoryMap, CarveInsideRamSplitsIt) {
    MemoryMap m;
    add_qemu_128m(m);
    ASSERT_TRUE(m.normalize().ok());
    const uint64_t ram_before = m.total(MemoryType::Ram);
    // Hypervisor image at 16 MiB, 4 MiB long.
    ASSERT_TRUE(m.carve(16 * MiB, 4 * MiB, MemoryType::Reserved).ok());
    ASSERT_TRUE(well_formed(m));
    EXPECT_EQ(m.total(MemoryType::Ram), ram_before - 4 * MiB);
    EXPECT_TRUE(m.is_ram(1 * MiB, 15 * MiB));
    EXPECT_FALSE(m.is_ram(16 * MiB, 4096));
    EXPECT_FALSE(m.is_ram(20 * MiB - 4096, 4096));
    EXPECT_TRUE(m.is_ram(20 * MiB, 0x7fe0000 - 20 * MiB));
    EXPECT_EQ(m.size(), 8u);
}

TEST(CoreMemoryMap, CarveAtRegionEdges) {
    MemoryMap m;
    ASSERT_TRUE(m.add(1 * MiB, 127 * MiB, MemoryType::Ram).ok());
    ASSERT_TRUE(m.normalize().ok());
    ASSERT_TRUE(m.carve(1 * MiB, 1 * MiB, MemoryType::Reserved).ok());    // at the start
    ASSERT_TRUE(m.carve(126 * MiB, 2 * MiB, MemoryType::Reserved).ok());  // at the end
    ASSERT_TRUE(well_formed(m));
    ASSERT_EQ(m.size(), 3u);
    expect_region(m, 0, 1 * MiB, 1 * MiB, MemoryType::Reserved);
    expect_region(m, 1, 2 * MiB, 124 * MiB, MemoryType::Ram);
    expect_region(m, 2, 126 * MiB, 2 * MiB, MemoryType::Reserved);
    // Carving right next to an existing reserved region merges with it.
    ASSERT_TRUE(m.carve(2 * MiB, 1 * MiB, MemoryType::Reserved).ok());
    ASSERT_EQ(m.size(), 3u);
    expect_region(m, 0, 1 * MiB, 2 * MiB, MemoryType::Reserved);
    EXPECT_EQ(m.total(MemoryType::Ram), 123 * MiB);
}

TEST(CoreMemoryMap, CarveAcrossSeveralRegions) {
    MemoryMap m;
    add_qemu_128m(m);
    ASSERT_TRUE(m.normalize().ok());
    const uint64_t ram_before = m.total(MemoryType::Ram);
    // From inside low RAM, over the EBDA hole and BIOS area, into high RAM.
    const uint64_t base = 0x90000, length = 0x200000 - 0x90000;
    const uint64_t carved_ram = ram_inside(m, base, length);
    EXPECT_EQ(carved_ram, (0x9fc00u - 0x90000u) + (0x200000u - 0x100000u));
    ASSERT_TRUE(m.carve(base, length, MemoryType::Reserved).ok());
    ASSERT_TRUE(well_formed(m));
    EXPECT_EQ(m.total(MemoryType::Ram), ram_before - carved_ram);
    expect_region(m, 0, 0, 0x90000, MemoryType::Ram);
    expect_region(m, 1, 0x90000, 0x200000 - 0x90000, MemoryType::Reserved);
    expect_region(m, 2, 0x200000, 0x7fe0000 - 0x200000, MemoryType::Ram);
}

TEST(CoreMemoryMap, CarveIsAuthoritativeEvenForWeakerType) {
    MemoryMap m;
    ASSERT_TRUE(m.add(0, 4 * MiB, MemoryType::Reserved).ok());
    ASSERT_TRUE(m.normalize().ok());
    ASSERT_TRUE(m.carve(1 * MiB, 1 * MiB, MemoryType::Ram).ok());
    ASSERT_TRUE(well_formed(m));
    EXPECT_TRUE(m.is_ram(1 * MiB, 1 * MiB));
    EXPECT_EQ(m.total(MemoryType::Ram), 1 * MiB);
    EXPECT_EQ(m.total(MemoryType::Reserved), 3 * MiB);
}

TEST(CoreMemoryMap, CarvingKeepsRamTotalInvariant) {
    std::mt19937_64 rng(0x5eed);
    MemoryMap m;
    add_qemu_128m(m);
    ASSERT_TRUE(m.add(4 * GiB, 2 * GiB, MemoryType::Ram).ok());
    ASSERT_TRUE(m.normalize().ok());
    const uint64_t top = m.highest_end();
    for (int i = 0; i < 40; ++i) {
        const uint64_t base = (rng() % (top / 4096)) * 4096;
        const uint64_t length = ((rng() % 4096) + 1) * 4096;
        const uint64_t before = m.total(MemoryType::Ram);
        const uint64_t carved = ram_inside(m, base, length);
        ASSERT_TRUE(m.carve(base, length, MemoryType::Reserved).ok()) << "carve " << i;
        ASSERT_TRUE(well_formed(m)) << "carve " << i;
        ASSERT_EQ(m.total(MemoryType::Ram), before - carved) << "carve " << i;
        ASSERT_FALSE(m.is_ram(base, 4096));
        ASSERT_FALSE(m.is_ram(base + length - 4096, 4096));
    }
}

TEST(CoreMemoryMap, FindTopRamHonoursAlignmentLimitAndSize) {
    MemoryMap m;
    add_qemu_128m(m);
    ASSERT_TRUE(m.normalize().ok());
    // Top of high RAM is 0x7fe0000: 1 MiB aligned below that is 0x7e00000.
    EXPECT_EQ(m.find_top_ram(1 * MiB, 1 * MiB, ~0ull), 0x7e00000u);
    EXPECT_EQ(m.find_top_ram(0x1000, 0x1000, ~0ull), 0x7fdf000u);
    // Limit below high RAM's end.
    EXPECT_EQ(m.find_top_ram(0x1000, 0x1000, 64 * MiB), 64 * MiB - 0x1000);
    // Only low RAM below 1 MiB: 0x9fc00 - 0x1000 rounded down to 4 KiB.
    EXPECT_EQ(m.find_top_ram(0x1000, 0x1000, 0x100000), 0x9e000u);
    // Too big for any RAM region.
    EXPECT_EQ(m.find_top_ram(256 * MiB, 4096, ~0ull), 0u);
    // The result lies wholly inside one RAM region.
    const uint64_t at = m.find_top_ram(3 * MiB, 2 * MiB, ~0ull);
    EXPECT_TRUE(m.is_ram(at, 3 * MiB));
    EXPECT_EQ(at % (2 * MiB), 0u);
}

TEST(CoreMemoryMap, FindTopRamNeverReturnsAddressZeroOrNonRam) {
    MemoryMap m;
    ASSERT_TRUE(m.add(0, 0x9fc00, MemoryType::Ram).ok());
    ASSERT_TRUE(m.add(0x9fc00, 0x400, MemoryType::Reserved).ok());
    ASSERT_TRUE(m.normalize().ok());
    EXPECT_EQ(m.find_top_ram(0x9f000, 0x1000, ~0ull), 0u); // would start at 0: "none"
    EXPECT_EQ(m.find_top_ram(0x1000, 0x1000, 0x1000), 0u);
    EXPECT_EQ(m.find_top_ram(0x1000, 0x1000, 0x2000), 0x1000u);
}

TEST(CoreMemoryMap, IsRamRequiresOneWholeRegion) {
    MemoryMap m;
    ASSERT_TRUE(m.add(0, 2 * MiB, MemoryType::Ram).ok());
    ASSERT_TRUE(m.add(2 * MiB, 2 * MiB, MemoryType::AcpiReclaimable).ok());
    ASSERT_TRUE(m.normalize().ok());
    EXPECT_TRUE(m.is_ram(0, 2 * MiB));
    EXPECT_FALSE(m.is_ram(0, 2 * MiB + 1));
    EXPECT_FALSE(m.is_ram(2 * MiB, 4096));
    EXPECT_FALSE(m.is_ram(4096, ~0ull)); // wraps
    EXPECT_FALSE(m.is_ram(8 * MiB, 4096));
}

TEST(CoreMemoryMap, AddBeyondCapacityFails) {
    auto m = std::make_unique<MemoryMap>();
    for (size_t i = 0; i < MemoryMap::capacity; ++i)
        ASSERT_TRUE(m->add(i * 2 * MiB, MiB, MemoryType::Ram).ok()) << i;
    Result<void> r = m->add(1 * GiB, MiB, MemoryType::Ram);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::OutOfMemory);
    ASSERT_TRUE(m->normalize().ok());
    EXPECT_EQ(m->size(), MemoryMap::capacity);
    EXPECT_EQ(m->total(MemoryType::Ram), MemoryMap::capacity * MiB);
}

TEST(CoreMemoryMap, CarveBeyondCapacityFailsCleanly) {
    auto m = std::make_unique<MemoryMap>();
    ASSERT_TRUE(m->add(0, 1 * GiB, MemoryType::Ram).ok());
    ASSERT_TRUE(m->normalize().ok());
    // Each carve strictly inside RAM adds two regions: 1 + 2k <= 128 -> k = 63.
    bool failed = false;
    for (size_t i = 0; i < 80; ++i) {
        Result<void> r = m->carve((i + 1) * 4 * MiB, 4096, MemoryType::Reserved);
        if (!r.ok()) {
            EXPECT_EQ(r.error(), Error::OutOfMemory);
            EXPECT_GE(i, 63u);
            failed = true;
            break;
        }
        ASSERT_TRUE(well_formed(*m));
    }
    EXPECT_TRUE(failed);
    EXPECT_LE(m->size(), MemoryMap::capacity);
}

TEST(CoreMemoryMap, NormalizeThatOutgrowsCapacityFailsWithoutOverflow) {
    // Two RAM regions and 64 reserved holes inside the first: after the 63rd
    // hole the resolved map holds exactly 128 regions, and the 64th must be
    // refused, not written past the work arrays (heap object: ASan watches).
    auto m = std::make_unique<MemoryMap>();
    ASSERT_TRUE(m->add(0, 1 * GiB, MemoryType::Ram).ok());
    ASSERT_TRUE(m->add(2 * GiB, 1 * GiB, MemoryType::Ram).ok());
    for (uint64_t i = 0; i < 64; ++i)
        ASSERT_TRUE(m->add((i + 1) * 4 * MiB, 4096, MemoryType::Reserved).ok());
    Result<void> r = m->normalize();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::OutOfMemory);
    EXPECT_LE(m->size(), MemoryMap::capacity);
}

TEST(CoreMemoryMap, NormalizeAtExactlyCapacitySucceeds) {
    auto m = std::make_unique<MemoryMap>();
    ASSERT_TRUE(m->add(0, 1 * GiB, MemoryType::Ram).ok());
    ASSERT_TRUE(m->add(2 * GiB, 1 * GiB, MemoryType::Ram).ok());
    for (uint64_t i = 0; i < 63; ++i)
        ASSERT_TRUE(m->add((i + 1) * 4 * MiB, 4096, MemoryType::Reserved).ok());
    ASSERT_TRUE(m->normalize().ok());
    EXPECT_EQ(m->size(), MemoryMap::capacity);
    EXPECT_TRUE(well_formed(*m));
    EXPECT_EQ(m->total(MemoryType::Ram), 2 * GiB - 63 * 4096);
}

} // namespace
} // namespace sv
