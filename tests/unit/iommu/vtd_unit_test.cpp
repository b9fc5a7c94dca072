// Programming a VT-d unit (VT-d 3.x §10.4, §6.5.1, §11.4) against a model of
// its registers that acknowledges commands the way QEMU's intel-iommu does;
// fault records collected, logged once per device, counted; a unit that
// never answers is an error, not a hang.
#include <gtest/gtest.h>

#include <map>
#include <vector>

#include "devices/iommu/vtd/vtd_unit.hpp"

namespace sv::vtd {
namespace {

// QEMU 7.2's CAP/ECAP (from a bare guest's log: "cap d2008c22260206 ecap f42").
constexpr uint64_t qemu_cap = 0xd2008c22260206ull, qemu_ecap = 0xf42;
constexpr uint32_t fro = 0x220, iro = 0xF0;

struct UnitModel final : VtdRegisterIo {
    uint64_t cap = qemu_cap, ecap = qemu_ecap;
    uint32_t gsts = 0, fsts = 0, fectl = 0;
    uint64_t rtaddr = 0, ccmd = 0, iotlb = 0;
    uint64_t frcd_lo[4]{}, frcd_hi[4]{};
    bool responsive = true;
    std::vector<uint32_t> gcmd_writes;
    int context_invalidations = 0, iotlb_invalidations = 0, srtp_with_root = 0;

