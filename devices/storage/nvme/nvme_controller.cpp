// The NVMe controller mediator's register side (see nvme_controller.hpp).
#include "devices/storage/nvme/nvme_controller.hpp"

#include <new>

#include "devices/storage/common/dword_access.hpp"
#include "devices/storage/nvme/nvme_boot_identify.hpp"
#include "devices/storage/nvme/nvme_queue_engine.hpp"
#include "devices/storage/nvme/nvme_queues.hpp"
#include "devices/storage/nvme/nvme_registers.hpp"
#include "lib/log.hpp"

namespace sv::nvme {
namespace {
// CAP bits the guest does not see (README "Interception"): the Controller
// Memory Buffer and Persistent Memory Region (data in them would bypass the
// shadows), Boot Partitions (BPMBL makes the controller DMA a partition
// anywhere) and NVM Subsystem Reset (it would reset the controller behind
// the mediator's back).
constexpr uint64_t kCapHidden = cap::kCmbs | cap::kPmrs | cap::kBps | cap::kNssrs;
// CC bits the real controller gets from the guest: EN and SHN; the rest is fixed.
constexpr uint32_t kRealCcFixed = kSqeBytesLog2 << cc::kIosqesShift | kCqeBytesLog2 << cc::kIocqesShift; // MPS 0: 4 KiB, CSS 0: NVM, AMS 0: round robin
constexpr uint32_t kCstsPassed = csts::kRdy | csts::kCfs | csts::kShstMask | csts::kPp;
// Vectors the engine may report in use at once (one per shadow CQ).
constexpr uint32_t kMaxVectorsInUse = kMaxMsixVectors;

bool in_register_page(uint32_t offset) { return offset < reg::kDoorbellBase; }

// The shipped engine behind the register side's interface.
class EngineAdapter final : public EngineSide {
  public:
    explicit EngineAdapter(QueueEngine& e) : e_(e) {}
    uint16_t guest_mqes() const override { return e_.guest_mqes(); }
    bool enable(uint32_t aqa, uint64_t asq, uint64_t acq, uint32_t page_bytes, RealAdminQueues& out) override {
        QueueEngine::RealAdminQueues r;
        if (!e_.enable(aqa, asq, acq, page_bytes, r)) return false;
        out = RealAdminQueues{r.asq, r.acq, r.aqa};
        return true;
    }
    void reset() override { e_.reset(); }
    void sq_tail_written(uint16_t qid, uint32_t value) override { e_.sq_tail_written(qid, value); }
    void cq_head_written(uint16_t qid, uint32_t value) override { e_.cq_head_written(qid, value); }
    bool harvest() override { return e_.harvest(); }
    uint32_t vectors_in_use(uint16_t* out, uint32_t max) const override { return e_.vectors_in_use(out, max); }
    void log_statistics(const char* prefix) const override { e_.log_statistics(prefix); }

