// The queue engine against a hostile guest (issue #10 item 6) and against
// the resets and back-pressure of item 5: raw queues the test drives itself
// (entries written to guest memory, doorbells through the controller stub),
// queue bases / PRPs / PRP list pages in or straddling hypervisor memory,
// looping lists, past MDTS, doorbells beyond the queue, duplicate CIDs,
// entries changed after the doorbell, refused opcodes: each answered with an
// NVMe error status, counted, the controller never touching anything but the
// shadows. Then pool exhaustion, a full guest CQ, reset and queue deletion
// with commands in flight.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "nvme/nvme_queue_rig.hpp"

namespace svtest {
namespace {
using namespace sv::nvme;

constexpr uint16_t status_of(uint8_t sct_v, uint8_t sc_v) { return status::make(sct_v, sc_v, false); }
constexpr uint16_t kMaskDnr = static_cast<uint16_t>(~status::kDnr & ~status::kMore & ~(3u << 12));

// A queue pair the test drives by hand in guest RAM at `base`.
struct RawQueue {
    EngineRig& r;
    uint16_t qid;
    uint64_t sq, cq;
    uint32_t sq_depth, cq_depth;
    uint32_t tail = 0, head = 0;
    bool phase = true;
    uint16_t next_cid = 0;

    RawQueue(EngineRig& rig, uint16_t id, uint64_t base, uint32_t sqd, uint32_t cqd, bool ien = true)
        : r(rig), qid(id), sq(base), cq(base + 0x40000), sq_depth(sqd), cq_depth(cqd) {
        std::memset(r.ram(sq), 0, sqd * kSqeBytes);
        std::memset(r.ram(cq), 0, cqd * kCqeBytes);
        SubmissionEntry e{};
        e.cdw0 = admin::kCreateIoCq;
        e.prp1 = cq;
        e.cdw10 = (cqd - 1) << queue_cmd::kQsizeShift | qid;
        e.cdw11 = queue_cmd::kPc | (ien ? queue_cmd::kIen : 0) | uint32_t{qid} << queue_cmd::kIvShift;
        EXPECT_EQ(r.drv->admin(e).status, 0);
        e = SubmissionEntry{};
        e.cdw0 = admin::kCreateIoSq;
        e.prp1 = sq;
        e.cdw10 = (sqd - 1) << queue_cmd::kQsizeShift | qid;
        e.cdw11 = queue_cmd::kPc | uint32_t{qid} << queue_cmd::kCqidShift;
        EXPECT_EQ(r.drv->admin(e).status, 0);
    }
    uint16_t put(SubmissionEntry e, int cid = -1) {
        const uint16_t c = cid >= 0 ? static_cast<uint16_t>(cid) : next_cid++;
        e.cdw0 = (e.cdw0 & 0xffff) | uint32_t{c} << 16;
        std::memcpy(r.ram(sq + uint64_t{tail} * kSqeBytes), &e, sizeof e);
        tail = (tail + 1) % sq_depth;
        return c;
    }
    SubmissionEntry* at(uint32_t i) { return reinterpret_cast<SubmissionEntry*>(r.ram(sq + uint64_t{i} * kSqeBytes)); }
    void ring(uint32_t value) { r.ctl->write32(sq_tail_doorbell(qid, 4), value); }
    void ring() { ring(tail); }
    std::vector<CompletionEntry> reap(bool doorbell = true) {
        std::vector<CompletionEntry> out;
        for (;;) {
            CompletionEntry c;
            std::memcpy(&c, r.ram(cq + uint64_t{head} * kCqeBytes), sizeof c);
            if (((c.status & status::kPhase) != 0) != phase) break;
            c.status &= static_cast<uint16_t>(~status::kPhase);
            out.push_back(c);
            if (++head == cq_depth) {
                head = 0;
                phase = !phase;
            }
        }
        if (doorbell && !out.empty()) r.ctl->write32(cq_head_doorbell(qid, 4), head);
        return out;
    }
    // One command: its completion status (DNR etc. masked off), 0xffff if none.
    uint16_t one(SubmissionEntry e) {
        const uint16_t cid = put(e);
        ring();
        const auto done = reap();
        if (done.size() != 1 || done[0].cid != cid) return 0xffff;
        return done[0].status & kMaskDnr;
    }
};

SubmissionEntry rw(bool write, uint32_t nsid, uint64_t lba, uint32_t blocks, uint64_t prp1, uint64_t prp2 = 0) {
    SubmissionEntry e{};
    e.cdw0 = write ? nvm::kWrite : nvm::kRead;
    e.nsid = nsid;
    e.cdw10 = static_cast<uint32_t>(lba);
    e.cdw11 = static_cast<uint32_t>(lba >> 32);
    e.cdw12 = blocks - 1;
    e.prp1 = prp1;
    e.prp2 = prp2;
    return e;
}

constexpr uint64_t kRawBase = 0x2000000; // 32 MiB: raw queues
constexpr uint64_t kData = 0x2800000;    // 40 MiB: raw data pages

struct NvmeQueueHostile : ::testing::Test {
    EngineRig r;
    void SetUp() override { ASSERT_TRUE(r.bring_up(1, 16)); }
};

TEST_F(NvmeQueueHostile, QueueBasesInOrStraddlingHypervisorMemoryAreRefused) {
    // A CQ in hypervisor memory.
    SubmissionEntry c{};
    c.cdw0 = admin::kCreateIoCq;
    c.prp1 = EngineRig::kHvBase;
    c.cdw10 = 255u << queue_cmd::kQsizeShift | 3;
    c.cdw11 = queue_cmd::kPc | queue_cmd::kIen | 3u << queue_cmd::kIvShift;
    EXPECT_EQ(r.drv->admin(c).status & kMaskDnr, status_of(sct::kGeneric, sc::kInvalidField));
    // SQs (256 x 64 bytes = 16 KiB) in, straddling into, or wrapping past
    // hypervisor memory / the end of RAM, on a good CQ.
    RawQueue good(r, 2, kRawBase, 8, 8);
    const uint64_t bases[] = {EngineRig::kHvBase, EngineRig::kHvBase - 0x1000, EngineRig::kRam - 0x1000,
                              0xfffffffffffff000ull};
    SubmissionEntry e{};
    e.cdw0 = admin::kCreateIoSq;
    e.cdw10 = 255u << queue_cmd::kQsizeShift | 3;
    e.cdw11 = queue_cmd::kPc | 2u << queue_cmd::kCqidShift;
    for (uint64_t base : bases) {
        e.prp1 = base;
        EXPECT_EQ(r.drv->admin(e).status & kMaskDnr, status_of(sct::kGeneric, sc::kInvalidField)) << base;
    }
    // PC = 0 and sizes beyond the shadows.
    e.prp1 = kRawBase + 0x100000;
    e.cdw11 = 2u << queue_cmd::kCqidShift;
    EXPECT_EQ(r.drv->admin(e).status & kMaskDnr, status_of(sct::kGeneric, sc::kInvalidField));
    e.cdw11 = queue_cmd::kPc | 2u << queue_cmd::kCqidShift;
    e.cdw10 = 4095u << queue_cmd::kQsizeShift | 3;
    EXPECT_EQ(r.drv->admin(e).status & kMaskDnr, status_of(sct::kCommandSpecific, sc_specific::kInvalidQueueSize));
    e.cdw10 = 7u << queue_cmd::kQsizeShift | 9; // beyond max_io_queues
    EXPECT_EQ(r.drv->admin(e).status & kMaskDnr,
              status_of(sct::kCommandSpecific, sc_specific::kInvalidQueueIdentifier));
    e.cdw10 = 7u << queue_cmd::kQsizeShift | 3;
    e.cdw11 = queue_cmd::kPc | 5u << queue_cmd::kCqidShift; // no CQ 5
    EXPECT_EQ(r.drv->admin(e).status & kMaskDnr,
              status_of(sct::kCommandSpecific, sc_specific::kCompletionQueueInvalid));
    EXPECT_TRUE(r.device_only_touched_shadows());
    EXPECT_GE(r.engine->stats().faults[static_cast<unsigned>(CommandFault::QueueMemory)], 5u);
}

TEST_F(NvmeQueueHostile, PrpsInOrStraddlingHypervisorMemoryFail) {
    RawQueue q(r, 2, kRawBase, 16, 16);
    const auto before = r.media(1, 0, 64 * 512);
    const uint64_t hv = EngineRig::kHvBase;
    // PRP1 in hypervisor memory, for a write and a read.
    EXPECT_EQ(q.one(rw(true, 1, 0, 8, hv)), status_of(sct::kGeneric, sc::kDataTransferError));
    EXPECT_EQ(q.one(rw(false, 1, 0, 8, hv)), status_of(sct::kGeneric, sc::kDataTransferError));
    // PRP2 (the second page) beyond RAM: straddles.
    EXPECT_EQ(q.one(rw(true, 1, 0, 16, EngineRig::kRam - 0x1000, EngineRig::kRam)),
              status_of(sct::kGeneric, sc::kDataTransferError));
    // A PRP list page in hypervisor memory.
    EXPECT_EQ(q.one(rw(true, 1, 0, 24, kData, hv)), status_of(sct::kGeneric, sc::kDataTransferError));
    // A list whose entries name hypervisor memory.
    const uint64_t list = kData + 0x100000;
    uint64_t entries[2] = {hv, hv + 0x1000};
    std::memcpy(r.ram(list), entries, sizeof entries);
    EXPECT_EQ(q.one(rw(false, 1, 0, 24, kData, list)), status_of(sct::kGeneric, sc::kDataTransferError));
    // Offsets the rules forbid.
    EXPECT_EQ(q.one(rw(true, 1, 0, 16, kData + 2)), status_of(sct::kGeneric, sc::kPrpOffsetInvalid));
    EXPECT_EQ(q.one(rw(true, 1, 0, 16, kData, kData + 0x1010)), status_of(sct::kGeneric, sc::kPrpOffsetInvalid));
    EXPECT_EQ(r.media(1, 0, 64 * 512), before);
    EXPECT_TRUE(r.sim.opcodes_io.empty() || r.sim.opcodes_io.size() == 0);
    EXPECT_TRUE(r.device_only_touched_shadows());
    EXPECT_GE(r.engine->stats().faults[static_cast<unsigned>(CommandFault::PrpNotRam)], 5u);
}

TEST_F(NvmeQueueHostile, LoopingListsAndPastMdtsFail) {
    RawQueue q(r, 2, kRawBase, 16, 16);
    // Past MDTS (2 MiB): 4 MiB.
    EXPECT_EQ(q.one(rw(true, 1, 0, 8192, kData, kData + 0x1000)), status_of(sct::kGeneric, sc::kInvalidField));
    // NLB beyond the namespace.
    EXPECT_EQ(q.one(rw(true, 1, 16380, 8, kData)), status_of(sct::kGeneric, sc::kLbaOutOfRange));
    EXPECT_EQ(q.one(rw(true, 1, ~0ull - 2, 8, kData)), status_of(sct::kGeneric, sc::kLbaOutOfRange));
    EXPECT_TRUE(r.sim.opcodes_io.empty());
}

TEST(NvmeQueueHostileLoop, ChainBackToItsOwnPageFails) {
    EngineRigOptions o;
    o.limits.max_transfer = 8 << 20;
    EngineRig r(o);
    ASSERT_TRUE(r.bring_up(1, 16));
    RawQueue q(r, 2, kRawBase, 16, 16);
    // 4 MiB over a list page whose last entry chains back to itself.
    const uint64_t list = kData + 0x200000;
    for (uint32_t i = 0; i < 511; ++i) {
        const uint64_t e = kData + 0x1000 * (i % 8);
        std::memcpy(r.ram(list + 8 * i), &e, 8);
    }
    std::memcpy(r.ram(list + 8 * 511), &list, 8);
    EXPECT_EQ(q.one(rw(true, 1, 0, 8192, kData, list)), status_of(sct::kGeneric, sc::kInvalidField));
    EXPECT_TRUE(r.sim.opcodes_io.empty());
    EXPECT_EQ(r.engine->stats().faults[static_cast<unsigned>(CommandFault::PrpMalformed)], 1u);
}

TEST_F(NvmeQueueHostile, DoorbellsBeyondTheQueueAreIgnored) {
    RawQueue q(r, 2, kRawBase, 8, 8);
    q.put(rw(true, 1, 0, 1, kData));
    const uint64_t ignored = r.engine->stats().doorbell_ignored;
    q.ring(8);       // == size
    q.ring(0xffff);  // far beyond
    r.ctl->write32(sq_tail_doorbell(7, 4), 1); // no such queue
    r.ctl->write32(cq_head_doorbell(2, 4), 9); // CQ head beyond
    EXPECT_EQ(r.engine->stats().doorbell_ignored, ignored + 4);
    EXPECT_TRUE(r.sim.opcodes_io.empty());
    EXPECT_EQ(r.sim.bad_doorbells, 0u); // nothing reached the controller
    q.ring();
    EXPECT_EQ(q.reap().size(), 1u);
}

TEST_F(NvmeQueueHostile, DuplicateCidsBothComplete) {
    RawQueue q(r, 2, kRawBase, 16, 16);
    r.sim.hold_io = true;
    const auto a = pattern(512, 1), b = pattern(512, 2);
    r.put(kData, a);
    r.put(kData + 0x1000, b);
    q.put(rw(true, 1, 10, 1, kData), 5);
    q.put(rw(true, 1, 11, 1, kData + 0x1000), 5);
    q.ring();
    r.sim.complete_held(SimNvme::Order::Reversed);
    r.nmi();
    const auto done = q.reap();
    ASSERT_EQ(done.size(), 2u);
    EXPECT_EQ(done[0].cid, 5);
    EXPECT_EQ(done[1].cid, 5);
    EXPECT_EQ(r.media(1, 10, 512), r.cipher(a, 512, 10));
    EXPECT_EQ(r.media(1, 11, 512), r.cipher(b, 512, 11));
}

TEST_F(NvmeQueueHostile, EntryChangedAfterTheDoorbellIsNotExecuted) {
    RawQueue q(r, 2, kRawBase, 16, 16);
    r.sim.hold_io = true;
    const auto a = pattern(512, 3);
    r.put(kData, a);
    const auto before = r.media(1, 20, 512);
    q.put(rw(true, 1, 10, 1, kData));
    q.ring();
    // The guest rewrites its entry (LBA and PRP) once the doorbell is rung.
    q.at(0)->cdw10 = 20;
    q.at(0)->prp1 = EngineRig::kHvBase;
    r.sim.complete_held();
    r.nmi();
    ASSERT_EQ(q.reap().size(), 1u);
    EXPECT_EQ(r.media(1, 10, 512), r.cipher(a, 512, 10));
    EXPECT_EQ(r.media(1, 20, 512), before);
    EXPECT_TRUE(r.device_only_touched_shadows());
}

TEST_F(NvmeQueueHostile, RefusedOpcodesAndFields) {
    RawQueue q(r, 2, kRawBase, 16, 16);
    const uint16_t invalid_opcode = status_of(sct::kGeneric, sc::kInvalidOpcode);
    const uint16_t invalid_field = status_of(sct::kGeneric, sc::kInvalidField);
    for (uint8_t op : {nvm::kWriteZeroes, nvm::kDatasetManagement, nvm::kVerify, nvm::kCopy, nvm::kCompare,
                       nvm::kWriteUncorrectable, nvm::kReservationRegister, uint8_t{0x80}, uint8_t{0xff}}) {
        SubmissionEntry e = rw(true, 1, 0, 1, kData);
        e.cdw0 = op;
        EXPECT_EQ(q.one(e), invalid_opcode) << int(op);
    }
    SubmissionEntry sgl = rw(false, 1, 0, 1, kData);
    sgl.cdw0 |= 1u << cdw0::kPsdtShift;
    EXPECT_EQ(q.one(sgl), invalid_field);
    SubmissionEntry fused = rw(true, 1, 0, 1, kData);
    fused.cdw0 |= 1u << cdw0::kFuseShift;
    EXPECT_EQ(q.one(fused), invalid_field);
    EXPECT_EQ(q.one(rw(true, 3, 0, 1, kData)), status_of(sct::kGeneric, sc::kInvalidNamespaceOrFormat));
    EXPECT_EQ(q.one(rw(true, 0, 0, 1, kData)), status_of(sct::kGeneric, sc::kInvalidNamespaceOrFormat));
    EXPECT_TRUE(r.sim.opcodes_io.empty());

    // Admin: firmware, format, doorbell buffers, namespace management, sanitize, HMB.
    for (uint8_t op : {admin::kFirmwareImageDownload, admin::kFirmwareCommit, admin::kFormatNvm,
                       admin::kDoorbellBufferConfig, admin::kNamespaceManagement, admin::kNamespaceAttachment,
                       admin::kSanitize, admin::kSecuritySend, admin::kVirtualizationManagement, uint8_t{0xc1}}) {
        SubmissionEntry e{};
        e.cdw0 = op;
        e.prp1 = kData;
        e.cdw10 = 1023;
        EXPECT_EQ(r.drv->admin(e).status & kMaskDnr, invalid_opcode) << int(op);
    }
    SubmissionEntry hmb{};
    hmb.cdw0 = admin::kSetFeatures;
    hmb.cdw10 = feature::kHostMemoryBuffer;
    hmb.cdw11 = 1;
    EXPECT_EQ(r.drv->admin(hmb).status & kMaskDnr, invalid_field);
    EXPECT_EQ(r.sim.firmware_downloads, 0u);
    EXPECT_EQ(r.sim.formats, 0u);
    for (uint8_t op : r.sim.opcodes_admin)
        EXPECT_TRUE(op == admin::kIdentify || op == admin::kSetFeatures || op == admin::kCreateIoCq ||
                    op == admin::kCreateIoSq)
            << int(op);
    EXPECT_GT(r.engine->stats().refused, 20u);
    EXPECT_TRUE(r.device_only_touched_shadows());
}

TEST_F(NvmeQueueHostile, RandomEntriesNeverReachAnythingButShadows) {
    RawQueue q(r, 2, kRawBase, 32, 32);
    std::mt19937_64 rng(11);
    for (unsigned round = 0; round < 400; ++round) {
        SubmissionEntry e;
        uint8_t* p = reinterpret_cast<uint8_t*>(&e);
        for (size_t i = 0; i < sizeof e; ++i) p[i] = static_cast<uint8_t>(rng());
        if (round % 2) e.cdw0 = (e.cdw0 & ~0xffu) | (rng() % 3); // mostly Read/Write/Flush
        if (round % 3 == 0) e.nsid = 1 + rng() % 2;
        if (round % 4 == 0) e.cdw12 &= 0x3f;
        if (round % 5 == 0) e.prp1 = kData + (rng() % 64) * 0x1000;
        if (round % 7 == 0) e.prp2 = EngineRig::kHvBase + (rng() % 16) * 0x1000;
        q.put(e);
        if (round % 4 == 3) q.ring();
        q.reap();
    }
    q.ring();
    q.reap();
    EXPECT_TRUE(r.device_only_touched_shadows());
    EXPECT_GT(r.engine->stats().refused, 100u);
}

TEST(NvmeQueueBackPressure, PoolExhaustionWaitsThenCompletes) {
    EngineRig r; // the pool is just the engine's reservation (~4 MiB)
    ASSERT_TRUE(r.bring_up(2, 32));
    r.sim.hold_io = true;
    std::vector<std::vector<uint8_t>> plains;
    for (uint32_t i = 0; i < 8; ++i) {
        plains.push_back(pattern(1 << 20, 40 + i));
        r.put(EngineRig::kBuf + uint64_t{i} * (1 << 20), plains.back());
        r.drv->rw(1 + i % 2, true, 1, uint64_t{i} * 2048, 2048, EngineRig::kBuf + uint64_t{i} * (1 << 20), true);
    }
    r.drv->ring(1);
    r.drv->ring(2);
    EXPECT_GT(r.engine->waiting(), 0u);
    EXPECT_GT(r.engine->stats().waits, 0u);
    EXPECT_LT(r.sim.held(), 8u);
    unsigned done = 0;
    for (unsigned round = 0; round < 20 && done < 8; ++round) {
        r.sim.complete_held();
        r.nmi();
        done += static_cast<unsigned>(r.drv->interrupt(1).size() + r.drv->interrupt(2).size());
    }
    EXPECT_EQ(done, 8u);
    for (uint32_t i = 0; i < 8; ++i)
        EXPECT_EQ(r.media(1, uint64_t{i} * 2048, 1 << 20), r.cipher(plains[i], 512, uint64_t{i} * 2048)) << i;
    EXPECT_EQ(r.engine->waiting(), 0u);
    EXPECT_EQ(r.pool.free_chunks(), r.pool.total_chunks());
}

TEST(NvmeQueueBackPressure, FullGuestCqHoldsCompletions) {
    EngineRig r;
    ASSERT_TRUE(r.bring_up(1, 16));
    RawQueue q(r, 2, kRawBase, 32, 4); // room for 3 entries
    SubmissionEntry f{};
    f.cdw0 = nvm::kFlush;
    f.nsid = 1;
    for (unsigned i = 0; i < 12; ++i) q.put(f);
    q.ring();
    std::vector<uint16_t> cids;
    for (unsigned round = 0; round < 10; ++round) {
        const auto got = q.reap();
        EXPECT_LE(got.size(), 3u);
        for (auto& c : got) {
            EXPECT_EQ(c.status, 0);
            cids.push_back(c.cid);
        }
    }
    std::sort(cids.begin(), cids.end());
    ASSERT_EQ(cids.size(), 12u);
    for (uint16_t i = 0; i < 12; ++i) EXPECT_EQ(cids[i], i);
}

TEST(NvmeQueueBackPressure, AllSlotsBusyStopsConsumingUntilOneFrees) {
    EngineRig r;
    ASSERT_TRUE(r.bring_up(1, 16));
    RawQueue q(r, 2, kRawBase, 4, 16); // 3 slots
    r.sim.hold_io = true;
    SubmissionEntry f{};
    f.cdw0 = nvm::kFlush;
    f.nsid = 1;
    for (unsigned i = 0; i < 3; ++i) q.put(f);
    q.ring();
    EXPECT_EQ(r.sim.held(), 3u);
    // The guest (hostile: it has seen no SQ head move) writes three more.
    for (unsigned i = 0; i < 3; ++i) q.put(f);
    q.ring();
    EXPECT_EQ(r.sim.held(), 3u); // not consumed: every slot is busy
    r.sim.complete_held();
    r.nmi();
    EXPECT_EQ(r.sim.held(), 3u); // the second three, once the first were posted
    auto got = q.reap();
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0].cid, 0);
    r.sim.complete_held();
    r.nmi();
    got = q.reap();
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[2].cid, 5);
    EXPECT_EQ(got[2].sq_head, 2); // six consumed from a queue of four
}

