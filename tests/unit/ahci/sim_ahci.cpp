// Simulated AHCI HBA: the register file (AHCI 1.3.1 §3.1, §3.3), resets and
// the PxCMD handshakes (§10.1.2, §10.4), interrupts (§10.7). Command
// execution is in sim_ahci_commands.cpp. See sim_ahci.hpp.
#include "ahci/sim_ahci.hpp"

#include <algorithm>
#include <cstring>

#include "devices/storage/ahci/ahci_registers.hpp"

namespace svtest {
using namespace sv::ahci;

namespace {
// PxIE bits that exist (§3.3.6); PxCMD bits software may write (§3.3.7).
constexpr uint32_t kIeValid = 0xfdc000ffu;
constexpr uint32_t kCmdWritable = pcmd::kSt | pcmd::kSud | pcmd::kPod | pcmd::kClo | pcmd::kFre |
                                  pcmd::kApste | pcmd::kAtapi | pcmd::kDlae | pcmd::kAlpe |
                                  pcmd::kAsp | pcmd::kIccMask;
// PxIS bits that are RO reflections of PxSERR / presence rather than RWC.
constexpr uint32_t kIsReadOnly = pis::kUfs | pis::kPcs | pis::kPrcs;
} // namespace

SimAhci::SimAhci(SimPhysMemory& mem, unsigned ports) : mem_(mem), nports_(ports) {
    // QEMU ICH9's CAP (docs/design.md §5) with NP = ports - 1.
    cap = (0xc0141f05u & ~cap::kNpMask) | (ports - 1);
    hba_reset();
}

void SimAhci::attach_disk(unsigned p, uint64_t sectors) {
    ports_[p].dev.kind = SimSataKind::Disk;
    ports_[p].dev.platter.assign(sectors * 512, 0);
    port_reset(p);
    link_up(p);
}

void SimAhci::attach_atapi(unsigned p, uint64_t blocks) {
    ports_[p].dev.kind = SimSataKind::Atapi;
    ports_[p].dev.platter.assign(blocks * 2048, 0);
    port_reset(p);
    link_up(p);
}

bool SimAhci::irq() const { return (ghc_ & ghc::kIe) && is_ != 0; }

bool SimAhci::only_touched(const std::vector<std::pair<uint64_t, uint64_t>>& regions) const {
    for (const SimAhciAccess& a : accesses) {
        const bool inside = std::any_of(regions.begin(), regions.end(), [&](auto r) {
            return a.addr >= r.first && a.addr + a.len <= r.first + r.second;
        });
        if (!inside) return false;
    }
    return true;
}

uint64_t SimAhci::count(SimAhciAccess::What w) const {
    return static_cast<uint64_t>(
        std::count_if(accesses.begin(), accesses.end(), [&](auto& a) { return a.what == w; }));
}

uint32_t SimAhci::read32(uint32_t off) {
    ++register_reads;
    if (off & 3) return 0xffffffff; // the model takes aligned DWORDs only
    if (off >= kPortBase) {
        const unsigned p = (off - kPortBase) / kPortStride;
        if (p >= nports_) return 0;
        return port_read(p, (off - kPortBase) % kPortStride);
    }
    switch (off) {
    case reg::kCap: return cap;
    case reg::kGhc: return ghc_;
    case reg::kIs: return is_;
    case reg::kPi: return nports_ >= 32 ? 0xffffffffu : (1u << nports_) - 1;
    case reg::kVs: return 0x00010300; // AHCI 1.3
    case reg::kCap2: return cap2;
    case reg::kBohc: return (cap2 & cap2::kBoh) ? bohc_ : 0;
    default: return 0; // CCC and EM not implemented (CAP.CCCS, CAP.EMS clear)
    }
}

void SimAhci::write32(uint32_t off, uint32_t v) {
    ++register_writes;
    if (off & 3) return;
    if (off >= kPortBase) {
        const unsigned p = (off - kPortBase) / kPortStride;
        if (p < nports_) port_write(p, (off - kPortBase) % kPortStride, v);
        return;
    }
    switch (off) {
    case reg::kGhc:
        if (v & ghc::kHr) {
            hba_reset(); // §10.4.3: HR resets the whole HBA and clears itself
            return;
        }
        // CAP.SAM: AE is read-only 1 (§3.1.2).
        ghc_ = ghc::kAe | (v & ghc::kIe);
        return;
    case reg::kIs:
        is_ &= ~v;
        update_ips(); // a port whose enabled PxIS bits stay set re-asserts
        return;
    case reg::kBohc:
        if (!(cap2 & cap2::kBoh)) return;
        // §10.6.3: OS sets OOS; the (absent) BIOS lets go at once.
        bohc_ = (bohc_ & ~(v & bohc::kOoc)) & ~(bohc::kOos | bohc::kSooe);
        bohc_ |= v & (bohc::kOos | bohc::kSooe);
        if (bohc_ & bohc::kOos) bohc_ &= ~(bohc::kBos | bohc::kBb);
        return;
    default: return; // RO or not implemented
    }
}

uint32_t SimAhci::port_read(unsigned p, uint32_t r) {
    Port& q = ports_[p];
    switch (r) {
    case preg::kClb: return q.clb;
    case preg::kClbu: return q.clbu;
    case preg::kFb: return q.fb;
    case preg::kFbu: return q.fbu;
    case preg::kIs: return q.is;
    case preg::kIe: return q.ie;
    case preg::kCmd: return q.cmd;
    case preg::kTfd: return q.tfd;
    case preg::kSig: return q.sig;
    case preg::kSsts: return q.ssts;
    case preg::kSctl: return q.sctl;
    case preg::kSerr: return q.serr;
    case preg::kSact: return q.sact;
    case preg::kCi: return q.ci;
    case preg::kSntf: return q.sntf;
    default: return 0; // FBS (CAP.FBSS clear), DEVSLP (CAP2.SDS clear), reserved
    }
}

void SimAhci::port_write(unsigned p, uint32_t r, uint32_t v) {
    Port& q = ports_[p];
    switch (r) {
    // §3.3.1-§3.3.4: only while the engines are stopped (CR / FR clear).
    case preg::kClb:
        if (!(q.cmd & pcmd::kCr)) q.clb = v & ~kClbReservedMask;
        return;
    case preg::kClbu:
        if (!(q.cmd & pcmd::kCr)) q.clbu = v;
        return;
    case preg::kFb:
        if (!(q.cmd & pcmd::kFr)) q.fb = v & ~kFbReservedMask;
        return;
    case preg::kFbu:
        if (!(q.cmd & pcmd::kFr)) q.fbu = v;
        return;
    case preg::kIs:
        q.is &= ~(v & ~kIsReadOnly);
        update_ips();
        return;
    case preg::kIe:
        q.ie = v & kIeValid;
        update_ips();
        return;
    case preg::kCmd: {
        const uint32_t old = q.cmd;
        uint32_t n = (old & ~kCmdWritable) | (v & kCmdWritable);
        if (n & pcmd::kClo) { // §3.3.7 CLO: clear BSY/DRQ, then clear itself
            q.tfd &= ~uint32_t{tfd::kStsBsy | tfd::kStsDrq};
            n &= ~pcmd::kClo;
        }
        // FR follows FRE, CR follows ST (the handshakes of §10.3.1/§10.3.2 are
        // immediate here).
        n = (n & ~pcmd::kFr) | ((n & pcmd::kFre) ? pcmd::kFr : 0);
        if ((n & pcmd::kSt) && !(old & pcmd::kSt) &&
            (q.tfd & (tfd::kStsBsy | tfd::kStsDrq))) {
            n &= ~pcmd::kSt; // §10.3.1: ST may only be set with BSY and DRQ clear
        }
        if (!(n & pcmd::kSt) && (old & pcmd::kSt)) {
            // §3.3.14 / §3.3.13: clearing ST clears PxCI and PxSACT; the
            // device forgets its queue when the port is restarted.
            q.ci = q.sact = q.ncq_pending = q.held = q.started = 0;
            q.stalled = false;
            n &= ~pcmd::kCcsMask;
        }
        n = (n & ~pcmd::kCr) | ((n & pcmd::kSt) ? pcmd::kCr : 0);
        q.cmd = n;
        return;
    }
    case preg::kSctl: {
        const uint32_t old_det = q.sctl & scr::kDetMask;
        q.sctl = v & 0xfffu;
        const uint32_t det = v & scr::kDetMask;
        if (det == scr::kSctlDetComreset) {
            port_reset(p); // §10.4.2: COMRESET held while DET = 1
            q.ssts = q.dev.kind == SimSataKind::None ? 0 : scr::kSstsDetPresentNoPhy;
        } else if (det == scr::kSctlDetDisable) {
            port_reset(p);
            q.ssts = scr::kSstsDetOffline;
        } else if (det == scr::kSctlDetNone && old_det != scr::kSctlDetNone) {
            link_up(p);
        }
        return;
    }
    case preg::kSerr:
        q.serr &= ~v;
        if (!(q.serr & serr::kDiagX)) q.is &= ~pis::kPcs;
        if (!(q.serr & serr::kDiagN)) q.is &= ~pis::kPrcs;
        update_ips();
        return;
    case preg::kSact:
        // §3.3.13: software sets bits (only while ST), never clears them.
        if (q.cmd & pcmd::kSt) q.sact |= v;
        return;
    case preg::kCi:
        if (!(q.cmd & pcmd::kSt)) { // §3.3.14: valid only while ST is set
            ++ignored_ci_writes;
            return;
        }
        q.ci |= v;
        process(p);
        return;
    case preg::kSntf: q.sntf &= ~v; return;
    default: return;
    }
}

void SimAhci::hba_reset() {
    // §10.4.3: GHC.HR resets every port and the global registers except the
    // HwInit ones (CAP, PI, ...); GHC.AE stays 1 (CAP.SAM).
    ghc_ = ghc::kAe;
    is_ = 0;
    bohc_ = (cap2 & cap2::kBoh) ? bohc::kBos : 0;
    for (unsigned p = 0; p < nports_; ++p) {
        Port& q = ports_[p];
        q.clb = q.clbu = q.fb = q.fbu = q.is = q.ie = q.cmd = q.sctl = 0;
        q.sntf = 0;
        port_reset(p);
        link_up(p);
    }
}

void SimAhci::port_reset(unsigned p) {
    Port& q = ports_[p];
    q.ci = q.sact = q.ncq_pending = q.held = q.started = 0;
    q.stalled = false;
    q.srst = false;
    q.multiple = 0;
    q.cmd &= ~pcmd::kCcsMask;
    q.ssts = 0;
    q.tfd = 0x7f;
    q.sig = sig::kNone;
}

void SimAhci::link_up(unsigned p) {
    Port& q = ports_[p];
    if (q.dev.kind == SimSataKind::None) {
        q.ssts = scr::kSstsDetNone;
        return;
    }
    // Gen 1, active, device present with PHY communication; the device's
    // signature D2H FIS (ATA8-ACS §9.12 signatures) lands in PxSIG/PxTFD and,
    // with FRE, in the received FIS area.
    q.ssts = scr::kSstsDetPresentPhy | (1u << 4) | scr::kSstsIpmActive;
    q.serr |= serr::kDiagX | serr::kDiagN;
    q.is |= pis::kPcs | pis::kPrcs;
    const bool atapi = q.dev.kind == SimSataKind::Atapi;
    q.sig = atapi ? sig::kAtapi : sig::kAta;
    d2h(p, atapi ? 0x00 : 0x50, 0x01, false, true);
    update_ips();
}

void SimAhci::update_ips() {
    for (unsigned p = 0; p < nports_; ++p)
        if (ports_[p].is & ports_[p].ie) is_ |= 1u << p;
}

void SimAhci::raise(unsigned p, uint32_t bits) {
    ports_[p].is |= bits;
    update_ips();
}

} // namespace svtest
