// Linux nvme driver model (see linux_nvme_model.hpp). Sequences as in
// drivers/nvme/host/pci.c (6.1): nvme_pci_enable (CSTS probe, CAP by
// lo_hi_readq, CMBSZ), nvme_pci_configure_admin_queue (nvme_disable_ctrl,
// AQA, ASQ/ACQ by lo_hi_writeq, nvme_enable_ctrl: CC written with the
// settings, then with EN, CSTS polled), nvme_setup_prps, nvme_write_sq_db
// and nvme_poll_cq + nvme_ring_cq_doorbell.
#include "nvme/linux_nvme_model.hpp"

#include <cstring>

#include "devices/storage/nvme/nvme_registers.hpp"

namespace svtest {
using namespace sv::nvme;

namespace {
constexpr unsigned kPollLimit = 1000;
constexpr uint64_t kSqOffset = 0, kCqOffset = 0x10000, kListOffset = 0x20000;
constexpr uint32_t kListPages = (LinuxNvme::kQueueArea - kListOffset) / 4096;
} // namespace

LinuxNvme::LinuxNvme(sv::MmioRegisters& regs, SimPhysMemory& mem, uint64_t base)
    : regs_(regs), mem_(mem), base_(base), q_(1) {}

uint32_t LinuxNvme::rd(uint32_t off) {
    ++reads;
    return regs_.read32(off);
}

void LinuxNvme::wr(uint32_t off, uint32_t v) {
    ++writes;
    if (off >= reg::kDoorbellBase) ++doorbell_writes;
    regs_.write32(off, v);
}

bool LinuxNvme::wait_csts(uint32_t mask, uint32_t value) {
    for (unsigned n = 0; n < kPollLimit; ++n) {
        const uint32_t s = rd(reg::kCsts);
        if (s == 0xffffffff || (s & csts::kCfs)) return false;
        if ((s & mask) == value) return true;
    }
    return false;
}

uint64_t LinuxNvme::sq_base(uint16_t qid) const { return qid == 0 ? base_ : base_ + qid * kQueueArea + kSqOffset; }
uint64_t LinuxNvme::cq_base(uint16_t qid) const {
    return qid == 0 ? base_ + 0x1000 : base_ + qid * kQueueArea + kCqOffset;
}

bool LinuxNvme::enable(uint32_t admin_depth) {
    if (rd(reg::kCsts) == 0xffffffff) return false;
    cap = rd(reg::kCap) | uint64_t{rd(reg::kCap + 4)} << 32; // lo_hi_readq
    stride = cap::doorbell_stride(cap);
    (void)rd(reg::kCmbsz); // nvme_map_cmb: no CMB when 0
    // nvme_disable_ctrl: EN and SHN cleared, wait for RDY to drop.
    wr(reg::kCc, 0);
    if (!wait_csts(csts::kRdy, 0)) return false;
    q_.assign(1, Queue{});
    q_[0].depth = admin_depth;
    std::memset(mem_.ram(sq_base(0)), 0, admin_depth * kSqeBytes);
    std::memset(mem_.ram(cq_base(0)), 0, admin_depth * kCqeBytes);
    wr(reg::kAqa, (admin_depth - 1) << aqa::kAcqsShift | (admin_depth - 1));
    wr(reg::kAsq, static_cast<uint32_t>(sq_base(0)));
    wr(reg::kAsq + 4, static_cast<uint32_t>(sq_base(0) >> 32));
    wr(reg::kAcq, static_cast<uint32_t>(cq_base(0)));
    wr(reg::kAcq + 4, static_cast<uint32_t>(cq_base(0) >> 32));
    // nvme_enable_ctrl: settings first, then EN (CSS NVM, MPS 4 KiB, RR, 64/16-byte entries).
    const uint32_t config = kSqeBytesLog2 << cc::kIosqesShift | kCqeBytesLog2 << cc::kIocqesShift;
    wr(reg::kCc, config);
    wr(reg::kCc, config | cc::kEn);
    if (!wait_csts(csts::kRdy, csts::kRdy)) return false;
    (void)rd(reg::kVs); // nvme_init_ctrl_finish
    page_bytes = 4096;
    return true;
}

bool LinuxNvme::shutdown() {
    wr(reg::kCc, (rd(reg::kCc) & ~cc::kShnMask) | cc::kShnNormal);
    return wait_csts(csts::kShstMask, csts::kShstComplete);
}

uint16_t LinuxNvme::submit(uint16_t qid, SubmissionEntry e, bool defer) {
    Queue& q = q_[qid];
    const uint16_t cid = q.next_cid;
    q.next_cid = static_cast<uint16_t>((q.next_cid + 1) % q.depth); // blk-mq tags: 0..depth-1
    e.cdw0 = (e.cdw0 & 0xffff) | uint32_t{cid} << cdw0::kCidShift;
    std::memcpy(mem_.ram(sq_base(qid) + uint64_t{q.sq_tail} * kSqeBytes), &e, sizeof e); // nvme_sq_copy_cmd
    if (++q.sq_tail == q.depth) q.sq_tail = 0;
    if (!defer) ring(qid);
    return cid;
}

void LinuxNvme::ring(uint16_t qid) { wr(sq_tail_doorbell(qid, stride), q_[qid].sq_tail); }

std::vector<NvmeDone> LinuxNvme::interrupt(uint16_t qid) {
    std::vector<NvmeDone> out;
    Queue& q = q_[qid];
    for (;;) {
        CompletionEntry c;
        std::memcpy(&c, mem_.ram(cq_base(qid) + uint64_t{q.cq_head} * kCqeBytes), sizeof c);
        if (((c.status & status::kPhase) != 0) != q.phase) break; // nvme_cqe_pending
        out.push_back({qid, c.cid, static_cast<uint16_t>(c.status & ~status::kPhase), c.dw0});
        if (++q.cq_head == q.depth) {
            q.cq_head = 0;
            q.phase = !q.phase;
        }
    }
    if (!out.empty()) wr(cq_head_doorbell(qid, stride), q.cq_head); // nvme_ring_cq_doorbell
    return out;
}

NvmeDone LinuxNvme::admin(SubmissionEntry e, uint64_t data) {
    if (data) e.prp1 = data;
    const uint16_t cid = submit(0, e);
    for (unsigned n = 0; n < kPollLimit; ++n) {
        for (const NvmeDone& d : interrupt(0))
            if (d.cid == cid) return d;
    }
    return {0, cid, 0xffff, 0};
}

bool LinuxNvme::identify() {
    SubmissionEntry e{};
    e.cdw0 = admin::kIdentify;
    e.cdw10 = identify::kCnsController;
    if (admin(e, id_buf()).status) return false;
    const uint8_t* id = mem_.ram(id_buf());
    const uint8_t mdts = id[id_ctrl::kMdts];
    mdts_bytes = mdts ? cap::min_page_bytes(cap) << mdts : 0;
    uint32_t nn;
    std::memcpy(&nn, id + id_ctrl::kNn, 4);
    lba_bytes.clear();
    ns_blocks.clear();
    for (uint32_t ns = 1; ns <= nn; ++ns) {
        e = SubmissionEntry{};
        e.cdw0 = admin::kIdentify;
        e.nsid = ns;
        e.cdw10 = identify::kCnsNamespace;
        if (admin(e, id_buf()).status) return false;
        const uint8_t fmt = id[id_ns::kFlbas] & id_ns::kFlbasIndexMask;
        uint32_t lbaf;
        std::memcpy(&lbaf, id + id_ns::lbaf_offset(fmt), 4);
        uint64_t nsze;
        std::memcpy(&nsze, id + id_ns::kNsze, 8);
        lba_bytes.push_back(1u << id_ns::lbaf_lbads(lbaf));
        ns_blocks.push_back(static_cast<uint32_t>(nsze));
    }
    return true;
}

bool LinuxNvme::create_io_queues(unsigned n, uint32_t depth, unsigned polled) {
    SubmissionEntry e{};
    e.cdw0 = admin::kSetFeatures;
    e.cdw10 = feature::kNumberOfQueues;
    e.cdw11 = (n - 1) << 16 | (n - 1);
    const NvmeDone d = admin(e);
    if (d.status) return false;
    const unsigned granted = ((d.dw0 & 0xffff) < (d.dw0 >> 16) ? (d.dw0 & 0xffff) : (d.dw0 >> 16)) + 1;
    if (granted < n) n = granted;
    for (unsigned qid = 1; qid <= n; ++qid) {
        const bool poll = qid > n - polled;
        std::memset(mem_.ram(cq_base(static_cast<uint16_t>(qid))), 0, depth * kCqeBytes);
        e = SubmissionEntry{};
        e.cdw0 = admin::kCreateIoCq;
        e.prp1 = cq_base(static_cast<uint16_t>(qid));
        e.cdw10 = (depth - 1) << queue_cmd::kQsizeShift | qid;
        e.cdw11 = queue_cmd::kPc | (poll ? 0 : queue_cmd::kIen | qid << queue_cmd::kIvShift);
        if (admin(e).status) return false;
        e = SubmissionEntry{};
        e.cdw0 = admin::kCreateIoSq;
        e.prp1 = sq_base(static_cast<uint16_t>(qid));
        e.cdw10 = (depth - 1) << queue_cmd::kQsizeShift | qid;
        e.cdw11 = queue_cmd::kPc | qid << queue_cmd::kCqidShift;
        if (admin(e).status) return false;
        Queue q;
        q.depth = depth;
        q.polled = poll;
        q_.push_back(q);
    }
    queues_ = n;
    return true;
}

bool LinuxNvme::delete_io_queues() {
    for (unsigned qid = queues_; qid >= 1; --qid) {
        SubmissionEntry e{};
        e.cdw0 = admin::kDeleteIoSq;
        e.cdw10 = qid;
        if (admin(e).status) return false;
        e.cdw0 = admin::kDeleteIoCq;
        if (admin(e).status) return false;
    }
    q_.resize(1);
    queues_ = 0;
    return true;
}

uint64_t LinuxNvme::prp_list_page(uint16_t qid) {
    Queue& q = q_[qid];
    const uint64_t at = base_ + qid * kQueueArea + kListOffset + uint64_t{q.lists_used % kListPages} * 4096;
    ++q.lists_used;
    return at;
}

uint16_t LinuxNvme::rw(uint16_t qid, bool write, uint32_t nsid, uint64_t lba, uint32_t blocks, uint64_t buf,
                       bool defer) {
    SubmissionEntry e{};
    e.cdw0 = write ? nvm::kWrite : nvm::kRead;
    e.nsid = nsid;
    e.cdw10 = static_cast<uint32_t>(lba);
    e.cdw11 = static_cast<uint32_t>(lba >> 32);
    e.cdw12 = blocks - 1;
    // nvme_setup_prps over one contiguous buffer.
    const uint64_t page = page_bytes;
    int64_t length = static_cast<int64_t>(uint64_t{blocks} * lba_bytes[nsid - 1]);
    uint64_t addr = buf;
    e.prp1 = addr;
    length -= static_cast<int64_t>(page - (addr & (page - 1)));
    addr = (addr | (page - 1)) + 1;
    if (length > static_cast<int64_t>(page)) {
        uint64_t list = prp_list_page(qid);
        e.prp2 = list;
        uint32_t i = 0;
        for (;;) {
            if (i == page / 8) {
                // A full list page: its last entry moves to a new page and
                // is replaced by the pointer to it.
                const uint64_t next = prp_list_page(qid);
                std::memcpy(mem_.ram(next), mem_.ram(list + 8 * (i - 1)), 8);
                std::memcpy(mem_.ram(list + 8 * (i - 1)), &next, 8);
                list = next;
                i = 1;
            }
            std::memcpy(mem_.ram(list + 8 * i), &addr, 8);
            ++i;
            addr += page;
            length -= static_cast<int64_t>(page);
            if (length <= 0) break;
        }
    } else if (length > 0) {
        e.prp2 = addr;
    }
    return submit(qid, e, defer);
}

uint16_t LinuxNvme::flush(uint16_t qid, uint32_t nsid) {
    SubmissionEntry e{};
    e.cdw0 = nvm::kFlush;
    e.nsid = nsid;
    return submit(qid, e);
}

} // namespace svtest