TEST(NvmeQueueReset, ResetMidCommandPostsNothingAndLeaksNoPlaintext) {
    EngineRig r;
    ASSERT_TRUE(r.bring_up(2, 32));
    r.sim.hold_io = true;
    const auto plain = pattern(64 << 10, 77);
    r.put(EngineRig::kBuf, plain);
    const uint64_t rbuf = EngineRig::kBuf + (4 << 20);
    std::memset(r.ram(rbuf), 0xee, 64 << 10);
    r.drv->rw(1, true, 1, 0, 128, EngineRig::kBuf);
    r.drv->rw(2, false, 2, 0, 16, rbuf);
    EXPECT_EQ(r.sim.held(), 2u);
    const uint8_t* cq1 = r.ram(r.drv->cq_base(1));
    const uint8_t* cq2 = r.ram(r.drv->cq_base(2));
    // The guest resets the controller (Linux's reset path: disable, enable).
    ASSERT_TRUE(r.drv->enable());
    r.nmi();
    EXPECT_EQ(r.sim.held(), 0u);
    EXPECT_EQ(cq1[15] & 1, 0); // no CQE was posted to the old queues
    EXPECT_EQ(cq2[15] & 1, 0);
    EXPECT_EQ(r.get(rbuf, 64 << 10), std::vector<uint8_t>(64 << 10, 0xee));
    const auto m = r.media(1, 0, 64 << 10);
    EXPECT_NE(m, plain);
    EXPECT_EQ(r.pool.free_chunks(), r.pool.total_chunks());
    EXPECT_EQ(r.engine->stats().dropped_in_flight, 2u);
    EXPECT_EQ(r.engine->stats().resets, 1u);
    // And it works again.
    ASSERT_TRUE(r.drv->identify());
    ASSERT_TRUE(r.drv->create_io_queues(2, 32));
    r.sim.hold_io = false;
    r.drv->rw(1, true, 1, 0, 128, EngineRig::kBuf);
    ASSERT_EQ(r.drv->interrupt(1).size(), 1u);
    EXPECT_EQ(r.media(1, 0, 64 << 10), r.cipher(plain, 512, 0));
}

