// One command's checks (nvme_command.*) and the admin plans and Identify
// filter (nvme_admin.*), without queues: the allowlist, the fields, the
// statuses each refusal answers with, and the sizes the engine reserves.
#include <gtest/gtest.h>

#include <cstring>

#include "devices/storage/nvme/nvme_admin.hpp"
#include "devices/storage/nvme/nvme_command.hpp"
#include "devices/storage/nvme/nvme_registers.hpp"

namespace {
using namespace sv::nvme;

ControllerFacts two_namespaces() {
    ControllerFacts f;
    f.cap = 0x004018200f0107ffull; // QEMU 7.2
    f.mdts = 7;
    f.namespace_count = 3;
    f.namespaces[0] = {1, 1000, 512, true};
    f.namespaces[1] = {2, 100, 4096, true};
    f.namespaces[2] = {3, 100, 512, false}; // metadata: refused
    return f;
}

SubmissionEntry io(uint8_t op, uint32_t nsid, uint64_t lba, uint32_t blocks) {
    SubmissionEntry e{};
    e.cdw0 = op;
    e.nsid = nsid;
    e.cdw10 = static_cast<uint32_t>(lba);
    e.cdw11 = static_cast<uint32_t>(lba >> 32);
    e.cdw12 = blocks - 1;
    return e;
}

TEST(NvmeCommandCheck, AllowlistFieldsNamespacesRanges) {
    const ControllerFacts f = two_namespaces();
    const uint64_t max = 2 << 20;
    EXPECT_EQ(check_io(io(nvm::kRead, 1, 0, 8), f, max).bytes, 4096u);
    EXPECT_EQ(check_io(io(nvm::kWrite, 2, 99, 1), f, max).bytes, 4096u);
    EXPECT_TRUE(check_io(io(nvm::kWrite, 2, 99, 1), f, max).write);
    EXPECT_EQ(check_io(io(nvm::kFlush, 0xffffffffu, 0, 1), f, max).fault, CommandFault::None);
    EXPECT_EQ(check_io(io(nvm::kWriteZeroes, 1, 0, 1), f, max).fault, CommandFault::OpcodeNotAllowed);
    EXPECT_EQ(check_io(io(nvm::kRead, 3, 0, 1), f, max).fault, CommandFault::Namespace);
    EXPECT_EQ(check_io(io(nvm::kRead, 9, 0, 1), f, max).fault, CommandFault::Namespace);
    EXPECT_EQ(check_io(io(nvm::kRead, 2, 100, 1), f, max).fault, CommandFault::LbaRange);
    EXPECT_EQ(check_io(io(nvm::kRead, 2, 99, 2), f, max).fault, CommandFault::LbaRange);
    EXPECT_EQ(check_io(io(nvm::kRead, 1, ~0ull, 2), f, max).fault, CommandFault::LbaRange);
    EXPECT_EQ(check_io(io(nvm::kRead, 1, 0, 1000), f, 256 << 10).fault, CommandFault::TooLong);
    SubmissionEntry s = io(nvm::kRead, 1, 0, 1);
    s.cdw0 |= 2u << cdw0::kPsdtShift;
    EXPECT_EQ(check_io(s, f, max).fault, CommandFault::Sgl);
    s = io(nvm::kWrite, 1, 0, 1);
    s.cdw0 |= 2u << cdw0::kFuseShift;
    EXPECT_EQ(check_io(s, f, max).fault, CommandFault::Fused);
}

TEST(NvmeCommandCheck, EveryFaultHasAnErrorStatusWithDnr) {
    for (unsigned i = 1; i < kCommandFaultCount; ++i) {
        const auto f = static_cast<CommandFault>(i);
        const uint16_t st = fault_status(f);
        EXPECT_FALSE(status::success(st)) << to_string(f);
        EXPECT_TRUE(st & status::kDnr) << to_string(f);
        EXPECT_STRNE(to_string(f), "?");
    }
    EXPECT_EQ(status::sc(fault_status(CommandFault::PrpNotRam)), sc::kDataTransferError);
    EXPECT_EQ(status::sc(fault_status(CommandFault::PrpOffset)), sc::kPrpOffsetInvalid);
    EXPECT_EQ(status::sct(fault_status(CommandFault::QueueSize)), sct::kCommandSpecific);
    EXPECT_EQ(fault_of(PrpFault::ListLoop), CommandFault::PrpMalformed);
    EXPECT_EQ(fault_of(PrpFault::DataNotRam), CommandFault::PrpNotRam);
}

TEST(NvmeCommandTransfer, ChunksCoverDataListAndRegions) {
    // 2 MiB over 64 KiB chunks: 32 data + one for the list page and the regions.
    EXPECT_EQ(transfer_chunks(2 << 20, 64 << 10), 33u);
    EXPECT_EQ(transfer_chunks(4096, 64 << 10), 2u);
    // 4 KiB chunks: 512 data, 1 list page, 513 regions x 16 B = 3 pages.
    EXPECT_EQ(transfer_chunks(2 << 20, 4096), 512u + 1 + 3);
    // 8 MiB: 2048 pages, a list of 2047 entries chained over 5 pages.
    EXPECT_EQ(transfer_chunks(8 << 20, 4096), 2048u + 5 + 9);
}

TEST(NvmeAdminPlan, TableOfCommands) {
    SubmissionEntry e{};
    auto plan = [&](uint8_t op, uint32_t cdw10 = 0) {
        e = SubmissionEntry{};
        e.cdw0 = op;
        e.cdw10 = cdw10;
        return plan_admin(e, 2 << 20);
    };
    EXPECT_EQ(plan(admin::kIdentify, identify::kCnsController).kind, AdminKind::IdentifyController);
    EXPECT_EQ(plan(admin::kIdentify, identify::kCnsNamespace).kind, AdminKind::IdentifyNamespace);
    EXPECT_EQ(plan(admin::kIdentify, identify::kCnsActiveNamespaces).bytes, 4096u);
    EXPECT_EQ(plan(admin::kGetLogPage, 0x00ff0002).bytes, 1024u); // NUMDL 255: 256 dwords
    EXPECT_EQ(plan(admin::kGetLogPage, 0x00ff0002).dir, DataDir::FromDevice);
    EXPECT_EQ(plan(admin::kSetFeatures, feature::kTimestamp).dir, DataDir::ToDevice);
    EXPECT_EQ(plan(admin::kGetFeatures, feature::kAutonomousPowerState).bytes, 256u);
    EXPECT_EQ(plan(admin::kSetFeatures, feature::kNumberOfQueues).kind, AdminKind::NumberOfQueues);
    EXPECT_EQ(plan(admin::kSetFeatures, feature::kHostMemoryBuffer).fault, CommandFault::FeatureRefused);
    EXPECT_EQ(plan(admin::kGetFeatures, 0x81).fault, CommandFault::FeatureRefused); // unknown
    EXPECT_EQ(plan(admin::kSetFeatures, feature::kVolatileWriteCache).kind, AdminKind::Pass);
    EXPECT_EQ(plan(admin::kAsyncEventRequest).kind, AdminKind::Pass);
    EXPECT_EQ(plan(admin::kKeepAlive).kind, AdminKind::Pass);
    EXPECT_EQ(plan(admin::kAbort).kind, AdminKind::Abort);
    for (uint8_t op : {admin::kFirmwareCommit, admin::kFirmwareImageDownload, admin::kFormatNvm, admin::kSanitize,
                       admin::kDoorbellBufferConfig, admin::kNamespaceManagement, admin::kGetLbaStatus,
                       admin::kDirectiveSend, admin::kSecurityReceive})
        EXPECT_EQ(plan(op).fault, CommandFault::NotMediated) << int(op);
    EXPECT_EQ(plan(0x7f).fault, CommandFault::OpcodeNotAllowed);
    EXPECT_EQ(plan(0xc0).fault, CommandFault::OpcodeNotAllowed);
    // Get Log Page past MDTS.
    e = SubmissionEntry{};
    e.cdw0 = admin::kGetLogPage;
    e.cdw11 = 0x10; // NUMDU: 1 M dwords
    EXPECT_EQ(plan_admin(e, 2 << 20).fault, CommandFault::LogTooLong);
}

TEST(NvmeAdminIdentify, ControllerAndNamespaceFilters) {
    uint8_t id[4096];
    std::memset(id, 0xff, sizeof id);
    filter_identify_controller(id, 9);
    uint16_t v16;
    uint32_t v32;
    EXPECT_EQ(id[id_ctrl::kMdts], 9);
    std::memcpy(&v16, id + id_ctrl::kOacs, 2);
    EXPECT_EQ(v16, oacs::kSelfTest);
    std::memcpy(&v16, id + id_ctrl::kOncs, 2);
    EXPECT_EQ(v16, oncs::kSaveSelect | oncs::kTimestamp);
    std::memcpy(&v16, id + id_ctrl::kFuses, 2);
    EXPECT_EQ(v16, 0);
    for (uint32_t off : {id_ctrl::kSgls, id_ctrl::kHmpre, id_ctrl::kHmmin, id_ctrl::kSanicap}) {
        std::memcpy(&v32, id + off, 4);
        EXPECT_EQ(v32, 0u) << off;
    }
    EXPECT_EQ(id[id_ctrl::kFrmw], 0x03);

    std::memset(id, 0, sizeof id);
    id[id_ns::kNlbaf] = 4;
    id[id_ns::kFlbas] = 3;
    for (unsigned i = 0; i < 5; ++i) {
        const uint32_t lbaf = (9u + i) << 16;
        std::memcpy(id + id_ns::lbaf_offset(i), &lbaf, 4);
    }
    filter_identify_namespace(id);
    EXPECT_EQ(id[id_ns::kNlbaf], 0);
    EXPECT_EQ(id[id_ns::kFlbas], 0);
    std::memcpy(&v32, id + id_ns::lbaf_offset(0), 4);
    EXPECT_EQ(id_ns::lbaf_lbads(v32), 12);
    for (unsigned i = 1; i < id_ns::kLbafCount; ++i) {
        std::memcpy(&v32, id + id_ns::lbaf_offset(i), 4);
        EXPECT_EQ(v32, 0u);
    }
}

TEST(NvmeAdminLimits, TransferLimitAndQueueClamp) {
    ControllerFacts f = two_namespaces();
    EXPECT_EQ(transfer_limit(f, 2 << 20).mdts, 7); // the controller's 512 KiB
    EXPECT_EQ(transfer_limit(f, 2 << 20).bytes, 512u << 10);
    f.mdts = 0;
    EXPECT_EQ(transfer_limit(f, 2 << 20).mdts, 9);
    EXPECT_EQ(transfer_limit(f, 3 << 20).bytes, 2u << 20); // a power of two pages
    EXPECT_EQ(clamp_queue_counts(0x003f003f, 8), 0x00070007u);
    EXPECT_EQ(clamp_queue_counts(0x00020005, 8), 0x00020005u);
}

} // namespace
