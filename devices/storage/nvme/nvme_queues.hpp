// NVMe 1.4 queue entries and command vocabulary: the 64-byte submission
// queue entry (§4.2), the 16-byte completion queue entry (§4.6), admin
// (§5) and NVM (§6) opcodes, status codes (§4.6.1.2), the Create/Delete I/O
// queue and Identify fields, the Identify Controller / Namespace fields the
// mediator must read or filter (§5.15.2), and the MSI-X table and PBA
// layout (PCI 3.0 §6.8.2). Packed structs with offset static_asserts,
// constexpr masks (no bitfields: their layout is implementation-defined).
// All little-endian, as the controller reads them. Entries live in guest
// memory: the mediator copies them once, then validates the copy.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sv::nvme {

// --- §4.2 Submission Queue Entry (64 bytes) ----------------------------------------
struct [[gnu::packed]] SubmissionEntry {
    uint32_t cdw0;  // OPC 7:0, FUSE 9:8, PSDT 15:14, CID 31:16
    uint32_t nsid;  // namespace (FFFFFFFFh: all)
    uint32_t cdw2;
    uint32_t cdw3;
    uint64_t mptr;  // metadata pointer (separate metadata buffer: a DMA address!)
    uint64_t prp1;  // DPTR: PRP entry 1, or SGL descriptor bytes 7:0
    uint64_t prp2;  // DPTR: PRP entry 2 / PRP list pointer, or SGL bytes 15:8
    uint32_t cdw10, cdw11, cdw12, cdw13, cdw14, cdw15;
};
static_assert(sizeof(SubmissionEntry) == 64);
static_assert(offsetof(SubmissionEntry, nsid) == 4);
static_assert(offsetof(SubmissionEntry, mptr) == 16);
static_assert(offsetof(SubmissionEntry, prp1) == 24);
static_assert(offsetof(SubmissionEntry, prp2) == 32);
static_assert(offsetof(SubmissionEntry, cdw10) == 40);
static_assert(offsetof(SubmissionEntry, cdw15) == 60);
constexpr uint32_t kSqeBytes = 64;       // CC.IOSQES = 6
constexpr uint32_t kSqeBytesLog2 = 6;

namespace cdw0 {
constexpr uint32_t kOpcMask = 0xffu;
constexpr unsigned kFuseShift = 8;       // 00b normal, 01b first / 10b second of a fused pair
constexpr uint32_t kFuseMask = 3u << kFuseShift;
constexpr unsigned kPsdtShift = 14;      // 00b PRPs; 01b/10b SGLs (refused: hidden from Identify)
constexpr uint32_t kPsdtMask = 3u << kPsdtShift;
constexpr unsigned kCidShift = 16;
constexpr uint8_t opcode(uint32_t d) { return static_cast<uint8_t>(d & kOpcMask); }
constexpr uint16_t cid(uint32_t d) { return static_cast<uint16_t>(d >> kCidShift); }
constexpr uint32_t psdt(uint32_t d) { return (d & kPsdtMask) >> kPsdtShift; }
constexpr uint32_t fuse(uint32_t d) { return (d & kFuseMask) >> kFuseShift; }
constexpr uint32_t make(uint8_t opc, uint16_t cid) { return opc | uint32_t{cid} << kCidShift; }
} // namespace cdw0

// --- §4.6 Completion Queue Entry (16 bytes) --------------------------------------------
struct [[gnu::packed]] CompletionEntry {
    uint32_t dw0;     // command specific
    uint32_t dw1;     // reserved / command specific
    uint16_t sq_head; // SQHD: how far the controller consumed that SQ
    uint16_t sq_id;   // SQID
    uint16_t cid;     // the command identifier of the submitter
    uint16_t status;  // P 0, SC 8:1, SCT 11:9, CRD 13:12, M 14, DNR 15
};
static_assert(sizeof(CompletionEntry) == 16);
static_assert(offsetof(CompletionEntry, sq_head) == 8);
static_assert(offsetof(CompletionEntry, sq_id) == 10);
static_assert(offsetof(CompletionEntry, cid) == 12);
static_assert(offsetof(CompletionEntry, status) == 14);
constexpr uint32_t kCqeBytes = 16;       // CC.IOCQES = 4
constexpr uint32_t kCqeBytesLog2 = 4;

