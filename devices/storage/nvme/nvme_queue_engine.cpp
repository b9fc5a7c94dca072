// The NVMe queue engine (see nvme_queue_engine.hpp).
//
// Invariants, whatever the guest writes and whenever:
//  - The real controller only ever sees shadow queues (hypervisor DMA
//    memory) and shadow PRPs; every guest queue was checked whole with
//    GuestMemory::map when it was created.
//  - A guest SQ of N entries has N - 1 slots; a slot occupies at most one
//    shadow SQ entry of the (equally deep) shadow SQ, which therefore never
//    overflows. Slot = CID on the real queue: guest CIDs never reach it.
//  - Chunks go back to the pool only once the real controller is done with
//    them: its completion, the completion of the Delete I/O SQ that took the
//    command, or reset() (called once the real controller is disabled).
#include "devices/storage/nvme/nvme_queue_engine.hpp"

#include <new>

#include "devices/storage/nvme/nvme_registers.hpp"
#include "lib/log.hpp"

namespace sv::nvme {
namespace {

constexpr uint64_t kPage = 4096;
constexpr uint32_t kMaxGuestPage = 64 << 10; // largest CC.MPS the engine walks PRPs with (QEMU's MPSMAX)
constexpr uint32_t kTransfers = 512;          // in-flight data commands (more wait: never a failure)
constexpr uint64_t round_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }
constexpr uint16_t generic(uint8_t code, bool dnr = true) { return status::make(sct::kGeneric, code, dnr); }

template <class T> Result<T*> allocate_array(DmaAllocator& dma, uint64_t count) {
    const DmaBuffer b = TRY(dma.allocate(sizeof(T) * count, alignof(T) < 64 ? 64 : alignof(T)));
    T* p = reinterpret_cast<T*>(b.host);
    for (uint64_t i = 0; i < count; ++i) new (&p[i]) T();
    return p;
}

uint64_t sq_bytes(uint32_t entries) { return round_up(uint64_t{entries} * kSqeBytes, kPage); }
uint64_t cq_bytes(uint32_t entries) { return round_up(uint64_t{entries} * kCqeBytes, kPage); }

void hex2(char (&out)[3], uint8_t v) {
    constexpr char digits[] = "0123456789abcdef";
    out[0] = digits[v >> 4];
    out[1] = digits[v & 15];
    out[2] = 0;
}

} // namespace

QueueEngine::QueueEngine(GuestMemory& memory, storage::ShadowPool& pool, const crypto::Xts* key,
                         ControllerPort& port, const ControllerFacts& facts, const EngineLimits& limits)
    : memory_(memory), pool_(pool), port_(port), facts_(facts), limits_(limits),
      cipher512_(key, storage::kSector512), cipher4k_(key, storage::kSector4K) {
    if (limits_.max_io_queues == 0) limits_.max_io_queues = 1;
    if (limits_.max_entries < 2) limits_.max_entries = 2;
    if (limits_.max_entries > 65536) limits_.max_entries = 65536;
    if (limits_.max_transfer < kPage) limits_.max_transfer = kPage;
}

uint64_t QueueEngine::heap_bytes(const EngineLimits& limits) {
    const uint64_t queues = uint64_t{limits.max_io_queues} + 1;
    const uint64_t shadows = queues * (sq_bytes(limits.max_entries) + cq_bytes(limits.max_entries) + 2 * kPage);
    const uint64_t state = queues * (sizeof(Sq) + sizeof(Cq)) + queues * limits.max_entries * sizeof(Slot);
    // Transfer state, sized for the smallest pool chunk (the most indices).
    const uint64_t per_transfer =
        sizeof(Transfer) + sizeof(uint32_t) * (transfer_chunks(limits.max_transfer, storage::kMinChunkBytes) + 1);
    const uint64_t walk = uint64_t{max_prp_regions(limits.max_transfer, kPage)} * sizeof(storage::GuestRegion) +
                          kMaxGuestPage + storage::kSector4K;
    return shadows + state + kTransfers * per_transfer + walk + 16 * kPage /* alignment slack */;
}

uint64_t QueueEngine::pool_bytes(const EngineLimits& limits) {
    // One largest transfer (data + shadow PRP list + kept regions) always
    // fits, so every valid command eventually runs; 32 chunks more keep a
    // queue-depth-32 stream of small commands moving beside it.
    const uint64_t chunk = storage::kDefaultChunkBytes;
    return (uint64_t{transfer_chunks(limits.max_transfer, chunk)} + 32) * chunk;
}

