// devices/pci/mmio_bar: a memory BAR whose pages are trapped wherever the
// function decodes them (PCI 3.0 §6.2.5.1 sizing, §6.2.2 Memory Space
// Enable), through both config mechanisms, against the fake chipset and a
// mapper that tracks which pages are trapped. After every write that reaches
// the fake device, the pages it decodes must be trapped for the BAR's
// handler; a page is only ever released while the device does not decode it.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/mmio_dispatch.hpp"
#include "devices/pci/config_decode.hpp"
#include "devices/pci/ecam.hpp"
#include "devices/pci/mmio_bar.hpp"
#include "devices/fake_chipset.hpp"

namespace sv::pci::test {
namespace {

constexpr uint64_t page = 4096;
constexpr uint64_t ram_end = 0x20000000;                        // 512 MiB of RAM at 0
constexpr uint64_t hv_base = 0xDF000000, hv_end = 0xE0000000;    // "hypervisor memory"
constexpr uint64_t nested_top = 64ull << 30;                   // what the nested tables map
constexpr uint64_t apic_page = 0xFEE00000;
constexpr Address ahci{0, 0x1F, 2}; // 32-bit BAR5, 8 KiB
constexpr Address nvme{0, 4, 0};    // 64-bit BAR0, 16 KiB
constexpr uint16_t bar5 = 0x24, bar0 = 0x10;

struct PageMapper final : MmioMapper {
    std::map<uint64_t, MmioTrap> trapped; // page -> mode
    std::vector<std::string> log;
    std::function<void(uint64_t, uint64_t)> on_release;
    bool fail = false;
    Result<void> set_trap(uint64_t base, uint64_t length, MmioTrap trap) override {
        if (fail) return sv::fail(Error::OutOfMemory);
        if (trap == MmioTrap::Released && on_release) on_release(base, length);
        for (uint64_t p = base; p < base + length; p += page) {
            if (trap == MmioTrap::Released) trapped.erase(p);
            else trapped[p] = trap;
        }
        log.push_back((trap == MmioTrap::Released ? "release " : "trap ") + std::to_string(base));
        return {};
    }
    MmioTrap mode_of(uint64_t p) const {
        auto it = trapped.find(p);
        return it == trapped.end() ? MmioTrap::Released : it->second;
    }
    bool all_trapped(uint64_t base, uint64_t length) const {
        for (uint64_t p = base & ~(page - 1); p < base + length; p += page)
            if (!trapped.count(p)) return false;
        return true;
    }
};

struct Placement final : MmioPlacement {
    bool placement_ok(uint64_t base, uint64_t length) override {
        if (base + length < base || base + length > nested_top) return false;
        if (base < ram_end) return false;
        return !(base < hv_end && hv_base < base + length);
    }
};

struct Device final : MmioWriteHandler, MmioReadHandler {
    std::vector<uint64_t> writes;
    void mmio_write(uint64_t gpa, uint8_t, uint64_t) override { writes.push_back(gpa); }
    uint64_t mmio_read(uint64_t gpa, uint8_t) override { return gpa; }
};

struct Other final : MmioWriteHandler {
    void mmio_write(uint64_t, uint8_t, uint64_t) override {}
};

struct Machine {
    FakeChipset chipset;
    ConfigSpace config{chipset};
    ConfigMediator mediator{chipset};
    MmioDispatcher mmio;
    PageMapper mapper;
    Placement placement;
    EcamMediator ecam{mediator, config, mmio, chipset, placement};
    Other apic;
    MmioRange apic_range;
    Device hba, ssd;
    MmioBar abar{mediator, config, mmio, placement};
    MmioBar nvme_bar{mediator, config, mmio, placement};
    std::vector<std::string> violations;

