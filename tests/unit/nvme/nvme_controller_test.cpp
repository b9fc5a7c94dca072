// The NVMe controller's register side (nvme_controller.*) against the
// simulated controller as the real BAR0 and a recording queue engine: the
// filtered CAP, hidden CMB/PMR/BP/NSSR, virtual CC/AQA/ASQ/ACQ/INTMS, the
// enable/disable/shutdown sequences and when the engine is reset, doorbell
// decoding with CAP.DSTRD, split and refused accesses, and interrupts: the
// real MSI-X entries programmed as NMIs, the guest vector delivered after a
// harvest, NMIs claimed or left to the guest.
#include <gtest/gtest.h>

#include "devices/storage/nvme/nvme_controller.hpp"
#include "devices/storage/nvme/nvme_queues.hpp"
#include "devices/storage/nvme/nvme_registers.hpp"
#include "nvme/nvme_fakes.hpp"
#include "nvme/sim_nvme.hpp"

namespace svtest {
namespace {
using namespace sv::nvme;
namespace msi = sv::msi;

constexpr uint64_t kRam = 16ull << 20, kHvBase = 0x2000000, kHvBytes = 1 << 20;
constexpr uint64_t kGuestAsq = 0x100000, kGuestAcq = 0x101000;

MsixPlacement qemu_placement() {
    MsixPlacement p;
    p.capability = 0x40;
    p.vectors = 9;
    p.table_bir = 0;
    p.table_offset = SimNvme::kMsixTable;
    p.pba_bir = 0;
    p.pba_offset = SimNvme::kMsixPba;
    return p;
}

struct ControllerTest : ::testing::Test {
    SimPhysMemory mem{kRam, kHvBase, kHvBytes};
    SimNvme dev{mem, 8, 9};
    SimDmaAllocator dma{mem};
    RecordedInterrupts out;
    FakeEngine engine;
    NvmeController c{dev, qemu_placement(), dev, out, engine};

