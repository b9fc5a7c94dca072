// The shadow-memory pool every storage mediator borrows its shadow buffers
// from (docs/design.md §2 step 4: devices only ever DMA to hypervisor-owned
// shadow buffers). One bounded region of hypervisor DMA memory below 4 GiB,
// carved at set-up for the controllers found and cut into equal, naturally
// aligned, physically contiguous chunks (64 KiB by default).
//
// Why 64 KiB chunks, and a list of them per command (instead of one
// contiguous buffer per command or 4 KiB pages):
//   - A chunk is one descriptor region for every controller we mediate:
//     an IDE PRD region may not cross 64 KiB (SFF-8038i §1.2), an AHCI PRDT
//     entry takes up to 4 MiB (AHCI 1.3.1 §4.2.3.3 DBC), NVMe PRP entries are
//     memory pages (NVMe 1.4 §4.3), 4 KiB each: a 64 KiB aligned chunk is 16
//     of them. So a shadow descriptor builder maps chunk i to descriptor(s) i
//     without ever splitting a chunk.
//   - No command needs contiguous memory (a 32 MiB request is 512 chunks), so
//     the pool never fragments: borrow and return are O(chunks) pops/pushes.
//   - 4 KiB pages would make the largest ATA request 8192 entries and every
//     bookkeeping list 16 times longer; 64 KiB wastes at most 60 KiB per
//     small command (32 AHCI tags: 2 MiB). A pool for thousands of small
//     NVMe commands can be built with a smaller chunk (any power of two
//     >= 4 KiB is accepted).
//
// Guarantees and waiting:
//   - reserve(): at set-up a client (one mediator, or one IDE channel) may
//     reserve chunks; they are held back from every other client, so that
//     client can always get its largest request (IDE: 32 MiB per channel).
//   - try_borrow() never blocks: it gives all the chunks asked for, or none
//     with Borrow::NotNow (space will come back: queue the command and retry;
//     a Waiter passed along is called once after a later give_back()), or
//     Borrow::Never (more than this client could ever get: fail the command).
//   - generation() changes with every give_back(): a mediator that polls
//     instead of waiting retries when it moved.
// Thread safety: one pool serves every vCPU; its state is under a spinlock.
// Waiters are called after the lock is dropped, on the CPU that returned the
// chunks, so they may borrow at once (and must take their own lock).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dma_memory.hpp"
#include "lib/result.hpp"
#include "lib/spinlock.hpp"

namespace sv::storage {

constexpr uint64_t kDefaultChunkBytes = 64ull << 10;
constexpr uint64_t kMinChunkBytes = 4096;
// 32-bit bus masters (IDE; AHCI without CAP.S64A) take addresses below 4 GiB.
constexpr uint64_t kBelow4G = uint64_t{1} << 32;

// Heap bytes a pool of `pool_bytes` needs, bookkeeping and alignment slack
// included (for sizing the hypervisor heap before the pool exists).
constexpr uint64_t pool_heap_bytes(uint64_t pool_bytes, uint64_t chunk_bytes = kDefaultChunkBytes) {
    if (pool_bytes == 0) return 0;
    const uint64_t chunks = (pool_bytes + chunk_bytes - 1) / chunk_bytes;
    return chunks * chunk_bytes + chunk_bytes /* alignment */ + chunks * sizeof(uint32_t) + 4096;
}

// The chunks of one command's shadow buffer, in transfer order. The storage
// is the mediator's (one list per command slot); the pool fills it.
class ShadowList {
  public:
    ShadowList() = default;
    ShadowList(uint32_t* storage, uint32_t capacity) : chunks_(storage), capacity_(capacity) {}
    uint32_t count() const { return count_; }
    uint32_t capacity() const { return capacity_; }
    uint32_t chunk(uint32_t i) const { return chunks_[i]; }
    bool empty() const { return count_ == 0; }

