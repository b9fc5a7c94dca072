// NVMe 1.4 controller registers (NVMe 1.4 §3.1, in BAR0/BAR1 as one 64-bit
// memory BAR, §2.1.10): offsets and constexpr masks with the specification's
// names, the doorbell placement (§3.1.24/§3.1.25) and the PCI identity of an
// NVMe function. The mediator and the simulated controller of the unit tests
// both use these; nothing here touches hardware.
#pragma once

#include <cstdint>

namespace sv::nvme {

// PCI identity (NVMe 1.4 §2.1.5 CC: base class 01h mass storage, sub class
// 08h non-volatile memory controller, programming interface 02h NVM Express).
constexpr uint8_t kPciClassMassStorage = 0x01;
constexpr uint8_t kPciSubclassNvm = 0x08;
constexpr uint8_t kPciProgIfNvme = 0x02;
constexpr uint8_t kPciBar0Offset = 0x10; // §2.1.10 MLBAR, §2.1.11 MUBAR (BAR1)

// --- §3.1 register offsets -----------------------------------------------------
namespace reg {
constexpr uint32_t kCap = 0x00;     // §3.1.1 Controller Capabilities (64-bit)
constexpr uint32_t kVs = 0x08;      // §3.1.2 Version
constexpr uint32_t kIntms = 0x0c;   // §3.1.3 Interrupt Mask Set (INTx/MSI only; undefined with MSI-X)
constexpr uint32_t kIntmc = 0x10;   // §3.1.4 Interrupt Mask Clear
constexpr uint32_t kCc = 0x14;      // §3.1.5 Controller Configuration
constexpr uint32_t kCsts = 0x1c;    // §3.1.6 Controller Status
constexpr uint32_t kNssr = 0x20;    // §3.1.7 NVM Subsystem Reset (write 4E564D65h "NVMe")
constexpr uint32_t kAqa = 0x24;     // §3.1.8 Admin Queue Attributes
constexpr uint32_t kAsq = 0x28;     // §3.1.9 Admin SQ Base Address (64-bit)
constexpr uint32_t kAcq = 0x30;     // §3.1.10 Admin CQ Base Address (64-bit)
constexpr uint32_t kCmbloc = 0x38;  // §3.1.11 Controller Memory Buffer Location
constexpr uint32_t kCmbsz = 0x3c;   // §3.1.12 Controller Memory Buffer Size
constexpr uint32_t kBpinfo = 0x40;  // §3.1.13 Boot Partition Information
constexpr uint32_t kBprsel = 0x44;  // §3.1.14 Boot Partition Read Select
constexpr uint32_t kBpmbl = 0x48;   // §3.1.15 Boot Partition Memory Buffer Location (64-bit: DMA target!)
constexpr uint32_t kCmbmsc = 0x50;  // §3.1.16 CMB Memory Space Control (64-bit)
constexpr uint32_t kCmbsts = 0x58;  // §3.1.17 CMB Status
constexpr uint32_t kPmrcap = 0xe00; // §3.1.18 Persistent Memory Region Capabilities
constexpr uint32_t kPmrctl = 0xe04; // §3.1.19 PMR Control
constexpr uint32_t kPmrsts = 0xe08; // §3.1.20 PMR Status
constexpr uint32_t kPmrebs = 0xe0c; // §3.1.21 PMR Elasticity Buffer Size
constexpr uint32_t kPmrswtp = 0xe10; // §3.1.22 PMR Sustained Write Throughput
constexpr uint32_t kPmrmscl = 0xe14; // §3.1.23 PMR Memory Space Control Lower
constexpr uint32_t kPmrmscu = 0xe18; // §3.1.23 PMR Memory Space Control Upper
constexpr uint32_t kDoorbellBase = 0x1000; // §3.1.24: SQ 0 tail doorbell
} // namespace reg

constexpr uint32_t kNssrReset = 0x4e564d65; // "NVMe": §3.1.7

// --- §3.1.1 CAP ----------------------------------------------------------------
namespace cap {
constexpr uint64_t kMqesMask = 0xffff;       // MQES: max queue entries - 1 (0's based)
constexpr uint64_t kCqr = 1ull << 16;        // contiguous queues required
constexpr unsigned kAmsShift = 17;           // arbitration mechanisms, 18:17
constexpr uint64_t kAmsMask = 3ull << kAmsShift;
constexpr unsigned kToShift = 24;            // timeout, 500 ms units, 31:24
constexpr uint64_t kToMask = 0xffull << kToShift;
constexpr unsigned kDstrdShift = 32;         // doorbell stride 2^(2+DSTRD), 35:32
constexpr uint64_t kDstrdMask = 0xfull << kDstrdShift;
constexpr uint64_t kNssrs = 1ull << 36;      // NVM subsystem reset supported
constexpr unsigned kCssShift = 37;           // command sets supported, 44:37
constexpr uint64_t kCssMask = 0xffull << kCssShift;
constexpr uint64_t kCssNvm = 1ull << kCssShift;
constexpr uint64_t kBps = 1ull << 45;        // boot partition support
constexpr unsigned kMpsminShift = 48;        // 2^(12+MPSMIN), 51:48
constexpr uint64_t kMpsminMask = 0xfull << kMpsminShift;
constexpr unsigned kMpsmaxShift = 52;        // 55:52
constexpr uint64_t kMpsmaxMask = 0xfull << kMpsmaxShift;
constexpr uint64_t kPmrs = 1ull << 56;       // persistent memory region supported
constexpr uint64_t kCmbs = 1ull << 57;       // controller memory buffer supported

constexpr uint32_t max_queue_entries(uint64_t c) { return static_cast<uint32_t>(c & kMqesMask) + 1; }
constexpr uint32_t doorbell_stride(uint64_t c) {
    return 4u << static_cast<unsigned>((c & kDstrdMask) >> kDstrdShift);
}
constexpr uint32_t min_page_bytes(uint64_t c) {
    return 4096u << static_cast<unsigned>((c & kMpsminMask) >> kMpsminShift);
}
constexpr uint32_t max_page_bytes(uint64_t c) {
    return 4096u << static_cast<unsigned>((c & kMpsmaxMask) >> kMpsmaxShift);
}
constexpr uint32_t timeout_ms(uint64_t c) {
    return 500u * static_cast<uint32_t>((c & kToMask) >> kToShift);
}
} // namespace cap

// --- §3.1.2 VS: MJR 31:16, MNR 15:8, TER 7:0 --------------------------------------
constexpr uint32_t version(uint32_t major, uint32_t minor, uint32_t tertiary = 0) {
    return major << 16 | minor << 8 | tertiary;
}

// --- §3.1.5 CC -------------------------------------------------------------------
namespace cc {
constexpr uint32_t kEn = 1u << 0;           // enable (1 -> 0 resets the controller, §7.3.2)
constexpr unsigned kCssShift = 4;           // I/O command set selected, 6:4 (000b NVM)
constexpr uint32_t kCssMask = 7u << kCssShift;
constexpr unsigned kMpsShift = 7;           // memory page size 2^(12+MPS), 10:7
constexpr uint32_t kMpsMask = 0xfu << kMpsShift;
constexpr unsigned kAmsShift = 11;          // arbitration, 13:11
constexpr uint32_t kAmsMask = 7u << kAmsShift;
constexpr unsigned kShnShift = 14;          // shutdown notification, 15:14
constexpr uint32_t kShnMask = 3u << kShnShift;
constexpr uint32_t kShnNormal = 1u << kShnShift;
constexpr uint32_t kShnAbrupt = 2u << kShnShift;
constexpr unsigned kIosqesShift = 16;       // I/O SQ entry size 2^n, 19:16 (6: 64 B)
constexpr uint32_t kIosqesMask = 0xfu << kIosqesShift;
constexpr unsigned kIocqesShift = 20;       // I/O CQ entry size 2^n, 23:20 (4: 16 B)
constexpr uint32_t kIocqesMask = 0xfu << kIocqesShift;
constexpr uint32_t kReservedMask = 0xff00000eu; // 31:24 and 3:1

constexpr uint32_t page_bytes(uint32_t c) { return 4096u << ((c & kMpsMask) >> kMpsShift); }
constexpr uint32_t iosqes(uint32_t c) { return (c & kIosqesMask) >> kIosqesShift; }
constexpr uint32_t iocqes(uint32_t c) { return (c & kIocqesMask) >> kIocqesShift; }
} // namespace cc

// --- §3.1.6 CSTS -----------------------------------------------------------------
namespace csts {
constexpr uint32_t kRdy = 1u << 0;          // ready
constexpr uint32_t kCfs = 1u << 1;          // controller fatal status
constexpr unsigned kShstShift = 2;          // shutdown status, 3:2
constexpr uint32_t kShstMask = 3u << kShstShift;
constexpr uint32_t kShstOccurring = 1u << kShstShift;
constexpr uint32_t kShstComplete = 2u << kShstShift;
constexpr uint32_t kNssro = 1u << 4;        // NVM subsystem reset occurred (RW1C)
constexpr uint32_t kPp = 1u << 5;           // processing paused
} // namespace csts

// --- §3.1.8 AQA: both sizes 0's based, at least 2 entries (value >= 1) ----------------
namespace aqa {
constexpr uint32_t kAsqsMask = 0xfffu;      // 11:0
constexpr unsigned kAcqsShift = 16;         // 27:16
constexpr uint32_t kAcqsMask = 0xfffu << kAcqsShift;
constexpr uint32_t kMaxEntries = 4096;
constexpr uint32_t sq_entries(uint32_t a) { return (a & kAsqsMask) + 1; }
constexpr uint32_t cq_entries(uint32_t a) { return ((a & kAcqsMask) >> kAcqsShift) + 1; }
} // namespace aqa

// §3.1.9/§3.1.10: ASQ/ACQ bits 11:0 reserved (page aligned base).
constexpr uint64_t kAdminQueueBaseMask = ~0xfffull;

// --- §3.1.11 CMBLOC / §3.1.12 CMBSZ ---------------------------------------------------
namespace cmbloc {
constexpr uint32_t kBirMask = 7u;           // BAR indicator
constexpr uint32_t kOfstMask = 0xfffff000u; // offset in SZU units, 31:12
} // namespace cmbloc
namespace cmbsz {
constexpr uint32_t kSqs = 1u << 0;   // SQs may live in the CMB
constexpr uint32_t kCqs = 1u << 1;   // CQs may live in the CMB
constexpr uint32_t kLists = 1u << 2; // PRP/SGL lists may live in the CMB
constexpr uint32_t kRds = 1u << 3;   // read data may land in the CMB
constexpr uint32_t kWds = 1u << 4;   // write data may come from the CMB
constexpr unsigned kSzuShift = 8;    // size units 4 KiB * 16^SZU, 11:8
constexpr uint32_t kSzuMask = 0xfu << kSzuShift;
constexpr unsigned kSzShift = 12;    // size in SZU, 31:12
} // namespace cmbsz

// --- §3.1.18 PMRCAP ---------------------------------------------------------------------
namespace pmrcap {
constexpr uint32_t kRds = 1u << 3;
constexpr uint32_t kWds = 1u << 4;
constexpr unsigned kBirShift = 5;           // 7:5
constexpr uint32_t kBirMask = 7u << kBirShift;
constexpr uint32_t kCmss = 1u << 24;        // controller memory space supported (PMRMSC)
} // namespace pmrcap
namespace pmrctl {
constexpr uint32_t kEn = 1u << 0;
} // namespace pmrctl

// --- §3.1.24/§3.1.25 doorbells -----------------------------------------------------------
// SQ y tail doorbell at 1000h + (2y) * (4 << CAP.DSTRD), CQ y head doorbell at
// 1000h + (2y + 1) * (4 << CAP.DSTRD). Only bits 15:0 carry the tail/head.
constexpr uint32_t sq_tail_doorbell(uint32_t qid, uint32_t stride) {
    return reg::kDoorbellBase + (2 * qid) * stride;
}
constexpr uint32_t cq_head_doorbell(uint32_t qid, uint32_t stride) {
    return reg::kDoorbellBase + (2 * qid + 1) * stride;
}
constexpr uint32_t kDoorbellValueMask = 0xffff;
struct DoorbellTarget {
    uint32_t qid = 0;
    bool completion = false; // CQ head (true) or SQ tail (false)
    bool valid = false;      // on a doorbell register (not between strided slots)
};
// Which doorbell `offset` (>= 1000h) names; offsets inside a stride gap are not doorbells.
constexpr DoorbellTarget decode_doorbell(uint32_t offset, uint32_t stride) {
    if (offset < reg::kDoorbellBase || stride == 0) return {};
    const uint32_t rel = offset - reg::kDoorbellBase;
    if (rel % stride != 0) return {};
    const uint32_t n = rel / stride;
    return {n / 2, (n & 1) != 0, true};
}
// Bytes of BAR0 the registers and `queues` doorbell pairs occupy (QEMU: 16 KiB
// registers+doorbells rounded to a power of two, MSI-X table in the same BAR).
constexpr uint64_t register_space_bytes(uint32_t queues, uint32_t stride) {
    return reg::kDoorbellBase + uint64_t{2} * queues * stride;
}

} // namespace sv::nvme
