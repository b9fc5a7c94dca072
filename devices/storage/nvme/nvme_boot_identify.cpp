// Boot identify (see nvme_boot_identify.hpp).
#include "devices/storage/nvme/nvme_boot_identify.hpp"

#include <cstring>

#include "devices/storage/nvme/nvme_queues.hpp"
#include "devices/storage/nvme/nvme_registers.hpp"

namespace sv::nvme {
namespace {
constexpr uint32_t kEntries = 16; // admin SQ/CQ depth: one command at a time needs 2
constexpr uint16_t kBootCid = 0xB007;

// A bounded wait: CAP.TO with a clock, kBootPollReads reads without one.
class Deadline {
  public:
    Deadline(BootClock clock, uint32_t timeout_ms) : clock_(clock) {
        if (clock_) end_ = clock_() + uint64_t{timeout_ms ? timeout_ms : 500} * 1000;
    }
    bool expired() {
        if (clock_) return clock_() > end_;
        return ++polls_ > kBootPollReads;
    }

  private:
    BootClock clock_;
    uint64_t end_ = 0;
    uint32_t polls_ = 0;
};

uint64_t read_cap(MmioRegisters& r) { return uint64_t{r.read32(reg::kCap + 4)} << 32 | r.read32(reg::kCap); }

bool wait_ready(MmioRegisters& r, uint64_t cap, BootClock clock, bool ready, bool& fatal) {
    Deadline d(clock, cap::timeout_ms(cap));
    for (;;) {
        const uint32_t csts = r.read32(reg::kCsts);
        if (csts == 0xffffffffu) return false; // gone (master abort)
        if (ready && (csts & csts::kCfs)) {
            fatal = true;
            return false;
        }
        if (((csts & csts::kRdy) != 0) == ready) return true;
        if (d.expired()) return false;
    }
}

uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
uint32_t le32(const uint8_t* p) { return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24; }
uint64_t le64(const uint8_t* p) { return uint64_t{le32(p)} | uint64_t{le32(p + 4)} << 32; }

// The private admin queue: one command at a time, CQ polled.
class BootQueue {
  public:
    BootQueue(MmioRegisters& r, uint64_t cap, BootClock clock, const DmaBuffer& sq, const DmaBuffer& cq,
              const DmaBuffer& data)
        : r_(r), cap_(cap), clock_(clock), sq_(sq), cq_(cq), data_(data), stride_(cap::doorbell_stride(cap)) {}

    BootFailure identify(uint8_t cns, uint32_t nsid, uint16_t& status) {
        std::memset(data_.host, 0, identify::kBytes);
        SubmissionEntry e{};
        e.cdw0 = cdw0::make(admin::kIdentify, kBootCid);
        e.nsid = nsid;
        e.prp1 = data_.phys;
        e.cdw10 = cns;
        std::memcpy(sq_.host + sq_tail_ * kSqeBytes, &e, sizeof e);
        sq_tail_ = (sq_tail_ + 1) % kEntries;
        r_.write32(sq_tail_doorbell(0, stride_), sq_tail_);
        Deadline d(clock_, cap::timeout_ms(cap_));
        for (;;) {
            CompletionEntry c;
            std::memcpy(&c, cq_.host + cq_head_ * kCqeBytes, sizeof c);
            if (((c.status & status::kPhase) != 0) == phase_) {
                cq_head_ = (cq_head_ + 1) % kEntries;
                if (cq_head_ == 0) phase_ = !phase_;
                r_.write32(cq_head_doorbell(0, stride_), cq_head_);
                status = c.status;
                if (c.cid != kBootCid) return BootFailure::CommandFailed;
                return status::success(c.status) ? BootFailure::None : BootFailure::CommandFailed;
            }
            if (r_.read32(reg::kCsts) & csts::kCfs) return BootFailure::Fatal;
            if (d.expired()) return BootFailure::CommandTimeout;
        }
    }
    const uint8_t* data() const { return data_.host; }

