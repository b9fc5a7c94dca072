// Linux ahci driver model (see linux_ahci_model.hpp). Register sequences as in
// libahci.c: ahci_reset_controller, ahci_port_start, ahci_stop_engine /
// ahci_start_engine, ahci_do_hardreset (sata_link_hardreset: SControl DET 1
// then 0, wait for SStatus DET 3), ahci_qc_prep / ahci_qc_issue and the
// single-vector interrupt handler.
#include "ahci/linux_ahci_model.hpp"

#include <cstring>

#include "devices/storage/ahci/ahci_fis.hpp"
#include "devices/storage/ahci/ahci_memory.hpp"
#include "devices/storage/ahci/ahci_registers.hpp"

namespace svtest {
using namespace sv::ahci;

namespace {
constexpr unsigned kPollLimit = 1000; // the driver's timeouts, in polls
constexpr uint32_t kDefaultPortIrq = pis::kDhrs | pis::kPss | pis::kDss | pis::kSdbs | pis::kUfs |
                                     pis::kDps | pis::kPcs | pis::kPrcs | pis::kOfs | pis::kInfs |
                                     pis::kIfs | pis::kHbds | pis::kHbfs | pis::kTfes;
} // namespace

LinuxAhci::LinuxAhci(sv::MmioRegisters& regs, SimPhysMemory& mem, uint64_t base)
    : regs_(regs), mem_(mem), base_(base) {}

uint32_t LinuxAhci::rd(uint32_t off) {
    ++reads;
    return regs_.read32(off);
}

void LinuxAhci::wr(uint32_t off, uint32_t v) {
    ++writes;
    regs_.write32(off, v);
}

bool LinuxAhci::init_controller() {
    wr(reg::kGhc, rd(reg::kGhc) | ghc::kAe);
    wr(reg::kGhc, rd(reg::kGhc) | ghc::kHr);
    unsigned n = 0;
    while (rd(reg::kGhc) & ghc::kHr)
        if (++n > kPollLimit) return false;
    wr(reg::kGhc, rd(reg::kGhc) | ghc::kAe);
    cap = rd(reg::kCap);
    pi = rd(reg::kPi);
    wr(reg::kIs, rd(reg::kIs)); // ahci_init_controller: clear stale interrupts
    wr(reg::kGhc, rd(reg::kGhc) | ghc::kIe);
    return true;
}

void LinuxAhci::stop_engine(unsigned p) {
    uint32_t c = prd(p, preg::kCmd);
    if (!(c & (pcmd::kSt | pcmd::kCr))) return;
    pwr(p, preg::kCmd, c & ~pcmd::kSt);
    for (unsigned n = 0; n < kPollLimit && (prd(p, preg::kCmd) & pcmd::kCr); ++n) {}
    active[p] = ncq_active[p] = 0;
}

void LinuxAhci::start_engine(unsigned p) { pwr(p, preg::kCmd, prd(p, preg::kCmd) | pcmd::kSt); }

bool LinuxAhci::comreset(unsigned p) {
    stop_engine(p);
    const uint32_t sctl = prd(p, preg::kSctl) & ~scr::kDetMask;
    pwr(p, preg::kSctl, sctl | scr::kSctlDetComreset);
    pwr(p, preg::kSctl, sctl);
    bool up = false;
    for (unsigned n = 0; n < kPollLimit && !up; ++n)
        up = (prd(p, preg::kSsts) & scr::kDetMask) == scr::kSstsDetPresentPhy;
    pwr(p, preg::kSerr, 0xffffffff);
    if (!up) return false;
    for (unsigned n = 0; n < kPollLimit; ++n)
        if (!(prd(p, preg::kTfd) & (tfd::kStsBsy | tfd::kStsDrq))) return true;
    return false;
}

bool LinuxAhci::start_port(unsigned p) {
    std::memset(mem_.ram(cl(p)), 0, 0x1000 + 32 * kTableBytes);
    active[p] = ncq_active[p] = 0; // a (re)started port has nothing in flight
    stop_engine(p);
    pwr(p, preg::kCmd, prd(p, preg::kCmd) & ~pcmd::kFre);
    pwr(p, preg::kClbu, static_cast<uint32_t>(cl(p) >> 32));
    pwr(p, preg::kClb, static_cast<uint32_t>(cl(p)));
    pwr(p, preg::kFbu, static_cast<uint32_t>(rx_fis(p) >> 32));
    pwr(p, preg::kFb, static_cast<uint32_t>(rx_fis(p)));
    pwr(p, preg::kCmd, prd(p, preg::kCmd) | pcmd::kFre | pcmd::kSud | pcmd::kPod);
    const bool present = comreset(p);
    pwr(p, preg::kSerr, prd(p, preg::kSerr));
    pwr(p, preg::kIs, prd(p, preg::kIs));
    wr(reg::kIs, 1u << p);
    pwr(p, preg::kIe, kDefaultPortIrq);
    if (present) start_engine(p);
    return present;
}

std::vector<std::pair<uint64_t, uint32_t>> LinuxAhci::split(uint64_t buf, uint64_t bytes,
                                                            uint32_t max_entry) {
    std::vector<std::pair<uint64_t, uint32_t>> r;
    while (bytes) {
        const uint32_t n = static_cast<uint32_t>(bytes < max_entry ? bytes : max_entry);
        r.push_back({buf, n});
        buf += n;
        bytes -= n;
    }
    return r;
}

void LinuxAhci::issue(unsigned p, unsigned slot, const uint8_t (&cfis)[20],
                      const std::vector<std::pair<uint64_t, uint32_t>>& regions, bool write,
                      bool ncq, const uint8_t* acmd, uint64_t table_at) {
    const uint64_t t = table_at ? table_at : table(p, slot);
    uint8_t* tp = mem_.ram(t);
    std::memset(tp, 0, kPrdtOffset);
    std::memcpy(tp, cfis, sizeof cfis);
    if (acmd) std::memcpy(tp + 0x40, acmd, 16);
    for (size_t i = 0; i < regions.size(); ++i) {
        PrdtEntry e{};
        e.dba = static_cast<uint32_t>(regions[i].first);
        e.dbau = static_cast<uint32_t>(regions[i].first >> 32);
        e.dw3 = regions[i].second - 1;
        std::memcpy(tp + kPrdtOffset + 16 * i, &e, sizeof e);
    }
    CommandHeader h{};
    h.dw0 = (static_cast<uint32_t>(regions.size()) << hdr::kPrdtlShift) | 5u |
            (write ? hdr::kW : 0) | (acmd ? hdr::kA : 0);
    h.ctba = static_cast<uint32_t>(t);
    h.ctbau = static_cast<uint32_t>(t >> 32);
    std::memcpy(mem_.ram(cl(p) + 32 * slot), &h, sizeof h);
    active[p] |= 1u << slot;
    if (ncq) {
        ncq_active[p] |= 1u << slot;
        pwr(p, preg::kSact, 1u << slot);
    }
    pwr(p, preg::kCi, 1u << slot);
}

void LinuxAhci::rw(unsigned p, unsigned slot, bool write, uint64_t lba, uint32_t sectors,
                   uint64_t buf, bool ncq, uint32_t max_entry) {
    uint8_t f[20];
    if (ncq) fis_fpdma(f, write, lba, sectors, slot);
    else fis_rw_ext(f, write, lba, sectors);
    issue(p, slot, f, split(buf, uint64_t{sectors} * 512, max_entry), write, ncq);
}

void LinuxAhci::non_data(unsigned p, unsigned slot, uint8_t command, uint8_t features) {
    uint8_t f[20];
    fis_command(f, command, features);
    issue(p, slot, f, {}, false, false);
}

AhciCompletion LinuxAhci::interrupt(unsigned p) {
    AhciCompletion c;
    const uint32_t is = rd(reg::kIs);
    if (is & (1u << p)) {
        c.port_is = prd(p, preg::kIs);
        pwr(p, preg::kIs, c.port_is);
        c.error = c.port_is & pis::kFatalMask;
        if (c.error) c.tfd = prd(p, preg::kTfd);
        // ahci_handle_port_interrupt: NCQ in flight -> PxSACT, else PxCI.
        const uint32_t still = ncq_active[p] ? prd(p, preg::kSact) : prd(p, preg::kCi);
        const uint32_t mask = ncq_active[p] ? ncq_active[p] : active[p];
        c.completed = mask & ~still;
        if (!c.error) {
            active[p] &= ~c.completed;
            ncq_active[p] &= ~c.completed;
        }
    }
    wr(reg::kIs, is);
    return c;
}

void fis_rw_ext(uint8_t (&f)[20], bool write, uint64_t lba, uint32_t sectors) {
    std::memset(f, 0, sizeof f);
    f[0] = fis_type::kRegisterH2d;
    f[1] = fis_flag::kH2dCommand;
    f[2] = write ? 0x35 : 0x25;
    f[4] = static_cast<uint8_t>(lba);
    f[5] = static_cast<uint8_t>(lba >> 8);
    f[6] = static_cast<uint8_t>(lba >> 16);
    f[7] = kDeviceLba;
    f[8] = static_cast<uint8_t>(lba >> 24);
    f[9] = static_cast<uint8_t>(lba >> 32);
    f[10] = static_cast<uint8_t>(lba >> 40);
    f[12] = static_cast<uint8_t>(sectors); // 65536 -> 0
    f[13] = static_cast<uint8_t>(sectors >> 8);
}

void fis_fpdma(uint8_t (&f)[20], bool write, uint64_t lba, uint32_t sectors, unsigned tag) {
    fis_rw_ext(f, write, lba, 0);
    f[2] = write ? 0x61 : 0x60;
    f[3] = static_cast<uint8_t>(sectors);
    f[11] = static_cast<uint8_t>(sectors >> 8);
    f[12] = static_cast<uint8_t>(tag << 3);
    f[13] = 0;
}

void fis_command(uint8_t (&f)[20], uint8_t command, uint8_t features) {
    std::memset(f, 0, sizeof f);
    f[0] = fis_type::kRegisterH2d;
    f[1] = fis_flag::kH2dCommand;
    f[2] = command;
    f[3] = features;
    f[7] = kDeviceLba;
}

} // namespace svtest