  private:
    QueueEngine& e_;
};

// Built in hypervisor heap at init() (the controller object itself lives
// in the platform's static storage; the engine's size is the engine's business).
struct OwnedEngine {
    OwnedEngine(GuestMemory& m, storage::ShadowPool& p, const crypto::Xts* key, ControllerPort& port,
                const ControllerFacts& facts)
        : engine(m, p, key, port, facts), side(engine) {}
    QueueEngine engine;
    EngineAdapter side;
};
} // namespace

NvmeController::NvmeController(GuestMemory& memory, storage::ShadowPool& pool, const crypto::Xts* key,
                               MmioRegisters& bar0, const MsixPlacement& msix, MmioRegisters& msix_registers,
                               GuestInterrupts& out)
    : memory_(&memory), pool_(&pool), key_(key), bar0_(bar0),
      msix_(msix_registers, msix.table_offset, msix.vectors, out), own_engine_(true) {}

NvmeController::NvmeController(MmioRegisters& bar0, const MsixPlacement& msix, MmioRegisters& msix_registers,
                               GuestInterrupts& out, EngineSide& engine)
    : bar0_(bar0), msix_(msix_registers, msix.table_offset, msix.vectors, out), engine_(&engine) {}

uint64_t NvmeController::heap_bytes() {
    return kBootIdentifyHeapBytes + sizeof(OwnedEngine) + alignof(OwnedEngine) + QueueEngine::heap_bytes(EngineLimits{});
}
uint64_t NvmeController::pool_bytes() { return QueueEngine::pool_bytes(EngineLimits{}); }

Result<void> NvmeController::init(DmaAllocator& dma) {
    if (ready_) return {};
    BootIdentifyResult why;
    if (!boot_identify(bar0_, dma, facts_, clock_, &why).ok()) {
        log::error("nvme: boot identify failed: {} (status {:x})", to_string(why.failure), why.status);
        return fail(Error::DeviceError);
    }
    stride_ = cap::doorbell_stride(facts_.cap);
    if (own_engine_ && !engine_) {
        const DmaBuffer at = TRY(dma.allocate(sizeof(OwnedEngine), alignof(OwnedEngine)));
        OwnedEngine* owned = new (at.host) OwnedEngine(*memory_, *pool_, key_, *this, facts_);
        TRY(owned->engine.init(dma));
        engine_ = &owned->side;
    }
    msix_.init_hardware();
    ready_ = true;
    return {};
}

// --- accesses ---------------------------------------------------------------------

void NvmeController::before_access() {
    if (disable_owed_) {
        disable_owed_ = false;
        bar0_.write32(reg::kCc, 0);
        msix_.init_hardware(); // every real entry masked, whatever the device kept
    }
    finish_reset_if_done();
}

uint64_t NvmeController::read(uint32_t offset, uint8_t size) {
    ++stats_.guest_reads;
    if (!function_ready_) {
        ++stats_.not_ready_accesses;
        return size >= 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * size)) - 1; // no decode: a master abort
    }
    if (!ready_ || !storage::access_size_ok(size)) {
        ++stats_.refused_accesses;
        return 0;
    }
    before_access();
    if (storage::straddles_dword(offset, size)) ++stats_.split_accesses;
    return storage::read_split(offset, size, [this](uint32_t dw) { return read_register(dw); });
}

void NvmeController::write(uint32_t offset, uint8_t size, uint64_t value) {
    ++stats_.guest_writes;
    if (!function_ready_) {
        ++stats_.not_ready_accesses;
        return;
    }
    if (!ready_ || !storage::access_size_ok(size)) {
        ++stats_.refused_accesses;
        return;
    }
    before_access();
    if (storage::straddles_dword(offset, size)) ++stats_.split_accesses;
    storage::write_split(offset, size, value, [this](uint32_t dw, uint32_t bytes, uint32_t mask) {
        // Doorbells and INTMS/INTMC take only the written bytes (a partial
        // doorbell write is the guest's problem, never merged with a stale
        // value); other registers merge with their current value.
        const bool only_bytes = !in_register_page(dw) || dw == reg::kIntms || dw == reg::kIntmc;
        const uint32_t v = (mask == 0xffffffffu || only_bytes) ? bytes : (peek_register(dw) & ~mask) | bytes;
        write_register(dw, v);
    });
}

uint64_t NvmeController::virtual_cap() const {
    uint64_t c = facts_.cap & ~kCapHidden;
    if (engine_) c = (c & ~cap::kMqesMask) | engine_->guest_mqes();
    return c;
}

uint32_t NvmeController::read_register(uint32_t offset) {
    if (!in_register_page(offset)) return 0; // doorbells are write-only (§3.1.24)
    switch (offset) {
    case reg::kCap: return static_cast<uint32_t>(virtual_cap());
    case reg::kCap + 4: return static_cast<uint32_t>(virtual_cap() >> 32);
    case reg::kCsts: return read_csts();
    default: return peek_register(offset);
    }
}

