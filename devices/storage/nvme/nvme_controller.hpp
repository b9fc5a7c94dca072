// The NVMe controller mediator's register side (issue #10;
// devices/storage/nvme/README.md "Interception", "Interrupts", "Resets"):
// every trapped guest access to BAR0 outside the MSI-X table/PBA comes here
// as an offset and a size.
//
//  - CAP is filtered (CMBS, PMRS, BPS, NSSRS cleared, MQES from the engine);
//    CMB, PMR and Boot Partition registers read 0 and drop writes (BPMBL
//    would be a DMA target); NSSR is refused and logged once.
//  - CC is virtual except EN and SHN; the real CC always says MPS 4 KiB,
//    IOSQES 6, IOCQES 4, NVM command set. AQA/ASQ/ACQ are virtual: at the
//    guest's CC.EN 0->1 the queue engine checks them and gives the real
//    ones (its shadow admin queue). CSTS passes RDY/CFS/SHST from the real
//    controller (CFS also when the mediator refused an enable). After the
//    guest's EN 1->0 the engine is reset once the real RDY reads 0, so no
//    shadow chunk is reused while the device may still own it.
//  - Doorbells (1000h + n * (4 << CAP.DSTRD)) go to the engine, then the
//    engine harvests; reads of them return 0.
//  - Interrupts: the controller is the engine's ControllerPort (the guest
//    vector through the virtual MSI-X table) and an NmiSink (the device's
//    real MSI-X entries are NMIs; msix_table.hpp).
//  - INTx: a guest that enables the controller without MSI-X enabled is
//    refused (CSTS.CFS, logged): only the device can assert INTx, which
//    would announce completions the mediator has not posted yet.
//
// Accesses are split per DWORD like the AHCI mediator's
// (storage/common/dword_access.hpp); sizes other than 1, 2, 4, 8 are
// refused. Locking: called under the exit handler's io_lock (MMIO path and
// NMI hook alike).
#pragma once

#include <cstdint>

#include "core/dma_memory.hpp"
#include "core/guest_interrupts.hpp"
#include "core/guest_memory.hpp"
#include "core/mmio_registers.hpp"
#include "core/nmi_sink.hpp"
#include "devices/storage/common/shadow_pool.hpp"
#include "devices/storage/nvme/msix_table.hpp"
#include "devices/storage/nvme/nvme_controller_port.hpp"
#include "devices/storage/nvme/nvme_facts.hpp"
#include "lib/result.hpp"

namespace sv::crypto {
class Xts;
}

namespace sv::nvme {

// The queue engine (nvme_queue_engine.hpp, nvme-contract §1) as the
// register side drives it: an interface, so the register emulation is
// tested against a fake engine and the engine without registers.
struct RealAdminQueues {
    uint64_t asq = 0, acq = 0;
    uint32_t aqa = 0;
};
class EngineSide {
  public:
    virtual uint16_t guest_mqes() const = 0;
    virtual bool enable(uint32_t aqa, uint64_t asq, uint64_t acq, uint32_t page_bytes, RealAdminQueues& out) = 0;
    virtual void reset() = 0;
    virtual void sq_tail_written(uint16_t qid, uint32_t value) = 0;
    virtual void cq_head_written(uint16_t qid, uint32_t value) = 0;
    virtual bool harvest() = 0;
    virtual uint32_t vectors_in_use(uint16_t* out, uint32_t max) const = 0;
    virtual void log_statistics(const char* prefix) const = 0;

  protected:
    ~EngineSide() = default;
};

struct NvmeControllerStats {
    uint64_t guest_reads = 0, guest_writes = 0; // trapped register/doorbell accesses
    uint64_t split_accesses = 0;                // straddling a DWORD: split per DWORD
    uint64_t refused_accesses = 0;              // sizes other than 1, 2, 4, 8
    uint64_t doorbells = 0;                     // doorbell writes passed to the engine
    uint64_t doorbells_ignored = 0;             // while not enabled, or between strided slots
    uint64_t enables = 0, enables_refused = 0, resets = 0, shutdowns = 0;
    uint64_t function_resets = 0;               // FLR / D3hot -> D0 resets seen
    uint64_t not_ready_accesses = 0;            // guest accesses while the function is outside D0
    uint64_t nmis = 0, nmis_with_work = 0, nmis_owed = 0; // device NMIs seen / that found work / claimed as announced earlier
    uint64_t interrupts = 0;                    // guest_interrupt() calls (posted CQs with IEN)
    uint64_t dropped_writes = 0;                // CMB/PMR/BP/NSSR and read-only registers
};

class NvmeController final : public ControllerPort, public NmiSink {
  public:
    // bar0: the real BAR0 registers; msix/msix_registers: where the real
    // MSI-X table is (NvmePciFunction::msix(), msix_registers()); out: the
    // guest's interrupts (platform: lapic_guest_interrupts()).
    NvmeController(GuestMemory& memory, storage::ShadowPool& pool, const crypto::Xts* key, MmioRegisters& bar0,
                   const MsixPlacement& msix, MmioRegisters& msix_registers, GuestInterrupts& out);
    // Tests: register emulation over a given engine (init() then skips the
    // engine's set-up, boot identify still runs).
    NvmeController(MmioRegisters& bar0, const MsixPlacement& msix, MmioRegisters& msix_registers, GuestInterrupts& out,
                   EngineSide& engine);
    NvmeController(const NvmeController&) = delete;
    NvmeController& operator=(const NvmeController&) = delete;

