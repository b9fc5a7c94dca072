// The AHCI HBA mediator (see ahci_controller.hpp): access splitting, generic
// host control (AHCI 1.3.1 §3.1), HBA reset, and the fan-out to the ports.
#include "devices/storage/ahci/ahci_controller.hpp"

#include <new>

#include "devices/storage/ahci/ahci_port.hpp"
#include "devices/storage/common/dword_access.hpp"
#include "lib/log.hpp"

namespace sv::ahci {

static_assert(kCommandFaultCount <= kMaxCommandFaults, "ControllerStats::faults too small");
static_assert(kCommandFaultCount <= 64, "logged_faults_ is a 64-bit mask");

namespace {
// CAP bits the guest does not see (README §2): SPM (port multipliers, whose
// PM port field the mediator refuses), FBSS (FIS-based switching: PxFBS
// writes are dropped), EMS (enclosure management: EM_LOC/EM_CTL hidden; its
// message buffer is more of the ABAR the guest would drive unmediated) and
// CCCS (command completion coalescing: CCC_CTL/CCC_PORTS hidden; it would
// only delay interrupts, but hiding it keeps one completion path). SXS,
// SALP, SSS, SNCQ, S64A and the rest pass: they describe the link or the
// HBA's addressing and move no data past the mediator (S64A: every guest
// address is validated, the shadows live below 4 GiB).
constexpr uint32_t kCapHidden = cap::kSpm | cap::kFbss | cap::kEms | cap::kCccs;

// Retried commands per trapped access, over all ports: bounds the work (and
// the encryption) one exit can do for earlier commands.
constexpr unsigned kRetriesPerAccess = kMaxCommandSlots;

// Registers where a written 0 changes nothing (RWC and "software sets"): a
// sub-DWORD write passes only its own bytes, the others as 0.
bool write_only_bytes(uint32_t offset) {
    if (offset < kPortBase) return offset == reg::kIs;
    switch ((offset - kPortBase) % kPortStride) {
    case preg::kIs:
    case preg::kSerr:
    case preg::kSntf:
    case preg::kSact:
    case preg::kCi: return true;
    default: return false;
    }
}

constexpr uint64_t round_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }
} // namespace

AhciController::AhciController(GuestMemory& memory, storage::ShadowPool& pool, const crypto::Xts* key,
                               MmioRegisters& hba)
    : memory_(memory), pool_(pool), cipher_(key, storage::kSector512), hba_(hba) {}

AhciController::~AhciController() {
    for (AhciPort*& p : ports_) {
        if (p) p->~AhciPort();
        p = nullptr;
    }
}

uint64_t AhciController::heap_bytes(unsigned ports) {
    // Per port: the DMA block (shadow list, FIS area, 32 shadow tables) with
    // its alignment slack, and the port's bookkeeping (its 32 slots).
    const uint64_t per_port = kPortDmaBytes + kCommandListAlign + sizeof(AhciPort) + alignof(AhciPort);
    return uint64_t{ports} * per_port;
}

uint64_t AhciController::pool_bytes(unsigned ports) {
    // One largest command (65536 sectors plus the region list of a PRDT of
    // 65535 entries: kMaxPoolBytesPerCommand) always fits, so every valid
    // command eventually runs (issue #9 item 4); 4 MiB more keep a queue of
    // ordinary requests moving beside it. Ports share it: a command that
    // does not fit waits. Independent of the port count by design.
    (void)ports;
    const uint64_t chunk = storage::kDefaultChunkBytes;
    return round_up(kMaxPoolBytesPerCommand, chunk) + (uint64_t{4} << 20);
}

Result<void> AhciController::init(DmaAllocator& dma) {
    if (ready_) return {};
    real_cap_ = hba_.read32(reg::kCap);
    pi_ = hba_.read32(reg::kPi);
    if (!pool_.ready()) return fail(Error::OutOfMemory);
    TRY(pool_.reserve(client_, pool_bytes(static_cast<unsigned>(__builtin_popcount(pi_)))));

    const SlotEnv slot_env{&memory_, &pool_, &client_, &cipher_, std::span<uint8_t>(bounce_), &stats_};
    const AhciPort::Env env{&hba_, &memory_, &pool_, &waiter_, &stats_, &logged_faults_, &busy_ports_};
    for (unsigned p = 0; p < kMaxPorts; ++p) {
        if (!(pi_ & (1u << p))) continue;
        const DmaBuffer block = TRY(dma.allocate(kPortDmaBytes, kCommandListAlign));
        // The shadows are named through 32-bit registers when the HBA lacks
        // S64A; the slot engine puts shadow tables below 4 GiB regardless.
        if (block.phys + kPortDmaBytes > storage::kBelow4G) return fail(Error::OutOfRange);
        const DmaBuffer state = TRY(dma.allocate(sizeof(AhciPort), alignof(AhciPort)));
        ports_[p] = new (state.host) AhciPort(p, env, slot_env, block);
        ports_[p]->init_hardware();
        ++implemented_;
    }
    ready_ = true;
    return {};
}

