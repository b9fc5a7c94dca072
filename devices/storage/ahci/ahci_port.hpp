// One implemented AHCI port behind the mediator (devices/storage/ahci/
// README.md §2, §4, §5): the guest's PxCLB/PxFB are virtual, the real ones
// always name this port's shadow command list and shadow received-FIS area;
// PxCI/PxSACT as the guest reads them are the slots not yet completed
// towards the guest. Each slot is a CommandSlot (ahci_command.hpp).
//
// Slot states, as masks (bit n = slot n):
//   waiting_  the guest issued it, the pool had no room: kept in FIFO order,
//             retried at later trapped accesses; the device has seen nothing.
//   running_  given to the HBA (real PxCI, and real PxSACT when queued_).
//   failed_   the HBA let go of it while the port was in error: completed
//             without copying anything; stays set in the virtual PxCI (or
//             PxSACT) until the guest stops the port, resets it or the HBA,
//             so the guest never takes it as a success (AHCI 1.3.1 §6.2.2).
#pragma once

#include <cstdint>

#include "core/dma_memory.hpp"
#include "core/mmio_registers.hpp"
#include "devices/storage/ahci/ahci_command.hpp"
#include "devices/storage/ahci/ahci_registers.hpp"

namespace sv::ahci {

struct ControllerStats;

// The port's DMA block: shadow command list (1 KiB, §3.3.1 alignment),
// shadow received-FIS area (256 B, §3.3.3), then 32 shadow command tables.
constexpr uint64_t kShadowFisOffset = kCommandListSize;
constexpr uint64_t kShadowTablesOffset = 0x800; // 128-byte aligned (§4.2.2 CTBA)
constexpr uint64_t kShadowTableStride = (kShadowTableBytes + 127) & ~uint64_t{127};
constexpr uint64_t kPortDmaBytes = kShadowTablesOffset + kMaxCommandSlots * kShadowTableStride;
static_assert(kShadowFisOffset + rfis::kSize <= kShadowTablesOffset);

// Bounded waits for the HBA (AHCI 1.3.1 §10.1.2: CR/FR clear within 500 ms;
// §10.4.3: HR clears within 1 s). Counted in register reads: each is a real
// MMIO read, so this bounds the time an exit spends polling.
constexpr unsigned kHbaPollReads = 100000;

class AhciPort {
  public:
    struct Env {
        MmioRegisters* hba = nullptr;
        GuestMemory* memory = nullptr;
        storage::ShadowPool* pool = nullptr;
        storage::ShadowPool::Waiter* waiter = nullptr; // the controller's
        ControllerStats* stats = nullptr;
        uint64_t* logged_faults = nullptr; // controller-wide: one log line per reason
        // Controller-wide: bit n set while port n is busy() (kept by the
        // port), so per-access work skips idle ports without touching them.
        uint32_t* busy_ports = nullptr;
    };

    AhciPort(unsigned index, const Env& env, const SlotEnv& slot_env, DmaBuffer block);
    AhciPort(const AhciPort&) = delete;
    AhciPort& operator=(const AhciPort&) = delete;

    unsigned index() const { return index_; }
    // Boot (guest not started): stops what the firmware left running
    // (bounded) and points the real PxCLB/PxFB at the shadows.
    void init_hardware();

    // A DWORD register at `reg` (offset inside the port's 80h). read() does
    // the completion work first where the guest can see a completion.
    uint32_t read(uint32_t reg);
    // The current value without side effects (for merging sub-DWORD writes).
    uint32_t peek(uint32_t reg);
    void write(uint32_t reg, uint32_t value);

    // Completion work (README §4): done slots complete (data first), the
    // received FISes are copied to the guest's area.
    void complete_done();
    // Issues waiting commands in order while the pool allows, at most
    // `budget` prepares (decremented). False once it had to wait again.
    bool retry_waiting(unsigned& budget);
    bool has_waiting() const { return wait_count_ != 0; }
    bool busy() const { return (running_ | failed_ | zombie_) != 0 || wait_count_ != 0; }
    // Zombies (dropped while the HBA might still be fetching) are let go
    // once PxCMD.CR is clear.
    void reap_zombies();

    // GHC.HR done (HR read back clear): everything in flight is gone; the
    // guest's registers read their reset values; real CLB/FB re-pointed.
    void after_hba_reset();
    // S3 resume / anything that reset the HBA behind our back.
    void resync();
    // The PCI function reset (FLR, D3hot -> D0): as after_hba_reset() but
    // without touching a register (the function may still be resetting);
    // repoint() re-points the real CLB/FB at the next guest access.
    void after_function_reset();
    void repoint();

    uint32_t virtual_ci() const;
    uint32_t virtual_sact() const { return guest_sact_; }
    uint64_t guest_clb() const { return guest_clb_; }
    uint64_t guest_fb() const { return guest_fb_; }
    uint64_t shadow_list_phys() const { return block_.phys; }
    uint64_t shadow_fis_phys() const { return block_.phys + kShadowFisOffset; }
    const DmaBuffer& dma_block() const { return block_; }

  private:
    uint32_t real(uint32_t reg) { return env_.hba->read32(port_base(index_) + reg); }
    void set_real(uint32_t reg, uint32_t v) { env_.hba->write32(port_base(index_) + reg, v); }
    void point_at_shadows();
    bool shadows_in_place();
    void write_cmd(uint32_t value);
    void write_sctl(uint32_t value);
    void issue(uint32_t slots);
    // prepare() one slot; false when it has to wait.
    bool start(unsigned slot, uint32_t& issue_mask, uint32_t& queued_mask);
    void push_real(uint32_t issue_mask, uint32_t queued_mask);
    void note_fault(unsigned slot);
    // The HBA no longer holds any command (ST 1->0 and CR clear, COMRESET,
    // HR): every slot is let go, nothing copied.
    void drop_all(bool hba_idle);
    void copy_received_fis();
    bool wait_cr_clear();
    void note_busy();

    unsigned index_;
    Env env_;
    DmaBuffer block_;
    CommandSlot slots_[kMaxCommandSlots];

    uint64_t guest_clb_ = 0;
    uint64_t guest_fb_ = 0;
    uint32_t guest_sact_ = 0; // bits the guest set in PxSACT, not yet completed towards it
    uint32_t running_ = 0;
    uint32_t queued_ = 0;     // of running_ | failed_: FPDMA (real PxSACT)
    uint32_t failed_ = 0;
    uint32_t zombie_ = 0;     // dropped while CR was still set: abandoned at CR clear
    uint32_t last_ci_ = 0;    // the real PxCI at the last completion work (plus slots issued since)
    bool error_latched_ = false; // a fatal PxIS bit was seen since the last stop/reset
    // The guest's PxCMD.FRE as last written to the HBA (software sets and
    // clears FRE, the HBA only on reset, §3.3.7), so the completion work
    // need not read PxCMD on every access.
    bool fre_ = false;
    // PxCMD.ST likewise (software sets and clears it, the HBA only on
    // reset): checked at every PxCI / PxSACT write without a device read.
    bool st_ = false;
    // What the guest's FIS area last received (copy_received_fis): the
    // shadow area is copied again only when the HBA wrote a FIS since, as a
    // real HBA writes the area only when a FIS arrives. fis_synced_ false:
    // copy at the next completion work (FB or FRE changed, reset).
    bool fis_synced_ = false;
    uint8_t fis_copied_[rfis::kSize] = {};
    uint8_t wait_order_[kMaxCommandSlots] = {};
    unsigned wait_count_ = 0;
    uint32_t waiting_ = 0;
};

} // namespace sv::ahci