// Register values without side effects (for merging partial writes).
uint32_t NvmeController::peek_register(uint32_t offset) {
    switch (offset) {
    case reg::kCap: return static_cast<uint32_t>(virtual_cap());
    case reg::kCap + 4: return static_cast<uint32_t>(virtual_cap() >> 32);
    case reg::kVs: return facts_.vs;
    case reg::kIntms:
    case reg::kIntmc: return intms_; // §3.1.3/§3.1.4: both read the mask
    case reg::kCc: return cc_;
    case reg::kAqa: return aqa_;
    case reg::kAsq: return static_cast<uint32_t>(asq_);
    case reg::kAsq + 4: return static_cast<uint32_t>(asq_ >> 32);
    case reg::kAcq: return static_cast<uint32_t>(acq_);
    case reg::kAcq + 4: return static_cast<uint32_t>(acq_ >> 32);
    default: return 0; // NSSR, CMB*, BP*, PMR*, reserved: hidden
    }
}

void NvmeController::write_register(uint32_t offset, uint32_t value) {
    if (!in_register_page(offset)) {
        doorbell(offset, value);
        return;
    }
    switch (offset) {
    case reg::kIntms: intms_ |= value; return;
    case reg::kIntmc: intms_ &= ~value; return;
    case reg::kCc: write_cc(value); return;
    case reg::kAqa: aqa_ = value & (aqa::kAsqsMask | aqa::kAcqsMask); return;
    case reg::kAsq: asq_ = (asq_ & ~uint64_t{0xffffffffu}) | (value & kAdminQueueBaseMask); return;
    case reg::kAsq + 4: asq_ = (asq_ & 0xffffffffu) | uint64_t{value} << 32; return;
    case reg::kAcq: acq_ = (acq_ & ~uint64_t{0xffffffffu}) | (value & kAdminQueueBaseMask); return;
    case reg::kAcq + 4: acq_ = (acq_ & 0xffffffffu) | uint64_t{value} << 32; return;
    case reg::kNssr:
        ++stats_.dropped_writes;
        if (!warned_nssr_) {
            warned_nssr_ = true;
            log::warn("nvme: NVM Subsystem Reset (NSSR {:x}) refused: CAP.NSSRS is hidden", value);
        }
        return;
    default: ++stats_.dropped_writes; return; // read-only, CMB/PMR/BP (BPMBL is a DMA target), reserved
    }
}

// --- CC / CSTS (§3.1.5, §3.1.6, §7.6) ---------------------------------------------

uint32_t NvmeController::real_cc_for(uint32_t guest_cc) const {
    return kRealCcFixed | (guest_cc & cc::kShnMask) | cc::kEn;
}

void NvmeController::write_cc(uint32_t value) {
    value &= ~cc::kReservedMask;
    const bool was_on = cc_ & cc::kEn, on = value & cc::kEn;
    const uint32_t old = cc_;
    cc_ = value;
    if (!was_on && on) {
        start_enable(value);
        return;
    }
    if (was_on && !on) {
        start_disable();
        return;
    }
    // EN unchanged: only a new shutdown notification reaches the device.
    if (enabled_ && (value & cc::kShnMask) != (old & cc::kShnMask) && (value & cc::kShnMask)) {
        ++stats_.shutdowns;
        shutdown_reset_done_ = false;
        real_cc_ = real_cc_for(value);
        bar0_.write32(reg::kCc, real_cc_);
    }
}