    uint32_t read32(uint32_t off) override {
        switch (off) {
        case reg::version: return 0x10;
        case reg::global_status: return gsts;
        case reg::fault_status: {
            uint32_t v = fsts;
            for (auto h : frcd_hi)
                if (h & frcd::fault) v |= fsts::pending;
            return v;
        }
        case reg::fault_event_control: return fectl;
        }
        ADD_FAILURE() << "read32 " << std::hex << off;
        return 0;
    }
    uint64_t read64(uint32_t off) override {
        if (off == reg::capability) return cap;
        if (off == reg::ext_capability) return ecap;
        if (off == reg::root_table) return rtaddr;
        if (off == reg::context_command) return ccmd;
        if (off == iro + 8) return iotlb;
        if (const int i = record_index(off); i >= 0) return (off - fro) % 16 ? frcd_hi[i] : frcd_lo[i];
        ADD_FAILURE() << "read64 " << std::hex << off;
        return 0;
    }
    void write32(uint32_t off, uint32_t v) override {
        if (off == reg::global_command) {
            gcmd_writes.push_back(v);
            if (!responsive) return;
            constexpr uint32_t persistent = gcmd::translation_enable | gcmd::queued_invalidation |
                                            gcmd::interrupt_remapping;
            gsts = (gsts & ~persistent) | (v & persistent);
            if (v & gcmd::set_root_table) {
                gsts |= gcmd::set_root_table;
                if (rtaddr) ++srtp_with_root;
            }
            return;
        }
        if (off == reg::fault_status) return void(fsts &= ~(v & fsts::write_one_to_clear));
        if (off == reg::fault_event_control) return void(fectl = v);
        ADD_FAILURE() << "write32 " << std::hex << off;
    }
    void write64(uint32_t off, uint64_t v) override {
        if (off == reg::root_table) {
            rtaddr = v;
            gsts &= ~gcmd::set_root_table; // RTPS clears with a new SRTP cycle
            return;
        }
        if (off == reg::context_command) {
            EXPECT_FALSE(gsts & gcmd::queued_invalidation) << "register invalidation with QI on";
            EXPECT_TRUE(gsts & gcmd::set_root_table) << "invalidate after SRTP";
            ccmd = responsive ? v & ~ccmd::invalidate : v;
            if ((v & ccmd::granularity_mask) == ccmd::global) ++context_invalidations;
            return;
        }
        if (off == iro + 8) {
            EXPECT_EQ(context_invalidations, 1) << "context cache first (§6.5.1)";
            iotlb = responsive ? v & ~iotlb::invalidate : v;
            if (v & iotlb::global) ++iotlb_invalidations;
            return;
        }
        if (const int i = record_index(off); i >= 0 && (off - fro) % 16 == 8) {
            if (v & frcd::fault) frcd_hi[i] &= ~frcd::fault;
            return;
        }
        ADD_FAILURE() << "write64 " << std::hex << off;
    }
    static int record_index(uint32_t off) {
        if (off < fro || off >= fro + 64) return -1;
        return static_cast<int>((off - fro) / 16);
    }
    void record(int i, uint64_t addr, uint16_t sid, uint8_t reason, bool read) {
        frcd_lo[i] = addr;
        frcd_hi[i] = frcd::fault | (read ? frcd::read_request : 0) | uint64_t{reason} << frcd::reason_shift | sid;
    }
};

TEST(VtdUnit, ProbesQemuCapabilities) {
    UnitModel m;
    VtdUnit u(m);
    const Result<UnitFacts> f = u.probe();
    ASSERT_TRUE(f.ok());
    EXPECT_EQ(f.value().walk.levels, 3u); // SAGAW 39-bit only
    EXPECT_TRUE(f.value().walk.pages_2m);
    EXPECT_TRUE(f.value().walk.pages_1g);
    EXPECT_EQ(f.value().address_width, 39u);
    EXPECT_FALSE(f.value().coherent);
    EXPECT_EQ(cap::fro(qemu_cap), fro);
    EXPECT_EQ(ecap::iro(qemu_ecap), iro);
    EXPECT_EQ(cap::fault_records(qemu_cap), 1u);
    m.cap |= uint64_t{cap::sagaw_48} << cap::sagaw_shift;
    EXPECT_EQ(u.probe().value().walk.levels, 4u);
    m.cap &= ~(0x1Full << cap::sagaw_shift);
    EXPECT_EQ(u.probe().error(), Error::Unsupported);
}

int caches_written_back = 0;
void count_write_back() { ++caches_written_back; }

TEST(VtdUnit, EnableSequence) {
    UnitModel m;
    VtdUnit u(m);
    ASSERT_TRUE(u.probe().ok());
    caches_written_back = 0;
    ASSERT_TRUE(u.enable(0x12345000, count_write_back).ok());
    EXPECT_EQ(m.rtaddr, 0x12345000u);
    EXPECT_EQ(m.srtp_with_root, 1);
    EXPECT_EQ(m.context_invalidations, 1);
    EXPECT_EQ(m.iotlb_invalidations, 1);
    EXPECT_EQ(caches_written_back, 1); // ECAP.C = 0 under QEMU
    EXPECT_TRUE(m.gsts & gcmd::translation_enable);
    EXPECT_TRUE(u.translating());
    EXPECT_TRUE(m.fectl & fectl::interrupt_mask);
    ASSERT_FALSE(m.gcmd_writes.empty());
    EXPECT_EQ(m.gcmd_writes.back(), gcmd::translation_enable); // SRTP not repeated with TE
    EXPECT_EQ(u.enable(0x12345800).error(), Error::InvalidArgument);
}

TEST(VtdUnit, FirmwareStateIsTurnedOffFirst) {
    UnitModel m;
    m.gsts = gcmd::translation_enable | gcmd::queued_invalidation | gcmd::interrupt_remapping;
    VtdUnit u(m);
    const UnitFacts f = u.probe().value();
    EXPECT_TRUE(f.translation_was_on);
    EXPECT_TRUE(f.interrupt_remapping_on);
    ASSERT_TRUE(u.enable(0x1000).ok());
    EXPECT_EQ(m.gsts & (gcmd::queued_invalidation | gcmd::interrupt_remapping), 0u);
    EXPECT_TRUE(m.gsts & gcmd::translation_enable);
}

TEST(VtdUnit, AnUnresponsiveUnitIsAnErrorNotAHang) {
    UnitModel m;
    m.responsive = false;
    VtdUnit u(m, 1000);
    ASSERT_TRUE(u.probe().ok());
    EXPECT_EQ(u.enable(0x1000).error(), Error::DeviceError);
    EXPECT_FALSE(m.gsts & gcmd::translation_enable);
}

std::vector<Fault> logged;
void log_fault(const Fault& f) { logged.push_back(f); }

TEST(VtdUnit, FaultsLoggedOncePerDeviceAndCounted) {
    UnitModel m;
    m.cap = (m.cap & ~(0xFFull << cap::nfr_shift)) | (3ull << cap::nfr_shift); // 4 records
    VtdUnit u(m);
    ASSERT_TRUE(u.probe().ok());
    m.record(0, 0xDEAD000, 0x0010, 5, false); // left over from firmware: cleared by enable
    ASSERT_TRUE(u.enable(0x1000).ok());
    EXPECT_FALSE(m.frcd_hi[0] & frcd::fault);
    logged.clear();
    const uint16_t nic = (0 << 8) | (2 << 3); // 00:02.0
    m.record(0, 0x3E800000, nic, 6, false);
    m.record(1, 0x3E801000, nic, 6, true);
    m.record(3, 0x3E900000, 0x0108, 6, false); // 01:01.0
    m.fsts = fsts::overflow;
    EXPECT_EQ(u.drain_faults(log_fault).faults, 3u);
    ASSERT_EQ(logged.size(), 2u);
    EXPECT_EQ(logged[0].source, nic);
    EXPECT_EQ(logged[0].address, 0x3E800000u);
    EXPECT_EQ(logged[0].reason, 6);
    EXPECT_FALSE(logged[0].read);
    EXPECT_EQ(logged[1].source, 0x0108);
    EXPECT_EQ(u.fault_stats().faults, 3u);
    EXPECT_EQ(u.fault_stats().overflows, 1u);
    EXPECT_EQ(m.fsts, 0u);
    for (auto h : m.frcd_hi) EXPECT_FALSE(h & frcd::fault);
    m.record(2, 0x3E802000, nic, 6, true);
    EXPECT_EQ(u.drain_faults(log_fault).faults, 1u);
    EXPECT_EQ(logged.size(), 2u); // the NIC was logged already
    EXPECT_EQ(u.fault_stats().faults, 4u);
    EXPECT_FALSE(u.drain_faults(log_fault).found());
}

} // namespace
} // namespace sv::vtd

#include "devices/iommu/vtd/register_guard.hpp"

namespace sv::vtd {
namespace {

TEST(VtdRegisterGuard, GuestSeesAllOnesAndItsWritesAreDropped) {
    RegisterGuard g;
    EXPECT_EQ(g.mmio_read(0xFED90008, 8), ~0ull); // CAP
    EXPECT_EQ(g.mmio_read(0xFED9001C, 4), 0xFFFFFFFFu); // GSTS
    EXPECT_EQ(g.mmio_read(0xFED9001C, 1), 0xFFu);
    EXPECT_EQ(g.mmio_read(0xFED9001C, 2), 0xFFFFu);
    g.mmio_write(0xFED90018, 4, 0); // GCMD: TE off
    g.mmio_write(0xFED90020, 8, 0x1000); // RTADDR
    EXPECT_EQ(g.reads(), 4u);
    EXPECT_EQ(g.writes_dropped(), 2u);
}

} // namespace
} // namespace sv::vtd
