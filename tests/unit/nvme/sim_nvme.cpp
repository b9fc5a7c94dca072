// Simulated NVMe 1.4 controller (see sim_nvme.hpp): registers (§3.1),
// initialization and reset (§7.6.1, §7.3.2), queues (§4.1, §4.6 phase tag),
// admin commands (§5), Read/Write/Flush (§6), PRPs (§4.3), MSI-X (PCI 3.0 §6.8.2).
#include "nvme/sim_nvme.hpp"

#include <algorithm>
#include <cstring>
#include <random>

#include "devices/storage/nvme/nvme_registers.hpp"

namespace svtest {
using namespace sv::nvme;

namespace {
constexpr uint16_t ok_status() { return 0; }
constexpr uint16_t generic(uint8_t code, bool dnr = true) { return status::make(sct::kGeneric, code, dnr); }
constexpr uint16_t specific(uint8_t code) { return status::make(sct::kCommandSpecific, code, true); }
} // namespace

SimNvme::SimNvme(SimPhysMemory& mem, unsigned io_queue_pairs, unsigned msix_vectors)
    : mem_(mem), io_pairs_(io_queue_pairs), vectors_(msix_vectors),
      sqs_(io_queue_pairs + 1), cqs_(io_queue_pairs + 1), msix_table_(msix_vectors * msix::kEntryBytes),
      pba_((msix_vectors + 63) / 64) {
    // QEMU 7.2: MQES 7FFh, CQR, TO 0Fh, DSTRD 0, CSS NVM, MPSMIN 0, MPSMAX 4.
    cap = 0x7ff | cap::kCqr | (0x0full << cap::kToShift) | cap::kCssNvm | (4ull << cap::kMpsmaxShift);
    for (unsigned v = 0; v < vectors_; ++v) msix_table_[v * 16 + msix::kEntryControl] = 1; // masked at reset
    reset();
}

void SimNvme::add_namespace(uint64_t blocks, uint32_t lba_bytes) {
    SimNvmeNamespace n;
    n.lba_bytes = lba_bytes;
    n.media.assign(blocks * lba_bytes, 0);
    namespaces_.push_back(std::move(n));
}

void SimNvme::set_msix(bool enable, bool function_mask) {
    msix_enabled_ = enable;
    msix_masked_ = function_mask;
}

void SimNvme::function_reset() {
    ++function_resets;
    reset();
    csts_ = aqa_ = 0;
    asq_ = acq_ = 0;
    msix_enabled_ = msix_masked_ = false;
    std::fill(msix_table_.begin(), msix_table_.end(), uint8_t{0});
    for (unsigned v = 0; v < vectors_; ++v) msix_table_[v * 16 + msix::kEntryControl] = 1;
    std::fill(pba_.begin(), pba_.end(), uint64_t{0});
}

bool SimNvme::intx() const {
    if (msix_enabled_) return false;
    for (size_t q = 0; q < cqs_.size(); ++q) {
        const Cq& c = cqs_[q];
        if (c.valid && c.ien && c.head != c.tail && !(intms_ & (1u << (c.vector & 31)))) return true;
    }
    return false;
}

bool SimNvme::only_touched(const std::vector<std::pair<uint64_t, uint64_t>>& regions) const {
    return std::all_of(accesses.begin(), accesses.end(), [&](const SimNvmeAccess& a) {
        return std::any_of(regions.begin(), regions.end(), [&](auto r) {
            return a.addr >= r.first && a.addr + a.len <= r.first + r.second;
        });
    });
}

uint64_t SimNvme::count(SimNvmeAccess::What w) const {
    return static_cast<uint64_t>(
        std::count_if(accesses.begin(), accesses.end(), [&](auto& a) { return a.what == w; }));
}

void SimNvme::reset() {
    // §7.3.2 controller reset: queues deleted, commands dropped, registers
    // (but AQA/ASQ/ACQ) back to their reset values.
    for (Sq& s : sqs_) s = Sq{};
    for (Cq& c : cqs_) c = Cq{};
    held_.clear();
    cc_ = 0;
    csts_ &= csts::kShstMask; // a completed shutdown stays reported until EN
    intms_ = 0;
}

void SimNvme::enable() {
    if (never_ready) return;
    const uint32_t sqe = aqa::sq_entries(aqa_), cqe = aqa::cq_entries(aqa_);
    // §3.1.8: at least 2 entries; §3.1.9: page aligned; CC.IOSQES/IOCQES checked on I/O queue creation.
    if (sqe < 2 || cqe < 2 || (asq_ & 0xfff) || (acq_ & 0xfff) || (cc_ & cc::kCssMask)) {
        csts_ |= csts::kCfs;
        return;
    }
    sqs_[0] = Sq{true, asq_, sqe, 0, 0, 0};
    cqs_[0] = Cq{};
    cqs_[0].valid = true;
    cqs_[0].base = acq_;
    cqs_[0].entries = cqe;
    cqs_[0].ien = true;
    csts_ = csts::kRdy;
}

uint32_t SimNvme::read32(uint32_t off) {
    if (off & 3) return 0xffffffff;
    if (off >= kMsixTable && off < kMsixTable + msix_table_.size()) {
        uint32_t v;
        std::memcpy(&v, &msix_table_[off - kMsixTable], 4);
        return v;
    }
    if (off >= kMsixPba && off < kMsixPba + pba_.size() * 8) {
        const uint64_t q = pba_[(off - kMsixPba) / 8];
        return static_cast<uint32_t>((off & 4) ? q >> 32 : q);
    }
    switch (off) {
    case reg::kCap: return static_cast<uint32_t>(cap);
    case reg::kCap + 4: return static_cast<uint32_t>(cap >> 32);
    case reg::kVs: return version(1, 4);
    case reg::kIntms:
    case reg::kIntmc: return intms_;
    case reg::kCc: return cc_;
    case reg::kCsts: return csts_;
    case reg::kAqa: return aqa_;
    case reg::kAsq: return static_cast<uint32_t>(asq_);
    case reg::kAsq + 4: return static_cast<uint32_t>(asq_ >> 32);
    case reg::kAcq: return static_cast<uint32_t>(acq_);
    case reg::kAcq + 4: return static_cast<uint32_t>(acq_ >> 32);
    case reg::kCmbloc: return cmbloc;
    case reg::kCmbsz: return cmbsz;
    case reg::kPmrcap: return pmrcap;
    default: return 0; // doorbells read as 0 (§3.1.24: reads undefined), reserved
    }
}

void SimNvme::write32(uint32_t off, uint32_t v) {
    if (off & 3) return;
    if (off >= kMsixTable && off < kMsixTable + msix_table_.size()) {
        const unsigned vec = (off - kMsixTable) / msix::kEntryBytes;
        uint8_t* e = &msix_table_[vec * msix::kEntryBytes];
        const bool was_masked = e[msix::kEntryControl] & msix::kVectorMasked;
        std::memcpy(e + (off - kMsixTable) % msix::kEntryBytes, &v, 4);
        // PCI 3.0 §6.8.2.9: unmasking a vector with its pending bit set sends it.
        if (was_masked && !(e[msix::kEntryControl] & msix::kVectorMasked) && (pba_[vec / 64] >> (vec % 64) & 1)) {
            pba_[vec / 64] &= ~(1ull << (vec % 64));
            signalled.push_back(vec);
        }
        return;
    }
    if (off >= reg::kDoorbellBase && off < kMsixTable) {
        doorbell(off, v);
        return;
    }
    switch (off) {
    case reg::kIntms: intms_ |= v; return;
    case reg::kIntmc: intms_ &= ~v; return;
    case reg::kCc: {
        const uint32_t old = cc_;
        if ((old & cc::kEn) && !(v & cc::kEn)) {
            reset();
            csts_ &= ~csts::kShstMask;
            return;
        }
        cc_ = v & ~cc::kReservedMask;
        if (!(old & cc::kEn) && (v & cc::kEn)) enable();
        if ((v & cc::kShnMask) && !(old & cc::kShnMask)) csts_ = (csts_ & ~csts::kShstMask) | csts::kShstComplete;
        return;
    }
    case reg::kCsts: csts_ &= ~(v & csts::kNssro); return;
    case reg::kNssr:
        if (v == kNssrReset && (cap & cap::kNssrs)) {
            reset();
            csts_ = csts::kNssro;
        }
        return;
    // §3.1.8-§3.1.10: only while disabled.
    case reg::kAqa: if (!(cc_ & cc::kEn)) aqa_ = v & (aqa::kAsqsMask | aqa::kAcqsMask); return;
    case reg::kAsq: if (!(cc_ & cc::kEn)) asq_ = (asq_ & ~0xffffffffull) | v; return;
    case reg::kAsq + 4: if (!(cc_ & cc::kEn)) asq_ = (asq_ & 0xffffffffull) | uint64_t{v} << 32; return;
    case reg::kAcq: if (!(cc_ & cc::kEn)) acq_ = (acq_ & ~0xffffffffull) | v; return;
    case reg::kAcq + 4: if (!(cc_ & cc::kEn)) acq_ = (acq_ & 0xffffffffull) | uint64_t{v} << 32; return;
    default: return;
    }
}

void SimNvme::doorbell(uint32_t off, uint32_t v) {
    const DoorbellTarget t = decode_doorbell(off, cap::doorbell_stride(cap));
    if (!t.valid || t.qid > io_pairs_ || !(csts_ & csts::kRdy)) {
        ++bad_doorbells;
        return;
    }
    v &= kDoorbellValueMask;
    if (t.completion) {
        Cq& c = cqs_[t.qid];
        if (!c.valid || v >= c.entries) {
            ++bad_doorbells; // QEMU: invalid doorbell write, ignored (an AER if requested)
            return;
        }
        c.head = v;
        while (!c.overflow.empty() && (c.tail + 1) % c.entries != c.head) {
            write_cqe(c, c.overflow.front());
            c.overflow.pop_front();
        }
        return;
    }
    Sq& s = sqs_[t.qid];
    if (!s.valid || v >= s.entries) {
        ++bad_doorbells;
        return;
    }
    s.tail = v;
    run_sq(t.qid);
}

void SimNvme::run_sq(uint16_t sqid) {
    Sq& s = sqs_[sqid];
    while (s.valid && s.head != s.tail) {
        SubmissionEntry e;
        const uint8_t* p = bus(s.base + uint64_t{s.head} * kSqeBytes, kSqeBytes, false,
                               SimNvmeAccess::What::SqEntry);
        s.head = (s.head + 1) % s.entries;
        if (!p) {
            csts_ |= csts::kCfs; // QEMU: an SQ fetch that fails is a controller fatal status
            return;
        }
        std::memcpy(&e, p, sizeof e);
        if (sqid == 0) {
            uint32_t dw0 = 0;
            uint16_t st = 0;
            opcodes_admin.push_back(cdw0::opcode(e.cdw0));
            admin(e, dw0, st);
            if (cdw0::opcode(e.cdw0) == admin::kAsyncEventRequest && st == 0) continue; // never completes here
            post(0, e, st, dw0);
        } else if (hold_io) {
            held_.push_back({sqid, e});
        } else {
            post(sqid, e, io(e));
        }
    }
}

void SimNvme::complete_held(Order order, uint32_t seed) {
    std::vector<Held> h = std::move(held_);
    held_.clear();
    if (order == Order::Reversed) std::reverse(h.begin(), h.end());
    if (order == Order::Random) {
        std::mt19937 rng(seed);
        std::shuffle(h.begin(), h.end(), rng);
    }
    for (const Held& x : h) {
        if (!sqs_[x.sqid].valid) continue; // deleted meanwhile: aborted with its SQ
        post(x.sqid, x.e, io(x.e));
    }
}

void SimNvme::complete_held_one(size_t i) {
    const Held x = held_[i];
    held_.erase(held_.begin() + static_cast<long>(i));
    if (sqs_[x.sqid].valid) post(x.sqid, x.e, io(x.e));
}

void SimNvme::post(uint16_t sqid, const SubmissionEntry& e, uint16_t st, uint32_t dw0) {
    const Sq& s = sqs_[sqid];
    Cq& c = cqs_[s.cqid];
    if (!c.valid) return;
    CompletionEntry ce{};
    ce.dw0 = dw0;
    ce.sq_head = static_cast<uint16_t>(s.head);
    ce.sq_id = sqid;
    ce.cid = cdw0::cid(e.cdw0);
    ce.status = st;
    if ((c.tail + 1) % c.entries == c.head) {
        c.overflow.push_back(ce); // §4.1: full: the controller waits for the head to move
        return;
    }
    write_cqe(c, ce);
}

void SimNvme::write_cqe(Cq& c, const CompletionEntry& in) {
    CompletionEntry ce = in;
    ce.status = static_cast<uint16_t>((ce.status & ~status::kPhase) | (c.phase ? status::kPhase : 0));
    uint8_t* p = bus(c.base + uint64_t{c.tail} * kCqeBytes, kCqeBytes, true, SimNvmeAccess::What::CqEntry);
    if (p) std::memcpy(p, &ce, sizeof ce);
    if (++c.tail == c.entries) {
        c.tail = 0;
        c.phase = !c.phase; // §4.6: the phase tag inverts on each pass
    }
    if (c.ien) interrupt(c.vector);
}

void SimNvme::interrupt(uint16_t vector) {
    if (!msix_enabled_ || vector >= vectors_) return; // INTx: intx() reports the level
    const bool masked = msix_masked_ || (msix_table_[vector * 16 + msix::kEntryControl] & msix::kVectorMasked);
    if (masked) pba_[vector / 64] |= 1ull << (vector % 64);
    else signalled.push_back(vector);
}

uint8_t* SimNvme::bus(uint64_t addr, uint64_t len, bool to_memory, SimNvmeAccess::What w) {
    uint8_t* p = mem_.phys(addr, len);
    accesses.push_back({addr, len, to_memory, w, p != nullptr});
    if (!p) ++bus_errors;
    return p;
}

uint16_t SimNvme::transfer(const SubmissionEntry& e, uint8_t* buf, uint64_t bytes, bool to_memory,
                           SimNvmeAccess::What what) {
    // §4.3, as a controller walks it: PRP1 to the end of its page, then PRP2
    // as a page or as a list (last entry chains when more than a page is left).
    const uint64_t page = page_bytes();
    if (cdw0::psdt(e.cdw0) != 0) return generic(sc::kInvalidField);
    auto move = [&](uint64_t addr, uint64_t n, uint64_t done) {
        uint8_t* p = bus(addr, n, to_memory, what);
        if (!p) return false;
        if (to_memory) std::memcpy(p, buf + done, n);
        else std::memcpy(buf + done, p, n);
        return true;
    };
    uint64_t first = std::min(bytes, page - (e.prp1 & (page - 1)));
    if (!move(e.prp1, first, 0)) return generic(sc::kDataTransferError);
    uint64_t done = first;
    if (done == bytes) return ok_status();
    if (bytes - done <= page) {
        if (e.prp2 & (page - 1)) return generic(sc::kPrpOffsetInvalid);
        return move(e.prp2, bytes - done, done) ? ok_status() : generic(sc::kDataTransferError);
    }
    uint64_t list = e.prp2;
    while (done < bytes) {
        const uint64_t slots = (page - (list & (page - 1))) / 8;
        for (uint64_t i = 0; i < slots && done < bytes; ++i) {
            uint8_t* le = bus(list + 8 * i, 8, false, SimNvmeAccess::What::PrpList);
            if (!le) return generic(sc::kDataTransferError);
            uint64_t ent;
            std::memcpy(&ent, le, 8);
            if (ent & (page - 1)) return generic(sc::kPrpOffsetInvalid);
            if (i == slots - 1 && bytes - done > page) {
                list = ent;
                break;
            }
            const uint64_t n = std::min(page, bytes - done);
            if (!move(ent, n, done)) return generic(sc::kDataTransferError);
            done += n;
        }
    }
    return ok_status();
}

void SimNvme::admin(const SubmissionEntry& e, uint32_t& dw0, uint16_t& st) {
    const uint8_t op = cdw0::opcode(e.cdw0);
    const uint16_t qid = queue_cmd::qid(e.cdw10);
    st = ok_status();
    switch (op) {
    case admin::kIdentify: {
        uint8_t id[identify::kBytes] = {};
        const uint8_t cns = identify::cns(e.cdw10);
        if (cns == identify::kCnsController) identify_controller(id);
        else if (cns == identify::kCnsNamespace) {
            if (e.nsid == 0 || e.nsid > namespaces_.size()) {
                st = generic(sc::kInvalidNamespaceOrFormat);
                return;
            }
            identify_namespace(e.nsid, id);
        } else if (cns == identify::kCnsActiveNamespaces) {
            for (uint32_t n = 1, k = 0; n <= namespaces_.size(); ++n)
                if (n > e.nsid) std::memcpy(id + 4 * k++, &n, 4);
        } else {
            st = generic(sc::kInvalidField);
            return;
        }
        st = transfer(e, id, sizeof id, true, SimNvmeAccess::What::AdminData);
        return;
    }
    case admin::kCreateIoCq: {
        const uint32_t n = queue_cmd::entries(e.cdw10);
        if (qid == 0 || qid > io_pairs_ || cqs_[qid].valid) st = specific(sc_specific::kInvalidQueueIdentifier);
        else if (n < 2 || n > cap::max_queue_entries(cap)) st = specific(sc_specific::kInvalidQueueSize);
        else if (!(e.cdw11 & queue_cmd::kPc)) st = generic(sc::kInvalidField); // CAP.CQR
        else if (queue_cmd::vector(e.cdw11) >= vectors_) st = specific(sc_specific::kInvalidInterruptVector);
        else if (e.prp1 & (page_bytes() - 1)) st = generic(sc::kPrpOffsetInvalid);
        else {
            Cq& c = cqs_[qid];
            c = Cq{};
            c.valid = true;
            c.base = e.prp1;
            c.entries = n;
            c.ien = e.cdw11 & queue_cmd::kIen;
            c.vector = queue_cmd::vector(e.cdw11);
        }
        return;
    }
    case admin::kCreateIoSq: {
        const uint32_t n = queue_cmd::entries(e.cdw10);
        const uint16_t cqid = queue_cmd::cqid(e.cdw11);
        if (qid == 0 || qid > io_pairs_ || sqs_[qid].valid) st = specific(sc_specific::kInvalidQueueIdentifier);
        else if (cqid == 0 || cqid > io_pairs_ || !cqs_[cqid].valid) st = specific(sc_specific::kCompletionQueueInvalid);
        else if (n < 2 || n > cap::max_queue_entries(cap)) st = specific(sc_specific::kInvalidQueueSize);
        else if (!(e.cdw11 & queue_cmd::kPc)) st = generic(sc::kInvalidField);
        else if (e.prp1 & (page_bytes() - 1)) st = generic(sc::kPrpOffsetInvalid);
        else sqs_[qid] = Sq{true, e.prp1, n, 0, 0, cqid};
        return;
    }
    case admin::kDeleteIoSq:
        if (qid == 0 || qid > io_pairs_ || !sqs_[qid].valid) st = specific(sc_specific::kInvalidQueueIdentifier);
        else {
            // §5.7: commands of the SQ are aborted (held ones are dropped here).
            held_.erase(std::remove_if(held_.begin(), held_.end(), [&](const Held& h) { return h.sqid == qid; }),
                        held_.end());
            sqs_[qid] = Sq{};
        }
        return;
    case admin::kDeleteIoCq:
        if (qid == 0 || qid > io_pairs_ || !cqs_[qid].valid) st = specific(sc_specific::kInvalidQueueIdentifier);
        else if (std::any_of(sqs_.begin() + 1, sqs_.end(), [&](const Sq& s) { return s.valid && s.cqid == qid; }))
            st = specific(sc_specific::kInvalidQueueDeletion);
        else cqs_[qid] = Cq{};
        return;
    case admin::kSetFeatures:
    case admin::kGetFeatures:
        if (feature::fid(e.cdw10) == feature::kNumberOfQueues)
            dw0 = (io_pairs_ - 1) << 16 | (io_pairs_ - 1);
        else if (feature::fid(e.cdw10) == feature::kHostMemoryBuffer) st = generic(sc::kInvalidField);
        return;
    case admin::kAbort: dw0 = 1; return; // not aborted
    case admin::kAsyncEventRequest: return;
    case admin::kKeepAlive: return;
    case admin::kFirmwareImageDownload: {
        std::vector<uint8_t> img((uint64_t{e.cdw10} + 1) * 4);
        st = transfer(e, img.data(), img.size(), false, SimNvmeAccess::What::AdminData);
        if (st == 0) ++firmware_downloads;
        return;
    }
    case admin::kFormatNvm:
        for (SimNvmeNamespace& n : namespaces_) std::fill(n.media.begin(), n.media.end(), 0);
        ++formats;
        return;
    default: st = generic(sc::kInvalidOpcode); return;
    }
}

uint16_t SimNvme::io(const SubmissionEntry& e) {
    const uint8_t op = cdw0::opcode(e.cdw0);
    opcodes_io.push_back(op);
    if (e.nsid == 0 || e.nsid > namespaces_.size()) return generic(sc::kInvalidNamespaceOrFormat);
    SimNvmeNamespace& n = namespaces_[e.nsid - 1];
    switch (op) {
    case nvm::kFlush: return ok_status();
    case nvm::kRead:
    case nvm::kWrite: {
        const uint64_t lba = rw::slba(e);
        const uint64_t nb = rw::blocks(e);
        if (lba + nb > n.blocks() || lba + nb < lba) return generic(sc::kLbaOutOfRange);
        const uint64_t bytes = nb * n.lba_bytes;
        if (mdts && bytes > (uint64_t{cap::min_page_bytes(cap)} << mdts)) return generic(sc::kInvalidField);
        return transfer(e, n.media.data() + lba * n.lba_bytes, bytes, op == nvm::kRead);
    }
    case nvm::kWriteZeroes: {
        if (!(oncs & oncs::kWriteZeroes)) return generic(sc::kInvalidOpcode);
        const uint64_t lba = rw::slba(e), nb = rw::blocks(e);
        if (lba + nb > n.blocks()) return generic(sc::kLbaOutOfRange);
        std::fill_n(n.media.begin() + static_cast<long>(lba * n.lba_bytes), nb * n.lba_bytes, 0);
        return ok_status();
    }
    default: return generic(sc::kInvalidOpcode);
    }
}

void SimNvme::identify_controller(uint8_t* id) const {
    const uint16_t vid = 0x1b36; // Red Hat (QEMU)
    std::memcpy(id + id_ctrl::kVid, &vid, 2);
    std::memcpy(id + id_ctrl::kSn, "svsim0              ", 20);
    std::memcpy(id + id_ctrl::kMn, "SimNvme                                 ", 40);
    id[id_ctrl::kMdts] = mdts;
    const uint32_t ver = version(1, 4);
    std::memcpy(id + id_ctrl::kVer, &ver, 4);
    std::memcpy(id + id_ctrl::kOacs, &oacs, 2);
    id[id_ctrl::kAcl] = 3;
    id[id_ctrl::kAerl] = 3;
    id[id_ctrl::kFrmw] = 0x03; // slot 1 read-only, 1 slot
    id[id_ctrl::kSqes] = 0x66;
    id[id_ctrl::kCqes] = 0x44;
    const uint32_t nn = static_cast<uint32_t>(namespaces_.size());
    std::memcpy(id + id_ctrl::kNn, &nn, 4);
    std::memcpy(id + id_ctrl::kOncs, &oncs, 2);
    id[id_ctrl::kVwc] = vwc;
    std::memcpy(id + id_ctrl::kSgls, &sgls, 4);
}

void SimNvme::identify_namespace(uint32_t nsid, uint8_t* id) const {
    const SimNvmeNamespace& n = namespaces_[nsid - 1];
    const uint64_t blocks = n.blocks();
    std::memcpy(id + id_ns::kNsze, &blocks, 8);
    std::memcpy(id + id_ns::kNcap, &blocks, 8);
    std::memcpy(id + id_ns::kNuse, &blocks, 8);
    // Two formats, as QEMU: 0 = 512 B, 1 = 4096 B; FLBAS picks the one in use.
    id[id_ns::kNlbaf] = 1;
    const uint32_t f512 = 9u << 16, f4k = 12u << 16;
    std::memcpy(id + id_ns::lbaf_offset(0), &f512, 4);
    std::memcpy(id + id_ns::lbaf_offset(1), &f4k, 4);
    id[id_ns::kFlbas] = n.lba_bytes == 4096 ? 1 : 0;
}

} // namespace svtest
