// VT-d fault handling (VT-d 3.x §7.3 primary fault logging, FSTS/FECTL/
// FEDATA/FEADDR/FRCD, §11.4) against a simulated register file that records
// faults and raises the fault event the way the spec (and QEMU 7.2's
// intel-iommu) does: a fault goes to the record at FRI, a full record sets
// PFO and loses it, a device's repeat collapses into its pending record,
// and the event message is sent only when a status bit becomes set while
// none was, and only when FECTL.IM is clear (else IP holds it until IM is
// cleared). The fault event is an NMI to one CPU; vtd::FaultSink drains on
// that CPU's NMIs.
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <vector>

#include "devices/iommu/vtd/fault_sink.hpp"
#include "devices/iommu/vtd/vtd_unit.hpp"

namespace sv::vtd {
namespace {

constexpr uint64_t qemu_cap = 0xd2008c22260206ull, qemu_ecap = 0xf42; // QEMU 7.2: one record
constexpr uint32_t fro = 0x220, iro = 0xF0;
constexpr uint8_t bsp = 0, ap = 1;

struct FaultingUnit final : VtdRegisterIo {
    uint64_t cap = qemu_cap, ecap = qemu_ecap;
    uint32_t gsts = 0, status = 0, fectl = fectl::interrupt_mask; // FECTL reset value: masked
    uint32_t fedata = 0, feaddr = 0, feuaddr = 0;
    bool feuaddr_written = false;
    uint64_t rtaddr = 0, ccmd = 0, iotlb = 0;
    uint64_t lo[8]{}, hi[8]{};
    unsigned fri = 0;
    std::vector<MsiMessage> sent;     // fault event messages
    uint64_t lost = 0, collapsed = 0; // faults the unit could not record
    std::function<void()> on_record_cleared; // a device faulting again mid-drain

    unsigned records() const { return cap::fault_records(cap); }
    void set_records(unsigned n) { cap = (cap & ~(0xFFull << cap::nfr_shift)) | uint64_t{n - 1} << cap::nfr_shift; }
    bool any_record() const {
        for (unsigned i = 0; i < records(); ++i)
            if (hi[i] & frcd::fault) return true;
        return false;
    }
    uint32_t fsts() const { return status | (any_record() ? fsts::pending : 0); }
    uint32_t status_bits() const { return fsts() & (fsts::pending | fsts::write_one_to_clear); } // not FRI
    // The interrupt condition: a status bit set while none was (FECTL.IP).
    void condition(uint32_t before) {
        if (before & (fsts::pending | fsts::write_one_to_clear)) return;
        fectl |= fectl::interrupt_pending;
        send_if_unmasked();
    }
    void send_if_unmasked() {
        if ((fectl & fectl::interrupt_pending) && !(fectl & fectl::interrupt_mask)) {
            sent.push_back({uint64_t{feuaddr} << 32 | feaddr, fedata});
            fectl &= ~fectl::interrupt_pending;
        }
    }
    // A DMA the tables refuse.
    void fault(uint64_t addr, uint16_t sid, uint8_t reason, bool read) {
        const uint32_t before = fsts();
        if (status & fsts::overflow) return void(++lost);
        for (unsigned i = 0; i < records(); ++i)
            if ((hi[i] & frcd::fault) && (hi[i] & frcd::source_mask) == sid) return void(++collapsed);
        if (hi[fri] & frcd::fault) {
            status |= fsts::overflow;
            ++lost;
            return condition(before);
        }
        lo[fri] = addr & frcd::address_mask;
        hi[fri] = frcd::fault | (read ? frcd::read_request : 0) | uint64_t{reason} << frcd::reason_shift | sid;
        status = (status & ~(0xFFu << fsts::fri_shift)) | fri << fsts::fri_shift;
        fri = (fri + 1) % records();
        condition(before);
    }
    void error(uint32_t bit) {
        const uint32_t before = fsts();
        status |= bit;
        condition(before);
    }

