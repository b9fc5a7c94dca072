// One mediated AHCI port (see ahci_port.hpp; devices/storage/ahci/README.md
// §2 virtual registers, §3 issue, §4 completion, §5 resets).
#include "devices/storage/ahci/ahci_port.hpp"

#include <cstring>
#include <new>

#include "devices/storage/ahci/ahci_controller.hpp"
#include "lib/log.hpp"

namespace sv::ahci {

namespace {
constexpr uint32_t bit(unsigned slot) { return 1u << slot; }
constexpr uint32_t low32(uint64_t v) { return static_cast<uint32_t>(v); }
constexpr uint32_t high32(uint64_t v) { return static_cast<uint32_t>(v >> 32); }
constexpr uint64_t set_low(uint64_t v, uint32_t lo) { return (v & ~uint64_t{0xffffffff}) | lo; }
constexpr uint64_t set_high(uint64_t v, uint32_t hi) { return (v & 0xffffffffu) | (uint64_t{hi} << 32); }
unsigned popcount(uint32_t v) { return static_cast<unsigned>(__builtin_popcount(v)); }

// PxCMD bits the guest may not set: PMA (§3.3.7; port multipliers are
// hidden, CAP.SPM reads 0).
constexpr uint32_t kCmdGuestMask = ~pcmd::kPma;

void hex2(char (&out)[3], uint8_t v) {
    constexpr char digits[] = "0123456789abcdef";
    out[0] = digits[v >> 4];
    out[1] = digits[v & 0xf];
    out[2] = 0;
}
} // namespace

AhciPort::AhciPort(unsigned index, const Env& env, const SlotEnv& slot_env, DmaBuffer block)
    : index_(index), env_(env), block_(block) {
    auto* list = reinterpret_cast<CommandHeader*>(block_.host);
    for (unsigned s = 0; s < kMaxCommandSlots; ++s) {
        const uint64_t off = kShadowTablesOffset + s * kShadowTableStride;
        DmaBuffer table{block_.host + off, block_.phys + off, static_cast<size_t>(kShadowTableBytes)};
        slots_[s].bind(slot_env, list + s, table);
    }
}

void AhciPort::init_hardware() {
    // §10.1.2: a port the firmware left running is stopped before its
    // command list may change: ST off, wait for CR; FRE off, wait for FR.
    uint32_t cmd = real(preg::kCmd);
    if (cmd & (pcmd::kSt | pcmd::kCr)) {
        set_real(preg::kCmd, cmd & ~pcmd::kSt);
        wait_cr_clear();
        cmd = real(preg::kCmd);
    }
    if (cmd & (pcmd::kFre | pcmd::kFr)) {
        set_real(preg::kCmd, cmd & ~pcmd::kFre);
        for (unsigned n = 0; n < kHbaPollReads && (real(preg::kCmd) & pcmd::kFr); ++n) {}
    }
    fre_ = st_ = false;
    fis_synced_ = false;
    // The guest first sees what the firmware programmed (its own addresses).
    guest_clb_ = (uint64_t{real(preg::kClbu)} << 32) | (real(preg::kClb) & ~kClbReservedMask);
    guest_fb_ = (uint64_t{real(preg::kFbu)} << 32) | (real(preg::kFb) & ~kFbReservedMask);
    // FIS-based switching stays off (§3.3.16 EN may change only with ST clear).
    if (real(preg::kFbs) & fbs::kEn) set_real(preg::kFbs, 0);
    point_at_shadows();
}

void AhciPort::point_at_shadows() {
    // §3.3.1-§3.3.4: these take effect only while CR / FR are clear; callers
    // make sure of that (boot, after HR, before ST / FRE 0 -> 1).
    set_real(preg::kClbu, high32(shadow_list_phys()));
    set_real(preg::kClb, low32(shadow_list_phys()));
    set_real(preg::kFbu, high32(shadow_fis_phys()));
    set_real(preg::kFb, low32(shadow_fis_phys()));
}

bool AhciPort::shadows_in_place() {
    return real(preg::kClb) == low32(shadow_list_phys()) && real(preg::kClbu) == high32(shadow_list_phys()) &&
           real(preg::kFb) == low32(shadow_fis_phys()) && real(preg::kFbu) == high32(shadow_fis_phys());
}

bool AhciPort::wait_cr_clear() {
    for (unsigned n = 0; n < kHbaPollReads; ++n)
        if (!(real(preg::kCmd) & pcmd::kCr)) return true;
    return false;
}

uint32_t AhciPort::virtual_ci() const {
    // Waiting slots and running non-queued ones are still set; a queued one
    // shows the HBA's PxCI (cleared when the device accepted it: the
    // completion is in PxSACT); a failed non-queued one stays set.
    return waiting_ | (running_ & ~queued_) | (running_ & queued_ & last_ci_) | (failed_ & ~queued_);
}

uint32_t AhciPort::peek(uint32_t reg) {
    switch (reg) {
    case preg::kClb: return low32(guest_clb_);
    case preg::kClbu: return high32(guest_clb_);
    case preg::kFb: return low32(guest_fb_);
    case preg::kFbu: return high32(guest_fb_);
    case preg::kSact: return guest_sact_;
    case preg::kCi: return virtual_ci();
    case preg::kIs:
    case preg::kIe:
    case preg::kCmd:
    case preg::kTfd:
    case preg::kSig:
    case preg::kSsts:
    case preg::kSctl:
    case preg::kSerr:
    case preg::kSntf:
    case preg::kDevslp: return real(reg);
    default: return 0; // PxFBS (FBS hidden), reserved, vendor specific 70h-7Fh (hidden)
    }
}

uint32_t AhciPort::read(uint32_t reg) {
    switch (reg) {
    case preg::kIs:
    case preg::kTfd:
    case preg::kSact:
    case preg::kCi:
        // README §4: the guest learns of completions from these (and the
        // global IS): data and FISes reach it first.
        complete_done();
        break;
    case preg::kCmd: reap_zombies(); break;
    default: break;
    }
    return peek(reg);
}

void AhciPort::write(uint32_t reg, uint32_t v) {
    switch (reg) {
    case preg::kClb:
        // §3.3.1: written while CR is set the HBA ignores it; so does the
        // mediator (the real register keeps naming the shadow).
        if (!(real(preg::kCmd) & pcmd::kCr)) guest_clb_ = set_low(guest_clb_, v & ~kClbReservedMask);
        return;
    case preg::kClbu:
        if (!(real(preg::kCmd) & pcmd::kCr)) guest_clb_ = set_high(guest_clb_, v);
        return;
    case preg::kFb:
        if (!(real(preg::kCmd) & pcmd::kFr)) {
            guest_fb_ = set_low(guest_fb_, v & ~kFbReservedMask);
            fis_synced_ = false;
        }
        return;
    case preg::kFbu:
        if (!(real(preg::kCmd) & pcmd::kFr)) {
            guest_fb_ = set_high(guest_fb_, v);
            fis_synced_ = false;
        }
        return;
    case preg::kIs:
        // W1C, passed; completions and an error the guest is about to clear
        // are taken in first so the error latch cannot be bypassed.
        if (busy()) complete_done();
        set_real(reg, v);
        return;
    case preg::kIe:
    case preg::kSerr:
    case preg::kSntf:
    case preg::kDevslp: set_real(reg, v); return;
    case preg::kCmd: write_cmd(v); return;
    case preg::kSctl: write_sctl(v); return;
    case preg::kSact:
        // §3.3.13: software sets bits while ST is set; the real bit is set
        // only when the command is issued (issue()), after its shadow exists.
        if (st_) guest_sact_ |= v;
        return;
    case preg::kCi: issue(v); return;
    default: return; // PxFBS (dropped: FBS stays off), reserved, vendor specific
    }
}

void AhciPort::write_cmd(uint32_t value) {
    const uint32_t old = real(preg::kCmd);
    uint32_t v = value & kCmdGuestMask;
    const bool st_on = (v & pcmd::kSt) && !(old & pcmd::kSt);
    const bool st_off = !(v & pcmd::kSt) && (old & pcmd::kSt);
    const bool fre_on = (v & pcmd::kFre) && !(old & pcmd::kFre);
    if (st_on || fre_on) {
        // README §5: ST / FRE 0 -> 1 only with the real PxCLB/PxFB on the
        // shadows (a reset may have cleared them).
        reap_zombies();
        if (!shadows_in_place()) point_at_shadows();
        // A dropped command the HBA may still be fetching holds its slot:
        // the port stays stopped until CR clears (the guest's CR poll sees it).
        if (st_on && zombie_) v &= ~pcmd::kSt;
    }
    set_real(preg::kCmd, v);
    const bool fre = (v & pcmd::kFre) != 0;
    if (fre != fre_) fis_synced_ = false;
    fre_ = fre;
    st_ = (v & pcmd::kSt) != 0;
    if (st_off) {
        // §3.3.14 / §3.3.13: ST 1 -> 0 clears PxCI and PxSACT; the HBA lets
        // go of every command once CR is clear.
        drop_all(false);
    }
}

void AhciPort::write_sctl(uint32_t v) {
    const uint32_t old_det = real(preg::kSctl) & scr::kDetMask;
    const uint32_t det = v & scr::kDetMask;
    set_real(preg::kSctl, v);
    if ((det == scr::kSctlDetComreset || det == scr::kSctlDetDisable) && det != old_det) {
        // §10.4.2 COMRESET (or the PHY offline): the device forgets every
        // command; the mediator drops them like the HBA does.
        ++env_.stats->port_resets;
        drop_all(false);
    }
}

void AhciPort::note_busy() {
    if (!env_.busy_ports) return;
    if (busy()) *env_.busy_ports |= bit(index_);
    else *env_.busy_ports &= ~bit(index_);
}

void AhciPort::issue(uint32_t slots) {
    // §3.3.14: PxCI is only valid while ST is set.
    if (!st_) return;
    reap_zombies();
    const uint32_t fresh = slots & ~(running_ | failed_ | waiting_ | zombie_);
    if (!fresh) return;
    uint32_t issue_mask = 0, queued_mask = 0;
    for (unsigned s = 0; s < kMaxCommandSlots; ++s) {
        if (!(fresh & bit(s))) continue;
        // Order kept: behind a waiting command, a new one waits too.
        if (wait_count_ == 0 && start(s, issue_mask, queued_mask)) continue;
        if (!(waiting_ & bit(s))) {
            ++env_.stats->waits;
            wait_order_[wait_count_++] = static_cast<uint8_t>(s);
            waiting_ |= bit(s);
        }
    }
    push_real(issue_mask, queued_mask);
    note_busy();
}

bool AhciPort::start(unsigned s, uint32_t& issue_mask, uint32_t& queued_mask) {
    const bool atapi = real(preg::kSig) == sig::kAtapi;
    CommandSlot& slot = slots_[s];
    const Prepared p = slot.prepare(guest_clb_, s, atapi, (guest_sact_ & bit(s)) != 0, env_.waiter);
    if (p == Prepared::Wait) return false;
    if (p == Prepared::Issue && !slot.queued() && ((running_ & queued_) | queued_mask)) {
        // ATA8-ACS §7.21: a non-queued command while queued ones are
        // outstanding aborts the whole queue; refusing it keeps it.
        slot.refuse(CommandFault::NonQueuedWhileQueued);
    }
    ++env_.stats->commands;
    if (slot.fault() != CommandFault::None) {
        note_fault(s);
    } else if (slot.queued()) {
        ++env_.stats->queued_commands;
    }
    issue_mask |= bit(s);
    if (slot.queued() && slot.fault() == CommandFault::None) queued_mask |= bit(s);
    return true;
}

void AhciPort::push_real(uint32_t issue_mask, uint32_t queued_mask) {
    if (!issue_mask) return;
    running_ |= issue_mask;
    queued_ = (queued_ & ~issue_mask) | queued_mask;
    last_ci_ |= issue_mask;
    // §5.6.4.1 (NCQ): PxSACT before PxCI.
    if (queued_mask) set_real(preg::kSact, queued_mask);
    set_real(preg::kCi, issue_mask);
}

void AhciPort::note_fault(unsigned s) {
    const CommandFault f = slots_[s].fault();
    const unsigned i = static_cast<unsigned>(f);
    ++env_.stats->refused_commands;
    if (i < kMaxCommandFaults) ++env_.stats->faults[i];
    if (i < 64 && !(*env_.logged_faults & (uint64_t{1} << i))) {
        *env_.logged_faults |= uint64_t{1} << i;
        char op[3];
        hex2(op, slots_[s].command());
        log::warn("ahci: port {} refused command {}h: {}", index_, op, to_string(f));
    }
}

bool AhciPort::retry_waiting(unsigned& budget) {
    if (!wait_count_) return true;
    if (!st_) return true; // drop_all() will clear them
    uint32_t issue_mask = 0, queued_mask = 0;
    bool all = true;
    unsigned done = 0;
    while (done < wait_count_) {
        if (budget == 0) {
            all = false;
            break;
        }
        --budget;
        if (!start(wait_order_[done], issue_mask, queued_mask)) {
            all = false;
            break;
        }
        waiting_ &= ~bit(wait_order_[done]);
        ++done;
    }
    if (done) {
        std::memmove(wait_order_, wait_order_ + done, wait_count_ - done);
        wait_count_ -= done;
    }
    push_real(issue_mask, queued_mask);
    note_busy();
    return all;
}

void AhciPort::complete_done() {
    reap_zombies();
    if (running_) {
        // Read PxCI / PxSACT before PxIS: an error the HBA raised with (or
        // before) letting go of a slot is then seen with it.
        const uint32_t ci = real(preg::kCi);
        const uint32_t sact = (running_ & queued_) ? real(preg::kSact) : 0;
        const uint32_t is = real(preg::kIs);
        last_ci_ = ci;
        if (is & pis::kFatalMask) error_latched_ = true;
        // Non-queued: done when PxCI cleared; queued: when PxSACT cleared
        // (the device's Set Device Bits FIS, SATA 3.x §13.6.4).
        const uint32_t done = running_ & ~ci & (~queued_ | ~sact);
        for (unsigned s = 0; s < kMaxCommandSlots; ++s) {
            if (!(done & bit(s))) continue;
            CommandSlot& slot = slots_[s];
            // AHCI 1.3.1 §6.2.2: after a fatal error (TFES, HBFS, HBDS, IFS,
            // OFS) the HBA stops, and with NCQ the device has aborted every
            // outstanding tag (ATA8-ACS NCQ error). A slot it lets go of
            // then is not known good (QEMU clears the failing slot's PxCI
            // too): it fails, nothing is copied, and it stays visible until
            // the guest's error handling stops or resets the port. A
            // refused command (the device aborted our NOP) fails the same way.
            const bool ok = !error_latched_ && slot.fault() == CommandFault::None;
            slot.complete(ok);
            running_ &= ~bit(s);
            if (ok) {
                guest_sact_ &= ~bit(s);
                queued_ &= ~bit(s);
            } else {
                failed_ |= bit(s);
            }
        }
    }
    note_busy();
    copy_received_fis();
}

void AhciPort::copy_received_fis() {
    // README §4 step 3, after the data of every completed slot: the guest
    // reads its own FIS area only after the register read that follows.
    if (!fre_) return;
    const uint8_t* shadow = block_.host + kShadowFisOffset;
    if (fis_synced_ && std::memcmp(fis_copied_, shadow, rfis::kSize) == 0) return; // no FIS arrived
    uint8_t* dst = env_.memory->map(guest_fb_, rfis::kSize);
    if (!dst) return; // not guest RAM: nothing is written there
    std::memcpy(fis_copied_, shadow, rfis::kSize);
    std::memcpy(dst, fis_copied_, rfis::kSize);
    fis_synced_ = true;
}

void AhciPort::drop_all(bool hba_idle) {
    const uint32_t held = running_ | zombie_;
    if (held) {
        env_.stats->dropped_in_flight += popcount(running_);
        if (hba_idle || wait_cr_clear()) {
            for (unsigned s = 0; s < kMaxCommandSlots; ++s)
                if (held & bit(s)) slots_[s].abandon();
            zombie_ = 0;
        } else {
            zombie_ |= running_;
        }
    }
    // Failed slots were completed already; waiting ones never reached the HBA.
    running_ = queued_ = failed_ = waiting_ = 0;
    wait_count_ = 0;
    guest_sact_ = 0;
    last_ci_ = 0;
    error_latched_ = false;
    note_busy();
}

void AhciPort::reap_zombies() {
    if (!zombie_) return;
    if (real(preg::kCmd) & pcmd::kCr) return;
    for (unsigned s = 0; s < kMaxCommandSlots; ++s)
        if (zombie_ & bit(s)) slots_[s].abandon();
    zombie_ = 0;
    note_busy();
}

void AhciPort::after_hba_reset() {
    // §10.4.3: the HBA reset every port; no command is fetched any more.
    drop_all(true);
    guest_clb_ = guest_fb_ = 0;
    fre_ = st_ = fis_synced_ = false; // §10.4.3: PxCMD is reset
    point_at_shadows();
}

void AhciPort::after_function_reset() {
    // The function reset every port as HR does (AHCI 1.3.1 §10.4.3): the
    // guest's commands are gone, nothing copied. What the HBA held stays
    // held (zombies) until repoint() sees the port stopped: no register is
    // read now, and an HBA that did not really reset may still fetch.
    env_.stats->dropped_in_flight += popcount(running_);
    zombie_ |= running_;
    running_ = queued_ = failed_ = waiting_ = 0; // as drop_all(), without its PxCMD read
    wait_count_ = 0;
    guest_sact_ = 0;
    last_ci_ = 0;
    error_latched_ = false;
    note_busy();
    guest_clb_ = guest_fb_ = 0;
    fre_ = st_ = fis_synced_ = false;
}

void AhciPort::repoint() {
    // First access after a function reset: an HBA that kept running (a
    // device whose reset did not happen) is stopped first (§10.1.2), then
    // the zombies go and the real CLB/FB name the shadows again.
    const uint32_t cmd = real(preg::kCmd);
    if (cmd & (pcmd::kSt | pcmd::kFre)) {
        set_real(preg::kCmd, cmd & ~(pcmd::kSt | pcmd::kFre));
        (void)wait_cr_clear();
    }
    reap_zombies();
    if (!(real(preg::kCmd) & (pcmd::kCr | pcmd::kFr))) point_at_shadows();
}

void AhciPort::resync() {
    drop_all(true);
    const uint32_t cmd = real(preg::kCmd);
    if (cmd & (pcmd::kSt | pcmd::kFre)) {
        set_real(preg::kCmd, cmd & ~(pcmd::kSt | pcmd::kFre));
        wait_cr_clear();
    }
    fre_ = st_ = fis_synced_ = false;
    point_at_shadows();
}

} // namespace sv::ahci