Result<void> QueueEngine::init(DmaAllocator& dma) {
    if (ready_) return {};
    if (!pool_.ready()) return fail(Error::OutOfMemory);
    TRY(pool_.reserve(client_, pool_bytes(limits_)));
    transfer_ = transfer_limit(facts_, limits_.max_transfer);

    const uint32_t queues = uint32_t{limits_.max_io_queues} + 1;
    sqs_ = TRY(allocate_array<Sq>(dma, queues));
    cqs_ = TRY(allocate_array<Cq>(dma, queues));
    for (uint32_t q = 0; q < queues; ++q) {
        sqs_[q].shadow = TRY(dma.allocate(sq_bytes(limits_.max_entries), kPage));
        cqs_[q].shadow = TRY(dma.allocate(cq_bytes(limits_.max_entries), kPage));
    }
    slots_ = TRY(allocate_array<Slot>(dma, uint64_t{queues} * limits_.max_entries));

    const uint32_t chunks = transfer_chunks(transfer_.bytes, pool_.chunk_bytes());
    transfers_ = TRY(allocate_array<Transfer>(dma, kTransfers));
    transfer_next_ = TRY(allocate_array<uint32_t>(dma, kTransfers));
    uint32_t* chunk_storage = TRY(allocate_array<uint32_t>(dma, uint64_t{kTransfers} * chunks));
    for (uint32_t t = 0; t < kTransfers; ++t) transfers_[t].bind(chunk_storage + uint64_t{t} * chunks, chunks);
    transfer_count_ = kTransfers;

    const uint32_t regions = max_prp_regions(transfer_.bytes, kPage);
    storage::GuestRegion* scratch = TRY(allocate_array<storage::GuestRegion>(dma, regions));
    const DmaBuffer list = TRY(dma.allocate(kMaxGuestPage, kPage));
    const DmaBuffer bounce = TRY(dma.allocate(storage::kSector4K, 64));
    env_ = TransferEnv{&memory_, &pool_, &client_, std::span<storage::GuestRegion>(scratch, regions),
                       std::span<uint8_t>(list.host, list.size), std::span<uint8_t>(bounce.host, bounce.size),
                       &stats_, transfer_.bytes};
    clear_state();
    ready_ = true;
    return {};
}

uint16_t QueueEngine::guest_mqes() const {
    uint32_t n = cap::max_queue_entries(facts_.cap);
    if (n > limits_.max_entries) n = limits_.max_entries;
    return static_cast<uint16_t>(n - 1);
}

const storage::SectorCipher* QueueEngine::cipher_for(uint32_t sector_bytes) const {
    return sector_bytes == storage::kSector4K ? &cipher4k_ : &cipher512_;
}

// --- state ------------------------------------------------------------------------

void QueueEngine::clear_state() {
    const uint32_t queues = uint32_t{limits_.max_io_queues} + 1;
    for (uint32_t q = 0; q < queues; ++q) {
        const DmaBuffer sqs = sqs_[q].shadow, cqs = cqs_[q].shadow;
        sqs_[q] = Sq{};
        sqs_[q].shadow = sqs;
        cqs_[q] = Cq{};
        cqs_[q].shadow = cqs;
    }
    for (uint64_t i = 0; i < uint64_t{queues} * limits_.max_entries; ++i) slots_[i].state = SlotState::Free;
    free_transfer_ = kNone;
    for (uint32_t t = transfer_count_; t-- > 0;) {
        transfer_next_[t] = free_transfer_;
        free_transfer_ = t;
    }
    wait_head_ = wait_tail_ = kNone;
    wait_count_ = 0;
    space_ = false;
}

void QueueEngine::open_sq(uint16_t qid, uint8_t* host, uint32_t entries, uint16_t cqid) {
    Sq& sq = sqs_[qid];
    __builtin_memset(sq.shadow.host, 0, sq_bytes(entries));
    sq.valid = true;
    sq.creating = false;
    sq.host = host;
    sq.entries = entries;
    sq.head = sq.tail = sq.shadow_tail = 0;
    sq.cqid = cqid;
    sq.ring = false;
    sq.busy = 0;
    sq.free = kNone;
    for (uint32_t i = entries - 1; i-- > 0;) {
        Slot& s = slot(slot_index(qid, i));
        s.state = SlotState::Free;
        s.next = sq.free;
        sq.free = slot_index(qid, i);
    }
}

