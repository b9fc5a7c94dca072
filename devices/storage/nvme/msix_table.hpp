// The NVMe function's MSI-X table and PBA as the guest sees them (PCI 3.0
// §6.8.2), and the real table behind them (devices/storage/nvme/README.md
// "Interrupts"):
//
//  - Guest side, virtual: its 16-byte entries (address, data, vector
//    control), the Pending Bit Array, and the Message Control enable and
//    function mask (watched in config space by the PCI binding and reported
//    here; the real ones are the mediator's). The device never sees the
//    guest's entries, so no guest MSI is ever sent by the device: the
//    controller delivers the guest's vector (raise()) after it has posted
//    the completions, through GuestInterrupts (a fixed IPI).
//  - Real side: entry v for every vector the queue engine uses (its shadow
//    CQs, always IEN = 1) is an NMI (MSI data delivery mode 100b, Intel SDM
//    vol. 3A §10.11.2) to the destination the guest's entry v names, so a
//    completion makes that CPU exit (core/nmi_sink.hpp) and no other
//    interrupt does. Every other real entry stays masked.
//
// Guest addresses outside FEE00000h-FEEFFFFFh are refused (an MSI is a DMA
// write of the data DWORD: aimed elsewhere it would write memory), logged
// once: the vector is then neither delivered nor copied to the real table.
//
// Locking: the caller holds the exit handler's io_lock.
#pragma once

#include <cstdint>

#include "core/guest_interrupts.hpp"
#include "core/mmio_registers.hpp"

namespace sv::nvme {

// Entries mediated per function (a 4 KiB virtual table): Linux asks for one
// vector per CPU plus the admin queue's; entries beyond read 0 and are never
// delivered (counted).
constexpr uint32_t kMaxMsixVectors = 256;

// Where the capability (config space, PCI 3.0 §6.8.2.1-§6.8.2.5) puts table and PBA.
struct MsixPlacement {
    uint8_t capability = 0; // config offset; 0: the function has no MSI-X
    uint16_t vectors = 0;   // Table Size + 1
    uint8_t table_bir = 0;
    uint32_t table_offset = 0;
    uint8_t pba_bir = 0;
    uint32_t pba_offset = 0;
    bool present() const { return capability != 0 && vectors != 0; }
};

struct MsixStats {
    uint64_t delivered = 0;           // guest vectors sent (IPI)
    uint64_t pended = 0;              // raised while masked / disabled: PBA bit set
    uint64_t delivered_at_unmask = 0; // of `delivered`, pending ones sent at unmask/enable
    uint64_t refused_addresses = 0;   // raised or programmed with a non-interrupt address
    uint64_t out_of_table = 0;        // raised for an entry beyond the table
    uint64_t real_programmed = 0;     // real entries written as NMI
    uint64_t bad_accesses = 0;        // table/PBA accesses of a size or alignment PCI 3.0 §6.8.2 forbids
};

class MsixTable {
  public:
    // real: the registers of the BAR holding the real table, which starts at
    // `real_table_offset`. fallback_destination: the physical APIC ID the
    // real NMI goes to while the guest's entry has no usable address yet.
    MsixTable(MmioRegisters& real, uint32_t real_table_offset, uint16_t vectors, GuestInterrupts& out,
              uint8_t fallback_destination = 0);

    // Boot: every real entry masked.
    void init_hardware();
    // The function reset (FLR, D3hot -> D0): the real table is masked and
    // MSI-X disabled by the device (PCI 3.0 §6.8.2.3, §6.8.2.9); the guest's
    // table, PBA and Message Control go to their reset values too. Touches
    // no register; the next use_vectors() programs every entry anew.
    void function_reset();

    // Guest accesses; offsets from the start of the table / PBA. DWORD or
    // aligned QWORD only (PCI 3.0 §6.8.2); other sizes read 0 / are dropped.
    uint64_t read_table(uint32_t offset, uint8_t size);
    void write_table(uint32_t offset, uint8_t size, uint64_t value);
    uint64_t read_pba(uint32_t offset, uint8_t size); // writes to the PBA are dropped (read-only)
    uint32_t table_bytes() const { return vectors_ * 16u; }
    uint32_t pba_bytes() const { return (vectors_ + 63u) / 64u * 8u; }

    // The guest's Message Control (capability + 2): MSI-X Enable, Function Mask.
    void control_written(uint16_t message_control);
    bool enabled() const { return enabled_; }
    bool function_masked() const { return function_masked_; }

    // The guest's vector `v` is due (the controller posted entries to a CQ
    // with IEN): sent now if MSI-X is on and neither the function nor the
    // entry is masked, else its PBA bit is set and it goes at unmask.
    void raise(uint16_t v);
    bool pending(uint16_t v) const;

    // The vectors the queue engine's shadow CQs use (QueueEngine::
    // vectors_in_use): those real entries become NMIs to the guest entry's
    // destination and are unmasked, every other real entry is masked.
    void use_vectors(const uint16_t* vectors, uint32_t count);
    bool real_in_use(uint16_t v) const;
    // The address the real entry `v` was last programmed with.
    uint64_t real_address(uint16_t v) const { return v < kMaxMsixVectors ? real_address_[v] : 0; }

    const MsixStats& stats() const { return stats_; }
    uint16_t vectors() const { return vectors_; }

  private:
    struct Entry {
        uint32_t addr_lo = 0, addr_hi = 0, data = 0, control = 1; // masked at reset (PCI 3.0 §6.8.2.9)
    };
    static bool test(const uint64_t* bits, uint32_t v) { return (bits[v / 64] >> (v % 64)) & 1; }
    static void set(uint64_t* bits, uint32_t v, bool on) {
        if (on) bits[v / 64] |= uint64_t{1} << (v % 64);
        else bits[v / 64] &= ~(uint64_t{1} << (v % 64));
    }
    uint64_t guest_address(uint16_t v) const;
    bool deliverable(uint16_t v) const;
    void send(uint16_t v);
    void send_pending();
    void program_real(uint16_t v);
    void mask_real(uint16_t v);
    void refuse_address(uint16_t v, uint64_t address);
    uint32_t dword(uint16_t v, uint32_t index) const;
    void set_dword(uint16_t v, uint32_t index, uint32_t value);

    MmioRegisters& real_;
    uint32_t real_table_;
    uint16_t vectors_;
    GuestInterrupts& out_;
    uint8_t fallback_;
    bool enabled_ = false, function_masked_ = false;
    bool warned_address_ = false;
    Entry guest_[kMaxMsixVectors];
    uint64_t pending_[kMaxMsixVectors / 64] = {};
    uint64_t in_use_[kMaxMsixVectors / 64] = {};
    uint64_t real_address_[kMaxMsixVectors] = {};
    MsixStats stats_;
};

} // namespace sv::nvme
