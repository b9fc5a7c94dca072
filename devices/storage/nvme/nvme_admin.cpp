// Admin command plans and the Identify filter (see nvme_admin.hpp).
#include "devices/storage/nvme/nvme_admin.hpp"

#include "devices/storage/nvme/nvme_registers.hpp"

namespace sv::nvme {
namespace {

constexpr AdminPlan refused(CommandFault f) { return {AdminKind::Refused, f, DataDir::None, 0}; }
constexpr AdminPlan pass() { return {AdminKind::Pass, CommandFault::None, DataDir::None, 0}; }
constexpr AdminPlan data(AdminKind k, DataDir d, uint64_t bytes) { return {k, CommandFault::None, d, bytes}; }

// §5.21.1: features whose Set/Get carries a data buffer, and its size.
// Everything not listed here and not in no_buffer_feature() is refused: a
// feature we do not know might name memory the shadow does not cover.
uint64_t feature_buffer_bytes(uint8_t fid) {
    switch (fid) {
    case feature::kLbaRangeType: return 4096;       // §5.21.1.3
    case feature::kAutonomousPowerState: return 256; // §5.21.1.12: 32 x 8 bytes
    case feature::kTimestamp: return 8;              // §5.21.1.14
    case feature::kHostBehavior: return 512;         // §5.21.1.16
    default: return 0;
    }
}

bool no_buffer_feature(uint8_t fid) {
    switch (fid) {
    case feature::kArbitration:
    case feature::kPowerManagement:
    case feature::kTemperatureThreshold:
    case 0x05: // Error Recovery
    case feature::kVolatileWriteCache:
    case feature::kInterruptCoalescing:
    case feature::kInterruptVectorConfig:
    case 0x0a: // Write Atomicity Normal
    case feature::kAsyncEventConfig:
    case 0x0f: // Keep Alive Timer
    case 0x10: // Host Controlled Thermal Management
    case 0x11: // Non-Operational Power State Config
        return true;
    default: return false;
    }
}

AdminPlan plan_features(const SubmissionEntry& e, bool set) {
    const uint8_t fid = feature::fid(e.cdw10);
    if (fid == feature::kNumberOfQueues) return {AdminKind::NumberOfQueues, CommandFault::None, DataDir::None, 0};
    // §5.21.1.13 Host Memory Buffer: the controller would DMA into a list of
    // host pages it keeps for as long as it likes.
    if (fid == feature::kHostMemoryBuffer) return refused(CommandFault::FeatureRefused);
    if (no_buffer_feature(fid)) return pass();
    if (const uint64_t b = feature_buffer_bytes(fid))
        return data(AdminKind::Data, set ? DataDir::ToDevice : DataDir::FromDevice, b);
    return refused(CommandFault::FeatureRefused);
}

} // namespace

AdminPlan plan_admin(const SubmissionEntry& e, uint64_t max_transfer) {
    if (cdw0::fuse(e.cdw0) != 0) return refused(CommandFault::Fused);
    if (cdw0::psdt(e.cdw0) != 0) return refused(CommandFault::Sgl);
    switch (cdw0::opcode(e.cdw0)) {
    case admin::kIdentify: {
        const uint8_t cns = identify::cns(e.cdw10);
        const AdminKind k = cns == identify::kCnsController ? AdminKind::IdentifyController
                            : cns == identify::kCnsNamespace ? AdminKind::IdentifyNamespace
                                                             : AdminKind::Data;
        return data(k, DataDir::FromDevice, identify::kBytes);
    }
    case admin::kGetLogPage: {
        // §5.14: NUMD (0's based dwords) = NUMDU (CDW11 15:0) : NUMDL (CDW10 31:16).
        const uint64_t numd = (uint64_t{e.cdw11 & 0xffff} << 16 | e.cdw10 >> 16) + 1;
        if (numd * 4 > max_transfer) return refused(CommandFault::LogTooLong);
        return data(AdminKind::Data, DataDir::FromDevice, numd * 4);
    }
    case admin::kSetFeatures: return plan_features(e, true);
    case admin::kGetFeatures: return plan_features(e, false);
    case admin::kCreateIoCq: return {AdminKind::CreateCq, CommandFault::None, DataDir::None, 0};
    case admin::kCreateIoSq: return {AdminKind::CreateSq, CommandFault::None, DataDir::None, 0};
    case admin::kDeleteIoSq: return {AdminKind::DeleteSq, CommandFault::None, DataDir::None, 0};
    case admin::kDeleteIoCq: return {AdminKind::DeleteCq, CommandFault::None, DataDir::None, 0};
    case admin::kAbort: return {AdminKind::Abort, CommandFault::None, DataDir::None, 0};
    case admin::kAsyncEventRequest:
    case admin::kKeepAlive:
    case admin::kDeviceSelfTest: return pass();
    // Known, and refused: new firmware could aim the device's DMA anywhere;
    // format/sanitize/namespace management would change the facts the engine
    // checks against; security, directives, MI and virtualization move data
    // or change the controller in ways the mediator does not model; Doorbell
    // Buffer Config would move the guest's doorbells into memory the
    // mediator never sees; Get LBA Status reports deallocation (DSM hidden).
    case admin::kFirmwareCommit:
    case admin::kFirmwareImageDownload:
    case admin::kFormatNvm:
    case admin::kSanitize:
    case admin::kSecuritySend:
    case admin::kSecurityReceive:
    case admin::kNamespaceManagement:
    case admin::kNamespaceAttachment:
    case admin::kDirectiveSend:
    case admin::kDirectiveReceive:
    case admin::kNvmeMiSend:
    case admin::kNvmeMiReceive:
    case admin::kVirtualizationManagement:
    case admin::kDoorbellBufferConfig:
    case admin::kGetLbaStatus: return refused(CommandFault::NotMediated);
    default: return refused(CommandFault::OpcodeNotAllowed);
    }
}

TransferLimit transfer_limit(const ControllerFacts& facts, uint64_t limit_bytes) {
    const uint64_t page = cap::min_page_bytes(facts.cap);
    uint64_t bytes = limit_bytes;
    if (facts.mdts && (page << facts.mdts) < bytes) bytes = page << facts.mdts;
    uint8_t mdts = 0;
    while (mdts < 31 && (page << (mdts + 1)) <= bytes) ++mdts;
    return {mdts, page << mdts};
}

void filter_identify_controller(uint8_t* id, uint8_t mdts) {
    auto put16 = [&](uint32_t off, uint16_t v) { __builtin_memcpy(id + off, &v, 2); };
    auto get16 = [&](uint32_t off) {
        uint16_t v;
        __builtin_memcpy(&v, id + off, 2);
        return v;
    };
    id[id_ctrl::kMdts] = mdts;
    put16(id_ctrl::kOacs, static_cast<uint16_t>(get16(id_ctrl::kOacs) & oacs::kSelfTest));
    put16(id_ctrl::kOncs, static_cast<uint16_t>(get16(id_ctrl::kOncs) & (oncs::kSaveSelect | oncs::kTimestamp)));
    put16(id_ctrl::kFuses, 0);
    __builtin_memset(id + id_ctrl::kSgls, 0, 4);
    __builtin_memset(id + id_ctrl::kHmpre, 0, 4);
    __builtin_memset(id + id_ctrl::kHmmin, 0, 4);
    __builtin_memset(id + id_ctrl::kSanicap, 0, 4);
    // FRMW: one firmware slot, read-only (bit 0; slots 3:1 = 1): nothing to commit to.
    id[id_ctrl::kFrmw] = 0x03;
}

void filter_identify_namespace(uint8_t* id) {
    // Only the format in use is listed, as format 0: Format NVM is refused,
    // and a guest shown other formats might expect to switch.
    const uint8_t flbas = id[id_ns::kFlbas];
    const unsigned index = flbas & id_ns::kFlbasIndexMask;
    uint32_t current;
    __builtin_memcpy(&current, id + id_ns::lbaf_offset(index), 4);
    __builtin_memset(id + id_ns::kLbaf0, 0, 4 * id_ns::kLbafCount);
    __builtin_memcpy(id + id_ns::kLbaf0, &current, 4);
    id[id_ns::kNlbaf] = 0;
    id[id_ns::kFlbas] = static_cast<uint8_t>(flbas & id_ns::kFlbasExtended);
}

uint32_t clamp_queue_counts(uint32_t value, uint16_t max_pairs) {
    const uint32_t top = max_pairs ? max_pairs - 1u : 0u;
    uint32_t sq = value & 0xffff, cq = value >> 16;
    if (sq > top) sq = top;
    if (cq > top) cq = top;
    return cq << 16 | sq;
}

} // namespace sv::nvme