void QueueEngine::open_cq(uint16_t qid, uint8_t* host, uint32_t entries, bool ien, uint16_t vector) {
    Cq& cq = cqs_[qid];
    __builtin_memset(cq.shadow.host, 0, cq_bytes(entries));
    cq.valid = true;
    cq.creating = false;
    cq.host = host;
    cq.entries = entries;
    cq.head = cq.tail = cq.shadow_head = 0;
    cq.phase = cq.shadow_phase = true;
    cq.ien = ien;
    cq.vector = vector;
    cq.pending = cq.pending_tail = kNone;
    cq.posted = false;
}

bool QueueEngine::enable(uint32_t aqa, uint64_t asq, uint64_t acq, uint32_t page_bytes, RealAdminQueues& out) {
    if (!ready_) return false;
    if (enabled_) reset();
    // §3.1.5 CC.MPS: a power of two from 4 KiB; the engine walks guest PRP
    // lists of at most kMaxGuestPage.
    if (page_bytes < kPage || page_bytes > kMaxGuestPage || (page_bytes & (page_bytes - 1))) return false;
    const uint32_t sq_entries = aqa::sq_entries(aqa), cq_entries = aqa::cq_entries(aqa);
    if (sq_entries < 2 || cq_entries < 2 || sq_entries > limits_.max_entries || cq_entries > limits_.max_entries)
        return false;
    asq &= kAdminQueueBaseMask; // §3.1.9/§3.1.10: bits 11:0 reserved
    acq &= kAdminQueueBaseMask;
    uint8_t* sq = memory_.map(asq, uint64_t{sq_entries} * kSqeBytes);
    uint8_t* cq = memory_.map(acq, uint64_t{cq_entries} * kCqeBytes);
    if (!sq || !cq) return false;
    clear_state();
    page_bytes_ = page_bytes;
    // §3.1.8: the admin CQ always interrupts on vector 0.
    open_cq(0, cq, cq_entries, true, 0);
    open_sq(0, sq, sq_entries, 0);
    out.asq = sqs_[0].shadow.phys;
    out.acq = cqs_[0].shadow.phys;
    out.aqa = aqa & (aqa::kAsqsMask | aqa::kAcqsMask);
    enabled_ = true;
    return true;
}

void QueueEngine::reset() {
    if (!ready_) return;
    const uint64_t total = (uint64_t{limits_.max_io_queues} + 1) * limits_.max_entries;
    for (uint64_t i = 0; i < total; ++i) {
        Slot& s = slots_[i];
        if (s.state == SlotState::Free) continue;
        ++stats_.dropped_in_flight;
        release_transfer(s); // the real controller is disabled: it owns nothing
        s.state = SlotState::Free;
    }
    pool_.cancel_wait(*this);
    clear_state();
    if (enabled_) ++stats_.resets;
    enabled_ = false;
}

uint32_t QueueEngine::in_flight() const {
    uint32_t n = 0;
    const uint64_t total = (uint64_t{limits_.max_io_queues} + 1) * limits_.max_entries;
    for (uint64_t i = 0; i < total; ++i) n += slots_[i].state == SlotState::Submitted;
    return n;
}

uint32_t QueueEngine::vectors_in_use(uint16_t* out, uint32_t max) const {
    uint32_t n = 0;
    for (uint32_t q = 0; q <= limits_.max_io_queues; ++q) {
        const Cq& cq = cqs_[q];
        if (!cq.valid && !cq.creating) continue;
        bool seen = false;
        for (uint32_t i = 0; i < n && !seen; ++i) seen = out[i] == cq.vector;
        if (!seen && n < max) out[n++] = cq.vector;
    }
    return n;
}

// --- doorbells --------------------------------------------------------------------------

void QueueEngine::sq_tail_written(uint16_t qid, uint32_t value) {
    if (!enabled_ || qid > limits_.max_io_queues || !sqs_[qid].valid || value >= sqs_[qid].entries) {
        ++stats_.doorbell_ignored; // §3.1.24 / QEMU: an invalid doorbell value is ignored
        return;
    }
    sqs_[qid].tail = value;
    retry_waiting();
    consume(qid);
    ring_sqs();
    post_all();
}

void QueueEngine::cq_head_written(uint16_t qid, uint32_t value) {
    if (!enabled_ || qid > limits_.max_io_queues || !cqs_[qid].valid || value >= cqs_[qid].entries) {
        ++stats_.doorbell_ignored;
        return;
    }
    cqs_[qid].head = value;
    post_all();
    // Posting freed slots: SQs that were stalled on them move on.
    for (uint32_t q = 0; q <= limits_.max_io_queues; ++q)
        if (sqs_[q].valid && sqs_[q].head != sqs_[q].tail && sqs_[q].free != kNone) consume(static_cast<uint16_t>(q));
    ring_sqs();
    post_all();
}

