// Unit tests for core/nested_identity: the guest-physical identity map with
// the hypervisor's memory hidden behind a read-only zero page, in both
// formats; NPT tables are bit-for-bit those of the single write-back map.
#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>

#include "core/fake_page_table_memory.hpp"
#include "core/nested_identity.hpp"

namespace sv {
namespace {

constexpr uint64_t KiB = 1024, MiB = 1024 * KiB, GiB = 1024 * MiB;
constexpr uint64_t zero_page = 0x9000;

// A small pc-like map: low RAM, the legacy hole, RAM to 2 GiB - 128 KiB, ACPI
// tables after it, the hypervisor carved out of RAM at 16 MiB and 1 GiB.
MemoryMap guest_map() {
    MemoryMap m;
    EXPECT_TRUE(m.add(0, 0x9fc00, MemoryType::Ram).ok());
    EXPECT_TRUE(m.add(0x9fc00, 0x400, MemoryType::Reserved).ok());
    EXPECT_TRUE(m.add(0xf0000, 0x10000, MemoryType::Reserved).ok());
    EXPECT_TRUE(m.add(0x100000, 2 * GiB - 0x100000 - 128 * KiB, MemoryType::Ram).ok());
    EXPECT_TRUE(m.add(2 * GiB - 128 * KiB, 64 * KiB, MemoryType::AcpiReclaimable).ok());
    EXPECT_TRUE(m.add(2 * GiB - 64 * KiB, 64 * KiB, MemoryType::AcpiNvs).ok());
    EXPECT_TRUE(m.add(0xfffc0000, 0x40000, MemoryType::Reserved).ok());
    EXPECT_TRUE(m.normalize().ok());
    EXPECT_TRUE(m.carve(16 * MiB, 2 * MiB, MemoryType::Reserved).ok());
    EXPECT_TRUE(m.carve(1 * GiB + 0x3000, 0x5000, MemoryType::Reserved).ok());
    return m;
}
const PhysRange hidden[] = {{16 * MiB, 2 * MiB}, {1 * GiB + 0x3000, 0x5000}};
constexpr uint64_t top = 8 * GiB;

TEST(CoreNestedIdentity, CacheTypeFollowsTheMemoryMap) {
    const MemoryMap m = guest_map();
    EXPECT_EQ(identity_cache_type(m, 0, 0x9f000), CacheType::WriteBack);
    EXPECT_EQ(identity_cache_type(m, 0x9f000, 0x1000), CacheType::Uncacheable); // ends in reserved
    EXPECT_EQ(identity_cache_type(m, 0xa0000, 0x1000), CacheType::Uncacheable); // VGA hole
    EXPECT_EQ(identity_cache_type(m, 0x100000, 0x1000), CacheType::WriteBack);
    // RAM, then ACPI reclaimable, then ACPI NVS: all memory, three regions.
    EXPECT_EQ(identity_cache_type(m, 2 * GiB - 256 * KiB, 256 * KiB), CacheType::WriteBack);
    EXPECT_EQ(identity_cache_type(m, 2 * GiB - 4 * KiB, 8 * KiB), CacheType::Uncacheable); // past the end
    EXPECT_EQ(identity_cache_type(m, 16 * MiB, 0x1000), CacheType::Uncacheable); // hypervisor (reserved)
    EXPECT_EQ(identity_cache_type(m, 0xfee00000, 0x1000), CacheType::Uncacheable);
    EXPECT_EQ(identity_cache_type(m, 0xfffc0000, 0x1000), CacheType::Uncacheable);
    EXPECT_EQ(identity_cache_type(m, 0x100000, 0), CacheType::Uncacheable);
    EXPECT_EQ(identity_cache_type(m, ~0ull - 0xfff, 0x2000), CacheType::Uncacheable); // wraps
}

// Every entry of every table, in allocation order.
std::vector<uint64_t> all_entries(FakePageTableMemory& mem) {
    std::vector<uint64_t> out;
    for (size_t i = 0; i < mem.used(); ++i) {
        const uint64_t* t = mem.table(FakePageTableMemory::base + i * 4096);
        out.insert(out.end(), t, t + 512);
    }
    return out;
}

TEST(CoreNestedIdentity, NptIsBitForBitTheWriteBackIdentityMap) {
    const MemoryMap m = guest_map();
    FakePageTableMemory built_mem{256}, reference_mem{256};
    NestedPageTable built{built_mem, nested_format_npt}, reference{reference_mem, nested_format_npt};
    ASSERT_TRUE(built.init().ok());
    ASSERT_TRUE(reference.init().ok());
    ASSERT_TRUE(build_identity_map(built, m, top, hidden, 2, zero_page).ok());
    // What HypervisorMemory::build_nested_paging always did.
    ASSERT_TRUE(reference.map(0, 0, top, NestedAccess::ReadWriteExecute).ok());
    for (const PhysRange& h : hidden)
        ASSERT_TRUE(reference.map_all_to(h.base, h.length, zero_page, NestedAccess::ReadExecute).ok());
    ASSERT_EQ(built_mem.used(), reference_mem.used());
    EXPECT_EQ(all_entries(built_mem), all_entries(reference_mem));
    EXPECT_EQ(built.lookup(0xa0000).page_size, 2 * MiB); // no split for memory types
}

class CoreNestedIdentityBoth : public ::testing::TestWithParam<const NestedFormat*> {};

TEST_P(CoreNestedIdentityBoth, HiddenMemoryIsOneReadOnlyZeroPage) {
    const MemoryMap m = guest_map();
    FakePageTableMemory mem{256};
    NestedPageTable table{mem, *GetParam()};
    ASSERT_TRUE(table.init().ok());
    ASSERT_TRUE(build_identity_map(table, m, top, hidden, 2, zero_page).ok());
    for (const PhysRange& h : hidden) {
        for (uint64_t gpa = h.base; gpa < h.base + h.length; gpa += 0x1000) {
            const NestedMapping n = table.lookup(gpa + 0x321);
            ASSERT_EQ(n.hpa, zero_page + 0x321) << std::hex << gpa;
            EXPECT_EQ(n.page_size, 4 * KiB);
            EXPECT_EQ(n.access, NestedAccess::ReadExecute) << std::hex << gpa; // write-back, no write
        }
        // Neighbours keep the identity mapping.
        EXPECT_EQ(table.lookup(h.base - 1).hpa, h.base - 1);
        EXPECT_TRUE(table.lookup(h.base - 1).access.writable());
        EXPECT_EQ(table.lookup(h.base + h.length).hpa, h.base + h.length);
        EXPECT_TRUE(table.lookup(h.base + h.length).access.writable());
    }
    EXPECT_EQ(table.lookup(top - 1).hpa, top - 1);
    EXPECT_EQ(table.lookup(top).page_size, 0u);
}

TEST_P(CoreNestedIdentityBoth, RamIsWriteBackAndMmioUncacheableWhereRecorded) {
    const MemoryMap m = guest_map();
    FakePageTableMemory mem{256};
    NestedPageTable table{mem, *GetParam()};
    ASSERT_TRUE(table.init().ok());
    ASSERT_TRUE(build_identity_map(table, m, top, hidden, 2, zero_page).ok());
    const bool typed = GetParam()->records_memory_type();
    const CacheType mmio = typed ? CacheType::Uncacheable : CacheType::WriteBack;
    for (uint64_t gpa : std::initializer_list<uint64_t>{0x0, 0x9e000, 0x100000, 0x12345000, 2 * GiB - 4 * KiB,
                                                        2 * GiB - 100 * KiB})
        EXPECT_EQ(table.lookup(gpa).access, NestedAccess::ReadWriteExecute) << std::hex << gpa;
    for (uint64_t gpa : std::initializer_list<uint64_t>{0x9f000, 0xa0000, 0xf0000, 2 * GiB, 0xfee00000, 0xfffc0000, 5 * GiB})
        EXPECT_EQ(table.lookup(gpa).access, NestedAccess::ReadWriteExecute.with(mmio)) << std::hex << gpa;
    // RAM in 2 MiB leaves where the map allows it.
    EXPECT_EQ(table.lookup(0x12345000).page_size, 2 * MiB);
    EXPECT_EQ(table.lookup(0x9e000).page_size, typed ? 4 * KiB : 2 * MiB);
}

INSTANTIATE_TEST_SUITE_P(Formats, CoreNestedIdentityBoth,
                         ::testing::Values(&nested_format_npt, &nested_format_ept),
                         [](const ::testing::TestParamInfo<const NestedFormat*>& info) {
                             return std::string(info.param->name);
                         });

TEST(CoreNestedIdentity, OutOfTablesFails) {
    const MemoryMap m = guest_map();
    FakePageTableMemory mem{8};
    NestedPageTable table{mem, nested_format_ept};
    ASSERT_TRUE(table.init().ok());
    Result<void> r = build_identity_map(table, m, top, hidden, 2, zero_page);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::OutOfMemory);
}

} // namespace
} // namespace sv