// §4.6.1: status field of a CQE (bits 15:0 of DW3 bits 31:16).
namespace status {
constexpr uint16_t kPhase = 1u << 0;
constexpr unsigned kScShift = 1;
constexpr uint16_t kScMask = 0xffu << kScShift;
constexpr unsigned kSctShift = 9;
constexpr uint16_t kSctMask = 7u << kSctShift;
constexpr uint16_t kMore = 1u << 14;
constexpr uint16_t kDnr = 1u << 15;      // do not retry
constexpr uint16_t make(uint8_t sct, uint8_t sc, bool dnr) {
    return static_cast<uint16_t>(uint16_t{sc} << kScShift | uint16_t{sct} << kSctShift | (dnr ? kDnr : 0));
}
constexpr uint8_t sc(uint16_t s) { return static_cast<uint8_t>((s & kScMask) >> kScShift); }
constexpr uint8_t sct(uint16_t s) { return static_cast<uint8_t>((s & kSctMask) >> kSctShift); }
constexpr bool success(uint16_t s) { return (s & (kScMask | kSctMask)) == 0; }
} // namespace status

// §4.6.1.2 status code types
namespace sct {
constexpr uint8_t kGeneric = 0;
constexpr uint8_t kCommandSpecific = 1;
constexpr uint8_t kMediaError = 2;
constexpr uint8_t kPathRelated = 3;
} // namespace sct

// §4.6.1.2.1 Generic Command Status (SCT 0)
namespace sc {
constexpr uint8_t kSuccess = 0x00;
constexpr uint8_t kInvalidOpcode = 0x01;
constexpr uint8_t kInvalidField = 0x02;
constexpr uint8_t kCidConflict = 0x03;
constexpr uint8_t kDataTransferError = 0x04;
constexpr uint8_t kAbortedPowerLoss = 0x05;
constexpr uint8_t kInternalError = 0x06;
constexpr uint8_t kAbortRequested = 0x07;
constexpr uint8_t kAbortedSqDeletion = 0x08;
constexpr uint8_t kAbortedFailedFused = 0x09;
constexpr uint8_t kAbortedMissingFused = 0x0a;
constexpr uint8_t kInvalidNamespaceOrFormat = 0x0b;
constexpr uint8_t kCommandSequenceError = 0x0c;
constexpr uint8_t kInvalidSglSegment = 0x0d;
constexpr uint8_t kInvalidUseOfCmb = 0x12;
constexpr uint8_t kPrpOffsetInvalid = 0x13;
constexpr uint8_t kOperationDenied = 0x15;
constexpr uint8_t kLbaOutOfRange = 0x80;
constexpr uint8_t kCapacityExceeded = 0x81;
constexpr uint8_t kNamespaceNotReady = 0x82;
} // namespace sc

// §4.6.1.2.2 Command Specific Status (SCT 1), admin queue commands
namespace sc_specific {
constexpr uint8_t kCompletionQueueInvalid = 0x00;
constexpr uint8_t kInvalidQueueIdentifier = 0x01;
constexpr uint8_t kInvalidQueueSize = 0x02;
constexpr uint8_t kAbortLimitExceeded = 0x03;
constexpr uint8_t kAsyncEventLimitExceeded = 0x05;
constexpr uint8_t kInvalidFirmwareSlot = 0x06;
constexpr uint8_t kInvalidFirmwareImage = 0x07;
constexpr uint8_t kInvalidInterruptVector = 0x08;
constexpr uint8_t kInvalidLogPage = 0x09;
constexpr uint8_t kInvalidFormat = 0x0a;
constexpr uint8_t kInvalidQueueDeletion = 0x0c;
} // namespace sc_specific