void NvmeController::start_enable(uint32_t guest_cc) {
    ++stats_.enables;
    // Only the device can assert INTx (or an MSI the guest programmed in
    // config space), and it would announce completions before the mediator
    // posted them: without MSI-X enabled the controller is not mediated.
    if (!msix_.enabled()) {
        ++stats_.enables_refused;
        enable_refused_ = true;
        if (!warned_intx_) {
            warned_intx_ = true;
            log::warn("nvme: guest drives the controller without MSI-X: not mediated (CSTS.CFS)");
        }
        return;
    }
    // §3.1.5: the host waits for RDY = 0 before setting EN; a controller
    // still resetting (or one that failed) is not enabled under it.
    const uint32_t csts_now = bar0_.read32(reg::kCsts);
    RealAdminQueues real;
    if (reset_pending_ || (csts_now & csts::kRdy) || !engine_ ||
        !engine_->enable(aqa_, asq_, acq_, cc::page_bytes(guest_cc), real)) {
        ++stats_.enables_refused;
        enable_refused_ = true;
        return;
    }
    bar0_.write32(reg::kAqa, real.aqa);
    bar0_.write32(reg::kAsq, static_cast<uint32_t>(real.asq));
    bar0_.write32(reg::kAsq + 4, static_cast<uint32_t>(real.asq >> 32));
    bar0_.write32(reg::kAcq, static_cast<uint32_t>(real.acq));
    bar0_.write32(reg::kAcq + 4, static_cast<uint32_t>(real.acq >> 32));
    sync_vectors(); // the admin CQ's vector (0) before the device can raise it
    real_cc_ = real_cc_for(guest_cc);
    bar0_.write32(reg::kCc, real_cc_);
    enabled_ = true;
    shutdown_reset_done_ = false;
}

void NvmeController::start_disable() {
    enable_refused_ = false;
    if (!enabled_) return;
    ++stats_.resets;
    enabled_ = false;
    // §7.6.2 controller reset: the device stops fetching and owns nothing
    // once RDY reads 0; only then do the shadows go (finish_reset_if_done).
    real_cc_ = 0;
    bar0_.write32(reg::kCc, real_cc_);
    reset_pending_ = true;
    finish_reset_if_done();
}

void NvmeController::finish_reset_if_done() {
    if (!reset_pending_) return;
    if (bar0_.read32(reg::kCsts) & csts::kRdy) return;
    reset_pending_ = false;
    if (engine_) engine_->reset();
    sync_vectors(); // nothing in use: every real entry masked
}

uint32_t NvmeController::read_csts() {
    (void)harvest(); // the guest polls CSTS (reset, timeout): completions go first
    const uint32_t real = bar0_.read32(reg::kCsts);
    if (real == 0xffffffffu) return real; // gone: the driver sees it as Linux does
    uint32_t v = real & kCstsPassed;
    if (enable_refused_) v = (v & ~csts::kRdy) | csts::kCfs;
    // Shutdown complete: the device keeps no queue state the guest could
    // resume (§7.6.2 requires a reset before re-enabling): drop the shadows.
    if (enabled_ && (v & csts::kShstMask) == csts::kShstComplete && !shutdown_reset_done_) {
        shutdown_reset_done_ = true;
        if (engine_) engine_->reset();
        sync_vectors();
    }
    return v;
}

// --- doorbells (§3.1.24, §3.1.25) -----------------------------------------------------

void NvmeController::doorbell(uint32_t offset, uint32_t value) {
    const DoorbellTarget t = decode_doorbell(offset, stride_);
    if (!t.valid || !enabled_ || t.qid > 0xffff || !engine_) {
        ++stats_.doorbells_ignored;
        return;
    }
    ++stats_.doorbells;
    const uint16_t qid = static_cast<uint16_t>(t.qid);
    if (t.completion) engine_->cq_head_written(qid, value & kDoorbellValueMask);
    else engine_->sq_tail_written(qid, value & kDoorbellValueMask);
    // Queue creation/deletion is submitted at admin SQ doorbells: a new
    // shadow CQ's real entry is live before the device can raise it.
    if (qid == 0 && !t.completion) sync_vectors();
    (void)harvest();
}

bool NvmeController::harvest() {
    if (!enabled_ || !engine_) return false;
    const bool found = engine_->harvest();
    if (found) {
        sync_vectors(); // an admin completion may have deleted a shadow CQ
        // The device announces what was found with an NMI that may come
        // after this harvest (or after the NMI that ran it): claim one.
        nmi_owed_ = true;
    }
    return found;
}

