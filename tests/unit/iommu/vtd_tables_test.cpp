// VT-d root/context/second-level tables (VT-d 3.x §9.1, §9.3, §9.8) walked
// the way the remapping hardware walks them (§3.6: the context entry's AW
// picks 3 or 4 levels, each non-leaf entry must allow the access, PS ends
// the walk at 2 MiB / 1 GiB): guest RAM 1:1, hypervisor memory never, the
// shadow window for mediated functions only.
#include <gtest/gtest.h>

#include <initializer_list>
#include <optional>

#include "core/fake_page_table_memory.hpp"
#include "devices/iommu/vtd/vtd_tables.hpp"

namespace sv::vtd {
namespace {

constexpr uint64_t mib = 1ull << 20, gib = 1ull << 30;

struct Walk {
    uint64_t hpa = 0;
    bool read = false, write = false;
    uint64_t page = 0;
};

// An independent walker: root entry -> context entry -> second-level walk.
std::optional<Walk> translate(FakePageTableMemory& mem, uint64_t rtaddr, uint8_t bus, uint8_t devfn, uint64_t iova,
                              uint16_t* did = nullptr) {
    const uint64_t* root = mem.table(rtaddr);
    const uint64_t re = root[2 * bus];
    if (!(re & 1)) return std::nullopt;
    const uint64_t* ctx = mem.table(re & ~0xFFFull);
    const uint64_t lo = ctx[2 * devfn], hi = ctx[2 * devfn + 1];
    if (!(lo & 1)) return std::nullopt;
    EXPECT_EQ((lo >> 2) & 3, 0u) << "TT: untranslated requests only";
    EXPECT_EQ(lo & 2, 0u) << "FPD clear: faults are recorded";
    if (did) *did = static_cast<uint16_t>(hi >> 8);
    const int levels = (hi & 7) == 1 ? 3 : (hi & 7) == 2 ? 4 : 0;
    EXPECT_NE(levels, 0) << "AW";
    if (levels == 3 && iova >= (1ull << 39)) return std::nullopt;
    uint64_t table = lo & ~0xFFFull;
    bool read = true, write = true;
    for (int l = levels; l >= 1; --l) {
        const uint64_t e = mem.table(table)[(iova >> (12 + 9 * (l - 1))) & 511];
        if (!(e & 3)) return std::nullopt;
        EXPECT_EQ(e & 0x4, 0u) << "no execute bit in legacy mode";
        EXPECT_EQ(e & 0x78, 0u) << "EMT/IPAT stay 0";
        read &= (e & 1) != 0;
        write &= (e & 2) != 0;
        const uint64_t size = 1ull << (12 + 9 * (l - 1));
        if (l == 1 || (e & 0x80)) {
            EXPECT_LE(l, 3) << "no PS at the top level";
            const uint64_t base = e & 0x000FFFFFFFFFF000ull & ~(size - 1);
            return Walk{base + (iova & (size - 1)), read, write, size};
        }
        table = e & 0x000FFFFFFFFFF000ull;
    }
    return std::nullopt;
}

// 1 GiB machine: RAM below 640 KiB, RAM 1 MiB..1 GiB with the hypervisor's
// image (32-34 MiB) and heap (1000-1016 MiB) carved out as Reserved, an ACPI
// area, and a region whose edges are not page aligned.
struct Machine {
    MemoryMap map;
    PhysWindow hv[2] = {{32 * mib, 2 * mib}, {1000 * mib, 16 * mib}};
    PhysWindow shadow[1] = {{1004 * mib, 4 * mib}};
    PciFunction mediated[2] = {{0, 0x1F, 2}, {0, 3, 0}};
    Machine() {
        EXPECT_TRUE(map.add(0, 0x9F000, MemoryType::Ram).ok());
        EXPECT_TRUE(map.add(0x9F000, 0x61000, MemoryType::Reserved).ok());
        EXPECT_TRUE(map.add(mib, 1023 * mib - 64 * 1024, MemoryType::Ram).ok());
        EXPECT_TRUE(map.add(1 * gib - 64 * 1024, 64 * 1024, MemoryType::AcpiReclaimable).ok());
        EXPECT_TRUE(map.add(2 * gib + 0x800, 0x3000, MemoryType::Ram).ok()); // ragged edges
        EXPECT_TRUE(map.carve(hv[0].base, hv[0].length, MemoryType::Reserved).ok());
        EXPECT_TRUE(map.carve(hv[1].base, hv[1].length, MemoryType::Reserved).ok());
    }
    DomainInputs inputs() const {
        DomainInputs in;
        in.guest_map = &map;
        in.hypervisor = hv;
        in.hypervisor_count = 2;
        in.device_dma = shadow;
        in.device_dma_count = 1;
        in.mediated = mediated;
        in.mediated_count = 2;
        return in;
    }
};

TEST(VtdTables, EntryFormatMatchesTheSpec) {
    EXPECT_EQ(nested_format_vtd.leaf_entry(0x200000, NestedAccess{NestedAccess::read | NestedAccess::write}, true),
              0x200000u | 0x3 | 0x80);
    EXPECT_EQ(nested_format_vtd.leaf_entry(0x5000, NestedAccess{NestedAccess::read}, false), 0x5001u);
    EXPECT_EQ(nested_format_vtd.table_entry(0x7000), 0x7003u);
    EXPECT_EQ(nested_format_vtd.leaf_entry(0x5000, NestedAccess::None, false), 0u);
}

TEST(VtdTables, GuestRamOneToOneHypervisorNever) {
    Machine m;
    FakePageTableMemory mem(4096);
    VtdTables tables(mem);
    const Result<TableStats> s = tables.build(m.inputs(), WalkCapabilities{4, true, true});
    ASSERT_TRUE(s.ok());
    const uint64_t rt = s.value().root;
    EXPECT_EQ(rt % 4096, 0u);
    EXPECT_GT(s.value().table_pages, 3u);
    EXPECT_EQ(s.value().table_pages, mem.used());
    EXPECT_EQ(s.value().guest_bytes, m.map.total(MemoryType::Ram) - 0x1000 /* ragged edges */ + 64 * 1024);
    EXPECT_EQ(s.value().mediated_extra, 4 * mib);

    const uint8_t nic = 2 << 3; // 00:02.0, unmediated
    using Addresses = std::initializer_list<uint64_t>;
    for (uint64_t a : Addresses{0x1000, 0x9E000ull, 1 * mib, 31 * mib + 0x123, 34 * mib, 999 * mib, 1016 * mib,
                       1 * gib - 4096, 2 * gib + 0x1000}) {
        const auto w = translate(mem, rt, 0, nic, a);
        ASSERT_TRUE(w) << std::hex << a;
        EXPECT_EQ(w->hpa, a);
        EXPECT_TRUE(w->read && w->write);
    }
    for (uint64_t a : Addresses{0x9F000, 0xA0000ull, 0xF0000ull, 32 * mib, 33 * mib + 0x800, 1000 * mib, 1004 * mib,
                       1015 * mib + 0xFFF, 2 * gib, 2 * gib + 0x3000, 3 * gib, 0xFEE00000})
        EXPECT_FALSE(translate(mem, rt, 0, nic, a)) << std::hex << a;
    // Large pages where the map allows.
    EXPECT_EQ(translate(mem, rt, 0, nic, 100 * mib)->page, 2 * mib);
    EXPECT_EQ(translate(mem, rt, 0, nic, 0x5000)->page, 4096u);
    // Every bus, every devfn is translated (a device nobody scanned is confined too).
    uint16_t did = 0;
    ASSERT_TRUE(translate(mem, rt, 0xFF, 0xFF, 64 * mib, &did));
    EXPECT_EQ(did, guest_domain_id);
    EXPECT_FALSE(translate(mem, rt, 0xFF, 0xFF, 1004 * mib));
}

TEST(VtdTables, MediatedFunctionsAloneReachTheShadowWindow) {
    Machine m;
    FakePageTableMemory mem(4096);
    VtdTables tables(mem);
    const Result<TableStats> s = tables.build(m.inputs(), WalkCapabilities{4, true, true});
    ASSERT_TRUE(s.ok());
    const uint64_t rt = s.value().root;
    EXPECT_EQ(s.value().context_tables, 2u); // the shared one, bus 0's own
    uint16_t did = 0;
    for (const PciFunction& f : m.mediated) {
        const auto w = translate(mem, rt, f.bus, f.devfn(), 1004 * mib + 0x10, &did);
        ASSERT_TRUE(w);
        EXPECT_EQ(w->hpa, 1004 * mib + 0x10);
        EXPECT_EQ(did, mediated_domain_id);
        EXPECT_TRUE(translate(mem, rt, f.bus, f.devfn(), 64 * mib)); // guest RAM too
        EXPECT_FALSE(translate(mem, rt, f.bus, f.devfn(), 1003 * mib)); // heap outside the window
        EXPECT_FALSE(translate(mem, rt, f.bus, f.devfn(), 1008 * mib));
        EXPECT_FALSE(translate(mem, rt, f.bus, f.devfn(), 33 * mib)); // the image (the key)
    }
    // The same devfn on another bus is not mediated.
    ASSERT_FALSE(translate(mem, rt, 1, m.mediated[0].devfn(), 1004 * mib, &did));
    EXPECT_EQ(tables.context_entry(1, m.mediated[0].devfn()).hi >> 8, guest_domain_id);
    EXPECT_EQ(tables.context_entry(0, m.mediated[0].devfn()).hi >> 8, mediated_domain_id);
    EXPECT_EQ(tables.context_entry(0, m.mediated[0].devfn()).lo & ~0xFFFull,
              tables.domain_root(mediated_domain_id));
}

TEST(VtdTables, ThreeLevelUnitsStartBelowTheRoot) {
    Machine m;
    FakePageTableMemory mem(4096);
    VtdTables tables(mem);
    const Result<TableStats> s = tables.build(m.inputs(), WalkCapabilities{3, true, false});
    ASSERT_TRUE(s.ok());
    const ContextEntry c = tables.context_entry(0, 2 << 3);
    EXPECT_EQ(c.hi & 7, context_aw_39);
    const auto w = translate(mem, s.value().root, 0, 2 << 3, 512 * mib + 0x40);
    ASSERT_TRUE(w);
    EXPECT_EQ(w->hpa, 512 * mib + 0x40);
    EXPECT_FALSE(translate(mem, s.value().root, 0, 2 << 3, 1000 * mib));

    // RAM at 600 GiB cannot be reached by a 39-bit walk: refused, not dropped.
    MemoryMap big = m.map;
    ASSERT_TRUE(big.add(600 * gib, gib, MemoryType::Ram).ok());
    DomainInputs in = m.inputs();
    in.guest_map = &big;
    FakePageTableMemory mem2(4096);
    VtdTables t2(mem2);
    EXPECT_EQ(t2.build(in, WalkCapabilities{3, true, false}).error(), Error::Unsupported);
    FakePageTableMemory mem3(4096);
    VtdTables t3(mem3);
    const Result<TableStats> s3 = t3.build(in, WalkCapabilities{4, true, false});
    ASSERT_TRUE(s3.ok());
    EXPECT_TRUE(translate(mem3, s3.value().root, 0, 0, 600 * gib + 0x1000));
}

TEST(VtdTables, RmrrsAreMappedAndMayNotTouchTheHypervisor) {
    Machine m;
    const PhysWindow rmrr[1] = {{0xA0000, 0x20000}};
    DomainInputs in = m.inputs();
    in.reserved = rmrr;
    in.reserved_count = 1;
    FakePageTableMemory mem(4096);
    VtdTables tables(mem);
    const Result<TableStats> s = tables.build(in, WalkCapabilities{4, true, true});
    ASSERT_TRUE(s.ok());
    EXPECT_TRUE(translate(mem, s.value().root, 0, 2 << 3, 0xB8000));

    const PhysWindow bad[1] = {{1000 * mib, 4096}};
    in.reserved = bad;
    FakePageTableMemory mem2(4096);
    VtdTables t2(mem2);
    EXPECT_EQ(t2.build(in, WalkCapabilities{4, true, true}).error(), Error::Protected);
}

TEST(VtdTables, RefusesWhatItCannotBuildSafely) {
    Machine m;
    DomainInputs in = m.inputs();
    FakePageTableMemory mem(4096);
    VtdTables tables(mem);
    EXPECT_EQ(tables.build(in, WalkCapabilities{4, false, false}).error(), Error::Unsupported); // no 2 MiB pages
    EXPECT_EQ(tables.build(in, WalkCapabilities{5, true, true}).error(), Error::Unsupported);
    DomainInputs none = in;
    none.guest_map = nullptr;
    EXPECT_EQ(tables.build(none, WalkCapabilities{}).error(), Error::InvalidArgument);
    // A guest map that still holds hypervisor memory as RAM.
    MemoryMap leaky;
    ASSERT_TRUE(leaky.add(0, 2 * gib, MemoryType::Ram).ok());
    in.guest_map = &leaky;
    EXPECT_EQ(tables.build(in, WalkCapabilities{}).error(), Error::Protected);
    // Out of table memory: an error, never a partial table in use.
    FakePageTableMemory tiny(3);
    VtdTables t3(tiny);
    EXPECT_EQ(t3.build(m.inputs(), WalkCapabilities{}).error(), Error::OutOfMemory);
}

} // namespace
} // namespace sv::vtd