// --- §5 Admin command set opcodes (Figure 139) ------------------------------------------
namespace admin {
constexpr uint8_t kDeleteIoSq = 0x00;
constexpr uint8_t kCreateIoSq = 0x01;
constexpr uint8_t kGetLogPage = 0x02;
constexpr uint8_t kDeleteIoCq = 0x04;
constexpr uint8_t kCreateIoCq = 0x05;
constexpr uint8_t kIdentify = 0x06;
constexpr uint8_t kAbort = 0x08;
constexpr uint8_t kSetFeatures = 0x09;
constexpr uint8_t kGetFeatures = 0x0a;
constexpr uint8_t kAsyncEventRequest = 0x0c;
constexpr uint8_t kNamespaceManagement = 0x0d;
constexpr uint8_t kFirmwareCommit = 0x10;
constexpr uint8_t kFirmwareImageDownload = 0x11;
constexpr uint8_t kDeviceSelfTest = 0x14;
constexpr uint8_t kNamespaceAttachment = 0x15;
constexpr uint8_t kKeepAlive = 0x18;
constexpr uint8_t kDirectiveSend = 0x19;
constexpr uint8_t kDirectiveReceive = 0x1a;
constexpr uint8_t kVirtualizationManagement = 0x1c;
constexpr uint8_t kNvmeMiSend = 0x1d;
constexpr uint8_t kNvmeMiReceive = 0x1e;
constexpr uint8_t kDoorbellBufferConfig = 0x7c; // shadow doorbells in host memory: hidden
constexpr uint8_t kFormatNvm = 0x80;
constexpr uint8_t kSecuritySend = 0x81;
constexpr uint8_t kSecurityReceive = 0x82;
constexpr uint8_t kSanitize = 0x84;
constexpr uint8_t kGetLbaStatus = 0x86;
} // namespace admin

// --- §6 NVM command set opcodes (Figure 346) ---------------------------------------------
namespace nvm {
constexpr uint8_t kFlush = 0x00;
constexpr uint8_t kWrite = 0x01;
constexpr uint8_t kRead = 0x02;
constexpr uint8_t kWriteUncorrectable = 0x04;
constexpr uint8_t kCompare = 0x05;
constexpr uint8_t kWriteZeroes = 0x08;
constexpr uint8_t kDatasetManagement = 0x09;
constexpr uint8_t kVerify = 0x0c;
constexpr uint8_t kReservationRegister = 0x0d;
constexpr uint8_t kReservationReport = 0x0e;
constexpr uint8_t kReservationAcquire = 0x11;
constexpr uint8_t kReservationRelease = 0x15;
constexpr uint8_t kCopy = 0x19; // NVMe 2.0 (TP 4065), QEMU 7.2 implements it
} // namespace nvm

// §6.9/§6.15 Read/Write: SLBA in CDW10 (low) / CDW11 (high), NLB 0's based in CDW12 15:0.
namespace rw {
constexpr uint32_t kNlbMask = 0xffff;
constexpr uint32_t kFua = 1u << 30;
constexpr uint32_t kLimitedRetry = 1u << 31;
constexpr unsigned kPrinfoShift = 26;     // protection information, 29:26
constexpr uint32_t kPrinfoMask = 0xfu << kPrinfoShift;
constexpr uint64_t slba(const SubmissionEntry& e) { return uint64_t{e.cdw11} << 32 | e.cdw10; }
constexpr uint32_t blocks(const SubmissionEntry& e) { return (e.cdw12 & kNlbMask) + 1; }
} // namespace rw

// §5.3/§5.4 Create I/O CQ/SQ, §5.6/§5.7 Delete I/O CQ/SQ.
namespace queue_cmd {
constexpr uint32_t kQidMask = 0xffff;      // CDW10 15:0
constexpr unsigned kQsizeShift = 16;       // CDW10 31:16, 0's based
constexpr uint32_t kPc = 1u << 0;          // CDW11: physically contiguous
constexpr uint32_t kIen = 1u << 1;         // Create CQ CDW11: interrupts enabled
constexpr unsigned kIvShift = 16;          // Create CQ CDW11 31:16: interrupt vector (MSI-X entry)
constexpr unsigned kQprioShift = 1;        // Create SQ CDW11 2:1
constexpr unsigned kCqidShift = 16;        // Create SQ CDW11 31:16
constexpr uint16_t qid(uint32_t cdw10) { return static_cast<uint16_t>(cdw10 & kQidMask); }
constexpr uint32_t entries(uint32_t cdw10) { return (cdw10 >> kQsizeShift) + 1; }
constexpr uint16_t vector(uint32_t cdw11) { return static_cast<uint16_t>(cdw11 >> kIvShift); }
constexpr uint16_t cqid(uint32_t cdw11) { return static_cast<uint16_t>(cdw11 >> kCqidShift); }
} // namespace queue_cmd