    // Heap init() takes (engine state and shadow queues, boot identify
    // pages) and the shadow pool bytes the engine reserves.
    static uint64_t heap_bytes();
    static uint64_t pool_bytes();
    // Microseconds since some fixed point, for the boot waits (CAP.TO);
    // without it the waits are bounded by a count of register reads.
    using Clock = uint64_t (*)();
    void set_clock(Clock now_us) { clock_ = now_us; }
    // Boot, guest not started, bus mastering off: boot identify
    // (ControllerFacts), engine init, every real MSI-X entry masked.
    [[nodiscard]] Result<void> init(DmaAllocator& dma);

    // Guest accesses at BAR0 offsets (not the MSI-X table/PBA: msix()).
    uint64_t read(uint32_t offset, uint8_t size);
    void write(uint32_t offset, uint8_t size, uint64_t value);
    MsixTable& msix() { return msix_; }

    // NmiSink: the device's NMI: engine.harvest(); true if it found work
    // (or work an NMI still in flight announced was found earlier).
    bool on_nmi(uint32_t apic_id) override;
    // After S3 (the controller lost its state): the guest's driver resets
    // and re-enables it; the shadows are dropped and the real table masked.
    void resync();
    // The PCI function reset itself (FLR, or D3hot -> D0 without
    // NoSoftReset; devices/pci/function_reset.hpp): the real controller is
    // disabled with its queues gone, so this is CC.EN 1 -> 0 without waiting
    // for RDY. Every in-flight command is dropped (no completion: after a
    // controller reset the host expects none, NVMe 1.4 §7.6.2); the
    // guest's registers and MSI-X table read their reset values. Called
    // after the reset write reached the function (Bus Master Enable cleared
    // before it), touches no register: at the next access the real CC.EN is
    // written 0 and the real MSI-X entries masked, and once CSTS.RDY reads
    // 0 the shadow chunks go back to the pool.
    void function_reset();
    // Outside D0 (and until it is back) the function decodes no BAR: no
    // register access, the device's NMIs are not claimed (PCI PM 1.2 §5.3).
    void set_function_ready(bool ready) { function_ready_ = ready; }
    bool function_ready() const { return function_ready_; }

    const ControllerFacts& facts() const { return facts_; }
    const NvmeControllerStats& stats() const { return stats_; }
    bool enabled() const { return enabled_; }
    // Power-off lines: the engine's, then
    //   "nvme0: interrupts delivered N pended N nmis N with-work N enables N refused N resets N shutdowns N"
    void log_statistics(const char* prefix) const;

    // ControllerPort (the engine's view).
    void ring_sq_tail(uint16_t qid, uint16_t tail) override;
    void ring_cq_head(uint16_t qid, uint16_t head) override;
    void guest_interrupt(uint16_t cqid, uint16_t vector) override;

  private:
    uint32_t read_register(uint32_t offset);
    uint32_t peek_register(uint32_t offset);
    void write_register(uint32_t offset, uint32_t value);
    void write_cc(uint32_t value);
    void start_enable(uint32_t cc);
    void start_disable();
    uint32_t read_csts();
    void doorbell(uint32_t offset, uint32_t value);
    bool harvest();
    void sync_vectors();
    // Work owed at every access: a real reset seen finished.
    void before_access();
    void finish_reset_if_done();
    uint64_t virtual_cap() const;
    uint32_t real_cc_for(uint32_t guest_cc) const;

    GuestMemory* memory_ = nullptr;
    storage::ShadowPool* pool_ = nullptr;
    const crypto::Xts* key_ = nullptr;
    MmioRegisters& bar0_;
    MsixTable msix_;
    EngineSide* engine_ = nullptr; // the real engine (built by init) or the test's
    bool own_engine_ = false;
    Clock clock_ = nullptr;
    ControllerFacts facts_;
    uint32_t stride_ = 4;
    uint32_t cc_ = 0, aqa_ = 0, intms_ = 0; // the guest's (virtual) registers
    uint64_t asq_ = 0, acq_ = 0;
    uint32_t real_cc_ = 0;
    bool ready_ = false;          // init() done
    bool enabled_ = false;        // the real controller runs the guest's queues
    bool enable_refused_ = false; // CSTS.CFS shown until the guest clears EN
    bool reset_pending_ = false;  // real EN cleared, engine.reset() once RDY reads 0
    bool shutdown_reset_done_ = false;
    bool nmi_owed_ = false;       // work found outside an NMI whose NMI may still come
    bool function_ready_ = true;  // in D0 (set_function_ready)
    bool disable_owed_ = false;   // function reset seen: real CC.EN 0 at the next access
    bool warned_nssr_ = false, warned_intx_ = false;
    NvmeControllerStats stats_;
};

} // namespace sv::nvme
