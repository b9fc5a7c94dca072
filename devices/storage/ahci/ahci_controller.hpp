// The AHCI HBA mediator (issue #9; devices/storage/ahci/README.md): every
// trapped guest access to the ABAR (AHCI 1.3.1 §3) comes here as an offset
// and a size. Generic host control (§3.1) is passed or filtered; each
// implemented port is an AhciPort (ahci_port.hpp) whose command list and
// received-FIS registers are virtual, so the real HBA only ever fetches the
// hypervisor's shadow command list, shadow tables and shadow FIS area.
//
// Locking: called under the exit handler's io_lock (one access at a time);
// the pool waiter below only sets a flag (it may run from another CPU's
// give_back, also under io_lock); waiting commands are retried at the next
// trapped access.
#pragma once

#include <cstdint>

#include "core/dma_memory.hpp"
#include "core/guest_memory.hpp"
#include "core/mmio_registers.hpp"
#include "devices/storage/ahci/ahci_registers.hpp"
#include "devices/storage/common/sector_cipher.hpp"
#include "devices/storage/common/shadow_pool.hpp"
#include "devices/storage/common/storage_counters.hpp"
#include "lib/result.hpp"

namespace sv::crypto {
class Xts;
}

namespace sv::ahci {

class AhciPort;

// Room for the slot engine's CommandFault values (ahci_command.hpp); the
// controller's .cpp checks CommandFault::Count fits.
constexpr unsigned kMaxCommandFaults = 48;

struct ControllerStats : storage::StorageCounters {
    uint64_t commands = 0, queued_commands = 0, refused_commands = 0, waits = 0;
    uint64_t hba_resets = 0, port_resets = 0, dropped_in_flight = 0;
    uint64_t function_resets = 0; // FLR / D3hot -> D0 resets of the PCI function
    uint64_t guest_reads = 0, guest_writes = 0; // trapped ABAR accesses
    // Refused commands by CommandFault (index = the enum value).
    uint64_t faults[kMaxCommandFaults] = {};
    // Accesses that straddle a DWORD boundary: split per DWORD (counted).
    uint64_t split_accesses = 0;
};

class AhciController {
  public:
    // hba: the real registers (offsets from ABAR). key: the disk key (nullptr:
    // no key; commands still go through the shadows, unencrypted).
    AhciController(GuestMemory& memory, storage::ShadowPool& pool, const crypto::Xts* key, MmioRegisters& hba);
    ~AhciController();
    AhciController(const AhciController&) = delete;
    AhciController& operator=(const AhciController&) = delete;

    // What init() takes from the heap for `ports` implemented ports (shadow
    // command lists, FIS areas, tables), and what the pool must hold for this
    // controller (reserved at init: at least one largest request).
    static uint64_t heap_bytes(unsigned ports);
    static uint64_t pool_bytes(unsigned ports);
    // Boot, guest not started, bus mastering off: stops every port the
    // firmware left running (bounded waits, §10.1.2), allocates the shadows,
    // points every real PxCLB/PxFB at them, reserves the pool.
    [[nodiscard]] Result<void> init(DmaAllocator& dma);
    // A guest access at `offset` from ABAR, size 1, 2, 4 or 8 at any
    // alignment (split per dword; docs/design.md §4 rule 2).
    uint64_t read(uint32_t offset, uint8_t size);
    void write(uint32_t offset, uint8_t size, uint64_t value);
    // After S3 resume or anything that reset the HBA behind our back.
    void resync();
    // The PCI function reset (FLR, D3hot -> D0 without NoSoftReset;
    // devices/pci/function_reset.hpp), seen after the reset write reached
    // it (Bus Master Enable cleared before): like GHC.HR, every in-flight
    // command is dropped (the guest's PxCI/PxSACT read 0, nothing copied,
    // shadow chunks returned) and the guest's PxCLB/PxFB/PxCMD read their
    // reset values; no register is touched now. The real PxCLB/PxFB (0
    // after the reset) are pointed at the shadows again at the next guest
    // access, before it is handled.
    void function_reset();
    unsigned implemented_ports() const;
    const ControllerStats& stats() const;
    // Power-off lines, prefix e.g. "ahci0":
    //   "ahci0: commands N queued N refused N waits N encrypted N B decrypted N B copied N B hba-resets N port-resets N dropped N"
    //   one "ahci0: refused <reason>: N" line per non-zero CommandFault
    void log_statistics(const char* prefix) const;

    // The port behind bit `port` of PI (nullptr: not implemented). For tests.
    AhciPort* port(unsigned port) const { return port < kMaxPorts ? ports_[port] : nullptr; }

  private:
    // Told by the pool that chunks came back (ShadowPool::Waiter): only a
    // flag, the ports retry their waiting commands at the next access.
    class SpaceWaiter final : public storage::ShadowPool::Waiter {
      public:
        void shadow_space_available() override { __atomic_store_n(&fired_, true, __ATOMIC_RELEASE); }
        bool take() { return __atomic_exchange_n(&fired_, false, __ATOMIC_ACQ_REL); }
        bool fired() const { return __atomic_load_n(&fired_, __ATOMIC_ACQUIRE); }

      private:
        bool fired_ = false;
    };

    uint32_t read_register(uint32_t offset);
    uint32_t peek_register(uint32_t offset);
    void write_register(uint32_t offset, uint32_t value);
    uint32_t read_host(uint32_t offset);
    void write_host(uint32_t offset, uint32_t value);
    AhciPort* port_at(uint32_t offset) const;
    // A guest access of a size the controller takes (1, 2, 4, 8) once set up:
    // the per-access work (before_access) done and a DWORD straddle counted.
    bool begin_access(uint32_t offset, uint8_t size);
    // Work owed at every trapped access: an HBA reset seen finished,
    // zombies let go, waiting commands retried once the pool has room.
    void before_access();
    void retry_waiting();
    void complete_all_ports();
    void start_hba_reset();
    void finish_hba_reset();
    // CAP as the guest sees it (hidden features cleared).
    uint32_t virtual_cap();

    GuestMemory& memory_;
    storage::ShadowPool& pool_;
    storage::ShadowPool::Client client_;
    storage::SectorCipher cipher_;
    MmioRegisters& hba_;
    SpaceWaiter waiter_;
    AhciPort* ports_[kMaxPorts] = {};
    uint32_t real_cap_ = 0;
    uint32_t pi_ = 0;
    unsigned implemented_ = 0;
    unsigned retry_cursor_ = 0; // round robin over ports for waiting commands
    uint64_t logged_faults_ = 0; // CommandFault values logged once already
    bool hr_pending_ = false;    // GHC.HR written, not yet read back clear
    bool repoint_owed_ = false;  // function reset: real PxCLB/PxFB not re-pointed yet
    bool ready_ = false;
    ControllerStats stats_;
    uint32_t busy_ports_ = 0; // AhciPort::Env::busy_ports
    alignas(16) uint8_t bounce_[512] = {};
};

} // namespace sv::ahci