TEST(NvmeQueueReset, DeletionMidCommandAbortsWithSqDeletion) {
    EngineRig r;
    ASSERT_TRUE(r.bring_up(2, 32));
    r.sim.hold_io = true;
    const uint64_t rbuf = EngineRig::kBuf;
    std::memset(r.ram(rbuf), 0xee, 4 * 4096);
    for (uint32_t i = 0; i < 4; ++i) r.drv->rw(1, false, 1, i * 8, 8, rbuf + i * 4096, true);
    r.drv->ring(1);
    EXPECT_EQ(r.sim.held(), 4u);
    SubmissionEntry e{};
    e.cdw0 = admin::kDeleteIoSq;
    e.cdw10 = 1;
    EXPECT_EQ(r.drv->admin(e).status, 0);
    const auto done = r.drv->interrupt(1);
    ASSERT_EQ(done.size(), 4u);
    for (auto& d : done) EXPECT_EQ(d.status & kMaskDnr, status_of(sct::kGeneric, sc::kAbortedSqDeletion));
    EXPECT_EQ(r.get(rbuf, 4 * 4096), std::vector<uint8_t>(4 * 4096, 0xee));
    EXPECT_EQ(r.pool.free_chunks(), r.pool.total_chunks());
    // The CQ cannot go while an SQ uses it; after its SQ it can.
    e.cdw0 = admin::kDeleteIoCq;
    e.cdw10 = 2;
    EXPECT_EQ(r.drv->admin(e).status & kMaskDnr,
              status_of(sct::kCommandSpecific, sc_specific::kInvalidQueueDeletion));
    e.cdw10 = 1;
    EXPECT_EQ(r.drv->admin(e).status, 0);
    EXPECT_EQ(r.engine->stats().queues_deleted, 2u);
    // Stale completions of the deleted SQ (held in the simulator) are never delivered.
    r.sim.complete_held();
    EXPECT_FALSE(r.nmi());
}