unsigned AhciController::implemented_ports() const { return implemented_; }
const ControllerStats& AhciController::stats() const { return stats_; }

AhciPort* AhciController::port_at(uint32_t offset) const {
    if (offset < kPortBase) return nullptr;
    const uint32_t p = (offset - kPortBase) / kPortStride;
    return p < kMaxPorts ? ports_[p] : nullptr;
}

// --- accesses ---------------------------------------------------------------

bool AhciController::begin_access(uint32_t offset, uint8_t size) {
    if (!ready_ || !storage::access_size_ok(size)) return false;
    before_access();
    if (storage::straddles_dword(offset, size)) ++stats_.split_accesses;
    return true;
}

uint64_t AhciController::read(uint32_t offset, uint8_t size) {
    ++stats_.guest_reads;
    if (!begin_access(offset, size)) return 0;
    // docs/design.md §4 rule 2: an access that straddles DWORDs is split,
    // one register read per DWORD it touches, low DWORD first.
    const uint64_t value = storage::read_split(offset, size, [this](uint32_t dw) { return read_register(dw); });
    retry_waiting(); // completions above may have given chunks back
    return value;
}

void AhciController::write(uint32_t offset, uint8_t size, uint64_t value) {
    ++stats_.guest_writes;
    if (!begin_access(offset, size)) return;
    storage::write_split(offset, size, value, [this](uint32_t reg_offset, uint32_t bytes, uint32_t mask) {
        // A partial write to a RWC / write-1-to-set register writes only its
        // bytes; any other register is merged with its current value.
        const uint32_t v = (mask == 0xffffffffu || write_only_bytes(reg_offset))
                               ? bytes
                               : (peek_register(reg_offset) & ~mask) | bytes;
        write_register(reg_offset, v);
    });
    retry_waiting();
}

uint32_t AhciController::read_register(uint32_t offset) {
    if (offset < kPortBase) return read_host(offset);
    AhciPort* p = port_at(offset);
    return p ? p->read((offset - kPortBase) % kPortStride) : 0; // not implemented: 0
}

uint32_t AhciController::peek_register(uint32_t offset) {
    if (offset < kPortBase) {
        switch (offset) {
        case reg::kGhc:
        case reg::kBohc: return hba_.read32(offset) & ~(ghc::kHr | bohc::kOoc);
        default: return 0; // the rest is RO, hidden or RWC
        }
    }
    AhciPort* p = port_at(offset);
    return p ? p->peek((offset - kPortBase) % kPortStride) : 0;
}

void AhciController::write_register(uint32_t offset, uint32_t value) {
    if (offset < kPortBase) {
        write_host(offset, value);
        return;
    }
    if (AhciPort* p = port_at(offset)) p->write((offset - kPortBase) % kPortStride, value);
}

// --- §3.1 generic host control ------------------------------------------------

uint32_t AhciController::virtual_cap() { return hba_.read32(reg::kCap) & ~kCapHidden; }

uint32_t AhciController::read_host(uint32_t offset) {
    switch (offset) {
    case reg::kCap: return virtual_cap();
    case reg::kGhc: return hba_.read32(offset);
    case reg::kIs:
        // README §4: completion work for every port, then the real value.
        complete_all_ports();
        return hba_.read32(offset);
    case reg::kPi: return pi_;
    case reg::kVs:
    case reg::kCap2:
    case reg::kBohc: return hba_.read32(offset);
    default:
        // CCC_CTL, CCC_PORTS, EM_LOC, EM_CTL (hidden with CAP.CCCS/EMS),
        // reserved 2Ch-9Fh and vendor specific A0h-FFh (hidden: their
        // meaning is the vendor's, nothing the mediator could check).
        return 0;
    }
}

