// One NVMe command between the guest's SQ tail doorbell and the completion
// the guest is shown (devices/storage/nvme/README.md, PLAN "Shadow queues").
//
// The real controller never sees a guest entry: the 64-byte SQE is copied
// once into the slot when the engine consumes it from the guest SQ; it is
// validated there (the I/O allowlist Read/Write/Flush, NSID against the
// ControllerFacts, FUSE 0, PSDT 0, the transfer within MDTS and the LBA range
// within NSZE), its PRPs are walked with walk_prps() (the guest's CC.MPS, list
// pages read once), shadow chunks are borrowed from the shared pool, a write
// is encrypted guest -> shadow, and the entry the shadow SQ gets names only
// shadow pages (PRP1/PRP2/PRP list over the chunks, the real CC.MPS being
// 4 KiB), MPTR 0, and CID = the slot's tag. On completion a read is
// decrypted shadow -> guest into the regions kept at submission (the guest's
// list is never read again) and the chunks go back.
//
// Locking: the engine calls a slot only under the exit handler's io_lock.
#pragma once

#include <cstdint>
#include <span>

#include "core/guest_memory.hpp"
#include "devices/storage/common/guest_regions.hpp"
#include "devices/storage/common/sector_cipher.hpp"
#include "devices/storage/common/shadow_pool.hpp"
#include "devices/storage/common/storage_counters.hpp"
#include "devices/storage/nvme/nvme_facts.hpp"
#include "devices/storage/nvme/nvme_queues.hpp"
#include "devices/storage/nvme/prp_walk.hpp"

namespace sv::nvme {

// The real controller's memory page size: the controller side always
// programs CC.MPS = 0 (4 KiB), so every shadow PRP entry names 4 KiB.
constexpr uint64_t kShadowPage = 4096;
constexpr uint32_t kPrpsPerPage = kShadowPage / sizeof(uint64_t);

// Why the engine answered a command itself. Each maps to the NVMe status the
// guest gets (fault_status) and to the shared refusal kind (refusal_of).
enum class CommandFault : uint8_t {
    None,
    OpcodeNotAllowed,   // not on the I/O allowlist / the admin table: Invalid Opcode
    NotMediated,        // a known admin command the mediator refuses (firmware, format, ...): Invalid Opcode
    Fused,              // FUSE != 0 (fused operations hidden: FUSES 0): Invalid Field
    Sgl,                // PSDT != 0 (SGLs hidden: SGLS 0): Invalid Field
    Namespace,          // NSID not a supported namespace: Invalid Namespace or Format
    LbaRange,           // SLBA + NLB beyond NSZE: LBA Out of Range
    TooLong,            // transfer above MDTS: Invalid Field
    PrpOffset,          // a PRP offset rule: PRP Offset Invalid
    PrpNotRam,          // a data page or list page outside guest RAM: Data Transfer Error
    PrpMalformed,       // loop, too many list pages: Invalid Field
    NoShadowMemory,     // the pool can never hold it (Borrow::Never): Internal Error
    CryptoFailed,       // the XTS engine refused (fail closed): Internal Error
    FeatureRefused,     // Set/Get Features the mediator does not pass (HMB, unknown): Invalid Field
    QueueId,            // Create/Delete: queue id out of range / in use / absent
    QueueSize,          // Create: entries < 2 or above what the shadows hold
    QueueNotContiguous, // Create: PC = 0 (CAP.CQR)
    QueueMemory,        // Create: base with an offset or not wholly guest RAM
    CompletionQueue,    // Create SQ: its CQ does not exist
    QueueDeletion,      // Delete CQ: an SQ still uses it
    LogTooLong,         // Get Log Page above MDTS
    Count
};
constexpr unsigned kCommandFaultCount = static_cast<unsigned>(CommandFault::Count);
const char* to_string(CommandFault f);
storage::Refusal refusal_of(CommandFault f);
// The completion status (§4.6.1.2), DNR set: retrying cannot help.
uint16_t fault_status(CommandFault f);
CommandFault fault_of(PrpFault f);

// Checks of an I/O command (opcode allowlist, fields, namespace, range,
// MDTS): the bytes it moves on success (0 for Flush).
struct IoCheck {
    CommandFault fault = CommandFault::None;
    const NamespaceFacts* ns = nullptr;
    uint64_t bytes = 0;
    bool write = false;
};
IoCheck check_io(const SubmissionEntry& e, const ControllerFacts& facts, uint64_t max_transfer);

// Where a command's data goes. Encrypted: user data (tweak = LBA in the
// namespace's sector size); plain: admin data (Identify, logs, features).
enum class DataDir : uint8_t { None, ToDevice, FromDevice };

// What every transfer shares, fixed at engine init.
struct TransferEnv {
    GuestMemory* memory = nullptr;
    storage::ShadowPool* pool = nullptr;
    storage::ShadowPool::Client* client = nullptr;
    std::span<storage::GuestRegion> scratch; // one walk's regions (max_prp_regions of max_transfer)
    std::span<uint8_t> list_copy;            // one guest PRP list page (the guest's largest page)
    std::span<uint8_t> bounce;               // one sector (4096 bytes)
    storage::StorageCounters* counters = nullptr;
    uint64_t max_transfer = 0;
};

// Chunks one transfer of `bytes` (with `regions` guest regions to keep) can
// take from a pool of `chunk_bytes` chunks: the data, then the shadow PRP
// list pages and the spilled region list.
uint32_t transfer_chunks(uint64_t bytes, uint64_t chunk_bytes);

// The shadow side of one command with data: chunks, shadow PRPs, the guest
// regions of a FromDevice transfer. Storage for the chunk indices is the
// engine's (one array per context).
class Transfer {
  public:
    static constexpr uint32_t kInlineRegions = 4;
    enum class Start : uint8_t { Ok, NotNow, Refused };