TEST(NvmeQueueAbort, UnknownCidIsNotAbortedKnownCidIsTranslated) {
    EngineRig r;
    ASSERT_TRUE(r.bring_up(1, 16));
    r.sim.hold_io = true;
    const uint16_t cid = r.drv->rw(1, false, 1, 0, 1, EngineRig::kBuf);
    SubmissionEntry e{};
    e.cdw0 = admin::kAbort;
    e.cdw10 = 1u | uint32_t{static_cast<uint16_t>(cid + 7)} << 16;
    const NvmeDone unknown = r.drv->admin(e);
    EXPECT_EQ(unknown.status, 0);
    EXPECT_EQ(unknown.dw0 & 1, 1u); // not aborted
    const size_t aborts = std::count(r.sim.opcodes_admin.begin(), r.sim.opcodes_admin.end(), admin::kAbort);
    EXPECT_EQ(aborts, 0u);
    e.cdw10 = 1u | uint32_t{cid} << 16;
    r.drv->admin(e);
    EXPECT_EQ(std::count(r.sim.opcodes_admin.begin(), r.sim.opcodes_admin.end(), admin::kAbort), 1);
    r.sim.complete_held();
    r.nmi();
    EXPECT_EQ(r.drv->interrupt(1).size(), 1u);
}


