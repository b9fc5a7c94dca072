// The admin commands of a guest, as the queue engine passes, rewrites or
// answers them (devices/storage/nvme/README.md, PLAN "Commands and
// Identify"): which data moves where, which are refused, and the Identify
// filter that keeps the guest's view consistent with what the mediator
// serves (no SGLs, no fused commands, no Write Zeroes / DSM / Copy / Verify,
// no firmware, format, sanitize, namespace management or doorbell buffers,
// no host memory buffer, MDTS = what the shadow pool serves, one LBA format).
// Queue creation and deletion are planned here and checked by the engine,
// which alone knows its queues.
#pragma once

#include <cstdint>

#include "devices/storage/nvme/nvme_command.hpp"
#include "devices/storage/nvme/nvme_facts.hpp"
#include "devices/storage/nvme/nvme_queues.hpp"

namespace sv::nvme {

enum class AdminKind : uint8_t {
    Refused,            // answered by the engine with fault_status(fault)
    Pass,               // no data: passed with PRP1/PRP2/MPTR cleared
    Data,               // a buffer bounced through the shadow (plain, never encrypted)
    IdentifyController, // Data, then the Identify Controller filter
    IdentifyNamespace,  // Data, then the Identify Namespace filter
    NumberOfQueues,     // Set/Get Features 07h: request and answer clamped
    CreateCq, CreateSq, DeleteSq, DeleteCq, // done on the shadows
    Abort,              // CID translated to the slot tag
};

struct AdminPlan {
    AdminKind kind = AdminKind::Refused;
    CommandFault fault = CommandFault::None;
    DataDir dir = DataDir::None;
    uint64_t bytes = 0;
};

// What the engine does with admin entry `e` (a copy), before any queue check.
AdminPlan plan_admin(const SubmissionEntry& e, uint64_t max_transfer);

// The transfer size the guest is told (Identify MDTS, in CAP.MPSMIN units)
// and the one the engine enforces: min(limits, the real MDTS), a power of two
// pages so that both say the same.
struct TransferLimit {
    uint8_t mdts = 0;
    uint64_t bytes = 0;
};
TransferLimit transfer_limit(const ControllerFacts& facts, uint64_t limit_bytes);

// §5.15.2.1 / §5.15.2.2: the guest's copies, rewritten in place (4096 bytes).
void filter_identify_controller(uint8_t* id, uint8_t mdts);
void filter_identify_namespace(uint8_t* id);

// Set Features Number of Queues (§5.21.1.7): NSQR 15:0 / NCQR 31:16, both 0's
// based, clamped to `max_pairs` queues (the request and the answer).
uint32_t clamp_queue_counts(uint32_t value, uint16_t max_pairs);

} // namespace sv::nvme
