// DMAR parsing (VT-d 3.x §8): units, register bases, INCLUDE_PCI_ALL, device
// scopes with bridge paths, RMRRs; every malformed shape refused.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <tuple>
#include <vector>

#include "devices/iommu/vtd/dmar.hpp"

namespace sv::vtd {
namespace {

// A DMAR table assembled byte by byte, the way firmware lays it out.
struct TableBuilder {
    std::vector<uint8_t> b;
    TableBuilder(uint8_t haw = 38, uint8_t flags = 0) : b(48, 0) {
        std::memcpy(b.data(), "DMAR", 4);
        b[36] = haw;
        b[37] = flags;
    }
    void u8(uint8_t v) { b.push_back(v); }
    void u16(uint16_t v) { u8(v & 0xFF), u8(v >> 8); }
    void u64(uint64_t v) {
        for (int i = 0; i < 8; ++i) u8(static_cast<uint8_t>(v >> (8 * i)));
    }
    void patch16(size_t at, uint16_t v) { b[at] = v & 0xFF, b[at + 1] = v >> 8; }
    size_t begin(uint16_t type) {
        const size_t at = b.size();
        u16(type), u16(0);
        return at;
    }
    void end(size_t at) { patch16(at + 2, static_cast<uint16_t>(b.size() - at)); }
    void scope(uint8_t type, uint8_t id, uint8_t bus, std::vector<std::pair<uint8_t, uint8_t>> path) {
        u8(type), u8(static_cast<uint8_t>(6 + 2 * path.size())), u16(0), u8(id), u8(bus);
        for (auto [d, f] : path) u8(d), u8(f);
    }
    size_t drhd(uint64_t base, uint8_t flags, uint16_t segment = 0, uint8_t size = 0) {
        const size_t at = begin(0);
        u8(flags), u8(size), u16(segment), u64(base);
        return at;
    }
    size_t rmrr(uint64_t base, uint64_t limit, uint16_t segment = 0) {
        const size_t at = begin(1);
        u16(0), u16(segment), u64(base), u64(limit);
        return at;
    }
    std::span<const uint8_t> done() {
        const uint32_t n = static_cast<uint32_t>(b.size());
        std::memcpy(&b[4], &n, 4);
        return b;
    }
};

struct FakeBridges final : BridgeBuses {
    std::map<std::tuple<int, int, int>, std::pair<uint8_t, uint8_t>> bridges;
    bool buses(uint8_t bus, uint8_t dev, uint8_t fn, uint8_t& sec, uint8_t& sub) override {
        auto it = bridges.find({bus, dev, fn});
        if (it == bridges.end()) return false;
        sec = it->second.first, sub = it->second.second;
        return true;
    }
};

// QEMU 7.2's table (q35, -device intel-iommu,intremap=off), as a bare
// Linux guest dumps it from /sys/firmware/acpi/tables/DMAR: one unit at
// FED90000h without INCLUDE_PCI_ALL, scopes for the I/O APIC and for each
// PCI function present at boot.
const uint8_t qemu_dmar[0x70] = {
    0x44, 0x4d, 0x41, 0x52, 0x70, 0x00, 0x00, 0x00, 0x01, 0x29, 0x42, 0x4f, 0x43, 0x48, 0x53, 0x20,
    0x42, 0x58, 0x50, 0x43, 0x20, 0x20, 0x20, 0x20, 0x01, 0x00, 0x00, 0x00, 0x42, 0x58, 0x50, 0x43,
    0x01, 0x00, 0x00, 0x00, 0x26, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xd9, 0xfe, 0x00, 0x00, 0x00, 0x00,
    0x03, 0x08, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x01, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x08, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x08, 0x00, 0x00, 0x00, 0x00, 0x1f, 0x00,
    0x01, 0x08, 0x00, 0x00, 0x00, 0x00, 0x1f, 0x02, 0x01, 0x08, 0x00, 0x00, 0x00, 0x00, 0x1f, 0x03,
};

TEST(Dmar, QemuTable) {
    DmarInfo info;
    ASSERT_TRUE(parse_dmar(qemu_dmar, info).ok());
    EXPECT_EQ(info.address_width, 39);
    EXPECT_FALSE(info.interrupt_remapping);
    ASSERT_EQ(info.unit_count, 1u);
    const RemapUnit& u = info.units[0];
    EXPECT_EQ(u.register_base, 0xFED90000u);
    EXPECT_EQ(u.register_bytes, 4096u);
    EXPECT_FALSE(u.include_pci_all);
    ASSERT_EQ(u.scope_count, 6u); // I/O APIC, 00:00.0, 00:01.0, 00:1f.0, 00:1f.2, 00:1f.3
    EXPECT_EQ(u.scopes[0].type, ScopeType::IoApic);
    EXPECT_EQ(u.scopes[0].start_bus, 0xFF);
    EXPECT_EQ(u.scopes[4].type, ScopeType::PciEndpoint);
    EXPECT_EQ(u.scopes[4].hops, 1);
    EXPECT_EQ(u.scopes[4].device[0], 0x1F);
    EXPECT_EQ(u.scopes[4].function[0], 2);
    EXPECT_EQ(info.reserved_count, 0u);
    FakeBridges none;
    EXPECT_EQ(unit_for(info, 0, 0, 0x1F, 2, none), &u);
    EXPECT_EQ(unit_for(info, 0, 0, 2, 0, none), nullptr); // not listed, no INCLUDE_PCI_ALL
    EXPECT_EQ(unit_for(info, 1, 0, 0x1F, 2, none), nullptr); // another segment
}

TEST(Dmar, IncludeAllUnitWithInterruptRemapping) {
    TableBuilder t(38, dmar_flag_intr_remap);
    const size_t d = t.drhd(0xFED90000, drhd_flag_include_pci_all);
    t.scope(3, 0, 0xFF, {{0, 0}}); // I/O APIC 0 (§8.3.1.1)
    t.end(d);
    DmarInfo info;
    ASSERT_TRUE(parse_dmar(t.done(), info).ok());
    EXPECT_TRUE(info.interrupt_remapping);
    ASSERT_EQ(info.unit_count, 1u);
    EXPECT_TRUE(info.units[0].include_pci_all);
    FakeBridges none;
    EXPECT_EQ(unit_for(info, 0, 0, 2, 0, none), &info.units[0]);
}

TEST(Dmar, ScopedUnitsAndRmrr) {
    TableBuilder t;
    const size_t gfx = t.drhd(0xFED91000, 0, 0, 1);
    t.scope(1, 0, 0, {{2, 0}}); // the integrated GPU
    t.end(gfx);
    const size_t all = t.drhd(0xFED90000, drhd_flag_include_pci_all);
    t.end(all);
    const size_t r = t.rmrr(0x7C000000, 0x7C7FFFFF);
    t.scope(1, 0, 0, {{0x14, 0}}); // USB controller
    t.scope(1, 0, 0, {{0x1C, 0}, {0, 0}}); // behind root port 1c.0
    t.end(r);
    const size_t atsr = t.begin(2);
    t.u8(0), t.u8(0), t.u16(0);
    t.end(atsr);
    DmarInfo info;
    ASSERT_TRUE(parse_dmar(t.done(), info).ok());
    ASSERT_EQ(info.unit_count, 2u);
    EXPECT_EQ(info.units[0].register_bytes, 8192u);
    EXPECT_EQ(info.other_structures, 1u);
    ASSERT_EQ(info.reserved_count, 1u);
    EXPECT_EQ(info.reserved[0].base, 0x7C000000u);
    EXPECT_EQ(info.reserved[0].end, 0x7C800000u);
    ASSERT_EQ(info.reserved[0].scope_count, 2u);
    EXPECT_EQ(info.reserved[0].scopes[1].hops, 2);

    FakeBridges br;
    br.bridges[{0, 0x1C, 0}] = {3, 3};
    uint8_t b, d, f;
    ASSERT_TRUE(resolve_scope(info.reserved[0].scopes[1], br, b, d, f));
    EXPECT_EQ(std::tie(b, d, f), std::make_tuple(uint8_t{3}, uint8_t{0}, uint8_t{0}));
    FakeBridges none;
    EXPECT_FALSE(resolve_scope(info.reserved[0].scopes[1], none, b, d, f)); // the bridge is gone

    EXPECT_EQ(unit_for(info, 0, 0, 2, 0, br), &info.units[0]); // named by the GPU unit
    EXPECT_EQ(unit_for(info, 0, 0, 3, 0, br), &info.units[1]); // falls to INCLUDE_PCI_ALL
}

TEST(Dmar, SubHierarchyCoversTheBusesBehindTheBridge) {
    TableBuilder t;
    const size_t u = t.drhd(0xFED92000, 0);
    t.scope(2, 0, 0, {{0x1C, 4}});
    t.end(u);
    DmarInfo info;
    ASSERT_TRUE(parse_dmar(t.done(), info).ok());
    FakeBridges br;
    br.bridges[{0, 0x1C, 4}] = {5, 7};
    EXPECT_EQ(unit_for(info, 0, 0, 0x1C, 4, br), &info.units[0]); // the bridge itself
    EXPECT_EQ(unit_for(info, 0, 6, 0, 0, br), &info.units[0]);
    EXPECT_EQ(unit_for(info, 0, 8, 0, 0, br), nullptr);
    EXPECT_EQ(unit_for(info, 0, 0, 0x1D, 0, br), nullptr); // no INCLUDE_PCI_ALL unit
}

TEST(Dmar, RefusesMalformedTables) {
    DmarInfo info;
    {
        TableBuilder t;
        t.b[0] = 'X';
        EXPECT_EQ(parse_dmar(t.done(), info).error(), Error::Malformed);
    }
    {
        TableBuilder t;
        auto s = t.done();
        EXPECT_EQ(parse_dmar(s.first(40), info).error(), Error::Malformed); // shorter than the header
    }
    {
        TableBuilder t; // header length beyond the bytes given
        t.done();
        t.b[4] = 200;
        EXPECT_EQ(parse_dmar(t.b, info).error(), Error::Malformed);
    }
    {
        TableBuilder t; // a structure longer than the table
        const size_t d = t.drhd(0xFED90000, 1);
        t.end(d);
        t.patch16(d + 2, 64);
        EXPECT_EQ(parse_dmar(t.done(), info).error(), Error::Malformed);
    }
    {
        TableBuilder t; // zero-length structure would loop forever
        t.begin(7);
        EXPECT_EQ(parse_dmar(t.done(), info).error(), Error::Malformed);
    }
    {
        TableBuilder t; // register base not page aligned
        t.end(t.drhd(0xFED90800, 1));
        EXPECT_EQ(parse_dmar(t.done(), info).error(), Error::Malformed);
    }
    {
        TableBuilder t; // register base 0
        t.end(t.drhd(0, 1));
        EXPECT_EQ(parse_dmar(t.done(), info).error(), Error::Malformed);
    }
    {
        TableBuilder t; // a scope overrunning its unit
        const size_t d = t.drhd(0xFED90000, 1);
        t.scope(1, 0, 0, {{2, 0}});
        t.end(d);
        t.b[d + 16 + 1] = 10;
        EXPECT_EQ(parse_dmar(t.done(), info).error(), Error::Malformed);
    }
    {
        TableBuilder t; // a scope with an odd path length
        const size_t d = t.drhd(0xFED90000, 1);
        t.scope(1, 0, 0, {{2, 0}});
        t.u8(0);
        t.end(d);
        t.b[d + 16 + 1] = 9;
        EXPECT_EQ(parse_dmar(t.done(), info).error(), Error::Malformed);
    }
    {
        TableBuilder t; // device number 32
        const size_t d = t.drhd(0xFED90000, 1);
        t.scope(1, 0, 0, {{32, 0}});
        t.end(d);
        EXPECT_EQ(parse_dmar(t.done(), info).error(), Error::Malformed);
    }
    {
        TableBuilder t; // RMRR not page aligned, inverted, wrapping
        t.end(t.rmrr(0x1000, 0x1FFE));
        EXPECT_EQ(parse_dmar(t.done(), info).error(), Error::Malformed);
        TableBuilder u;
        u.end(u.rmrr(0x3000, 0x1FFF));
        EXPECT_EQ(parse_dmar(u.done(), info).error(), Error::Malformed);
        TableBuilder w;
        w.end(w.rmrr(0xFFFFFFFFFFFFF000ull, ~0ull));
        EXPECT_EQ(parse_dmar(w.done(), info).error(), Error::Malformed);
    }
    {
        TableBuilder t; // INCLUDE_PCI_ALL unit followed by another of its segment
        t.end(t.drhd(0xFED90000, 1));
        t.end(t.drhd(0xFED91000, 0));
        EXPECT_EQ(parse_dmar(t.done(), info).error(), Error::Malformed);
    }
}

TEST(Dmar, RefusesMoreThanItCanHold) {
    TableBuilder t;
    for (size_t i = 0; i <= DmarInfo::max_units; ++i) t.end(t.drhd(0xFED90000 + 0x1000 * i, 0));
    DmarInfo info;
    EXPECT_EQ(parse_dmar(t.done(), info).error(), Error::OutOfRange);
    TableBuilder u;
    const size_t d = u.drhd(0xFED90000, 0);
    for (size_t i = 0; i <= RemapUnit::max_scopes; ++i) u.scope(1, 0, 0, {{static_cast<uint8_t>(i), 0}});
    u.end(d);
    EXPECT_EQ(parse_dmar(u.done(), info).error(), Error::OutOfRange);
}

} // namespace
} // namespace sv::vtd