void QueueEngine::consume(uint16_t qid) {
    Sq& sq = sqs_[qid];
    while (sq.valid && sq.head != sq.tail && sq.free != kNone) {
        const uint32_t idx = sq.free;
        Slot& s = slot(idx);
        sq.free = s.next;
        s.next = kNone;
        ++sq.busy;
        // Copy once: the guest may rewrite its entry the moment we return.
        __builtin_memcpy(&s.sqe, sq.host + uint64_t{sq.head} * kSqeBytes, sizeof s.sqe);
        sq.head = (sq.head + 1) % sq.entries;
        s.sqid = qid;
        begin(idx);
    }
}

// --- one command ------------------------------------------------------------------------

void QueueEngine::note_fault(uint16_t qid, uint8_t opcode, CommandFault f) {
    const unsigned i = static_cast<unsigned>(f);
    ++stats_.refused;
    stats_.refuse(refusal_of(f));
    if (i < kCommandFaultCount) ++stats_.faults[i];
    if (i < 64 && !(logged_faults_ & (uint64_t{1} << i))) {
        logged_faults_ |= uint64_t{1} << i;
        char op[3];
        hex2(op, opcode);
        log::warn("nvme: qid {} refused opcode {}h: {}", qid, op, to_string(f));
    }
}

void QueueEngine::complete_local(uint32_t idx, CommandFault fault) {
    Slot& s = slot(idx);
    note_fault(s.sqid, cdw0::opcode(s.sqe.cdw0), fault);
    complete_local_status(idx, fault_status(fault), 0);
}

void QueueEngine::complete_local_status(uint32_t idx, uint16_t st, uint32_t dw0) {
    Slot& s = slot(idx);
    s.status = st;
    s.dw0 = dw0;
    queue_done(idx);
}

void QueueEngine::queue_done(uint32_t idx) {
    Slot& s = slot(idx);
    s.state = SlotState::Done;
    s.next = kNone;
    Cq& cq = cqs_[sqs_[s.sqid].cqid];
    if (cq.pending_tail == kNone) cq.pending = idx;
    else slot(cq.pending_tail).next = idx;
    cq.pending_tail = idx;
}

void QueueEngine::submit(uint32_t idx, uint64_t prp1, uint64_t prp2) {
    Slot& s = slot(idx);
    Sq& sq = sqs_[s.sqid];
    SubmissionEntry real = s.sqe;
    // The slot's index is the CID on the real queue (§4.2: unique per SQ).
    const uint32_t local = idx - slot_index(s.sqid, 0);
    real.cdw0 = (real.cdw0 & 0xffffu) | local << cdw0::kCidShift;
    real.mptr = 0; // no metadata: namespaces with metadata are refused
    real.prp1 = prp1;
    real.prp2 = prp2;
    if (!s.io) {
        switch (s.admin) {
        case AdminKind::NumberOfQueues:
            if (cdw0::opcode(s.sqe.cdw0) == admin::kSetFeatures)
                real.cdw11 = clamp_queue_counts(real.cdw11, limits_.max_io_queues);
            break;
        case AdminKind::CreateCq: {
            const uint16_t qid = queue_cmd::qid(s.sqe.cdw10);
            real.prp1 = cqs_[qid].shadow.phys;
            // Shadow CQs always interrupt (the device's NMI tells the engine),
            // on the guest's vector, polled guest CQs included.
            real.cdw11 = queue_cmd::kPc | queue_cmd::kIen | uint32_t{queue_cmd::vector(s.sqe.cdw11)} << queue_cmd::kIvShift;
            break;
        }
        case AdminKind::CreateSq: {
            const uint16_t qid = queue_cmd::qid(s.sqe.cdw10);
            real.prp1 = sqs_[qid].shadow.phys;
            real.cdw11 = (s.sqe.cdw11 & 0xffff0000u) | (s.sqe.cdw11 & (3u << queue_cmd::kQprioShift)) | queue_cmd::kPc;
            real.cdw12 = 0; // NVM set identifier: none
            break;
        }
        default: break;
        }
    }
    __builtin_memcpy(sq.shadow.host + uint64_t{sq.shadow_tail} * kSqeBytes, &real, sizeof real);
    sq.shadow_tail = (sq.shadow_tail + 1) % sq.entries;
    sq.ring = true;
    s.state = SlotState::Submitted;
}

