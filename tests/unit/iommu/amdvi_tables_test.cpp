// AMD-Vi device table and I/O page tables (AMD IOMMU Specification 48882
// §2.2.2 DTE, §2.2.3 page tables) walked back the way the IOMMU walks them:
// the DTE's Mode gives the levels, each present entry's Next Level names the
// table below it (0: a leaf, of the size of the level it sits at),
// permissions are ANDed from the DTE down. Guest RAM 1:1, hypervisor memory
// never, the shadow window for mediated DeviceIDs only, 2 MiB leaves where
// the map allows.
#include <gtest/gtest.h>

#include <initializer_list>
#include <memory>
#include <optional>
#include <vector>

#include "core/fake_page_table_memory.hpp"
#include "devices/iommu/amdvi/amdvi_tables.hpp"
#include "devices/iommu/amdvi/ivrs.hpp"

namespace sv::amdvi {
namespace {

constexpr uint64_t mib = 1ull << 20, gib = 1ull << 30;
constexpr uint64_t addr_bits = 0x000FFFFFFFFFF000ull;

struct Walk {
    uint64_t hpa = 0;
    bool read = false, write = false;
    uint64_t page = 0;
};

std::optional<Walk> translate(FakePageTableMemory& mem, const DeviceTableEntry& d, uint64_t iova,
                              uint16_t* domain = nullptr) {
    EXPECT_TRUE(d.q[0] & 1) << "V";
    EXPECT_TRUE(d.q[0] & 2) << "TV";
    const unsigned mode = (d.q[0] >> 9) & 7;
    EXPECT_EQ(mode, 4u);
    if (domain) *domain = static_cast<uint16_t>(d.q[1]);
    bool read = d.q[0] & (1ull << 61), write = d.q[0] & (1ull << 62);
    uint64_t table = d.q[0] & addr_bits;
    for (unsigned level = mode; level >= 1;) {
        const uint64_t e = mem.table(table)[(iova >> (12 + 9 * (level - 1))) & 511];
        if (!(e & 1)) {
            EXPECT_EQ(e & ((1ull << 61) | (1ull << 62)), 0u) << "a not-present entry grants nothing";
            return std::nullopt;
        }
        read = read && (e & (1ull << 61));
        write = write && (e & (1ull << 62));
        const unsigned next = (e >> 9) & 7;
        if (next == 0) {
            EXPECT_EQ(e & (1ull << 7), 0u) << "bit 7 is no page-size bit in AMD-Vi";
            const uint64_t size = 1ull << (12 + 9 * (level - 1));
            EXPECT_EQ(e & addr_bits & (size - 1), 0u) << "leaf address aligned to its size";
            if (!read && !write) return std::nullopt;
            return Walk{(e & addr_bits) + (iova & (size - 1)), read, write, size};
        }
        EXPECT_EQ(next, level - 1) << "Next Level names the table right below";
        if (next != level - 1) return std::nullopt;
        table = e & addr_bits;
        level = next;
    }
    return std::nullopt;
}

// As the VT-d tests' machine: 1 GiB, the hypervisor's image (32-34 MiB) and
// heap (1000-1016 MiB) carved out, shadow memory inside the heap.
struct Machine {
    MemoryMap map;
    iommu::PhysWindow hv[2] = {{32 * mib, 2 * mib}, {1000 * mib, 16 * mib}};
    iommu::PhysWindow shadow[1] = {{1004 * mib, 4 * mib}};
    uint16_t mediated[2] = {device_id(0, 0x1F, 2), device_id(0, 3, 0)};
    Machine() {
        EXPECT_TRUE(map.add(0, 0x9F000, MemoryType::Ram).ok());
        EXPECT_TRUE(map.add(0x9F000, 0x61000, MemoryType::Reserved).ok());
        EXPECT_TRUE(map.add(mib, 1023 * mib - 64 * 1024, MemoryType::Ram).ok());
        EXPECT_TRUE(map.add(1 * gib - 64 * 1024, 64 * 1024, MemoryType::AcpiReclaimable).ok());
        EXPECT_TRUE(map.add(2 * gib + 0x800, 0x3000, MemoryType::Ram).ok()); // ragged edges
        EXPECT_TRUE(map.carve(hv[0].base, hv[0].length, MemoryType::Reserved).ok());
        EXPECT_TRUE(map.carve(hv[1].base, hv[1].length, MemoryType::Reserved).ok());
    }
    TableInputs inputs() const {
        TableInputs in;
        in.domain.guest_map = &map;
        in.domain.hypervisor = hv;
        in.domain.hypervisor_count = 2;
        in.domain.device_dma = shadow;
        in.domain.device_dma_count = 1;
        in.mediated = mediated;
        in.mediated_count = 2;
        return in;
    }
};

struct Tables {
    FakePageTableMemory mem{4096};
    std::unique_ptr<DeviceTableEntry[]> devices{new DeviceTableEntry[device_ids]};
    static constexpr uint64_t devices_phys = 0x40000000;
    AmdviTables tables{mem, devices.get(), devices_phys};
};

TEST(AmdviTables, EntryFormatsMatchTheSpec) {
    // PTE: PR, IR (61), IW (62); a table reference before finish() has no level yet.
    EXPECT_EQ(nested_format_amdvi.leaf_entry(0x5000, NestedAccess{NestedAccess::read}, false), 0x5001u | pte::read);
    EXPECT_EQ(nested_format_amdvi.table_entry(0x7000), 0x7001u | pte::read | pte::write);
    EXPECT_EQ(nested_format_amdvi.leaf_entry(0x5000, NestedAccess::None, false), 0u);
    EXPECT_EQ(pte::not_present & pte::present, 0u);
    // DTE: V, TV, Mode 4, root, IR, IW; DomainID; nothing else (I, SE, SA,
    // IoCtl, interrupt remapping: all 0).
    const DeviceTableEntry d = make_dte(0x12345000, 7);
    EXPECT_EQ(d.q[0], 0x12345000u | 1u | 2u | (4u << 9) | (1ull << 61) | (1ull << 62));
    EXPECT_EQ(d.q[1], 7u);
    EXPECT_EQ(d.q[2], 0u);
    EXPECT_EQ(d.q[3], 0u);
    EXPECT_EQ(make_dte(0x12345FFF, 1).q[0] & 0xFFF, 0x803u) << "root bits below 12 never leak into the DTE";
}

TEST(AmdviTables, GuestRamOneToOneHypervisorNever) {
    Machine m;
    Tables t;
    const Result<TableStats> s = t.tables.build(m.inputs());
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(s.value().device_table, Tables::devices_phys);
    EXPECT_EQ(s.value().table_pages, t.mem.used());
    EXPECT_GT(s.value().table_pages, 6u);
    EXPECT_EQ(s.value().guest_bytes, m.map.total(MemoryType::Ram) - 0x1000 /* ragged edges */ + 64 * 1024);
    EXPECT_EQ(s.value().mediated_extra, 4 * mib);

    const DeviceTableEntry& nic = t.tables.entry(device_id(0, 2, 0));
    using Addresses = std::initializer_list<uint64_t>;
    for (uint64_t a : Addresses{0x1000, 0x9E000ull, 1 * mib, 31 * mib + 0x123, 34 * mib, 999 * mib, 1016 * mib,
                                1 * gib - 4096, 2 * gib + 0x1000}) {
        const auto w = translate(t.mem, nic, a);
        ASSERT_TRUE(w) << std::hex << a;
        EXPECT_EQ(w->hpa, a);
        EXPECT_TRUE(w->read && w->write);
    }
    for (uint64_t a : Addresses{0x9F000, 0xA0000ull, 0xF0000ull, 32 * mib, 33 * mib + 0x800, 1000 * mib, 1004 * mib,
                                1015 * mib + 0xFFF, 2 * gib, 2 * gib + 0x3000, 3 * gib, 0xFEE00000, 1ull << 40})
        EXPECT_FALSE(translate(t.mem, nic, a)) << std::hex << a;
    EXPECT_EQ(translate(t.mem, nic, 100 * mib)->page, 2 * mib) << "2 MiB leaves where the map allows";
    EXPECT_EQ(translate(t.mem, nic, 0x5000)->page, 4096u);
    EXPECT_EQ(translate(t.mem, nic, 0x9E000)->page, 4096u) << "RAM ends at 9F000h: 4 KiB leaves up to there";
}

TEST(AmdviTables, EveryDeviceIdIsTranslatedMediatedOnesReachTheShadow) {
    Machine m;
    Tables t;
    ASSERT_TRUE(t.tables.build(m.inputs()).ok());
    uint16_t domain = 0;
    for (uint32_t id : {0u, 0x10u, 0x0300u, 0xFFFFu}) {
        const DeviceTableEntry& d = t.tables.entry(static_cast<uint16_t>(id));
        ASSERT_TRUE(translate(t.mem, d, 64 * mib, &domain)) << std::hex << id;
        EXPECT_EQ(domain, guest_domain_id);
        EXPECT_FALSE(translate(t.mem, d, 1004 * mib)) << "the shadow window is not the guest's";
    }
    for (uint16_t id : m.mediated) {
        const DeviceTableEntry& d = t.tables.entry(id);
        const auto w = translate(t.mem, d, 1004 * mib + 0x2345, &domain);
        ASSERT_TRUE(w) << std::hex << id;
        EXPECT_EQ(domain, mediated_domain_id);
        EXPECT_EQ(w->hpa, 1004 * mib + 0x2345);
        EXPECT_TRUE(translate(t.mem, d, 64 * mib)) << "and guest RAM";
        EXPECT_FALSE(translate(t.mem, d, 1000 * mib)) << "nothing else of the heap";
        EXPECT_FALSE(translate(t.mem, d, 32 * mib)) << "nor the image";
    }
}

TEST(AmdviTables, NotPresentEntriesCarryANextLevelForQemu) {
    Machine m;
    Tables t;
    ASSERT_TRUE(t.tables.build(m.inputs()).ok());
    // Every entry that maps nothing, at every level, is the non-zero
    // not-present form (QEMU 7.2 logs a fault only for those).
    size_t markers = 0, zeros = 0;
    for (size_t page = 0; page < t.mem.used(); ++page) {
        const uint64_t* e = t.mem.table(FakePageTableMemory::base + page * 4096);
        for (size_t i = 0; i < 512; ++i) {
            if (e[i] & 1) continue;
            (e[i] == pte::not_present ? markers : zeros)++;
        }
    }
    EXPECT_GT(markers, 0u);
    EXPECT_EQ(zeros, 0u);
}

TEST(AmdviTables, WithoutMediatedFunctionsOneDomain) {
    Machine m;
    Tables t;
    TableInputs in = m.inputs();
    in.mediated_count = 0;
    const Result<TableStats> s = t.tables.build(in);
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(s.value().mediated_root, s.value().guest_root);
    EXPECT_EQ(s.value().mediated_extra, 0u);
    EXPECT_FALSE(translate(t.mem, t.tables.entry(m.mediated[0]), 1004 * mib));
}

TEST(AmdviTables, OverlapsWithTheHypervisorAreRefused) {
    Machine m;
    {
        // A map that still lists the image as RAM (a bug upstream): refused.
        Tables t;
        TableInputs in = m.inputs();
        MemoryMap raw;
        ASSERT_TRUE(raw.add(0, 64 * mib, MemoryType::Ram).ok());
        in.domain.guest_map = &raw;
        const Result<TableStats> s = t.tables.build(in);
        ASSERT_FALSE(s.ok());
        EXPECT_EQ(s.error(), Error::Protected);
    }
    {
        Tables t;
        const iommu::PhysWindow unity{1000 * mib, 4096};
        TableInputs in = m.inputs();
        in.domain.reserved = &unity;
        in.domain.reserved_count = 1;
        const Result<TableStats> s = t.tables.build(in);
        ASSERT_FALSE(s.ok());
        EXPECT_EQ(s.error(), Error::Protected);
    }
    {
        Tables t;
        const iommu::PhysWindow unity{0xE0000, 0x2000};
        TableInputs in = m.inputs();
        in.domain.reserved = &unity;
        in.domain.reserved_count = 1;
        ASSERT_TRUE(t.tables.build(in).ok());
        EXPECT_TRUE(translate(t.mem, t.tables.entry(device_id(0, 2, 0)), 0xE1000)) << "IVMD unity range mapped 1:1";
    }
}

} // namespace
} // namespace sv::amdvi
