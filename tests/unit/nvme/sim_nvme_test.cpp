// The simulated NVMe controller (sim_nvme.*) driven as Linux's nvme driver
// drives it (linux_nvme_model.*): the model the mediator tests will trust has
// to do what NVMe 1.4 says, so these check it against the specification:
// enable/reset/shutdown, Identify, queue creation and deletion rules, data on
// the namespace and in memory over PRP1/PRP2/PRP lists (chained too), the CQ
// phase tag across wrap-around, reordered completions, MSI-X vectors and
// masking, error statuses, and the register accesses per command that set
// the mediator's VM-exit budget (issue #10 item 9).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "devices/storage/nvme/nvme_registers.hpp"
#include "nvme/linux_nvme_model.hpp"
#include "nvme/sim_nvme.hpp"

namespace svtest {
namespace {
using namespace sv::nvme;
using What = SimNvmeAccess::What;

constexpr uint64_t kRam = 64ull << 20, kHvBase = 0x8000000, kHvBytes = 1 << 20;
constexpr uint64_t kBuf = 0x3000000; // 48 MiB: data buffers
constexpr uint64_t kBlocks512 = 65536, kBlocks4k = 4096;

std::vector<uint8_t> fill(size_t n, uint32_t seed) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>((i * 131 + seed * 7 + (i >> 9)) ^ seed);
    return v;
}

struct NvmeSimRig : ::testing::Test {
    SimPhysMemory mem{kRam, kHvBase, kHvBytes};
    SimNvme ctrl{mem, 8, 9};
    LinuxNvme drv{ctrl, mem};

