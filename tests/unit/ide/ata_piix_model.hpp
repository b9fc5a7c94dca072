// Drives an IDE channel the way Linux libata-sff + ata_piix does (register
// access sequence of ata_bmdma_qc_issue / ata_bmdma_port_intr / ata_sff_*):
// accesses to trapped ports go to the mediator and count as VM exits, the
// others (task file +1..+6, and ctl/bm status in the lean trap set) go straight
// to the simulated device, like untrapped ports on real hardware.
#pragma once

#include <cstdint>
#include <functional>
#include <set>

#include "core/io.hpp"
#include "ide/sim_piix.hpp"

namespace svtest {

class TrappedBus {
  public:
    TrappedBus(sv::IoHandler& mediator, SimPiix& device, const uint16_t* ports, size_t n)
        : med_(mediator), dev_(device), trapped_(ports, ports + n) {}
    uint32_t in(uint16_t port, uint8_t size);
    void out(uint16_t port, uint8_t size, uint32_t value);
    void ins(uint16_t port, uint8_t size, uint8_t* buf, size_t bytes);  // one rep insw/insd
    void outs(uint16_t port, uint8_t size, const uint8_t* buf, size_t bytes);
    bool trapped(uint16_t port, uint8_t size) const;
    unsigned exits = 0;

  private:
    sv::IoHandler& med_;
    SimPiix& dev_;
    std::set<uint16_t> trapped_;
};

struct Outcome {
    bool ok = false;         // libata would complete the command without error
    bool irq = false;        // an interrupt arrived (else: libata times out)
    uint8_t status = 0;      // ATA status seen in the interrupt handler
    uint8_t error = 0;       // Error register (read by EH when status has ERR)
    uint8_t bm_status = 0;   // BM status read at the start of the handler
    unsigned exits = 0;      // trapped accesses during the whole command
};

class LinuxAtaPiix {
  public:
    LinuxAtaPiix(TrappedBus& bus, SimPiix& dev, SimPiix::Ports p) : bus_(bus), dev_(dev), p_(p) {}
    // ata_sff_irq_on at port start: Device Control = ATA_DEVCTL_OBS.
    void init();
    Outcome dma(bool write, uint64_t lba, uint32_t sectors, bool lba48, uint32_t prd_gpa);
    // PIO: `chunk` bytes per rep ins/outs (the core may split a sector
    // anywhere), element size 2 or 4.
    Outcome pio(bool write, uint64_t lba, uint32_t sectors, bool lba48, bool multiple,
                uint8_t* buf, size_t chunk, uint8_t elem = 2);
    Outcome nondata(uint8_t op, uint8_t nsect = 0);
    // IDENTIFY DEVICE (ECh) or IDENTIFY PACKET DEVICE (A1h).
    Outcome identify(uint8_t* buf512, uint8_t op = 0xec);
    // Runs between bmdma_setup (command written) and bmdma_start.
    std::function<void()> before_start;
    // Issue an arbitrary opcode as if it were a DMA command (for refusals).
    uint8_t dma_opcode_override = 0;
    uint8_t device_bits = 0x40; // ATA_LBA; cleared to test CHS

  private:
    void wait_idle();
    void dev_select();
    void tf_load(uint64_t lba, uint32_t sectors, bool lba48);
    void interrupt_dma(Outcome& o);
    uint8_t in8(uint16_t port) { return uint8_t(bus_.in(port, 1)); }
    void out8(uint16_t port, uint8_t v) { bus_.out(port, 1, v); }

    TrappedBus& bus_;
    SimPiix& dev_;
    SimPiix::Ports p_;
    uint8_t last_ctl_ = 0xff;
};

} // namespace svtest