CommandFault QueueEngine::check_create(const Slot& s, bool is_cq) const {
    // §5.3/§5.4 (and the PLAN): a queue id the shadows have, free; a size
    // the shadows hold; PC = 1 (CAP.CQR); a base with no offset, wholly guest RAM.
    const uint16_t qid = queue_cmd::qid(s.sqe.cdw10);
    const uint32_t entries = queue_cmd::entries(s.sqe.cdw10);
    if (qid == 0 || qid > limits_.max_io_queues) return CommandFault::QueueId;
    if (is_cq ? (cqs_[qid].valid || cqs_[qid].creating)
              : (sqs_[qid].valid || sqs_[qid].creating || sqs_[qid].busy != 0))
        return CommandFault::QueueId;
    if (entries < 2 || entries > uint32_t{guest_mqes()} + 1) return CommandFault::QueueSize;
    if (!(s.sqe.cdw11 & queue_cmd::kPc)) return CommandFault::QueueNotContiguous;
    if (!is_cq) {
        const uint16_t cqid = queue_cmd::cqid(s.sqe.cdw11);
        if (cqid == 0 || cqid > limits_.max_io_queues || !cqs_[cqid].valid) return CommandFault::CompletionQueue;
    }
    if (s.sqe.prp1 & (page_bytes_ - 1)) return CommandFault::QueueMemory;
    return CommandFault::None;
}

void QueueEngine::begin(uint32_t idx) {
    Slot& s = slot(idx);
    s.io = s.sqid != 0;
    s.transfer = kNone;
    s.dir = DataDir::None;
    s.bytes = 0;
    s.sector = 0;
    s.sector_bytes = 0;
    s.waited = false;
    s.admin = AdminKind::Refused;
    s.status = 0;
    s.dw0 = 0;
    if (s.io) {
        ++stats_.commands;
        const IoCheck c = check_io(s.sqe, facts_, transfer_.bytes);
        if (c.fault != CommandFault::None) return complete_local(idx, c.fault);
        if (c.bytes == 0) return submit(idx, 0, 0); // Flush
        s.dir = c.write ? DataDir::ToDevice : DataDir::FromDevice;
        s.bytes = c.bytes;
        s.sector = rw::slba(s.sqe);
        s.sector_bytes = c.ns->lba_bytes;
    } else {
        ++stats_.admin_commands;
        const AdminPlan p = plan_admin(s.sqe, transfer_.bytes);
        s.admin = p.kind;
        switch (p.kind) {
        case AdminKind::Refused: return complete_local(idx, p.fault);
        case AdminKind::Pass:
        case AdminKind::NumberOfQueues: return submit(idx, 0, 0);
        case AdminKind::CreateCq:
        case AdminKind::CreateSq: {
            const bool is_cq = p.kind == AdminKind::CreateCq;
            CommandFault f = check_create(s, is_cq);
            const uint16_t qid = queue_cmd::qid(s.sqe.cdw10);
            const uint32_t entries = queue_cmd::entries(s.sqe.cdw10);
            uint8_t* host = nullptr;
            if (f == CommandFault::None) {
                host = memory_.map(s.sqe.prp1, uint64_t{entries} * (is_cq ? kCqeBytes : kSqeBytes));
                if (!host) f = CommandFault::QueueMemory;
            }
            if (f != CommandFault::None) return complete_local(idx, f);
            if (is_cq) {
                Cq& cq = cqs_[qid];
                cq.creating = true;
                cq.host = host;
                cq.entries = entries;
                cq.ien = s.sqe.cdw11 & queue_cmd::kIen;
                cq.vector = queue_cmd::vector(s.sqe.cdw11);
                __builtin_memset(cq.shadow.host, 0, cq_bytes(entries));
            } else {
                Sq& sq = sqs_[qid];
                sq.creating = true;
                sq.host = host;
                sq.entries = entries;
                sq.cqid = queue_cmd::cqid(s.sqe.cdw11);
                __builtin_memset(sq.shadow.host, 0, sq_bytes(entries));
            }
            return submit(idx, 0, 0);
        }
        case AdminKind::DeleteSq:
        case AdminKind::DeleteCq: {
            const uint16_t qid = queue_cmd::qid(s.sqe.cdw10);
            const bool is_cq = p.kind == AdminKind::DeleteCq;
            if (qid == 0 || qid > limits_.max_io_queues || !(is_cq ? cqs_[qid].valid : sqs_[qid].valid))
                return complete_local(idx, CommandFault::QueueId);
            if (is_cq)
                for (uint32_t q = 1; q <= limits_.max_io_queues; ++q)
                    if ((sqs_[q].valid || sqs_[q].creating) && sqs_[q].cqid == qid)
                        return complete_local(idx, CommandFault::QueueDeletion);
            return submit(idx, 0, 0);
        }
        case AdminKind::Abort: {
            // §5.1: CDW10 SQID 15:0, CID 31:16, translated to the slot tag.
            const uint16_t sqid = static_cast<uint16_t>(s.sqe.cdw10 & 0xffff);
            const uint16_t cid = static_cast<uint16_t>(s.sqe.cdw10 >> 16);
            if (sqid <= limits_.max_io_queues && sqs_[sqid].valid) {
                for (uint32_t i = 0; i + 1 < sqs_[sqid].entries; ++i) {
                    const uint32_t ti = slot_index(sqid, i);
                    const Slot& t = slot(ti);
                    if (t.state == SlotState::Waiting && cdw0::cid(t.sqe.cdw0) == cid) {
                        // Still ours (waiting for shadow space): aborted here,
                        // the device never saw it (§5.1: DW0 bit 0 clear).
                        unlink_waiting(ti);
                        complete_local_status(ti, generic(sc::kAbortRequested, false), 0);
                        return complete_local_status(idx, 0, 0);
                    }
                    if (t.state == SlotState::Submitted && cdw0::cid(t.sqe.cdw0) == cid) {
                        // The real queue knows the command by its slot tag.
                        const uint32_t guest_cdw10 = s.sqe.cdw10;
                        s.sqe.cdw10 = uint32_t{sqid} | i << 16;
                        submit(idx, 0, 0);
                        s.sqe.cdw10 = guest_cdw10;
                        return;
                    }
                }
            }
            // §5.1: not found (completed, or never submitted): "not aborted" (DW0 bit 0 set).
            return complete_local_status(idx, 0, 1);
        }
        case AdminKind::Data:
        case AdminKind::IdentifyController:
        case AdminKind::IdentifyNamespace:
            s.dir = p.dir;
            s.bytes = p.bytes;
            break;
        }
    }
    // A data command: first come first served behind those already waiting.
    if (wait_head_ != kNone || !start(idx)) {
        s.state = SlotState::Waiting;
        s.next = kNone;
        if (wait_tail_ == kNone) wait_head_ = idx;
        else slot(wait_tail_).next = idx;
        wait_tail_ = idx;
        ++wait_count_;
        if (!s.waited) {
            s.waited = true;
            ++stats_.waits;
            ++stats_.pool_waits;
        }
    }
}