void AhciController::write_host(uint32_t offset, uint32_t value) {
    switch (offset) {
    case reg::kGhc:
        if (value & ghc::kHr) {
            start_hba_reset();
            return;
        }
        hba_.write32(offset, value & (ghc::kIe | ghc::kAe)); // IE, AE pass; MRSM is RO
        return;
    case reg::kIs: hba_.write32(offset, value); return; // RWC, passed
    case reg::kBohc: hba_.write32(offset, value); return; // §10.6: passed (README §5)
    default:
        // CAP, PI, CAP2 are HwInit / write-once for firmware (an OS write
        // could enable hidden features on some HBAs): dropped, like VS, the
        // hidden CCC/EM registers, reserved and vendor-specific space.
        return;
    }
}

void AhciController::start_hba_reset() {
    // §10.4.3: HR resets every port; the HBA clears HR when done.
    ++stats_.hba_resets;
    hba_.write32(reg::kGhc, hba_.read32(reg::kGhc) | ghc::kHr);
    hr_pending_ = true;
    for (unsigned n = 0; n < kHbaPollReads; ++n)
        if (!(hba_.read32(reg::kGhc) & ghc::kHr)) break;
    if (!(hba_.read32(reg::kGhc) & ghc::kHr)) finish_hba_reset();
}

void AhciController::finish_hba_reset() {
    hr_pending_ = false;
    for (AhciPort* p : ports_)
        if (p) p->after_hba_reset();
}

void AhciController::before_access() {
    if (repoint_owed_) {
        repoint_owed_ = false;
        for (AhciPort* p : ports_)
            if (p) p->repoint();
    }
    if (hr_pending_ && !(hba_.read32(reg::kGhc) & ghc::kHr)) finish_hba_reset();
    // Only busy ports can hold zombies (AhciPort::Env::busy_ports).
    for (uint32_t busy = busy_ports_; busy; busy &= busy - 1)
        if (AhciPort* p = ports_[__builtin_ctz(busy)]) p->reap_zombies();
    retry_waiting();
}

void AhciController::retry_waiting() {
    if (!waiter_.fired()) return;
    waiter_.take();
    unsigned budget = kRetriesPerAccess;
    bool any_left = false;
    for (unsigned i = 0; i < kMaxPorts; ++i) {
        AhciPort* p = ports_[(retry_cursor_ + i) % kMaxPorts];
        if (!p || !p->has_waiting()) continue;
        if (budget == 0) {
            any_left = true;
            break;
        }
        p->retry_waiting(budget);
        if (p->has_waiting()) any_left = true;
    }
    retry_cursor_ = (retry_cursor_ + 1) % kMaxPorts;
    // Out of budget with room left: keep the flag so the next access goes on
    // (a port that had to wait again has queued the waiter anew).
    if (any_left && budget == 0) waiter_.shadow_space_available();
}

void AhciController::complete_all_ports() {
    // An idle port has nothing to complete; its received FISes reach the
    // guest at its own PxIS/PxCI/PxSACT/PxTFD reads, which the driver does
    // before it looks at its FIS area (README §4).
    for (uint32_t busy = busy_ports_; busy; busy &= busy - 1)
        if (AhciPort* p = ports_[__builtin_ctz(busy)]) p->complete_done();
}

void AhciController::resync() {
    if (!ready_) return;
    hr_pending_ = false;
    for (AhciPort* p : ports_)
        if (p) p->resync();
}

void AhciController::function_reset() {
    if (!ready_) return;
    ++stats_.function_resets;
    hr_pending_ = false;
    for (AhciPort* p : ports_)
        if (p) p->after_function_reset();
    repoint_owed_ = true;
}

void AhciController::log_statistics(const char* prefix) const {
    const ControllerStats& s = stats_;
    log::info("{}: commands {} queued {} refused {} waits {} encrypted {} B decrypted {} B copied {} B "
              "hba-resets {} port-resets {} dropped {} function-resets {}",
              prefix, s.commands, s.queued_commands, s.refused_commands, s.waits, s.bytes_encrypted,
              s.bytes_decrypted, s.bytes_copied, s.hba_resets, s.port_resets, s.dropped_in_flight,
              s.function_resets);
    for (unsigned f = 1; f < kCommandFaultCount; ++f)
        if (s.faults[f]) log::info("{}: refused {}: {}", prefix, to_string(static_cast<CommandFault>(f)), s.faults[f]);
}

} // namespace sv::ahci
