// The NVMe queue engine between Linux's driver (linux_nvme_model) and the
// simulated controller (sim_nvme): admin bring-up through the shadow admin
// queue, the Identify filter, per-CPU I/O queues, Read/Write equal to OpenSSL
// aes-xts-plain64 (512- and 4096-byte sectors, tweak = LBA), PRP lists,
// reordered completions, queue wrap-around, Flush, and that the controller
// only ever touched hypervisor (shadow) memory.
#include <gtest/gtest.h>

#include <algorithm>

#include "nvme/nvme_queue_rig.hpp"

namespace svtest {
namespace {
using namespace sv::nvme;

TEST(NvmeQueueEngine, SizesAreBounded) {
    const EngineLimits d{};
    EXPECT_GT(QueueEngine::heap_bytes(d), uint64_t{65} * 1024 * (64 + 16));
    EXPECT_LT(QueueEngine::heap_bytes(d), uint64_t{32} << 20);
    EXPECT_GE(QueueEngine::pool_bytes(d), d.max_transfer);
}

TEST(NvmeQueueEngine, AdminBringUpThroughShadows) {
    EngineRig r;
    ASSERT_TRUE(r.drv->enable());
    ASSERT_TRUE(r.drv->identify());
    // MQES is what the shadows hold.
    EXPECT_EQ(r.drv->cap & 0xffff, 255u);
    // The controller's admin queue is the shadow, not the guest's.
    EXPECT_GT(r.sim.count(SimNvmeAccess::What::SqEntry), 0u);
    EXPECT_TRUE(r.device_only_touched_shadows());
    EXPECT_EQ(r.drv->lba_bytes, (std::vector<uint32_t>{512, 4096}));
    EXPECT_EQ(r.drv->ns_blocks, (std::vector<uint32_t>{16384, 4096}));
    EXPECT_EQ(r.drv->mdts_bytes, 2u << 20); // the pool's 2 MiB: MDTS 9
    EXPECT_GT(r.engine->stats().admin_commands, 0u);
    EXPECT_FALSE(r.port.interrupts.empty());
    EXPECT_EQ(r.port.interrupts[0], (std::pair<uint16_t, uint16_t>{0, 0}));
}

TEST(NvmeQueueEngine, IdentifyControllerIsFiltered) {
    EngineRig r;
    r.sim.sgls = 1;
    ASSERT_TRUE(r.drv->enable());
    ASSERT_TRUE(r.drv->identify());
    SubmissionEntry e{};
    e.cdw0 = admin::kIdentify;
    e.cdw10 = identify::kCnsController;
    ASSERT_EQ(r.drv->admin(e, r.drv->id_buf()).status, 0);
    const uint8_t* id = r.ram(r.drv->id_buf());
    uint16_t oacs_v, oncs_v;
    uint32_t sgls_v;
    std::memcpy(&oacs_v, id + id_ctrl::kOacs, 2);
    std::memcpy(&oncs_v, id + id_ctrl::kOncs, 2);
    std::memcpy(&sgls_v, id + id_ctrl::kSgls, 4);
    EXPECT_EQ(oacs_v & (oacs::kDoorbellBuffer | oacs::kFirmware | oacs::kFormatNvm), 0);
    EXPECT_EQ(oncs_v, oncs::kTimestamp); // DSM, Write Zeroes, Verify, Copy hidden
    EXPECT_EQ(sgls_v, 0u);
    EXPECT_EQ(id[id_ctrl::kFrmw], 0x03);
    EXPECT_EQ(id[id_ctrl::kMdts], 9);
    // Identify Namespace: only the current format.
    e.nsid = 2;
    e.cdw10 = identify::kCnsNamespace;
    ASSERT_EQ(r.drv->admin(e, r.drv->id_buf()).status, 0);
    EXPECT_EQ(id[id_ns::kNlbaf], 0);
    EXPECT_EQ(id[id_ns::kFlbas] & id_ns::kFlbasIndexMask, 0);
    uint32_t lbaf0, lbaf1;
    std::memcpy(&lbaf0, id + id_ns::lbaf_offset(0), 4);
    std::memcpy(&lbaf1, id + id_ns::lbaf_offset(1), 4);
    EXPECT_EQ(id_ns::lbaf_lbads(lbaf0), 12);
    EXPECT_EQ(lbaf1, 0u);
}

TEST(NvmeQueueEngine, MdtsIsTheSmallerOfPoolAndController) {
    EngineRigOptions o;
    o.sim_mdts = 7; // 512 KiB
    EngineRig r(o);
    ASSERT_TRUE(r.drv->enable());
    ASSERT_TRUE(r.drv->identify());
    EXPECT_EQ(r.drv->mdts_bytes, 512u << 10);
    EXPECT_EQ(r.engine->transfer().bytes, 512u << 10);
}

TEST(NvmeQueueEngine, NumberOfQueuesIsClamped) {
    EngineRig r;
    ASSERT_TRUE(r.drv->enable());
    ASSERT_TRUE(r.drv->identify());
    ASSERT_TRUE(r.drv->create_io_queues(12, 32)); // asks 12, the engine serves 8
    EXPECT_EQ(r.drv->queues(), 8u);
    EXPECT_EQ(r.engine->stats().queues_created, 16u);
    uint16_t vectors[32];
    EXPECT_EQ(r.engine->vectors_in_use(vectors, 32), 9u); // admin 0 + 1..8
}

void write_read(EngineRig& r, uint32_t nsid, uint64_t lba, uint32_t blocks, uint16_t wq, uint16_t rq,
                uint64_t buf_offset = 0) {
    const uint32_t lbs = r.drv->lba_bytes[nsid - 1];
    const auto plain = pattern(uint64_t{blocks} * lbs, static_cast<uint32_t>(lba + nsid));
    const uint64_t wbuf = EngineRig::kBuf + buf_offset, rbuf = EngineRig::kBuf + (8 << 20) + buf_offset;
    r.put(wbuf, plain);
    const uint16_t cid = r.drv->rw(wq, true, nsid, lba, blocks, wbuf);
    auto done = r.drv->interrupt(wq);
    ASSERT_EQ(done.size(), 1u);
    EXPECT_EQ(done[0].cid, cid);
    EXPECT_EQ(done[0].status, 0);
    EXPECT_EQ(r.media(nsid, lba, plain.size()), r.cipher(plain, lbs, lba)) << "nsid " << nsid << " lba " << lba;
    std::memset(r.ram(rbuf), 0xee, plain.size());
    r.drv->rw(rq, false, nsid, lba, blocks, rbuf);
    done = r.drv->interrupt(rq);
    ASSERT_EQ(done.size(), 1u);
    EXPECT_EQ(done[0].status, 0);
    EXPECT_EQ(r.get(rbuf, plain.size()), plain);
}

TEST(NvmeQueueEngine, ReadWriteEqualOpenSsl512) {
    EngineRig r;
    ASSERT_TRUE(r.bring_up());
    write_read(r, 1, 0, 1, 1, 2);
    write_read(r, 1, 77, 8, 2, 3);
    write_read(r, 1, 1000, 24, 3, 4, 0x200); // PRP1 with an offset: a list
    EXPECT_TRUE(r.device_only_touched_shadows());
    EXPECT_GT(r.engine->stats().bytes_encrypted, 0u);
    EXPECT_EQ(r.engine->stats().bytes_encrypted, r.engine->stats().bytes_decrypted);
    EXPECT_EQ(r.pool.free_chunks(), r.pool.total_chunks());
}

TEST(NvmeQueueEngine, ReadWriteEqualOpenSsl4096IvLargeSectors) {
    EngineRig r;
    ASSERT_TRUE(r.bring_up());
    write_read(r, 2, 0, 1, 1, 1);
    write_read(r, 2, 4000, 2, 2, 3);
    write_read(r, 2, 123, 33, 4, 1);
    EXPECT_TRUE(r.device_only_touched_shadows());
}

TEST(NvmeQueueEngine, LargestTransferOverAPrpList) {
    EngineRig r;
    ASSERT_TRUE(r.bring_up());
    write_read(r, 1, 4096, 4096, 1, 2);      // 2 MiB: PRP1 + a full list page
    write_read(r, 2, 100, 512, 3, 4, 0x800); // 2 MiB, 4Kn, offset PRP1
    EXPECT_TRUE(r.device_only_touched_shadows());
    EXPECT_GT(r.sim.count(SimNvmeAccess::What::PrpList), 0u);
}

TEST(NvmeQueueEngine, ChainedPrpListsBothSides) {
    EngineRigOptions o;
    o.limits.max_transfer = 8 << 20;
    EngineRig r(o);
    ASSERT_TRUE(r.bring_up(2, 32));
    // 6 MiB: the guest chains two list pages, the shadow list chains too.
    write_read(r, 1, 0, 12288, 1, 2);
    EXPECT_TRUE(r.device_only_touched_shadows());
}

TEST(NvmeQueueEngine, FlushPasses) {
    EngineRig r;
    ASSERT_TRUE(r.bring_up());
    const uint16_t cid = r.drv->flush(1, 1);
    const auto done = r.drv->interrupt(1);
    ASSERT_EQ(done.size(), 1u);
    EXPECT_EQ(done[0].cid, cid);
    EXPECT_EQ(done[0].status, 0);
    EXPECT_EQ(r.sim.opcodes_io.back(), nvm::kFlush);
}

TEST(NvmeQueueEngine, ReorderedCompletionsBatchedDoorbell) {
    EngineRig r;
    ASSERT_TRUE(r.bring_up(2, 64));
    r.sim.hold_io = true;
    std::vector<std::vector<uint8_t>> plains;
    for (uint32_t i = 0; i < 32; ++i) {
        plains.push_back(pattern(8 * 512, i));
        r.put(EngineRig::kBuf + i * 0x10000, plains.back());
        r.drv->rw(1, true, 1, i * 8, 8, EngineRig::kBuf + i * 0x10000, true);
    }
    const uint64_t rings = r.port.sq_rings;
    r.drv->ring(1);
    EXPECT_EQ(r.port.sq_rings, rings + 1); // one real doorbell per guest doorbell
    EXPECT_EQ(r.sim.held(), 32u);
    EXPECT_TRUE(r.drv->interrupt(1).empty());
    r.sim.complete_held(SimNvme::Order::Random, 3);
    const size_t before = r.port.interrupts.size();
    EXPECT_TRUE(r.nmi());
    EXPECT_EQ(r.port.interrupts.size(), before + 1); // one interrupt for the batch
    auto done = r.drv->interrupt(1);
    ASSERT_EQ(done.size(), 32u);
    std::vector<uint16_t> cids;
    for (auto& d : done) {
        EXPECT_EQ(d.status, 0);
        cids.push_back(d.cid);
    }
    std::sort(cids.begin(), cids.end());
    for (uint16_t i = 0; i < 32; ++i) EXPECT_EQ(cids[i], i);
    for (uint32_t i = 0; i < 32; ++i) EXPECT_EQ(r.media(1, i * 8, 4096), r.cipher(plains[i], 512, i * 8));
    // Reads, reordered too.
    for (uint32_t i = 0; i < 32; ++i) r.drv->rw(1, false, 1, i * 8, 8, EngineRig::kBuf + (8 << 20) + i * 0x10000, true);
    r.drv->ring(1);
    r.sim.complete_held(SimNvme::Order::Reversed);
    r.nmi();
    ASSERT_EQ(r.drv->interrupt(1).size(), 32u);
    for (uint32_t i = 0; i < 32; ++i) EXPECT_EQ(r.get(EngineRig::kBuf + (8 << 20) + i * 0x10000, 4096), plains[i]);
}

TEST(NvmeQueueEngine, QueueWrapAround) {
    EngineRig r;
    ASSERT_TRUE(r.bring_up(1, 4));
    for (uint32_t i = 0; i < 41; ++i) write_read(r, 1, i, 1 + i % 3, 1, 1);
    EXPECT_EQ(r.pool.free_chunks(), r.pool.total_chunks());
}

TEST(NvmeQueueEngine, PolledQueueCompletesWithoutInterrupt) {
    EngineRig r;
    ASSERT_TRUE(r.bring_up(2, 16, 1)); // queue 2 polled
    const size_t before = r.port.interrupts.size();
    write_read(r, 1, 5, 2, 2, 2);
    for (size_t i = before; i < r.port.interrupts.size(); ++i) EXPECT_NE(r.port.interrupts[i].first, 2);
    // The shadow CQ still interrupts (the device's NMI finds the entries).
    EXPECT_FALSE(r.sim.signalled.empty());
}

TEST(NvmeQueueEngine, WithoutKeyDataIsCopied) {
    EngineRigOptions o;
    o.keyed = false;
    EngineRig r(o);
    ASSERT_TRUE(r.bring_up(1, 8));
    const auto plain = pattern(4096, 9);
    r.put(EngineRig::kBuf, plain);
    r.drv->rw(1, true, 1, 8, 8, EngineRig::kBuf);
    ASSERT_EQ(r.drv->interrupt(1).size(), 1u);
    EXPECT_EQ(r.media(1, 8, 4096), plain);
    EXPECT_EQ(r.engine->stats().bytes_encrypted, 0u);
}


TEST(NvmeQueueEngineScale, DefaultLimitsManyQueuesEveryEntryInFlight) {
    EngineRigOptions o;
    o.limits = EngineLimits{}; // 64 pairs of up to 1024 entries
    o.sim_pairs = 64;
    o.sim_vectors = 65;
    EngineRig r(o);
    ASSERT_TRUE(r.bring_up(32, 1024)); // one pair per CPU of a 32-CPU guest
    EXPECT_EQ(r.drv->queues(), 32u);
    EXPECT_EQ(r.drv->cap & 0xffff, 1023u);
    // A 4 KiB write and read on every queue.
    for (uint16_t q = 1; q <= 32; ++q) write_read(r, 2, q, 1, q, static_cast<uint16_t>(33 - q));
    // Every entry of one queue in flight at once (1023 = depth - 1).
    r.sim.hold_io = true;
    for (unsigned i = 0; i < 1023; ++i) r.drv->flush(7, 1);
    EXPECT_EQ(r.sim.held(), 1023u);
    r.sim.complete_held(SimNvme::Order::Random, 5);
    r.nmi();
    EXPECT_EQ(r.drv->interrupt(7).size(), 1023u);
    EXPECT_TRUE(r.device_only_touched_shadows());
}

} // namespace
} // namespace svtest