    void SetUp() override {
        dev.add_namespace(4096, 512);
        dev.add_namespace(1024, 4096);
        dev.set_msix(true); // NvmePciFunction keeps the real MSI-X on
        engine.port = &c;
        ASSERT_TRUE(c.init(dma).ok());
    }
    uint32_t r32(uint32_t off) { return static_cast<uint32_t>(c.read(off, 4)); }
    void w32(uint32_t off, uint32_t v) { c.write(off, 4, v); }
    void guest_msix(uint16_t v, uint8_t apic, uint8_t vector) {
        c.msix().write_table(v * 16 + msix::kEntryAddrLo, 4, msi::kAddressWindow | uint32_t{apic} << 12);
        c.msix().write_table(v * 16 + msix::kEntryData, 4, vector);
        c.msix().write_table(v * 16 + msix::kEntryControl, 4, 0);
    }
    // Linux's nvme_pci_configure_admin_queue + nvme_enable_ctrl.
    void linux_enable() {
        c.msix().control_written(msix::kEnable);
        guest_msix(0, 0, 0x22);
        w32(reg::kAqa, 31 | 31 << 16);
        c.write(reg::kAsq, 8, kGuestAsq); // lo_hi_writeq: two dwords here in one access
        c.write(reg::kAcq, 8, kGuestAcq);
        w32(reg::kCc, cc::kEn | 6u << cc::kIosqesShift | 4u << cc::kIocqesShift);
    }
    uint32_t real_msix(uint16_t v, uint32_t field) { return dev.read32(SimNvme::kMsixTable + v * 16 + field); }
};

TEST_F(ControllerTest, FactsFromBootIdentify) {
    EXPECT_EQ(c.facts().namespace_count, 2u);
    EXPECT_EQ(c.facts().find(2)->lba_bytes, 4096u);
}

TEST_F(ControllerTest, CapIsFiltered) {
    dev.cap |= cap::kCmbs | cap::kPmrs | cap::kBps | cap::kNssrs;
    NvmeController c2{dev, qemu_placement(), dev, out, engine};
    ASSERT_TRUE(c2.init(dma).ok());
    const uint64_t cap = c2.read(reg::kCap, 8);
    EXPECT_EQ(cap & (cap::kCmbs | cap::kPmrs | cap::kBps | cap::kNssrs), 0u);
    EXPECT_EQ(cap & cap::kMqesMask, 1023u); // from the engine
    EXPECT_EQ(cap & cap::kCqr, cap::kCqr);
    EXPECT_EQ(cap & cap::kToMask, dev.cap & cap::kToMask);
    // Two dword reads agree with the qword read.
    EXPECT_EQ(uint64_t{static_cast<uint32_t>(c2.read(4, 4))} << 32 | c2.read(0, 4), cap);
}

TEST_F(ControllerTest, HiddenRegistersReadZeroAndDropWrites) {
    dev.cmbsz = 0xffff;
    dev.pmrcap = 0xff;
    for (uint32_t off : {reg::kCmbloc, reg::kCmbsz, reg::kBpinfo, reg::kPmrcap, reg::kNssr, 0x800u})
        EXPECT_EQ(r32(off), 0u) << off;
    w32(reg::kBpmbl, 0x1000);
    w32(reg::kBpmbl + 4, 0);
    w32(reg::kNssr, kNssrReset);
    w32(reg::kNssr, kNssrReset);
    EXPECT_GE(c.stats().dropped_writes, 4u);
    EXPECT_EQ(dev.read32(reg::kCsts) & csts::kNssro, 0u); // never reached the device
}

TEST_F(ControllerTest, AdminQueueRegistersAreVirtual) {
    w32(reg::kAqa, 0x001f001f);
    c.write(reg::kAsq, 8, 0x123456000ull);
    w32(reg::kAcq, 0x7000);
    w32(reg::kAcq + 4, 0x1);
    EXPECT_EQ(r32(reg::kAqa), 0x001f001fu);
    EXPECT_EQ(c.read(reg::kAsq, 8), 0x123456000ull);
    EXPECT_EQ(c.read(reg::kAcq, 8), 0x100007000ull);
    // The device has not seen them (still what boot identify left there, in hypervisor memory).
    EXPECT_NE(uint64_t{dev.read32(reg::kAsq + 4)} << 32 | dev.read32(reg::kAsq), 0x123456000ull);
}

TEST_F(ControllerTest, IntmsIntmcAreVirtual) {
    w32(reg::kIntms, 0x5);
    EXPECT_EQ(r32(reg::kIntms), 5u);
    w32(reg::kIntmc, 0x1);
    EXPECT_EQ(r32(reg::kIntmc), 4u);
}

TEST_F(ControllerTest, EnableGivesTheRealControllerTheShadowAdminQueue) {
    linux_enable();
    ASSERT_EQ(engine.enables.size(), 1u);
    EXPECT_EQ(engine.enables[0].asq, kGuestAsq);
    EXPECT_EQ(engine.enables[0].acq, kGuestAcq);
    EXPECT_EQ(engine.enables[0].aqa, 31u | 31u << 16);
    EXPECT_EQ(engine.enables[0].page, 4096u);
    EXPECT_TRUE(dev.ready());
    EXPECT_TRUE(c.enabled());
    EXPECT_EQ(uint64_t{dev.read32(reg::kAsq + 4)} << 32 | dev.read32(reg::kAsq), engine.real.asq);
    EXPECT_EQ(uint64_t{dev.read32(reg::kAcq + 4)} << 32 | dev.read32(reg::kAcq), engine.real.acq);
    EXPECT_EQ(dev.read32(reg::kAqa), engine.real.aqa);
    EXPECT_EQ(r32(reg::kCsts) & csts::kRdy, csts::kRdy);
    // The guest's CC reads back as written; the real one is ours.
    EXPECT_EQ(r32(reg::kCc), cc::kEn | 6u << cc::kIosqesShift | 4u << cc::kIocqesShift);
}

TEST_F(ControllerTest, RealCcAlwaysUses4KPagesWhateverTheGuestAsks) {
    c.msix().control_written(msix::kEnable);
    w32(reg::kAqa, 0x00010001);
    c.write(reg::kAsq, 8, kGuestAsq);
    c.write(reg::kAcq, 8, kGuestAcq);
    w32(reg::kCc, cc::kEn | 2u << cc::kMpsShift | 5u << cc::kAmsShift);
    ASSERT_EQ(engine.enables.size(), 1u);
    EXPECT_EQ(engine.enables[0].page, 16384u); // the guest's page size goes to the engine (PRP walks)
    const uint32_t real = dev.read32(reg::kCc);
    EXPECT_EQ(real & cc::kMpsMask, 0u);
    EXPECT_EQ(real & cc::kAmsMask, 0u);
    EXPECT_EQ(cc::iosqes(real), 6u);
    EXPECT_EQ(cc::iocqes(real), 4u);
    EXPECT_EQ(r32(reg::kCc) & cc::kMpsMask, 2u << cc::kMpsShift);
}

TEST_F(ControllerTest, EngineRefusalShowsFatalStatusUntilEnCleared) {
    engine.accept = false;
    linux_enable();
    EXPECT_FALSE(dev.ready()); // the device was never enabled
    EXPECT_FALSE(c.enabled());
    EXPECT_EQ(r32(reg::kCsts) & (csts::kCfs | csts::kRdy), csts::kCfs);
    EXPECT_EQ(c.stats().enables_refused, 1u);
    w32(reg::kCc, 0);
    EXPECT_EQ(r32(reg::kCsts) & csts::kCfs, 0u);
    engine.accept = true;
    linux_enable();
    EXPECT_TRUE(dev.ready());
}

TEST_F(ControllerTest, WithoutMsixTheControllerIsRefused) {
    w32(reg::kAqa, 0x00010001);
    w32(reg::kCc, cc::kEn);
    EXPECT_TRUE(engine.enables.empty());
    EXPECT_FALSE(dev.ready());
    EXPECT_EQ(r32(reg::kCsts) & csts::kCfs, csts::kCfs);
}

TEST_F(ControllerTest, DisableResetsTheEngineOnceTheDeviceIsReady0) {
    linux_enable();
    engine.vectors = {0, 1};
    guest_msix(1, 1, 0x23);
    w32(sq_tail_doorbell(0, 4), 1); // a queue creation would go here: vectors synced
    EXPECT_EQ(real_msix(1, msix::kEntryControl), 0u);
    w32(reg::kCc, 0);
    EXPECT_FALSE(dev.ready());
    EXPECT_EQ(engine.resets, 1u); // the sim clears RDY at once
    EXPECT_FALSE(c.enabled());
    EXPECT_EQ(real_msix(1, msix::kEntryControl), 1u); // no shadow CQ: real entries masked
    EXPECT_EQ(real_msix(0, msix::kEntryControl), 1u);
    // Doorbells while disabled never reach the engine.
    const size_t before = engine.sq_tails.size();
    w32(sq_tail_doorbell(1, 4), 3);
    EXPECT_EQ(engine.sq_tails.size(), before);
    EXPECT_GT(c.stats().doorbells_ignored, 0u);
}

// A real controller takes a while to clear RDY: the shadows stay until it has.
struct SlowReset final : sv::MmioRegisters {
    SimNvme& dev;
    unsigned rdy_reads_left = 0;
    explicit SlowReset(SimNvme& d) : dev(d) {}
    uint32_t read32(uint32_t off) override {
        uint32_t v = dev.read32(off);
        if (off == reg::kCsts && rdy_reads_left) {
            --rdy_reads_left;
            v |= csts::kRdy;
        }
        return v;
    }
    void write32(uint32_t off, uint32_t v) override { dev.write32(off, v); }
};

TEST(ControllerReset, EngineResetWaitsForReadyToClear) {
    SimPhysMemory mem{kRam, kHvBase, kHvBytes};
    SimNvme dev{mem, 8, 9};
    dev.add_namespace(4096, 512);
    dev.set_msix(true);
    SimDmaAllocator dma{mem};
    SlowReset slow{dev};
    RecordedInterrupts out;
    FakeEngine engine;
    NvmeController c{slow, qemu_placement(), dev, out, engine};
    engine.port = &c;
    ASSERT_TRUE(c.init(dma).ok());
    c.msix().control_written(msix::kEnable);
    c.write(reg::kAqa, 4, 0x00010001);
    c.write(reg::kCc, 4, cc::kEn);
    ASSERT_TRUE(c.enabled());
    slow.rdy_reads_left = 3;
    c.write(reg::kCc, 4, 0);
    EXPECT_EQ(engine.resets, 0u); // RDY still 1
    EXPECT_EQ(c.read(reg::kCsts, 4) & csts::kRdy, csts::kRdy);
    while (slow.rdy_reads_left) (void)c.read(reg::kCsts, 4);
    (void)c.read(reg::kCsts, 4);
    EXPECT_EQ(engine.resets, 1u);
    // Re-enabling before RDY cleared is refused (§3.1.5), not passed on.
    slow.rdy_reads_left = 0;
    c.write(reg::kCc, 4, cc::kEn);
    EXPECT_TRUE(c.enabled());
    slow.rdy_reads_left = 100;
    c.write(reg::kCc, 4, 0);
    c.write(reg::kCc, 4, cc::kEn);
    EXPECT_FALSE(c.enabled());
    EXPECT_EQ(c.read(reg::kCsts, 4) & csts::kCfs, csts::kCfs);
}

TEST_F(ControllerTest, ShutdownReachesTheDeviceAndDropsTheShadows) {
    linux_enable();
    const uint32_t guest_cc = r32(reg::kCc);
    w32(reg::kCc, guest_cc | cc::kShnNormal);
    EXPECT_EQ(dev.read32(reg::kCc) & cc::kShnMask, cc::kShnNormal);
    EXPECT_EQ(r32(reg::kCsts) & csts::kShstMask, csts::kShstComplete);
    EXPECT_EQ(engine.resets, 1u);
    (void)r32(reg::kCsts);
    EXPECT_EQ(engine.resets, 1u); // once
    EXPECT_EQ(c.stats().shutdowns, 1u);
}

TEST_F(ControllerTest, DoorbellsDecodeWithTheStride) {
    linux_enable();
    w32(sq_tail_doorbell(0, 4), 1);
    w32(cq_head_doorbell(0, 4), 1);
    w32(sq_tail_doorbell(3, 4), 0x10005); // only bits 15:0
    ASSERT_EQ(engine.sq_tails.size(), 2u);
    EXPECT_EQ(engine.sq_tails[1], (std::pair<uint16_t, uint32_t>{3, 5}));
    ASSERT_EQ(engine.cq_heads.size(), 1u);
    EXPECT_EQ(engine.cq_heads[0].first, 0);
    EXPECT_EQ(r32(sq_tail_doorbell(0, 4)), 0u); // doorbells read 0
    EXPECT_GE(engine.harvests, 3u);             // every doorbell write harvests
}

TEST(ControllerStride, DstrdWidensTheDoorbells) {
    SimPhysMemory mem{kRam, kHvBase, kHvBytes};
    SimNvme dev{mem, 8, 9};
    dev.add_namespace(4096, 512);
    dev.cap |= 2ull << cap::kDstrdShift; // 16-byte stride
    dev.set_msix(true);
    SimDmaAllocator dma{mem};
    RecordedInterrupts out;
    FakeEngine engine;
    NvmeController c{dev, qemu_placement(), dev, out, engine};
    engine.port = &c;
    ASSERT_TRUE(c.init(dma).ok());
    c.msix().control_written(msix::kEnable);
    c.write(reg::kAqa, 4, 0x00010001);
    c.write(reg::kCc, 4, cc::kEn);
    c.write(0x1000 + 3 * 16, 4, 7); // CQ 1 head
    c.write(0x1004, 4, 7);          // inside the stride gap: no doorbell
    ASSERT_EQ(engine.cq_heads.size(), 1u);
    EXPECT_EQ(engine.cq_heads[0], (std::pair<uint16_t, uint32_t>{1, 7}));
    EXPECT_TRUE(engine.sq_tails.empty());
    EXPECT_EQ(c.stats().doorbells_ignored, 1u);
}

TEST_F(ControllerTest, AccessesAreSplitOrRefused) {
    w32(reg::kAqa, 0x00110022);
    EXPECT_EQ(c.read(reg::kAqa + 1, 2), 0x1100u); // straddles nothing
    EXPECT_EQ(c.read(reg::kAqa + 2, 4), (r32(reg::kAsq) & 0xffffu) << 16 | 0x0011u);
    EXPECT_GT(c.stats().split_accesses, 0u);
    c.write(reg::kAqa, 1, 0x33); // merged with the rest of AQA
    EXPECT_EQ(r32(reg::kAqa), 0x00110033u);
    EXPECT_EQ(c.read(reg::kAqa, 3), 0u);
    c.write(reg::kAqa, 16, 0);
    EXPECT_EQ(c.stats().refused_accesses, 2u);
    EXPECT_EQ(r32(reg::kAqa), 0x00110033u);
}

TEST_F(ControllerTest, HarvestedCompletionDeliversTheGuestVector) {
    linux_enable();
    guest_msix(1, 2, 0x24);
    engine.vectors = {0, 1};
    w32(sq_tail_doorbell(0, 4), 1); // Create I/O CQ 1 with IV 1 went to the engine
    EXPECT_EQ(real_msix(1, msix::kEntryData) & msi::kDeliveryMask, msi::kDeliveryNmi);
    EXPECT_EQ(real_msix(1, msix::kEntryAddrLo), msi::kAddressWindow | 2u << 12);
    engine.work = {{1, 1}};
    EXPECT_TRUE(c.on_nmi(2)); // the device's NMI: found, claimed
    ASSERT_EQ(out.sent.size(), 1u);
    EXPECT_EQ(out.sent[0].data, 0x24u);
    EXPECT_EQ(msi::destination(out.sent[0].address), 2);
    EXPECT_EQ(c.stats().nmis_with_work, 1u);
    EXPECT_EQ(c.stats().interrupts, 1u);
}

TEST_F(ControllerTest, NmiWithNothingFoundIsTheGuestsUnlessOwed) {
    linux_enable();
    EXPECT_FALSE(c.on_nmi(0)); // nothing found, nothing owed: re-injected
    engine.work = {{0, 0}};
    w32(cq_head_doorbell(0, 4), 0); // a doorbell write harvested first...
    EXPECT_EQ(out.sent.size(), 1u);
    EXPECT_TRUE(c.on_nmi(0));       // ...so the NMI announcing it is claimed
    EXPECT_FALSE(c.on_nmi(0));      // once
    EXPECT_EQ(c.stats().nmis_owed, 1u);
}

TEST_F(ControllerTest, MaskedGuestVectorPendsAndGoesAtUnmask) {
    linux_enable();
    c.msix().write_table(0 * 16 + msix::kEntryControl, 4, 1); // guest masks vector 0
    engine.work = {{0, 0}};
    EXPECT_TRUE(c.on_nmi(0));
    EXPECT_TRUE(out.sent.empty());
    EXPECT_TRUE(c.msix().pending(0));
    c.msix().write_table(0 * 16 + msix::kEntryControl, 4, 0);
    ASSERT_EQ(out.sent.size(), 1u);
    EXPECT_EQ(out.sent[0].data, 0x22u);
}

TEST_F(ControllerTest, RealMsixEntriesStayMaskedUntilUsed) {
    for (uint16_t v = 0; v < 9; ++v) EXPECT_EQ(real_msix(v, msix::kEntryControl), 1u) << v;
    linux_enable();
    EXPECT_EQ(real_msix(0, msix::kEntryControl), 1u); // engine reports no vector yet
    engine.vectors = {0};
    w32(sq_tail_doorbell(0, 4), 1);
    EXPECT_EQ(real_msix(0, msix::kEntryControl), 0u);
    EXPECT_EQ(real_msix(0, msix::kEntryData), msi::kDeliveryNmi);
}

TEST(ControllerInit, NeverReadyControllerIsNotMediated) {
    SimPhysMemory mem{kRam, kHvBase, kHvBytes};
    SimNvme dev{mem, 8, 9};
    dev.add_namespace(4096, 512);
    dev.never_ready = true;
    SimDmaAllocator dma{mem};
    RecordedInterrupts out;
    FakeEngine engine;
    NvmeController c{dev, qemu_placement(), dev, out, engine};
    EXPECT_FALSE(c.init(dma).ok());
    // Fail closed: nothing passes, reads 0.
    c.write(reg::kCc, 4, cc::kEn);
    EXPECT_EQ(c.read(reg::kCap, 8), 0u);
    EXPECT_TRUE(engine.enables.empty());
    EXPECT_FALSE(c.on_nmi(0));
}

} // namespace
} // namespace svtest
