// The NVMe queue engine (issue #10 items 2, 4, 5; devices/storage/nvme/
// README.md PLAN "Shadow queues", "Commands and Identify", "Resets"): every
// guest queue exists twice, the guest's in guest memory and its shadow in
// hypervisor DMA memory, and the real controller only knows the shadows.
//
//   guest SQ --(tail doorbell: copy once, validate, PRPs -> shadow, encrypt)--> shadow SQ --> controller
//   guest CQ <--(decrypt, guest CID / SQ id / SQ head, guest phase)-- shadow CQ <-- controller
//
// The engine consumes a guest SQ at its tail doorbell: each 64-byte entry is
// copied into a command slot of that SQ (the guest SQ head advances past it
// at once: the copy is ours), and either answered by the engine itself (a
// refusal, posted with the NVMe status the PLAN names), or placed in the
// shadow SQ under CID = the slot's index (so duplicate guest CIDs cannot
// collide), or kept waiting for shadow space. A guest SQ with every slot busy
// is not consumed further until one frees (§4.1 lets a controller fetch
// lazily). Completions are harvested from the shadow CQs and posted to the
// guest CQ where it has room; the rest are held until the guest's CQ head
// doorbell frees some.
//
// All memory (shadow queues of `limits`, slot and transfer state) comes from
// the DmaAllocator at init() and is reused across resets; the data buffers
// are borrowed per command from the shared ShadowPool.
//
// Locking: every entry point runs under the exit handler's io_lock (the
// controller side's MMIO handlers and NMI hook); the pool waiter only sets a
// flag that the next entry point acts on.
#pragma once

#include <cstdint>

#include "core/dma_memory.hpp"
#include "core/guest_memory.hpp"
#include "crypto/xts.hpp"
#include "devices/storage/common/sector_cipher.hpp"
#include "devices/storage/common/shadow_pool.hpp"
#include "devices/storage/common/storage_counters.hpp"
#include "devices/storage/nvme/nvme_admin.hpp"
#include "devices/storage/nvme/nvme_command.hpp"
#include "devices/storage/nvme/nvme_controller_port.hpp"
#include "devices/storage/nvme/nvme_facts.hpp"
#include "lib/result.hpp"

namespace sv::nvme {

struct EngineStats : storage::StorageCounters {
    uint64_t commands = 0, admin_commands = 0, refused = 0, waits = 0;
    uint64_t completions = 0, queues_created = 0, queues_deleted = 0, resets = 0;
    uint64_t dropped_in_flight = 0, doorbell_ignored = 0;
    uint64_t stray_completions = 0;   // shadow CQEs naming no command in flight (ignored)
    uint64_t faults[kCommandFaultCount] = {};
};

// Limits the engine serves (it clamps what the guest sees to these).
struct EngineLimits {
    uint16_t max_io_queues = 64;      // pairs; Set Features Number of Queues is clamped to this
    uint32_t max_entries = 1024;      // per queue; CAP.MQES is reported as min(real, this) - 1
    uint64_t max_transfer = 2 << 20;  // MDTS the guest is told (bytes)
};

class QueueEngine final : private storage::ShadowPool::Waiter {
  public:
    QueueEngine(GuestMemory& memory, storage::ShadowPool& pool, const crypto::Xts* key, ControllerPort& port,
                const ControllerFacts& facts, const EngineLimits& limits = {});
    QueueEngine(const QueueEngine&) = delete;
    QueueEngine& operator=(const QueueEngine&) = delete;

    // Heap for the shadow queues and slot state of `limits` (all allocated at
    // init, reused across resets), and the pool bytes to reserve (>= one
    // largest transfer).
    static uint64_t heap_bytes(const EngineLimits& limits);
    static uint64_t pool_bytes(const EngineLimits& limits);
    // The pool must be initialised; reserves pool_bytes() in it.
    [[nodiscard]] Result<void> init(DmaAllocator& dma);

    // The CAP.MQES the guest reads (0's based).
    uint16_t guest_mqes() const;
    // The MDTS the guest's Identify Controller says and the bytes it means.
    const TransferLimit& transfer() const { return transfer_; }

    // CC.EN 0->1 by the guest (see the contract, /nvme_controller.hpp): checks
    // the guest admin queues, resets the shadows, and gives what the
    // controller side writes into the real ASQ/ACQ/AQA. false: refused.
    struct RealAdminQueues {
        uint64_t asq = 0, acq = 0;
        uint32_t aqa = 0;
    };
    bool enable(uint32_t aqa, uint64_t asq, uint64_t acq, uint32_t page_bytes, RealAdminQueues& out);
    // The real controller is disabled: every shadow queue and slot dropped,
    // chunks back to the pool, nothing posted to the guest.
    void reset();

    // Guest doorbell writes. Values beyond the queue, or for no queue, are
    // ignored and counted.
    void sq_tail_written(uint16_t qid, uint32_t value);
    void cq_head_written(uint16_t qid, uint32_t value);