  private:
    friend class ShadowPool;
    uint32_t* chunks_ = nullptr;
    uint32_t capacity_ = 0;
    uint32_t count_ = 0;
};

enum class Borrow : uint8_t {
    Ok,    // the list holds the chunks asked for
    NotNow, // not enough free now: retry after a give_back() (the waiter is queued)
    Never, // larger than the list, or than the pool less other clients' reservations
};

struct PoolStats {
    uint64_t borrows = 0;     // successful try_borrow() calls
    uint64_t waits = 0;       // NotNow answers
    uint64_t never = 0;       // Never answers
    uint64_t returns = 0;     // give_back() calls
    uint32_t peak_chunks = 0; // most chunks out at once
};

class ShadowPool {
  public:
    // One borrower: its reservation and what it holds now.
    class Client {
      public:
        uint32_t reserved_chunks() const { return reserved_; }
        uint32_t held_chunks() const { return held_; }

      private:
        friend class ShadowPool;
        uint32_t reserved_ = 0;
        uint32_t held_ = 0;
    };
    // Told once that chunks came back after it got Borrow::NotNow.
    class Waiter {
      public:
        virtual void shadow_space_available() = 0;

      protected:
        ~Waiter() = default;

      private:
        friend class ShadowPool;
        Waiter* next_ = nullptr;
        uint64_t ticket_ = 0; // queue order
        bool queued_ = false;
    };

    ShadowPool() = default;
    ShadowPool(const ShadowPool&) = delete;
    ShadowPool& operator=(const ShadowPool&) = delete;

    // Carves `bytes` (rounded up to whole chunks) from `dma`, every chunk
    // ending below `limit`. `chunk_bytes`: a power of two >= 4 KiB. Once.
    [[nodiscard]] Result<void> init(DmaAllocator& dma, uint64_t bytes,
                                    uint64_t chunk_bytes = kDefaultChunkBytes,
                                    uint64_t limit = kBelow4G);

    // Set-up: hold `bytes` (whole chunks) back for `client` alone. Fails with
    // OutOfMemory when the unreserved free space is smaller.
    [[nodiscard]] Result<void> reserve(Client& client, uint64_t bytes);

    // `bytes` rounded up to whole chunks, appended to the (empty) list.
    Borrow try_borrow(Client& client, uint64_t bytes, ShadowList& out, Waiter* waiter = nullptr);
    // Every chunk of `list` back to the pool (the device must be done with
    // them: no descriptor the device can still fetch may name them). Calls
    // the queued waiters.
    void give_back(Client& client, ShadowList& list);
    // A queued waiter that no longer wants space (its command was cancelled).
    void cancel_wait(Waiter& waiter);

    uint8_t* host(uint32_t chunk) const { return host_ + uint64_t{chunk} * chunk_bytes_; }
    uint64_t phys(uint32_t chunk) const { return phys_ + uint64_t{chunk} * chunk_bytes_; }
    uint64_t chunk_bytes() const { return chunk_bytes_; }
    uint32_t total_chunks() const { return total_; }
    uint64_t total_bytes() const { return uint64_t{total_} * chunk_bytes_; }
    uint32_t free_chunks() const;
    uint64_t generation() const { return __atomic_load_n(&generation_, __ATOMIC_ACQUIRE); }
    PoolStats stats() const;
    bool ready() const { return total_ != 0; }
    uint32_t chunks_for(uint64_t bytes) const {
        return static_cast<uint32_t>((bytes + chunk_bytes_ - 1) / chunk_bytes_);
    }

  private:
    static uint32_t owed(const Client& c) { return c.reserved_ > c.held_ ? c.reserved_ - c.held_ : 0; }
    void notify_waiters();

    mutable SpinLock lock_;
    uint8_t* host_ = nullptr;
    uint64_t phys_ = 0;
    uint64_t chunk_bytes_ = kDefaultChunkBytes;
    uint32_t total_ = 0;
    uint32_t* free_ = nullptr; // stack of free chunk indices, free_count_ deep
    uint32_t free_count_ = 0;
    uint32_t reserved_total_ = 0; // sum of all reservations
    uint32_t owed_ = 0;           // free chunks promised to clients below their reservation
    uint64_t generation_ = 0;
    Waiter* waiters_ = nullptr; // FIFO of queued waiters
    uint64_t tickets_ = 0;      // last ticket handed to a queued waiter
    PoolStats stats_;
};

} // namespace sv::storage