void NvmeController::sync_vectors() {
    uint16_t v[kMaxVectorsInUse];
    const uint32_t n = engine_ && (enabled_ || !reset_pending_) ? engine_->vectors_in_use(v, kMaxVectorsInUse) : 0;
    msix_.use_vectors(v, n < kMaxVectorsInUse ? n : kMaxVectorsInUse);
}

// --- interrupts ---------------------------------------------------------------------

bool NvmeController::on_nmi(uint32_t apic_id) {
    (void)apic_id;
    if (!ready_ || !function_ready_) return false;
    ++stats_.nmis;
    if (disable_owed_) return false; // the function reset: no register access before the guest's
    finish_reset_if_done();
    if (harvest()) {
        ++stats_.nmis_with_work;
        return true;
    }
    // Work a doorbell write or CSTS read harvested first: its NMI is this one.
    if (nmi_owed_) {
        nmi_owed_ = false;
        ++stats_.nmis_owed;
        return true;
    }
    return false;
}

void NvmeController::guest_interrupt(uint16_t cqid, uint16_t vector) {
    (void)cqid;
    ++stats_.interrupts;
    msix_.raise(vector);
}

void NvmeController::ring_sq_tail(uint16_t qid, uint16_t tail) {
    bar0_.write32(sq_tail_doorbell(qid, stride_), tail);
}

void NvmeController::ring_cq_head(uint16_t qid, uint16_t head) {
    bar0_.write32(cq_head_doorbell(qid, stride_), head);
}

void NvmeController::resync() {
    // S3 powered the controller off: whatever the shadows held is gone with it.
    enabled_ = false;
    enable_refused_ = false;
    reset_pending_ = false;
    disable_owed_ = false;
    cc_ = 0;
    real_cc_ = 0;
    bar0_.write32(reg::kCc, 0);
    if (engine_) engine_->reset();
    msix_.init_hardware();
    msix_.use_vectors(nullptr, 0);
}

void NvmeController::function_reset() {
    ++stats_.function_resets;
    enabled_ = false;
    enable_refused_ = false;
    reset_pending_ = false;
    shutdown_reset_done_ = false;
    nmi_owed_ = false;
    cc_ = aqa_ = intms_ = 0; // NVMe 1.4 §3.1: reset values
    asq_ = acq_ = 0;
    real_cc_ = 0;
    msix_.function_reset();
    // The guest's commands are gone now (enabled_ off: nothing is posted
    // any more); the shadows go once the device is seen idle, at the first
    // access after the reset (before_access): CC.EN 0 written, CSTS.RDY 0
    // read. A function that really reset is idle at once; one that did not
    // (a device ignoring the D3hot -> D0 reset it advertises) is disabled
    // then, and its shadow chunks are not reused while it may still DMA.
    reset_pending_ = true;
    disable_owed_ = true;
}

void NvmeController::log_statistics(const char* prefix) const {
    if (engine_) engine_->log_statistics(prefix);
    const NvmeControllerStats& s = stats_;
    const MsixStats& m = msix_.stats();
    log::info("{}: interrupts delivered {} pended {} nmis {} with-work {} owed {} enables {} refused {} resets {} "
              "shutdowns {} function-resets {}",
              prefix, m.delivered, m.pended, s.nmis, s.nmis_with_work, s.nmis_owed, s.enables, s.enables_refused,
              s.resets, s.shutdowns, s.function_resets);
    log::info("{}: trapped reads {} writes {} doorbells {} ignored {} split {} refused {} MSI-X bad-address {} "
              "out-of-table {}",
              prefix, s.guest_reads, s.guest_writes, s.doorbells, s.doorbells_ignored, s.split_accesses,
              s.refused_accesses, m.refused_addresses, m.out_of_table);
}

} // namespace sv::nvme