bool QueueEngine::start(uint32_t idx) {
    Slot& s = slot(idx);
    if (free_transfer_ == kNone) return false; // a context frees with our next completion
    const uint32_t t = free_transfer_;
    CommandFault fault = CommandFault::None;
    const storage::SectorCipher* cipher = s.io ? cipher_for(s.sector_bytes) : nullptr;
    const uint64_t sector = s.sector;
    switch (transfers_[t].start(env_, s.sqe, page_bytes_, s.bytes, s.dir, cipher, sector, this, fault)) {
    case Transfer::Start::NotNow: return false;
    case Transfer::Start::Refused: complete_local(idx, fault); return true;
    case Transfer::Start::Ok: break;
    }
    free_transfer_ = transfer_next_[t];
    s.transfer = t;
    if (s.io) ++stats_.data_commands;
    submit(idx, transfers_[t].prp1(), transfers_[t].prp2());
    return true;
}

void QueueEngine::retry_waiting() {
    while (wait_head_ != kNone) {
        const uint32_t idx = wait_head_;
        Slot& s = slot(idx);
        wait_head_ = s.next;
        if (wait_head_ == kNone) wait_tail_ = kNone;
        --wait_count_;
        s.next = kNone;
        if (!start(idx)) {
            // Still no room: back at the head, in order.
            s.next = wait_head_;
            wait_head_ = idx;
            if (wait_tail_ == kNone) wait_tail_ = idx;
            ++wait_count_;
            return;
        }
    }
    space_ = false;
}

void QueueEngine::release_transfer(Slot& s) {
    if (s.transfer == kNone) return;
    transfers_[s.transfer].release(env_);
    transfer_next_[s.transfer] = free_transfer_;
    free_transfer_ = s.transfer;
    s.transfer = kNone;
}