    void SetUp() override {
        ctrl.add_namespace(kBlocks512, 512);
        ctrl.add_namespace(kBlocks4k, 4096);
        ctrl.set_msix(true);
        for (unsigned v = 0; v < 9; ++v) ctrl.write32(SimNvme::kMsixTable + 16 * v + msix::kEntryControl, 0);
        ASSERT_TRUE(drv.enable());
        ASSERT_TRUE(drv.identify());
        ASSERT_TRUE(drv.create_io_queues(4, 64));
        ctrl.accesses.clear();
        ctrl.signalled.clear();
    }
    uint8_t* ram(uint64_t a) { return mem.ram(a); }
    void put(uint64_t a, const std::vector<uint8_t>& d) { std::memcpy(ram(a), d.data(), d.size()); }
    bool same(uint64_t a, const uint8_t* d, size_t n) { return std::memcmp(ram(a), d, n) == 0; }
    // One command at queue depth 1: submit, take the interrupt, return the status.
    uint16_t one(uint16_t qid, bool write, uint32_t nsid, uint64_t lba, uint32_t blocks, uint64_t buf) {
        const uint16_t cid = drv.rw(qid, write, nsid, lba, blocks, buf);
        const auto done = drv.interrupt(qid);
        EXPECT_EQ(done.size(), 1u);
        if (done.empty()) return 0xffff;
        EXPECT_EQ(done[0].cid, cid);
        return done[0].status;
    }
};

TEST_F(NvmeSimRig, ComesUpLikeQemu) {
    EXPECT_TRUE(ctrl.ready());
    EXPECT_EQ(cap::max_queue_entries(drv.cap), 2048u);
    EXPECT_EQ(cap::doorbell_stride(drv.cap), 4u);
    EXPECT_TRUE(drv.cap & cap::kCqr);
    EXPECT_EQ(drv.mdts_bytes, 512u << 10);
    ASSERT_EQ(drv.lba_bytes.size(), 2u);
    EXPECT_EQ(drv.lba_bytes[0], 512u);
    EXPECT_EQ(drv.lba_bytes[1], 4096u);
    EXPECT_EQ(drv.ns_blocks[1], kBlocks4k);
    EXPECT_EQ(drv.queues(), 4u);
    EXPECT_EQ(ctrl.read32(reg::kVs), version(1, 4));
    const uint8_t* id = ram(drv.id_buf()); // last Identify: namespace 2
    EXPECT_EQ(id[id_ns::kFlbas] & id_ns::kFlbasIndexMask, 1);
}

TEST_F(NvmeSimRig, WriteReadOn512And4096ByteNamespaces) {
    const auto a = fill(64 << 10, 1), b = fill(64 << 10, 2);
    put(kBuf, a);
    EXPECT_EQ(one(1, true, 1, 100, 128, kBuf), 0u);
    EXPECT_EQ(std::memcmp(ctrl.ns(1).media.data() + 100 * 512, a.data(), a.size()), 0);
    put(kBuf + 0x100000, b);
    EXPECT_EQ(one(2, true, 2, 7, 16, kBuf + 0x100000), 0u);
    EXPECT_EQ(std::memcmp(ctrl.ns(2).media.data() + 7 * 4096, b.data(), b.size()), 0);
    std::memset(ram(kBuf + 0x200000), 0, 64 << 10);
    EXPECT_EQ(one(3, false, 2, 7, 16, kBuf + 0x200000), 0u);
    EXPECT_TRUE(same(kBuf + 0x200000, b.data(), b.size()));
    EXPECT_EQ(one(4, false, 1, 100, 128, kBuf + 0x300000), 0u);
    EXPECT_TRUE(same(kBuf + 0x300000, a.data(), a.size()));
    // The controller touched only the driver's queues and lists and the buffers.
    EXPECT_TRUE(ctrl.only_touched({drv.driver_area(), {kBuf, 0x400000}}));
    EXPECT_GT(ctrl.count(What::PrpList), 0u);
    EXPECT_GT(ctrl.count(What::SqEntry), 0u);
}

TEST_F(NvmeSimRig, Prp1WithOffsetPrp2AndChainedLists) {
    // A buffer starting mid-page: PRP1 offset, then PRP2 page (2 pages), then a list.
    const auto d = fill(4096, 3);
    put(kBuf + 0x800, d);
    EXPECT_EQ(one(1, true, 1, 0, 8, kBuf + 0x800), 0u);
    EXPECT_EQ(std::memcmp(ctrl.ns(1).media.data(), d.data(), d.size()), 0);
    EXPECT_EQ(ctrl.count(What::PrpList), 0u); // PRP1 + PRP2: no list
    // Beyond 512 pages the driver chains list pages (MDTS lifted for this).
    ctrl.mdts = 0;
    const uint64_t bytes = 600 * 4096;
    const auto big = fill(bytes, 4);
    put(kBuf, big);
    EXPECT_EQ(one(1, true, 1, 1000, bytes / 512, kBuf), 0u);
    EXPECT_EQ(std::memcmp(ctrl.ns(1).media.data() + 1000 * 512, big.data(), bytes), 0);
    std::memset(ram(kBuf + 0x400000), 0, bytes);
    EXPECT_EQ(one(1, false, 1, 1000, bytes / 512, kBuf + 0x400000), 0u);
    EXPECT_TRUE(same(kBuf + 0x400000, big.data(), bytes));
    EXPECT_EQ(ctrl.count(What::PrpList), 2u * 600); // 599 data entries + 1 chain pointer, twice
}

TEST_F(NvmeSimRig, MdtsAndLbaRangeAreEnforced) {
    const uint16_t st = one(1, false, 1, 0, (512 << 10) / 512 + 1, kBuf);
    EXPECT_EQ(status::sc(st), sc::kInvalidField);
    EXPECT_EQ(status::sc(one(1, false, 2, kBlocks4k - 1, 2, kBuf)), sc::kLbaOutOfRange);
    SubmissionEntry e{};
    e.cdw0 = nvm::kRead;
    e.nsid = 3; // no such namespace
    e.prp1 = kBuf;
    drv.submit(1, e);
    const auto done = drv.interrupt(1);
    ASSERT_EQ(done.size(), 1u);
    EXPECT_EQ(status::sc(done[0].status), sc::kInvalidNamespaceOrFormat);
}

TEST_F(NvmeSimRig, PhaseTagAcrossWrapAround) {
    ASSERT_TRUE(drv.delete_io_queues());
    ASSERT_TRUE(drv.create_io_queues(1, 4)); // 4 entries: the CQ wraps every 4 commands
    const auto d = fill(4096, 5);
    put(kBuf, d);
    for (int i = 0; i < 21; ++i) ASSERT_EQ(one(1, true, 1, 8 * i, 8, kBuf), 0u) << i;
    // 21 completions on a 4-entry CQ: tail at 1, phase inverted 5 times (now 0).
    EXPECT_EQ(ctrl.cq_tail(1), 1u);
    CompletionEntry c;
    std::memcpy(&c, ram(drv.cq_base(1)), sizeof c);
    EXPECT_EQ(c.status & status::kPhase, 0); // written on the 6th pass (phase 0)
    std::memcpy(&c, ram(drv.cq_base(1) + 16), sizeof c);
    EXPECT_EQ(c.status & status::kPhase, status::kPhase); // still from the 5th pass
}

TEST_F(NvmeSimRig, FullCompletionQueueHoldsBackTheController) {
    // §4.1: a CQ is full when tail + 1 == head; the controller may not post
    // until the host moves the head (the mediator's shadow CQs rely on it).
    ASSERT_TRUE(drv.delete_io_queues());
    ASSERT_TRUE(drv.create_io_queues(1, 4));
    put(kBuf, fill(4096, 12));
    ctrl.hold_io = true;
    for (int i = 0; i < 3; ++i) drv.rw(1, false, 1, 0, 8, kBuf + 0x1000 * (i + 1));
    ctrl.complete_held();
    drv.rw(1, false, 1, 0, 8, kBuf + 0x8000); // the SQ has room again (fetched), the CQ has not
    ctrl.complete_held();
    EXPECT_EQ(ctrl.cq_tail(1), 3u); // three posted, the fourth waits
    EXPECT_EQ(drv.interrupt(1).size(), 3u); // consuming them moves the head (doorbell)...
    const auto late = drv.interrupt(1);    // ...and the waiting completion is posted
    ASSERT_EQ(late.size(), 1u);
    EXPECT_EQ(late[0].status, 0u);
}

TEST_F(NvmeSimRig, ReorderedCompletionsCarryTheirOwnCommandIds) {
    ctrl.hold_io = true;
    std::vector<uint16_t> cids;
    for (unsigned i = 0; i < 16; ++i) {
        put(kBuf + i * 0x10000, fill(4096, 10 + i));
        cids.push_back(drv.rw(2, true, 1, 64 * i, 8, kBuf + i * 0x10000, /*defer=*/i != 15));
    }
    EXPECT_EQ(ctrl.held(), 16u);
    EXPECT_TRUE(drv.interrupt(2).empty()); // nothing completed yet
    ctrl.complete_held(SimNvme::Order::Random, 7);
    const auto done = drv.interrupt(2);
    ASSERT_EQ(done.size(), 16u);
    std::vector<uint16_t> got;
    for (const NvmeDone& x : done) {
        EXPECT_EQ(x.status, 0u);
        got.push_back(x.cid);
    }
    EXPECT_NE(got, cids); // reordered...
    std::sort(got.begin(), got.end());
    std::vector<uint16_t> want = cids;
    std::sort(want.begin(), want.end());
    EXPECT_EQ(got, want); // ...but every command completed once
    for (unsigned i = 0; i < 16; ++i) {
        const auto d = fill(4096, 10 + i);
        EXPECT_EQ(std::memcmp(ctrl.ns(1).media.data() + 64 * i * 512, d.data(), 4096), 0) << i;
    }
}

TEST_F(NvmeSimRig, MsixVectorPerQueueAndMasking) {
    const auto d = fill(4096, 6);
    put(kBuf, d);
    for (uint16_t q = 1; q <= 4; ++q) EXPECT_EQ(one(q, true, 1, 0, 8, kBuf), 0u);
    EXPECT_EQ(ctrl.signalled, (std::vector<unsigned>{1, 2, 3, 4})); // vector = qid, as Linux asks
    // A masked vector sets its PBA bit; unmasking delivers it (PCI 3.0 §6.8.2.9).
    ctrl.signalled.clear();
    ctrl.write32(SimNvme::kMsixTable + 16 * 3 + msix::kEntryControl, msix::kVectorMasked);
    drv.rw(3, false, 1, 0, 8, kBuf + 0x10000);
    EXPECT_TRUE(ctrl.signalled.empty());
    EXPECT_EQ(ctrl.read32(SimNvme::kMsixPba) & (1u << 3), 1u << 3);
    ctrl.write32(SimNvme::kMsixTable + 16 * 3 + msix::kEntryControl, 0);
    EXPECT_EQ(ctrl.signalled, (std::vector<unsigned>{3}));
    EXPECT_EQ(ctrl.read32(SimNvme::kMsixPba) & (1u << 3), 0u);
    EXPECT_EQ(drv.interrupt(3).size(), 1u);
}

TEST_F(NvmeSimRig, PolledQueuesRaiseNoInterrupt) {
    ASSERT_TRUE(drv.delete_io_queues());
    ASSERT_TRUE(drv.create_io_queues(3, 32, /*polled=*/1));
    ctrl.signalled.clear(); // the admin queue's vector 0
    put(kBuf, fill(4096, 7));
    EXPECT_EQ(one(3, true, 1, 0, 8, kBuf), 0u);
    EXPECT_TRUE(ctrl.signalled.empty());
    EXPECT_EQ(one(1, true, 1, 0, 8, kBuf), 0u);
    EXPECT_EQ(ctrl.signalled, (std::vector<unsigned>{1}));
}

TEST_F(NvmeSimRig, RegisterAccessesPerCommand) {
    // Queue depth 1: the SQ tail doorbell and the CQ head doorbell, no reads
    // (MSI-X: the handler reads the CQ in memory) -> 2 trapped writes.
    put(kBuf, fill(4096, 8));
    drv.reads = drv.writes = 0;
    for (int i = 0; i < 10; ++i) ASSERT_EQ(one(1, i & 1, 1, 8 * i, 8, kBuf), 0u);
    EXPECT_EQ(drv.reads, 0u);
    EXPECT_EQ(drv.writes, 20u);
    // Queue depth 32 with a batch doorbell (commit_rqs) and one interrupt: 2 writes for 32 commands.
    ctrl.hold_io = true;
    drv.reads = drv.writes = 0;
    for (unsigned i = 0; i < 32; ++i) drv.rw(1, false, 1, 8 * i, 8, kBuf + 0x10000 * i, i != 31);
    ctrl.complete_held();
    EXPECT_EQ(drv.interrupt(1).size(), 32u);
    EXPECT_EQ(drv.accesses(), 2u);
}

TEST_F(NvmeSimRig, QueueCreationRules) {
    SubmissionEntry e{};
    e.cdw0 = admin::kCreateIoSq; // on a CQ that does not exist
    e.prp1 = kBuf;
    e.cdw10 = 15u << 16 | 6;
    e.cdw11 = queue_cmd::kPc | 7u << queue_cmd::kCqidShift;
    NvmeDone d = drv.admin(e);
    EXPECT_EQ(status::sct(d.status), sct::kCommandSpecific);
    EXPECT_EQ(status::sc(d.status), sc_specific::kCompletionQueueInvalid);
    e.cdw11 = queue_cmd::kPc | 1u << queue_cmd::kCqidShift;
    e.cdw10 = 15u << 16 | 1; // qid 1 exists
    EXPECT_EQ(status::sc(drv.admin(e).status), sc_specific::kInvalidQueueIdentifier);
    e = SubmissionEntry{};
    e.cdw0 = admin::kCreateIoCq; // vector past the MSI-X table
    e.prp1 = kBuf;
    e.cdw10 = 15u << 16 | 6;
    e.cdw11 = queue_cmd::kPc | queue_cmd::kIen | 40u << queue_cmd::kIvShift;
    EXPECT_EQ(status::sc(drv.admin(e).status), sc_specific::kInvalidInterruptVector);
    e.cdw11 = queue_cmd::kIen; // not contiguous with CAP.CQR
    EXPECT_EQ(status::sc(drv.admin(e).status), sc::kInvalidField);
    e.cdw11 = queue_cmd::kPc;
    e.cdw10 = 0xffffu << 16 | 6; // 65536 entries > MQES + 1
    EXPECT_EQ(status::sc(drv.admin(e).status), sc_specific::kInvalidQueueSize);
    e = SubmissionEntry{};
    e.cdw0 = admin::kDeleteIoCq; // SQ 1 still on it
    e.cdw10 = 1;
    EXPECT_EQ(status::sc(drv.admin(e).status), sc_specific::kInvalidQueueDeletion);
    e.cdw0 = 0x7f; // no such admin opcode
    d = drv.admin(e);
    EXPECT_EQ(status::sc(d.status), sc::kInvalidOpcode);
    EXPECT_TRUE(d.status & status::kDnr);
}

TEST_F(NvmeSimRig, DoorbellBeyondTheQueueIsIgnored) {
    put(kBuf, fill(4096, 9));
    drv.rw(1, true, 1, 0, 8, kBuf, /*defer=*/true);
    ctrl.write32(sq_tail_doorbell(1, 4), 64 + 3);
    EXPECT_EQ(ctrl.bad_doorbells, 1u);
    EXPECT_TRUE(drv.interrupt(1).empty());
    ctrl.write32(sq_tail_doorbell(7, 4), 1); // no such queue
    EXPECT_EQ(ctrl.bad_doorbells, 2u);
    drv.ring(1);
    EXPECT_EQ(drv.interrupt(1).size(), 1u);
}

TEST_F(NvmeSimRig, ResetDeletesQueuesAndShutdownReports) {
    ctrl.hold_io = true;
    put(kBuf, fill(4096, 11));
    drv.rw(1, true, 1, 0, 8, kBuf);
    EXPECT_EQ(ctrl.held(), 1u);
    ctrl.write32(reg::kCc, 0); // §7.3.2: EN 1 -> 0
    EXPECT_FALSE(ctrl.ready());
    EXPECT_EQ(ctrl.held(), 0u); // the command died with the controller
    EXPECT_EQ(ctrl.ns(1).media[0], 0); // and never reached the namespace
    ctrl.hold_io = false;
    ASSERT_TRUE(drv.enable());
    ASSERT_TRUE(drv.create_io_queues(2, 16));
    EXPECT_EQ(one(2, true, 1, 0, 8, kBuf), 0u);
    EXPECT_TRUE(drv.shutdown());
    EXPECT_EQ(ctrl.read32(reg::kCsts) & csts::kShstMask, csts::kShstComplete);
}

TEST_F(NvmeSimRig, TheControllerReachesWhateverAPrpNames) {
    // What the mediator exists to prevent: a PRP into hypervisor memory is a
    // plain bus-master access for the device.
    std::memset(mem.phys(kHvBase, 4096), 0x5a, 4096);
    EXPECT_EQ(one(1, true, 1, 0, 8, kHvBase), 0u);
    EXPECT_EQ(ctrl.ns(1).media[0], 0x5a);
    EXPECT_FALSE(ctrl.only_touched({drv.driver_area(), {kBuf, 0x400000}}));
    // Memory that is not there is a bus error: Data Transfer Error.
    EXPECT_EQ(status::sc(one(1, false, 1, 0, 8, kRam + 0x100000)), sc::kDataTransferError);
    EXPECT_GT(ctrl.bus_errors, 0u);
}

TEST_F(NvmeSimRig, FirmwareDownloadReachesTheDevice) {
    // The mediator must refuse this (issue #10 item 4); the device takes it.
    SubmissionEntry e{};
    e.cdw0 = admin::kFirmwareImageDownload;
    e.cdw10 = 1023;
    EXPECT_EQ(drv.admin(e, kBuf).status, 0u);
    EXPECT_EQ(ctrl.firmware_downloads, 1u);
}

TEST(NvmeRegisters, DoorbellPlacement) {
    EXPECT_EQ(sq_tail_doorbell(0, 4), 0x1000u);
    EXPECT_EQ(cq_head_doorbell(0, 4), 0x1004u);
    EXPECT_EQ(sq_tail_doorbell(3, 4), 0x1018u);
    EXPECT_EQ(cq_head_doorbell(3, 16), 0x1000u + 7 * 16);
    const DoorbellTarget t = decode_doorbell(0x1000 + 7 * 16, 16);
    EXPECT_TRUE(t.valid);
    EXPECT_TRUE(t.completion);
    EXPECT_EQ(t.qid, 3u);
    EXPECT_FALSE(decode_doorbell(0x1004, 16).valid); // inside a stride gap
    EXPECT_FALSE(decode_doorbell(0xffc, 4).valid);
    // QEMU 7.2's CAP (seen by sv-nvmehostile): 004018200f0107ff.
    constexpr uint64_t c = 0x004018200f0107ffull;
    EXPECT_EQ(cap::max_queue_entries(c), 2048u);
    EXPECT_EQ(cap::doorbell_stride(c), 4u);
    EXPECT_EQ(cap::timeout_ms(c), 7500u);
    EXPECT_TRUE(c & cap::kCqr);
    EXPECT_TRUE(c & cap::kCssNvm);
    EXPECT_FALSE(c & cap::kCmbs); // CMB off by default (cmb_size_mb=0)
    EXPECT_FALSE(c & cap::kPmrs);
    EXPECT_EQ(cap::min_page_bytes(c), 4096u);
    EXPECT_EQ(cap::max_page_bytes(c), 65536u);
    EXPECT_EQ(cc::page_bytes(2u << cc::kMpsShift), 16384u);
    EXPECT_EQ(aqa::sq_entries(0x001f001f), 32u);
}

TEST(NvmeQueues, EntryFieldsAndStatus) {
    SubmissionEntry e{};
    e.cdw0 = cdw0::make(nvm::kRead, 0xbeef) | 1u << cdw0::kPsdtShift;
    EXPECT_EQ(cdw0::opcode(e.cdw0), nvm::kRead);
    EXPECT_EQ(cdw0::cid(e.cdw0), 0xbeef);
    EXPECT_EQ(cdw0::psdt(e.cdw0), 1u);
    e.cdw10 = 0x89abcdef;
    e.cdw11 = 0x01234567;
    e.cdw12 = 7;
    EXPECT_EQ(rw::slba(e), 0x0123456789abcdefull);
    EXPECT_EQ(rw::blocks(e), 8u);
    const uint16_t s = status::make(sct::kCommandSpecific, sc_specific::kInvalidQueueDeletion, true);
    EXPECT_EQ(status::sct(s), 1);
    EXPECT_EQ(status::sc(s), 0x0c);
    EXPECT_FALSE(status::success(s));
    EXPECT_TRUE(status::success(status::kPhase));
    EXPECT_EQ(queue_cmd::entries(0x003f0001), 64u);
    EXPECT_EQ(queue_cmd::vector(0x00050003), 5);
    EXPECT_EQ(msix::table_entries(0x8040), 65u);
    EXPECT_EQ(msix::pba_bytes(65), 16u);
    EXPECT_EQ(id_ns::lbaf_lbads(12u << 16), 12);
}

} // namespace
} // namespace svtest