    void bind(uint32_t* chunk_storage, uint32_t capacity) { list_ = storage::ShadowList(chunk_storage, capacity); }
    // Walks the guest PRPs (copy-once lists) for `bytes`, borrows the shadow,
    // for ToDevice copies (cipher keyed: encrypts) guest -> shadow, and builds
    // the shadow PRP1/PRP2 (+ list). NotNow: nothing kept, `waiter` queued.
    Start start(const TransferEnv& env, const SubmissionEntry& e, uint32_t guest_page, uint64_t bytes,
                DataDir dir, const storage::SectorCipher* cipher, uint64_t first_sector,
                storage::ShadowPool::Waiter* waiter, CommandFault& fault);
    // FromDevice and ok: shadow -> guest (cipher keyed: decrypts). False: the
    // copy failed (the command then completes with an error).
    bool finish_to_guest(const TransferEnv& env, const storage::SectorCipher* cipher, uint64_t first_sector);
    // Chunks back (the device no longer owns them).
    void release(const TransferEnv& env);

    uint64_t prp1() const { return prp1_; }
    uint64_t prp2() const { return prp2_; }
    uint64_t bytes() const { return bytes_; }
    bool active() const { return !list_.empty(); }
    // The first 4 KiB of the shadow data (Identify filtering).
    uint8_t* shadow_host(const TransferEnv& env) const;

  private:
    uint64_t page_phys(const TransferEnv& env, uint64_t page) const;
    uint8_t* meta_host(const TransferEnv& env, uint64_t offset) const;
    uint64_t meta_phys(const TransferEnv& env, uint64_t offset) const;
    void build_prps(const TransferEnv& env);
    storage::GuestRegion region(const TransferEnv& env, uint32_t i) const;

    storage::ShadowList list_;
    uint64_t bytes_ = 0;
    uint32_t data_chunks_ = 0;
    uint32_t regions_ = 0;
    uint64_t list_bytes_ = 0; // shadow PRP list pages in the meta area
    uint64_t prp1_ = 0, prp2_ = 0;
    storage::GuestRegion inline_[kInlineRegions];
};

} // namespace sv::nvme