  private:
    MmioRegisters& r_;
    uint64_t cap_;
    BootClock clock_;
    DmaBuffer sq_, cq_, data_;
    uint32_t stride_;
    uint32_t sq_tail_ = 0, cq_head_ = 0;
    bool phase_ = true; // the CQ starts zeroed: first pass entries have phase 1
};

void read_namespace(const uint8_t* id, uint32_t nsid, NamespaceFacts& ns) {
    ns.nsid = nsid;
    ns.blocks = le64(id + id_ns::kNsze);
    const unsigned format = id[id_ns::kFlbas] & id_ns::kFlbasIndexMask;
    const uint32_t lbaf = le32(id + id_ns::lbaf_offset(format < id_ns::kLbafCount ? format : 0));
    const uint8_t lbads = id_ns::lbaf_lbads(lbaf);
    ns.lba_bytes = lbads >= 9 && lbads <= 16 ? 1u << lbads : 0;
    // Metadata (separate via MPTR, or extended LBAs) and protection
    // information carry bytes outside the shadow's sectors: refused.
    ns.supported = (ns.lba_bytes == 512 || ns.lba_bytes == 4096) && id_ns::lbaf_ms(lbaf) == 0 &&
                   (id[id_ns::kDps] & 7) == 0 && ns.blocks != 0;
}

BootFailure run(MmioRegisters& r, DmaAllocator& dma, ControllerFacts& out, BootClock clock, uint16_t& status) {
    const uint32_t csts = r.read32(reg::kCsts);
    if (csts == 0xffffffffu) return BootFailure::NotPresent;
    out.cap = read_cap(r);
    out.vs = r.read32(reg::kVs);
    if (!disable_and_wait(r, out.cap, clock)) return BootFailure::NotReadyOff;

    Result<DmaBuffer> sq = dma.allocate(4096, 4096);
    Result<DmaBuffer> cq = dma.allocate(4096, 4096);
    Result<DmaBuffer> data = dma.allocate(identify::kBytes, 4096);
    if (!sq.ok() || !cq.ok() || !data.ok()) return BootFailure::NotPresent;
    std::memset(cq.value().host, 0, 4096);
    r.write32(reg::kAqa, (kEntries - 1) | (kEntries - 1) << aqa::kAcqsShift);
    r.write32(reg::kAsq, static_cast<uint32_t>(sq.value().phys));
    r.write32(reg::kAsq + 4, static_cast<uint32_t>(sq.value().phys >> 32));
    r.write32(reg::kAcq, static_cast<uint32_t>(cq.value().phys));
    r.write32(reg::kAcq + 4, static_cast<uint32_t>(cq.value().phys >> 32));
    r.write32(reg::kCc, cc::kEn | kSqeBytesLog2 << cc::kIosqesShift | kCqeBytesLog2 << cc::kIocqesShift);
    bool fatal = false;
    if (!wait_ready(r, out.cap, clock, true, fatal)) return fatal ? BootFailure::Fatal : BootFailure::NotReadyOn;

    BootQueue q(r, out.cap, clock, sq.value(), cq.value(), data.value());
    BootFailure f = q.identify(identify::kCnsController, 0, status);
    if (f != BootFailure::None) return f;
    const uint8_t* id = q.data();
    out.mdts = id[id_ctrl::kMdts];
    out.nn = le32(id + id_ctrl::kNn);
    out.oacs = le16(id + id_ctrl::kOacs);
    out.oncs = le16(id + id_ctrl::kOncs);
    out.vwc = id[id_ctrl::kVwc];

    // §5.15.2.3: up to 1024 active NSIDs in increasing order, 0-terminated.
    uint32_t nsids[kMaxNamespaces] = {};
    uint32_t count = 0;
    if (q.identify(identify::kCnsActiveNamespaces, 0, status) == BootFailure::None) {
        for (uint32_t i = 0; i < 1024 && count < kMaxNamespaces; ++i) {
            const uint32_t nsid = le32(q.data() + 4 * i);
            if (nsid == 0) break;
            nsids[count++] = nsid;
        }
    } else {
        for (uint32_t n = 1; n <= out.nn && count < kMaxNamespaces; ++n) nsids[count++] = n;
    }
    out.namespace_count = 0;
    for (uint32_t i = 0; i < count; ++i) {
        f = q.identify(identify::kCnsNamespace, nsids[i], status);
        if (f == BootFailure::CommandFailed) continue; // inactive (or refused): not listed
        if (f != BootFailure::None) return f;
        NamespaceFacts ns;
        read_namespace(q.data(), nsids[i], ns);
        if (ns.blocks == 0) continue; // inactive: Identify returns zeros (§5.15.2.2)
        out.namespaces[out.namespace_count++] = ns;
    }
    return out.namespace_count ? BootFailure::None : BootFailure::NoNamespaces;
}
} // namespace

const char* to_string(BootFailure f) {
    switch (f) {
    case BootFailure::None: return "ok";
    case BootFailure::NotPresent: return "controller not present";
    case BootFailure::NotReadyOff: return "CSTS.RDY did not clear within CAP.TO";
    case BootFailure::NotReadyOn: return "CSTS.RDY did not set within CAP.TO";
    case BootFailure::Fatal: return "controller fatal status (CSTS.CFS)";
    case BootFailure::CommandTimeout: return "Identify did not complete within CAP.TO";
    case BootFailure::CommandFailed: return "Identify failed";
    case BootFailure::NoNamespaces: return "no active namespace";
    }
    return "?";
}

bool disable_and_wait(MmioRegisters& r, uint64_t cap, BootClock clock) {
    const uint32_t cc_now = r.read32(reg::kCc);
    if (cc_now & (cc::kEn | cc::kShnMask)) r.write32(reg::kCc, cc_now & ~(cc::kEn | cc::kShnMask));
    bool fatal = false;
    return wait_ready(r, cap, clock, false, fatal);
}

Result<void> boot_identify(MmioRegisters& regs, DmaAllocator& dma, ControllerFacts& out, BootClock clock,
                           BootIdentifyResult* why) {
    out = ControllerFacts{};
    uint16_t status = 0;
    const BootFailure f = run(regs, dma, out, clock, status);
    // Leave it disabled, whatever happened (the guest's driver enables it).
    if (f != BootFailure::NotPresent) (void)disable_and_wait(regs, out.cap, clock);
    if (why) *why = BootIdentifyResult{f, status};
    if (f == BootFailure::None) return {};
    return fail(f == BootFailure::NotPresent ? Error::NotFound : Error::DeviceError);
}

} // namespace sv::nvme