    Machine() {
        chipset.add(ahci, 0x8086, 0x2922);
        chipset.add_memory_bar(ahci, bar5, 0x2000, 0xFEBF0000, false);
        chipset.put(ahci, 4, 2, 0x0006); // MSE | BME
        chipset.add(nvme, 0x1B36, 0x0010);
        chipset.add_memory_bar(nvme, bar0, 0x4000, 0x800000000ull, true);
        chipset.put(nvme, 4, 2, 0x0002);
        mmio.set_mapper(&mapper);
        EXPECT_TRUE(mmio.add(apic_range, apic_page, page, apic).ok());
        EXPECT_TRUE(ecam.trap_fixed(chipset.ecam_base, 256ull << 20).ok());
        chipset.after_write = [this] { check("write"); };
        mapper.on_release = [this](uint64_t base, uint64_t length) {
            for (const auto& [fn, size, is64, off] : bars())
                if (decodes(fn, off, is64) && decoded(fn, off, is64) < base + length &&
                    base < decoded(fn, off, is64) + size)
                    violations.push_back("released pages the device decodes at " + std::to_string(base));
        };
    }
    struct BarRef {
        Address fn;
        uint64_t size;
        bool is64;
        uint16_t off;
    };
    std::vector<BarRef> bars() const { return {{ahci, 0x2000, false, bar5}, {nvme, 0x4000, true, bar0}}; }
    bool decodes(Address fn, uint16_t, bool) { return chipset.command(fn) & 2; }
    uint64_t decoded(Address fn, uint16_t off, bool is64) {
        uint64_t v = chipset.get(fn, off, 4) & ~0xFull;
        if (is64) v |= uint64_t{chipset.get(fn, static_cast<uint16_t>(off + 4), 4)} << 32;
        return v;
    }
    // The invariant: wherever an attached function decodes, its pages trap.
    void check(const char* when) {
        for (const auto& [fn, size, is64, off] : bars()) {
            if (!attached(fn)) continue;
            if (!decodes(fn, off, is64)) continue;
            const uint64_t at = decoded(fn, off, is64);
            if (!mapper.all_trapped(at, size))
                violations.push_back(std::string(when) + ": device decodes untrapped " + std::to_string(at));
        }
    }
    std::map<uint32_t, bool> attached_fns;
    bool attached(Address fn) { return attached_fns[FakeChipset::key(fn)]; }
    void attach_all() {
        ASSERT_TRUE(abar.attach(ahci, 5, hba, &hba, "ahci").ok());
        attached_fns[FakeChipset::key(ahci)] = true;
        ASSERT_TRUE(nvme_bar.attach(nvme, 0, ssd, &ssd, "nvme").ok());
        attached_fns[FakeChipset::key(nvme)] = true;
    }
    void port_write(Address fn, uint16_t offset, uint8_t size, uint32_t value) {
        mediator.io_out(0xCF8, 4, FakeChipset::at(fn, static_cast<uint8_t>(offset & 0xFC)));
        mediator.io_out(static_cast<uint16_t>(0xCFC + (offset & 3)), size, value);
    }
    void ecam_write(Address fn, uint16_t offset, uint8_t size, uint32_t value) {
        ecam.mmio_write(chipset.ecam_base + ecam_offset(fn, offset), size, value);
    }
    const MmioRange* range_at(uint64_t gpa) { return mmio.find(gpa); }
};

TEST(MmioBarSizing, SizesThirtyTwoAndSixtyFourBitBarsWithDecodeOff) {
    Machine m;
    std::vector<uint16_t> command_while_ones;
    m.chipset.after_write = [&] {
        if ((m.chipset.get(ahci, bar5, 4) & ~0xFu) == 0xFFFFE000u) command_while_ones.push_back(m.chipset.command(ahci));
    };
    Result<MemoryBar> a = size_memory_bar(m.config, ahci, 5);
    ASSERT_TRUE(a.ok());
    EXPECT_FALSE(a.value().is64);
    EXPECT_EQ(a.value().size, 0x2000u);
    EXPECT_EQ(a.value().writable, 0xFFFFE000u);
    ASSERT_FALSE(command_while_ones.empty());
    for (uint16_t c : command_while_ones) EXPECT_EQ(c & command_memory_enable, 0);
    EXPECT_EQ(m.chipset.get(ahci, bar5, 4), 0xFEBF0000u); // restored
    EXPECT_EQ(m.chipset.command(ahci), 0x0006);
    Result<MemoryBar> n = size_memory_bar(m.config, nvme, 0);
    ASSERT_TRUE(n.ok());
    EXPECT_TRUE(n.value().is64);
    EXPECT_EQ(n.value().size, 0x4000u);
    EXPECT_EQ(n.value().writable, 0xFFFFFFFFFFFFC000ull);
    EXPECT_EQ(m.decoded(nvme, bar0, true), 0x800000000ull);
    // A BAR above 4 GiB in size: the high dword's bits count.
    const Address big{0, 5, 0};
    m.chipset.add(big, 0x1234, 0x5678);
    m.chipset.add_memory_bar(big, bar0, 8ull << 30, 0x1000000000ull, true);
    Result<MemoryBar> b = size_memory_bar(m.config, big, 0);
    ASSERT_TRUE(b.ok());
    EXPECT_EQ(b.value().size, 8ull << 30);
    // I/O BARs, unimplemented BARs, a reserved type and a 64-bit type in the
    // last slot are not ours.
    const Address odd{0, 7, 0};
    m.chipset.add(odd, 0x1234, 0x9999);
    m.chipset.put(odd, 0x10, 4, 0xC001);
    EXPECT_FALSE(size_memory_bar(m.config, odd, 0).ok());
    m.chipset.writable[{FakeChipset::key(odd), 0x14}] = 0; // reads 0 whatever is written
    EXPECT_FALSE(size_memory_bar(m.config, odd, 1).ok());
    m.chipset.put(odd, 0x18, 4, 0x6); // type 11b: reserved
    EXPECT_FALSE(size_memory_bar(m.config, odd, 2).ok());
    m.chipset.put(odd, 0x24, 4, 0x4);
    EXPECT_FALSE(size_memory_bar(m.config, odd, 5).ok());
    EXPECT_FALSE(size_memory_bar(m.config, odd, 6).ok());
}

TEST(MmioBar, TrapsWhereTheFunctionDecodesAndFollowsMovesNewBeforeOld) {
    Machine m;
    m.attach_all();
    ASSERT_TRUE(m.abar.decoding());
    const MmioRange* r = m.range_at(0xFEBF1FFC);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->handler, &m.hba);
    EXPECT_EQ(r->reader, &m.hba);
    EXPECT_EQ(m.mapper.mode_of(0xFEBF0000), MmioTrap::ReadsAndWrites);
    ASSERT_NE(m.range_at(0x800003000ull), nullptr);
    // Move with decode on through 0xCF8/0xCFC: trapped at the new address
    // before the device decodes it, old pages released after.
    m.mapper.log.clear();
    m.port_write(ahci, bar5, 4, 0xFEBF4000);
    EXPECT_EQ(m.chipset.get(ahci, bar5, 4), 0xFEBF4000u);
    EXPECT_EQ(m.range_at(0xFEBF0000), nullptr);
    ASSERT_NE(m.range_at(0xFEBF5000), nullptr);
    EXPECT_EQ(m.range_at(0xFEBF5000)->handler, &m.hba);
    EXPECT_FALSE(m.mapper.all_trapped(0xFEBF0000, 0x2000));
    const std::vector<std::string> want{"trap " + std::to_string(0xFEBF4000), "release " + std::to_string(0xFEBF0000)};
    EXPECT_EQ(m.mapper.log, want);
    EXPECT_EQ(m.abar.address(), 0xFEBF4000u);
    // An overlapping move (by one page): the shared page stays trapped.
    m.port_write(ahci, bar5, 4, 0xFEBF6000);
    EXPECT_TRUE(m.mapper.all_trapped(0xFEBF6000, 0x2000));
    EXPECT_FALSE(m.mapper.all_trapped(0xFEBF4000, 0x1000));
    EXPECT_EQ(m.abar.stats().placements, 2u);
    EXPECT_EQ(m.abar.stats().refused, 0u);
    EXPECT_TRUE(m.violations.empty()) << m.violations.front();
}

TEST(MmioBar, NothingIsTrappedWhileDecodeIsOffOrTheBarIsSized) {
    Machine m;
    m.attach_all();
    m.port_write(ahci, 4, 2, 0x0004); // MSE off
    EXPECT_FALSE(m.abar.decoding());
    EXPECT_EQ(m.range_at(0xFEBF0000), nullptr);
    EXPECT_FALSE(m.mapper.all_trapped(0xFEBF0000, 0x1000));
    // Linux's pci_read_bases(): all ones, read back, restore, with decode off.
    m.port_write(ahci, bar5, 4, 0xFFFFFFFF);
    EXPECT_EQ(m.chipset.get(ahci, bar5, 4), 0xFFFFE000u);
    EXPECT_EQ(m.mmio.size(), 3u); // APIC, ECAM and the NVMe BAR only
    EXPECT_EQ(m.range_at(0xFFFFE000), nullptr);
    m.port_write(ahci, bar5, 4, 0xFEA00000); // a new home
    EXPECT_EQ(m.mmio.size(), 3u);
    m.port_write(ahci, 4, 2, 0x0006); // decode on: trapped there
    ASSERT_TRUE(m.abar.decoding());
    EXPECT_EQ(m.range_at(0xFEA01000)->handler, &m.hba);
    EXPECT_EQ(m.abar.stats().refused, 0u);
    EXPECT_EQ(m.abar.stats().placements, 2u);
    EXPECT_TRUE(m.violations.empty()) << m.violations.front();
}

TEST(MmioBar, SixtyFourBitHalvesNeverLeaveTheDeviceDecodingUntrappedPages) {
    Machine m;
    m.attach_all();
    // Decode on, high half first: (old low, high 0) = 0x0_0000_0000 + low,
    // over RAM: refused, the high half stays; then the low half, then the
    // high half again: each intermediate placement is trapped.
    m.port_write(nvme, bar0 + 4, 4, 0x0);
    EXPECT_EQ(m.chipset.get(nvme, bar0 + 4, 4), 0x8u);
    EXPECT_EQ(m.nvme_bar.stats().refused, 1u);
    m.port_write(nvme, bar0, 4, 0xFEB00004);
    EXPECT_EQ(m.decoded(nvme, bar0, true), 0x8FEB00000ull);
    ASSERT_NE(m.range_at(0x8FEB00000ull), nullptr);
    m.port_write(nvme, bar0 + 4, 4, 0x0);
    EXPECT_EQ(m.decoded(nvme, bar0, true), 0xFEB00000ull);
    ASSERT_NE(m.range_at(0xFEB03FFFull), nullptr);
    EXPECT_EQ(m.range_at(0xFEB00000ull)->handler, &m.ssd);
    EXPECT_EQ(m.range_at(0x8FEB00000ull), nullptr);
    EXPECT_EQ(m.range_at(0x800000000ull), nullptr);
    // Through ECAM, decode off, both halves then decode on.
    m.ecam_write(nvme, 4, 2, 0x0000);
    m.ecam_write(nvme, bar0, 4, 0x00000004);
    m.ecam_write(nvme, bar0 + 4, 4, 0x9);
    EXPECT_FALSE(m.nvme_bar.decoding());
    m.ecam_write(nvme, 4, 2, 0x0002);
    ASSERT_NE(m.range_at(0x900000000ull), nullptr);
    EXPECT_EQ(m.nvme_bar.stats().refused, 1u);
    EXPECT_TRUE(m.violations.empty()) << m.violations.front();
}

TEST(MmioBar, HostilePlacementsAreRefusedAndTheOldPlacementStays) {
    Machine m;
    m.attach_all();
    struct Case {
        const char* what;
        uint32_t bar;
    } cases[] = {
        {"over RAM", 0x00100000},
        {"BAR 0 (unassigned)", 0x00000000},
        {"over hypervisor memory", 0xDF800000},
        {"over the local APIC page", 0xFEE00000},
        {"over the ECAM window", 0xB0002000},
        {"over the other BAR", 0xFEB00000}, // not decoded: NVMe is at 32 GiB
    };
    // Put NVMe at 0xFEB00000 first so the last case overlaps a trapped BAR.
    m.port_write(nvme, bar0, 4, 0xFEB00004);
    m.port_write(nvme, bar0 + 4, 4, 0x0);
    ASSERT_NE(m.range_at(0xFEB00000), nullptr);
    uint64_t refused = 0;
    for (const Case& c : cases) {
        m.port_write(ahci, bar5, 4, c.bar);
        ++refused;
        EXPECT_EQ(m.chipset.get(ahci, bar5, 4), 0xFEBF0000u) << c.what;
        EXPECT_EQ(m.abar.stats().refused, refused) << c.what;
        ASSERT_NE(m.range_at(0xFEBF0000), nullptr) << c.what;
        EXPECT_EQ(m.range_at(0xFEBF0000)->handler, &m.hba) << c.what;
    }
    // Byte and word writes of the BAR's high byte, through ECAM as well.
    m.ecam_write(ahci, bar5 + 3, 1, 0x00);
    m.ecam_write(ahci, bar5 + 2, 2, 0xDF80);
    EXPECT_EQ(m.chipset.get(ahci, bar5, 4), 0xFEBF0000u);
    EXPECT_EQ(m.abar.stats().refused, refused + 2);
    // A sizing write with decode ON: the device would decode the top of
    // 4 GiB... which is trappable here; a 64-bit BAR's top is not.
    m.port_write(nvme, bar0 + 4, 4, 0xFFFFFFFF);
    EXPECT_EQ(m.chipset.get(nvme, bar0 + 4, 4), 0x0u);
    EXPECT_EQ(m.nvme_bar.stats().refused, 1u);
    EXPECT_EQ(m.apic_range.handler, &m.apic); // the APIC range is untouched
    EXPECT_EQ(m.range_at(apic_page)->handler, &m.apic);
    EXPECT_TRUE(m.violations.empty()) << m.violations.front();
}

TEST(MmioBar, DecodeOnOverAnUntrappableBarStaysOff) {
    Machine m;
    m.attach_all();
    m.port_write(ahci, 4, 2, 0x0004);
    m.port_write(ahci, bar5, 4, 0x00100000); // over RAM: allowed while nothing decodes
    EXPECT_EQ(m.chipset.get(ahci, bar5, 4), 0x00100000u);
    m.port_write(ahci, 4, 4, 0x00000007); // I/O + MSE + BME in a dword
    EXPECT_EQ(m.chipset.command(ahci), 0x0005); // the rest of the write went on
    EXPECT_FALSE(m.abar.decoding());
    EXPECT_EQ(m.abar.stats().refused, 1u);
    EXPECT_EQ(m.abar.stats().decode_forced_off, 1u);
    EXPECT_TRUE(m.violations.empty()) << m.violations.front();
}

TEST(MmioBar, AnUntrappableFirmwarePlacementTurnsDecodeOffAtAttach) {
    Machine m;
    m.chipset.put(ahci, bar5, 4, 0xDF800000); // firmware put it over hypervisor memory
    ASSERT_TRUE(m.abar.attach(ahci, 5, m.hba, nullptr, "ahci").ok());
    EXPECT_FALSE(m.abar.decoding());
    EXPECT_EQ(m.chipset.command(ahci) & command_memory_enable, 0);
    EXPECT_EQ(m.abar.stats().decode_forced_off, 1u);
    // Write-only trap without a reader.
    m.port_write(ahci, bar5, 4, 0xFEBF0000);
    m.port_write(ahci, 4, 2, 0x0006);
    ASSERT_TRUE(m.abar.decoding());
    EXPECT_EQ(m.mapper.mode_of(0xFEBF0000), MmioTrap::Writes);
}

// A later rule refuses the write after MmioBar trapped the new pages: the
// device keeps decoding the old pages, so the trap goes back there and the
// new pages are released.
TEST(MmioBar, AWriteALaterRuleDropsLeavesTheTrapWhereTheDeviceStillDecodes) {
    Machine m;
    m.attach_all();
    struct RefuseBar final : ConfigRule {
        bool filter(ConfigWrite& w) override { return !(w.address == ahci && w.overlaps(bar5, 4)); }
    } later;
    ASSERT_TRUE(m.mediator.add_rule(later));
    m.port_write(ahci, bar5, 4, 0xFEBF4000);
    EXPECT_EQ(m.chipset.get(ahci, bar5, 4), 0xFEBF0000u);
    ASSERT_NE(m.range_at(0xFEBF0000), nullptr);
    EXPECT_EQ(m.range_at(0xFEBF0000)->handler, &m.hba);
    EXPECT_EQ(m.range_at(0xFEBF1000)->handler, &m.hba);
    EXPECT_EQ(m.range_at(0xFEBF4000), nullptr);
    EXPECT_TRUE(m.mapper.all_trapped(0xFEBF0000, 0x2000));
    EXPECT_FALSE(m.mapper.all_trapped(0xFEBF4000, 0x1000));
    EXPECT_FALSE(m.mapper.all_trapped(0xFEBF5000, 0x1000));
    EXPECT_TRUE(m.violations.empty()) << m.violations.front();
}

TEST(MmioBar, ASubPageBarTrapsItsWholePage) {
    Machine m;
    const Address small{0, 6, 0};
    m.chipset.add(small, 0x1234, 0x0001);
    m.chipset.add_memory_bar(small, bar0, 0x800, 0xFEBF2800, false);
    m.chipset.put(small, 4, 2, 0x0002);
    MmioBar b(m.mediator, m.config, m.mmio, m.placement);
    Device dev;
    ASSERT_TRUE(b.attach(small, 0, dev, &dev, "small").ok());
    EXPECT_EQ(b.bar().size, 0x800u);
    ASSERT_NE(m.range_at(0xFEBF2000), nullptr); // the page, not only the BAR
    EXPECT_EQ(m.range_at(0xFEBF2000)->length, page);
    m.mapper.log.clear();
    m.port_write(small, bar0, 4, 0xFEBF2000); // same page: nothing to remap
    EXPECT_TRUE(m.mapper.log.empty());
    EXPECT_EQ(b.address(), 0xFEBF2000u);
    m.port_write(small, bar0, 4, 0xFEBF3800);
    EXPECT_EQ(m.range_at(0xFEBF2000), nullptr);
    EXPECT_EQ(m.range_at(0xFEBF3000)->handler, &dev);
    EXPECT_EQ(b.stats().placements, 2u);
}

TEST(MmioBar, RefusesWhenTheNestedTablesCannotTrap) {
    Machine m;
    m.attach_all();
    m.mapper.fail = true;
    m.port_write(ahci, bar5, 4, 0xFEBF4000);
    EXPECT_EQ(m.chipset.get(ahci, bar5, 4), 0xFEBF0000u);
    EXPECT_EQ(m.abar.stats().refused, 1u);
    EXPECT_NE(m.range_at(0xFEBF0000), nullptr);
}

} // namespace
} // namespace sv::pci::test