// §5.15 Identify: CNS in CDW10 7:0; every structure is 4096 bytes.
namespace identify {
constexpr uint32_t kBytes = 4096;
constexpr uint8_t kCnsNamespace = 0x00;
constexpr uint8_t kCnsController = 0x01;
constexpr uint8_t kCnsActiveNamespaces = 0x02;
constexpr uint8_t kCnsNsDescriptors = 0x03;
constexpr uint8_t cns(uint32_t cdw10) { return static_cast<uint8_t>(cdw10 & 0xff); }
} // namespace identify

// §5.15.2.1 Identify Controller data structure: byte offsets of the fields
// the mediator reads or rewrites.
namespace id_ctrl {
constexpr uint32_t kVid = 0;
constexpr uint32_t kSn = 4;          // 20 ASCII bytes
constexpr uint32_t kMn = 24;         // 40 ASCII bytes
constexpr uint32_t kMdts = 77;       // max transfer 2^MDTS * CAP.MPSMIN pages, 0 = no limit
constexpr uint32_t kCntlid = 78;
constexpr uint32_t kVer = 80;
constexpr uint32_t kOacs = 256;      // 2 bytes: optional admin commands
constexpr uint32_t kAcl = 258;       // abort command limit, 0's based
constexpr uint32_t kAerl = 259;      // async event request limit, 0's based
constexpr uint32_t kFrmw = 260;      // firmware updates
constexpr uint32_t kLpa = 261;
constexpr uint32_t kHmpre = 272;     // 4 bytes: host memory buffer preferred size (HMB: DMA into host RAM)
constexpr uint32_t kHmmin = 276;     // 4 bytes: HMB minimum size
constexpr uint32_t kSanicap = 328;   // 4 bytes: sanitize capabilities
constexpr uint32_t kSqes = 512;      // required 3:0 / max 7:4 SQ entry size (log2)
constexpr uint32_t kCqes = 513;
constexpr uint32_t kMaxcmd = 514;
constexpr uint32_t kNn = 516;        // 4 bytes: number of namespaces
constexpr uint32_t kOncs = 520;      // 2 bytes: optional NVM commands
constexpr uint32_t kFuses = 522;     // 2 bytes: fused operations (Compare and Write)
constexpr uint32_t kFna = 524;       // format NVM attributes
constexpr uint32_t kVwc = 525;       // volatile write cache
constexpr uint32_t kSgls = 536;      // 4 bytes: SGL support
} // namespace id_ctrl
namespace oacs {
constexpr uint16_t kSecurity = 1u << 0;
constexpr uint16_t kFormatNvm = 1u << 1;
constexpr uint16_t kFirmware = 1u << 2;
constexpr uint16_t kNsManagement = 1u << 3;
constexpr uint16_t kSelfTest = 1u << 4;
constexpr uint16_t kDirectives = 1u << 5;
constexpr uint16_t kNvmeMi = 1u << 6;
constexpr uint16_t kVirtualization = 1u << 7;
constexpr uint16_t kDoorbellBuffer = 1u << 8; // guest doorbells in memory: the mediator would never see them
constexpr uint16_t kGetLbaStatus = 1u << 9;
} // namespace oacs
namespace oncs {
constexpr uint16_t kCompare = 1u << 0;
constexpr uint16_t kWriteUncorrectable = 1u << 1;
constexpr uint16_t kDsm = 1u << 2;
constexpr uint16_t kWriteZeroes = 1u << 3;
constexpr uint16_t kSaveSelect = 1u << 4;
constexpr uint16_t kReservations = 1u << 5;
constexpr uint16_t kTimestamp = 1u << 6;
constexpr uint16_t kVerify = 1u << 7;
constexpr uint16_t kCopy = 1u << 8;
} // namespace oncs
namespace sgls {
constexpr uint32_t kSupportMask = 3u; // 00b: SGLs not supported
} // namespace sgls