    // Harvests every shadow CQ, posts guest CQEs where there is room, rings
    // the real CQ heads, resubmits waiting commands, calls
    // port.guest_interrupt() once per guest CQ (IEN) that got entries.
    // true if it found anything.
    bool harvest();

    // Every interrupt vector a shadow CQ uses (shadow CQs always have IEN).
    uint32_t vectors_in_use(uint16_t* out, uint32_t max) const;

    const EngineStats& stats() const { return stats_; }
    void log_statistics(const char* prefix) const;

    bool enabled() const { return enabled_; }
    // Commands the real controller holds (tests, status).
    uint32_t in_flight() const;
    uint32_t waiting() const { return wait_count_; }

  private:
    static constexpr uint32_t kNone = 0xffffffffu;
    enum class SlotState : uint8_t { Free, Waiting, Submitted, Done };
    enum class Kind : uint8_t { Io, Admin };
    struct Slot {
        SubmissionEntry sqe;      // the guest's entry, copied once
        uint32_t dw0 = 0;         // completion to post
        uint16_t status = 0;
        uint16_t sqid = 0;
        uint32_t next = kNone;    // free list / wait list / CQ pending list
        uint32_t transfer = kNone;
        uint64_t sector = 0;      // first sector (tweak) of encrypted data
        uint32_t sector_bytes = 0;
        SlotState state = SlotState::Free;
        AdminKind admin = AdminKind::Refused;
        DataDir dir = DataDir::None;
        bool io = false;
        bool waited = false;
        uint64_t bytes = 0;
    };
    struct Sq {
        bool valid = false, creating = false;
        uint8_t* host = nullptr; // the guest's queue (checked whole at creation)
        uint32_t entries = 0, head = 0, tail = 0;
        uint16_t cqid = 0;
        DmaBuffer shadow{};
        uint32_t shadow_tail = 0;
        uint32_t free = kNone;   // free slot list
        uint32_t busy = 0;
        bool ring = false;       // shadow tail moved since the last real doorbell
    };
    struct Cq {
        bool valid = false, creating = false;
        uint8_t* host = nullptr;
        uint32_t entries = 0, head = 0, tail = 0;
        bool phase = true, ien = false;
        uint16_t vector = 0;
        DmaBuffer shadow{};
        uint32_t shadow_head = 0;
        bool shadow_phase = true;
        uint32_t pending = kNone, pending_tail = kNone; // completed, not yet posted (FIFO)
        bool posted = false;     // entries posted since the last interrupt
    };

    void shadow_space_available() override { space_ = true; }

    uint32_t slot_index(uint16_t sqid, uint32_t i) const { return uint32_t{sqid} * limits_.max_entries + i; }
    Slot& slot(uint32_t index) { return slots_[index]; }
    void clear_state();
    void open_sq(uint16_t qid, uint8_t* host, uint32_t entries, uint16_t cqid);
    void open_cq(uint16_t qid, uint8_t* host, uint32_t entries, bool ien, uint16_t vector);
    void consume(uint16_t qid);
    void begin(uint32_t index);
    bool start(uint32_t index);           // false: must wait
    void submit(uint32_t index, uint64_t prp1, uint64_t prp2);
    void complete_local(uint32_t index, CommandFault fault);
    void complete_local_status(uint32_t index, uint16_t status, uint32_t dw0);
    void finish(uint32_t index, uint16_t status, uint32_t dw0);
    void after_admin(Slot& s, uint16_t& status, uint32_t& dw0);
    void abort_sq_commands(uint16_t sqid);
    void queue_done(uint32_t index);
    void post_pending(uint16_t cqid);
    void post_all();
    void retry_waiting();
    void ring_sqs();
    void release_transfer(Slot& s);
    void free_slot(uint32_t index);
    void unlink_waiting(uint32_t index);
    void note_fault(uint16_t qid, uint8_t opcode, CommandFault f);
    CommandFault check_create(const Slot& s, bool cq) const;
    const storage::SectorCipher* cipher_for(uint32_t sector_bytes) const;

    GuestMemory& memory_;
    storage::ShadowPool& pool_;
    ControllerPort& port_;
    const ControllerFacts& facts_;
    EngineLimits limits_;
    TransferLimit transfer_{};
    storage::SectorCipher cipher512_, cipher4k_;
    storage::ShadowPool::Client client_;
    TransferEnv env_{};
    EngineStats stats_{};

    Sq* sqs_ = nullptr;   // max_io_queues + 1 (0: admin)
    Cq* cqs_ = nullptr;
    Slot* slots_ = nullptr; // (max_io_queues + 1) * max_entries
    Transfer* transfers_ = nullptr;
    uint32_t transfer_count_ = 0;
    uint32_t free_transfer_ = kNone;
    uint32_t* transfer_next_ = nullptr;
    uint32_t wait_head_ = kNone, wait_tail_ = kNone, wait_count_ = 0;
    uint32_t page_bytes_ = 4096;
    uint64_t logged_faults_ = 0;
    bool ready_ = false, enabled_ = false, space_ = false;
};

} // namespace sv::nvme