void QueueEngine::finish(uint32_t idx, uint16_t st, uint32_t dw0) {
    Slot& s = slot(idx);
    if (s.transfer != kNone && status::success(st) && s.dir == DataDir::FromDevice) {
        Transfer& t = transfers_[s.transfer];
        if (!s.io && s.admin == AdminKind::IdentifyController) filter_identify_controller(t.shadow_host(env_), transfer_.mdts);
        if (!s.io && s.admin == AdminKind::IdentifyNamespace) filter_identify_namespace(t.shadow_host(env_));
        const storage::SectorCipher* cipher = s.io ? cipher_for(s.sector_bytes) : nullptr;
        // A read that cannot be delivered whole is an error, never partial plaintext.
        if (!t.finish_to_guest(env_, cipher, s.sector)) st = generic(sc::kDataTransferError);
    }
    release_transfer(s);
    if (!s.io) after_admin(s, st, dw0);
    ++stats_.completions;
    complete_local_status(idx, st, dw0);
}

void QueueEngine::after_admin(Slot& s, uint16_t& st, uint32_t& dw0) {
    const bool ok = status::success(st);
    const uint16_t qid = queue_cmd::qid(s.sqe.cdw10);
    switch (s.admin) {
    case AdminKind::NumberOfQueues:
        if (ok) dw0 = clamp_queue_counts(dw0, limits_.max_io_queues);
        break;
    case AdminKind::CreateCq:
        if (ok) {
            Cq& c = cqs_[qid];
            open_cq(qid, c.host, c.entries, c.ien, c.vector);
            ++stats_.queues_created;
        } else {
            cqs_[qid].creating = false;
        }
        break;
    case AdminKind::CreateSq:
        if (ok) {
            Sq& q = sqs_[qid];
            open_sq(qid, q.host, q.entries, q.cqid);
            ++stats_.queues_created;
        } else {
            sqs_[qid].creating = false;
        }
        break;
    case AdminKind::DeleteSq:
        if (ok) {
            abort_sq_commands(qid);
            sqs_[qid].valid = false;
            ++stats_.queues_deleted;
        }
        break;
    case AdminKind::DeleteCq:
        if (ok) {
            cqs_[qid].valid = false;
            ++stats_.queues_deleted;
        }
        break;
    default: break;
    }
}

void QueueEngine::abort_sq_commands(uint16_t sqid) {
    // §5.7 / PLAN "Resets": the real SQ is gone, so the controller owns none
    // of its commands any more: each completes Aborted due to SQ Deletion,
    // its chunks back.
    Sq& sq = sqs_[sqid];
    for (uint32_t i = 0; i + 1 < sq.entries; ++i) {
        const uint32_t idx = slot_index(sqid, i);
        Slot& s = slot(idx);
        if (s.state == SlotState::Waiting) {
            unlink_waiting(idx);
        } else if (s.state != SlotState::Submitted) {
            continue;
        }
        release_transfer(s);
        complete_local_status(idx, generic(sc::kAbortedSqDeletion, false), 0);
    }
    if (wait_head_ == kNone) pool_.cancel_wait(*this);
}

void QueueEngine::unlink_waiting(uint32_t idx) {
    uint32_t prev = kNone;
    for (uint32_t w = wait_head_; w != kNone; prev = w, w = slot(w).next) {
        if (w != idx) continue;
        if (prev == kNone) wait_head_ = slot(idx).next;
        else slot(prev).next = slot(idx).next;
        if (wait_tail_ == idx) wait_tail_ = prev;
        --wait_count_;
        slot(idx).next = kNone;
        return;
    }
}

void QueueEngine::free_slot(uint32_t idx) {
    Slot& s = slot(idx);
    Sq& sq = sqs_[s.sqid];
    s.state = SlotState::Free;
    s.next = sq.free;
    sq.free = idx;
    if (sq.busy) --sq.busy;
}