    uint32_t read32(uint32_t off) override {
        switch (off) {
        case reg::version: return 0x10;
        case reg::global_status: return gsts;
        case reg::fault_status: return fsts();
        case reg::fault_event_control: return fectl;
        case reg::fault_event_data: return fedata;
        case reg::fault_event_address: return feaddr;
        }
        ADD_FAILURE() << "read32 " << std::hex << off;
        return 0;
    }
    uint64_t read64(uint32_t off) override {
        if (off == reg::capability) return cap;
        if (off == reg::ext_capability) return ecap;
        if (off == reg::context_command) return ccmd;
        if (off == iro + 8) return iotlb;
        if (const int i = record(off); i >= 0) return (off - fro) % 16 ? hi[i] : lo[i];
        ADD_FAILURE() << "read64 " << std::hex << off;
        return 0;
    }
    void write32(uint32_t off, uint32_t v) override {
        switch (off) {
        case reg::global_command: {
            constexpr uint32_t persistent = gcmd::translation_enable | gcmd::queued_invalidation |
                                            gcmd::interrupt_remapping;
            gsts = (gsts & ~persistent) | (v & persistent);
            if (v & gcmd::set_root_table) gsts |= gcmd::set_root_table;
            return;
        }
        case reg::fault_status:
            status &= ~(v & fsts::write_one_to_clear);
            serviced();
            return;
        case reg::fault_event_control:
            fectl = (fectl & fectl::interrupt_pending) | (v & fectl::interrupt_mask);
            send_if_unmasked();
            return;
        case reg::fault_event_data: fedata = v; return;
        case reg::fault_event_address: feaddr = v & ~3u; return;
        case reg::fault_event_upper_address:
            feuaddr = v;
            feuaddr_written = true;
            return;
        }
        ADD_FAILURE() << "write32 " << std::hex << off;
    }
    void write64(uint32_t off, uint64_t v) override {
        if (off == reg::root_table) return void(rtaddr = v);
        if (off == reg::context_command) return void(ccmd = v & ~ccmd::invalidate);
        if (off == iro + 8) return void(iotlb = v & ~iotlb::invalidate);
        if (const int i = record(off); i >= 0 && (off - fro) % 16 == 8) {
            if (v & frcd::fault) {
                hi[i] &= ~frcd::fault;
                serviced();
                if (on_record_cleared) on_record_cleared();
            }
            return;
        }
        ADD_FAILURE() << "write64 " << std::hex << off;
    }
    // IP clears once software has serviced every status bit.
    void serviced() {
        if (!(fsts() & (fsts::pending | fsts::write_one_to_clear))) fectl &= ~fectl::interrupt_pending;
    }
    int record(uint32_t off) const {
        if (off < fro || off >= fro + 16 * records()) return -1;
        return static_cast<int>((off - fro) / 16);
    }
};

std::vector<Fault> logged;
void log_fault(const Fault& f) { logged.push_back(f); }
std::vector<uint32_t> errors_logged;
void log_errors(const VtdUnit&, uint32_t bits) { errors_logged.push_back(bits); }

struct Routed {
    FaultingUnit m;
    VtdUnit u{m, 1000};
    FaultSink sink{bsp, log_fault, log_errors};
    explicit Routed(unsigned records = 1) { // QEMU's one record by default
        m.set_records(records);
        logged.clear();
        errors_logged.clear();
        EXPECT_TRUE(u.probe().ok());
        EXPECT_TRUE(u.enable(0x1000).ok());
        EXPECT_TRUE(u.route_fault_events(fault_event_nmi(bsp)).ok());
        EXPECT_TRUE(sink.add(u));
    }
};

constexpr uint16_t nic = (0 << 8) | (2 << 3);     // 00:02.0
constexpr uint16_t storage = (0 << 8) | (31 << 3 | 2); // 00:1f.2

TEST(VtdFaults, EventIsAnNmiToTheTargetCpu) {
    FaultingUnit m;
    VtdUnit u(m);
    ASSERT_TRUE(u.probe().ok());
    ASSERT_TRUE(u.enable(0x1000).ok());
    EXPECT_TRUE(m.fectl & fectl::interrupt_mask); // masked until routed
    EXPECT_FALSE(u.fault_events_routed());
    ASSERT_TRUE(u.route_fault_events(fault_event_nmi(3)).ok());
    EXPECT_TRUE(u.fault_events_routed());
    EXPECT_EQ(m.fedata, 0x400u);            // delivery mode 100b: NMI (SDM vol. 3A §10.11.2)
    EXPECT_EQ(m.feaddr, 0xFEE03000u);       // destination APIC 3, physical (§10.11.1)
    EXPECT_FALSE(m.feuaddr_written);        // ECAP.EIM = 0: FEUADDR is reserved
    EXPECT_FALSE(m.fectl & fectl::interrupt_mask);
    m.fault(0x21F000, nic, 6, true);
    ASSERT_EQ(m.sent.size(), 1u);
    EXPECT_EQ(m.sent[0].address, 0xFEE03000u);
    EXPECT_EQ(m.sent[0].data & msi::kDeliveryMask, msi::kDeliveryNmi);

    FaultingUnit eim;
    eim.ecap |= ecap::extended_interrupt_mode;
    VtdUnit v(eim);
    ASSERT_TRUE(v.probe().ok());
    ASSERT_TRUE(v.enable(0x1000).ok());
    ASSERT_TRUE(v.route_fault_events(fault_event_nmi(0)).ok());
    EXPECT_TRUE(eim.feuaddr_written);
    EXPECT_EQ(eim.feuaddr, 0u);
    EXPECT_EQ(v.route_fault_events({0x12345000, msi::kDeliveryNmi}).error(), Error::InvalidArgument);
}

TEST(VtdFaults, TheNmiDrainsLogsOncePerDeviceAndKeepsEventsComing) {
    Routed r;
    r.m.fault(0x21F040, nic, 6, true);
    ASSERT_EQ(r.m.sent.size(), 1u);
    EXPECT_TRUE(r.sink.on_nmi(bsp)); // claimed: not the guest's NMI
    ASSERT_EQ(logged.size(), 1u);
    EXPECT_EQ(logged[0].source, nic);
    EXPECT_EQ(logged[0].address, 0x21F000u); // FI: the page
    EXPECT_EQ(logged[0].reason, 6);
    EXPECT_TRUE(logged[0].read);
    EXPECT_EQ(r.m.status_bits(), 0u);
    EXPECT_FALSE(r.m.fectl & fectl::interrupt_pending);
    // Everything was cleared, so the next fault is a new interrupt condition.
    r.m.fault(0x220000, nic, 6, false);
    ASSERT_EQ(r.m.sent.size(), 2u);
    EXPECT_TRUE(r.sink.on_nmi(bsp));
    EXPECT_EQ(logged.size(), 1u); // the NIC was logged already: only counted
    r.m.fault(0x300000, storage, 5, false);
    ASSERT_EQ(r.m.sent.size(), 3u);
    EXPECT_TRUE(r.sink.on_nmi(bsp));
    ASSERT_EQ(logged.size(), 2u);
    EXPECT_EQ(logged[1].source, storage);
    EXPECT_FALSE(logged[1].read);
    EXPECT_EQ(r.u.fault_stats().faults, 3u);
    EXPECT_EQ(r.u.fault_stats().sources_logged, 2u);
    EXPECT_EQ(r.sink.stats().nmis_claimed, 3u);
    EXPECT_EQ(r.m.lost, 0u);
}

TEST(VtdFaults, OtherCpusAndEmptyNmisAreNotClaimed) {
    Routed r;
    EXPECT_FALSE(r.sink.on_nmi(bsp)); // nothing recorded: the guest's NMI (or a kick)
    r.m.fault(0x21F000, nic, 6, true);
    EXPECT_FALSE(r.sink.on_nmi(ap)); // the fault's NMI goes to the BSP: an AP leaves it
    EXPECT_TRUE(r.m.hi[0] & frcd::fault);
    EXPECT_TRUE(logged.empty());
    EXPECT_TRUE(r.sink.on_nmi(bsp));
    EXPECT_EQ(logged.size(), 1u);
    EXPECT_EQ(r.sink.stats().nmis, 2u);
    EXPECT_EQ(r.sink.stats().nmis_claimed, 1u);
}

TEST(VtdFaults, OverflowIsCountedAndClearedSoRecordingResumes) {
    Routed r; // one record, as QEMU
    r.m.fault(0x21F000, nic, 6, true);
    r.m.fault(0x300000, storage, 6, false); // no free record: PFO, lost
    r.m.fault(0x301000, storage, 6, false); // PFO set: lost, no new event
    EXPECT_EQ(r.m.lost, 2u);
    EXPECT_EQ(r.m.sent.size(), 1u);
    EXPECT_TRUE(r.sink.on_nmi(bsp));
    EXPECT_EQ(r.u.fault_stats().overflows, 1u);
    EXPECT_EQ(r.m.status_bits(), 0u);
    r.m.fault(0x302000, storage, 6, false); // recorded again, and announced
    EXPECT_EQ(r.m.sent.size(), 2u);
    EXPECT_TRUE(r.sink.on_nmi(bsp));
    ASSERT_EQ(logged.size(), 2u);
    EXPECT_EQ(logged[1].address, 0x302000u);
}

TEST(VtdFaults, OverflowAloneIsClaimed) {
    Routed r;
    r.m.status = fsts::overflow; // a record drained elsewhere, its overflow left
    EXPECT_TRUE(r.sink.on_nmi(bsp));
    EXPECT_EQ(r.m.status_bits(), 0u);
}

TEST(VtdFaults, AFaultDuringTheDrainIsCollectedByTheSameDrain) {
    Routed r(4);
    r.m.fault(0x21F000, nic, 6, true);
    int again = 1;
    r.m.on_record_cleared = [&] {
        if (again-- > 0) r.m.fault(0x300000, storage, 6, false); // into record 1, not scanned yet
    };
    const DrainResult d = r.u.drain_faults(log_fault);
    EXPECT_EQ(d.faults, 2u);
    EXPECT_TRUE(d.settled);
    EXPECT_EQ(logged.size(), 2u);
    EXPECT_EQ(r.m.status_bits(), 0u);
    // A repeat written into record 0 after the scan passed it: the FSTS
    // re-read sees PPF and the next pass collects it.
    r.m.on_record_cleared = nullptr;
    r.m.fri = 0;
    r.m.fault(0x21F000, nic, 6, true);
    again = 1;
    r.m.on_record_cleared = [&] {
        if (again-- > 0) {
            r.m.fri = 0;
            r.m.fault(0x400000, 0x0108, 6, true);
        }
    };
    const DrainResult e = r.u.drain_faults(log_fault);
    EXPECT_EQ(e.faults, 2u);
    EXPECT_TRUE(e.settled);
    EXPECT_EQ(r.m.status_bits(), 0u);
}

TEST(VtdFaults, AStormEndsTheDrainBoundedNotAHang) {
    Routed r;
    uint16_t sid = 0x10;
    r.m.on_record_cleared = [&] { r.m.fault(0x500000, sid++, 6, false); }; // a new device every time
    r.m.fault(0x500000, sid++, 6, false);
    const DrainResult d = r.u.drain_faults(log_fault);
    EXPECT_FALSE(d.settled);
    EXPECT_EQ(d.faults, VtdUnit::max_drain_passes); // one record per pass
    EXPECT_EQ(r.u.fault_stats().unsettled, 1u);
    EXPECT_EQ(logged.size(), VtdUnit::max_drain_passes);
    // The storm stops: the record left is collected by the next drain.
    r.m.on_record_cleared = nullptr;
    EXPECT_TRUE(r.sink.on_nmi(bsp));
    EXPECT_EQ(r.m.status_bits(), 0u);
    // Logging is bounded too: past max_logged_sources new devices are only counted.
    for (size_t i = 0; i < VtdUnit::max_logged_sources + 10; ++i) {
        r.m.fault(0x600000, static_cast<uint16_t>(0x1000 + i), 6, false);
        (void)r.sink.on_nmi(bsp);
    }
    EXPECT_EQ(logged.size(), VtdUnit::max_logged_sources);
    EXPECT_GE(r.u.fault_stats().faults, VtdUnit::max_logged_sources + 10);
}

TEST(VtdFaults, InvalidationErrorsAreReportedCountedAndCleared) {
    Routed r;
    r.m.error(fsts::invalidation_queue_error);
    ASSERT_EQ(r.m.sent.size(), 1u);
    EXPECT_TRUE(r.sink.on_nmi(bsp));
    ASSERT_EQ(errors_logged.size(), 1u);
    EXPECT_EQ(errors_logged[0], fsts::invalidation_queue_error);
    r.m.error(fsts::invalidation_timeout);
    r.m.error(fsts::invalidation_completion_error); // already a condition: no second message
    EXPECT_EQ(r.m.sent.size(), 2u);
    EXPECT_TRUE(r.sink.on_nmi(bsp));
    ASSERT_EQ(errors_logged.size(), 2u);
    EXPECT_EQ(errors_logged[1], fsts::invalidation_timeout | fsts::invalidation_completion_error);
    EXPECT_EQ(r.u.fault_stats().queue_errors, 1u);
    EXPECT_EQ(r.u.fault_stats().timeouts, 1u);
    EXPECT_EQ(r.u.fault_stats().completion_errors, 1u);
    EXPECT_EQ(r.m.status_bits(), 0u);
    EXPECT_TRUE(logged.empty());
}

TEST(VtdFaults, MaskedUntilRoutedAndRoutedAgainAfterReprogramming) {
    FaultingUnit m;
    VtdUnit u(m);
    logged.clear();
    ASSERT_TRUE(u.probe().ok());
    ASSERT_TRUE(u.enable(0x1000).ok());
    m.fault(0x21F000, nic, 6, true); // masked: held in IP, no message
    EXPECT_TRUE(m.sent.empty());
    EXPECT_TRUE(m.fectl & fectl::interrupt_pending);
    // Routing collects it first: unmasking sends nothing stale.
    ASSERT_TRUE(u.route_fault_events(fault_event_nmi(bsp)).ok());
    EXPECT_TRUE(m.sent.empty());
    EXPECT_EQ(m.status_bits(), 0u);
    EXPECT_EQ(u.fault_stats().faults, 1u);
    // S3: enable() again masks the event; routing it again brings it back.
    ASSERT_TRUE(u.enable(0x1000).ok());
    EXPECT_TRUE(m.fectl & fectl::interrupt_mask);
    m.fault(0x21F000, nic, 6, true);
    EXPECT_TRUE(m.sent.empty());
    ASSERT_TRUE(u.route_fault_events(fault_event_nmi(bsp)).ok());
    m.fault(0x300000, storage, 6, true);
    EXPECT_EQ(m.sent.size(), 1u);
    // Not routed at all: the statistics drain still collects what is recorded.
    FaultingUnit quiet;
    VtdUnit q(quiet);
    ASSERT_TRUE(q.probe().ok());
    ASSERT_TRUE(q.enable(0x1000).ok());
    quiet.fault(0x21F000, nic, 6, true);
    EXPECT_TRUE(quiet.sent.empty());
    EXPECT_EQ(q.drain_faults(log_fault).faults, 1u);
    EXPECT_EQ(logged.size(), 1u);
}

TEST(VtdFaults, SinkHoldsABoundedNumberOfUnits) {
    FaultSink sink(bsp, log_fault, log_errors);
    FaultingUnit m[FaultSink::max_units + 1];
    std::vector<std::unique_ptr<VtdUnit>> units;
    for (auto& r : m) units.push_back(std::make_unique<VtdUnit>(r));
    for (size_t i = 0; i < FaultSink::max_units; ++i) EXPECT_TRUE(sink.add(*units[i]));
    EXPECT_FALSE(sink.add(*units.back()));
    EXPECT_EQ(sink.units(), FaultSink::max_units);
}

} // namespace
} // namespace sv::vtd