TEST(NvmeQueueAbort, WaitingCommandIsAbortedByTheEngine) {
    EngineRig r;
    ASSERT_TRUE(r.bring_up(1, 32));
    r.sim.hold_io = true;
    for (uint32_t i = 0; i < 8; ++i)
        r.drv->rw(1, true, 1, uint64_t{i} * 2048, 2048, EngineRig::kBuf + uint64_t{i} * (1 << 20), true);
    r.drv->ring(1);
    ASSERT_GT(r.engine->waiting(), 0u);
    const size_t held = r.sim.held();
    SubmissionEntry e{};
    e.cdw0 = admin::kAbort;
    e.cdw10 = 1u | 7u << 16; // the last one: waiting for shadow space
    const NvmeDone d = r.drv->admin(e);
    EXPECT_EQ(d.status, 0);
    EXPECT_EQ(d.dw0 & 1, 0u); // aborted
    auto done = r.drv->interrupt(1);
    ASSERT_EQ(done.size(), 1u);
    EXPECT_EQ(done[0].cid, 7);
    EXPECT_EQ(done[0].status & kMaskDnr, status_of(sct::kGeneric, sc::kAbortRequested));
    unsigned rest = 0;
    for (unsigned round = 0; round < 20 && rest < 7; ++round) {
        r.sim.complete_held();
        r.nmi();
        rest += static_cast<unsigned>(r.drv->interrupt(1).size());
    }
    EXPECT_EQ(rest, 7u);
    EXPECT_GE(held, 1u);
    EXPECT_EQ(r.pool.free_chunks(), r.pool.total_chunks());
}

} // namespace
} // namespace svtest