// §5.15.2.2 Identify Namespace data structure (NVM command set).
namespace id_ns {
constexpr uint32_t kNsze = 0;        // 8 bytes: size in logical blocks
constexpr uint32_t kNcap = 8;
constexpr uint32_t kNuse = 16;
constexpr uint32_t kNsfeat = 24;
constexpr uint32_t kNlbaf = 25;      // number of LBA formats, 0's based
constexpr uint32_t kFlbas = 26;      // formatted LBA size: 3:0 index, 4 metadata extended
constexpr uint32_t kMc = 27;         // metadata capabilities
constexpr uint32_t kDpc = 28;
constexpr uint32_t kDps = 29;        // end-to-end protection type in use
constexpr uint32_t kDlfeat = 33;     // deallocate read behaviour
constexpr uint32_t kLbaf0 = 128;     // 16 x 4 bytes: MS 15:0, LBADS 23:16, RP 25:24
constexpr uint32_t kLbafCount = 16;
constexpr uint8_t kFlbasIndexMask = 0x0f;
constexpr uint8_t kFlbasExtended = 0x10;
constexpr uint32_t lbaf_offset(unsigned i) { return kLbaf0 + 4 * i; }
constexpr uint16_t lbaf_ms(uint32_t lbaf) { return static_cast<uint16_t>(lbaf & 0xffff); }
constexpr uint8_t lbaf_lbads(uint32_t lbaf) { return static_cast<uint8_t>((lbaf >> 16) & 0xff); }
} // namespace id_ns

// §5.21 Set/Get Features identifiers the mediator must treat specially.
namespace feature {
constexpr uint8_t kArbitration = 0x01;
constexpr uint8_t kPowerManagement = 0x02;
constexpr uint8_t kLbaRangeType = 0x03;       // has a data buffer
constexpr uint8_t kTemperatureThreshold = 0x04;
constexpr uint8_t kVolatileWriteCache = 0x06;
constexpr uint8_t kNumberOfQueues = 0x07;     // CDW11: NSQR 15:0, NCQR 31:16 (0's based)
constexpr uint8_t kInterruptCoalescing = 0x08;
constexpr uint8_t kInterruptVectorConfig = 0x09;
constexpr uint8_t kAsyncEventConfig = 0x0b;
constexpr uint8_t kAutonomousPowerState = 0x0c; // has a data buffer
constexpr uint8_t kHostMemoryBuffer = 0x0d;   // device DMA into a host-named list: refused
constexpr uint8_t kTimestamp = 0x0e;          // has a data buffer
constexpr uint8_t kHostBehavior = 0x16;       // has a data buffer
constexpr uint8_t fid(uint32_t cdw10) { return static_cast<uint8_t>(cdw10 & 0xff); }
} // namespace feature

// --- PCI 3.0 §6.8.2 MSI-X -------------------------------------------------------------------
constexpr uint8_t kPciCapMsix = 0x11;
namespace msix {
// Message Control (capability + 2)
constexpr uint16_t kTableSizeMask = 0x7ff; // N - 1
constexpr uint16_t kFunctionMask = 1u << 14;
constexpr uint16_t kEnable = 1u << 15;
// Table Offset/BIR (capability + 4) and PBA Offset/BIR (capability + 8)
constexpr uint32_t kBirMask = 7u;
constexpr uint32_t kOffsetMask = ~7u;
constexpr uint32_t kEntryBytes = 16;
constexpr uint32_t kEntryAddrLo = 0, kEntryAddrHi = 4, kEntryData = 8, kEntryControl = 12;
constexpr uint32_t kVectorMasked = 1u << 0; // vector control bit 0
constexpr uint32_t table_entries(uint16_t message_control) { return (message_control & kTableSizeMask) + 1u; }
// PBA: one bit per vector, in QWORDs.
constexpr uint32_t pba_bytes(uint32_t vectors) { return (vectors + 63) / 64 * 8; }
} // namespace msix
struct [[gnu::packed]] MsixEntry {
    uint32_t addr_lo; // bits 1:0 reserved (DWORD aligned), FEE0_0000h window on x86
    uint32_t addr_hi;
    uint32_t data;
    uint32_t control; // bit 0: masked
};
static_assert(sizeof(MsixEntry) == msix::kEntryBytes);
static_assert(offsetof(MsixEntry, data) == msix::kEntryData);
static_assert(offsetof(MsixEntry, control) == msix::kEntryControl);

} // namespace sv::nvme