void QueueEngine::post_pending(uint16_t cqid) {
    Cq& cq = cqs_[cqid];
    while (cq.pending != kNone) {
        const uint32_t idx = cq.pending;
        Slot& s = slot(idx);
        if (!cq.valid) {
            // The guest CQ is gone: nothing to post to.
            ++stats_.dropped_in_flight;
        } else {
            if ((cq.tail + 1) % cq.entries == cq.head) return; // §4.6: full, hold until the head moves
            CompletionEntry c{};
            c.dw0 = s.dw0;
            c.sq_head = static_cast<uint16_t>(sqs_[s.sqid].head);
            c.sq_id = s.sqid;
            c.cid = cdw0::cid(s.sqe.cdw0);
            uint8_t* at = cq.host + uint64_t{cq.tail} * kCqeBytes;
            __builtin_memcpy(at, &c, 14);
            // The status word (with the phase tag) last: the guest polls it.
            __atomic_signal_fence(__ATOMIC_RELEASE);
            const uint16_t st = static_cast<uint16_t>((s.status & ~status::kPhase) | (cq.phase ? status::kPhase : 0));
            __atomic_store_n(reinterpret_cast<uint16_t*>(at + 14), st, __ATOMIC_RELEASE);
            if (++cq.tail == cq.entries) {
                cq.tail = 0;
                cq.phase = !cq.phase;
            }
            cq.posted = true;
        }
        cq.pending = s.next;
        if (cq.pending == kNone) cq.pending_tail = kNone;
        free_slot(idx);
    }
}

void QueueEngine::post_all() {
    for (uint32_t q = 0; q <= limits_.max_io_queues; ++q) {
        Cq& cq = cqs_[q];
        if (cq.pending != kNone) post_pending(static_cast<uint16_t>(q));
        if (!cq.posted) continue;
        cq.posted = false;
        if (cq.ien) port_.guest_interrupt(static_cast<uint16_t>(q), cq.vector);
    }
}

void QueueEngine::ring_sqs() {
    for (uint32_t q = 0; q <= limits_.max_io_queues; ++q) {
        Sq& sq = sqs_[q];
        if (!sq.ring) continue;
        sq.ring = false;
        port_.ring_sq_tail(static_cast<uint16_t>(q), static_cast<uint16_t>(sq.shadow_tail));
    }
}

bool QueueEngine::harvest() {
    if (!enabled_) return false;
    bool found = false;
    for (uint32_t q = 0; q <= limits_.max_io_queues; ++q) {
        Cq& cq = cqs_[q];
        if (!cq.valid) continue;
        bool moved = false;
        for (;;) {
            const uint8_t* at = cq.shadow.host + uint64_t{cq.shadow_head} * kCqeBytes;
            const uint16_t st = __atomic_load_n(reinterpret_cast<const uint16_t*>(at + 14), __ATOMIC_ACQUIRE);
            if (((st & status::kPhase) != 0) != cq.shadow_phase) break; // §4.6: not new
            CompletionEntry c;
            __builtin_memcpy(&c, at, sizeof c);
            if (++cq.shadow_head == cq.entries) {
                cq.shadow_head = 0;
                cq.shadow_phase = !cq.shadow_phase;
            }
            moved = found = true;
            const uint16_t sqid = c.sq_id;
            Sq* sq = sqid <= limits_.max_io_queues ? &sqs_[sqid] : nullptr;
            if (!sq || !sq->valid || sq->cqid != q || uint32_t{c.cid} + 1 >= sq->entries ||
                slot(slot_index(sqid, c.cid)).state != SlotState::Submitted) {
                ++stats_.stray_completions;
                continue;
            }
            finish(slot_index(sqid, c.cid), static_cast<uint16_t>(c.status & ~status::kPhase), c.dw0);
        }
        if (moved && cq.valid) port_.ring_cq_head(static_cast<uint16_t>(q), static_cast<uint16_t>(cq.shadow_head));
    }
    // Posting frees slots and completions free chunks: then waiting commands
    // and SQs stalled on busy slots move on.
    post_all();
    if (found || space_ || wait_head_ != kNone) {
        retry_waiting();
        for (uint32_t q = 0; q <= limits_.max_io_queues; ++q)
            if (sqs_[q].valid && sqs_[q].head != sqs_[q].tail && sqs_[q].free != kNone)
                consume(static_cast<uint16_t>(q));
        ring_sqs();
        post_all();
    }
    return found;
}

void QueueEngine::log_statistics(const char* prefix) const {
    const EngineStats& s = stats_;
    log::info("{}: commands {} admin {} refused {} waits {} encrypted {} B decrypted {} B queues {} resets {} "
              "dropped {}",
              prefix, s.commands, s.admin_commands, s.refused, s.waits, s.bytes_encrypted, s.bytes_decrypted,
              s.queues_created, s.resets, s.dropped_in_flight);
    for (unsigned f = 1; f < kCommandFaultCount; ++f)
        if (s.faults[f]) log::info("{}: refused {}: {}", prefix, to_string(static_cast<CommandFault>(f)), s.faults[f]);
}

} // namespace sv::nvme
