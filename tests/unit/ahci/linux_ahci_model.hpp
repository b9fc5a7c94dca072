// A model of Linux's ahci/libahci driver (drivers/ata/libahci.c, ahci.c):
// the MMIO sequences it performs for controller reset, port start, COMRESET,
// command issue (ahci_qc_prep + ahci_qc_issue) and its interrupt handler
// (ahci_single_level_irq_intr + ahci_handle_port_interrupt), against any
// sv::MmioRegisters: the simulated HBA directly today, the AHCI mediator in
// front of it next. Command lists, tables and buffers live in guest RAM.
// Every register access is counted, so a test can state the accesses (and,
// with everything in the ABAR page trapped, the VM exits) per command.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "core/mmio_registers.hpp"
#include "ide/sim_piix.hpp"

namespace svtest {

struct AhciCompletion {
    uint32_t port_is = 0;    // PxIS as the handler read it
    uint32_t completed = 0;  // slots whose PxCI (or PxSACT) bit went clear
    uint32_t tfd = 0;        // PxTFD read on error
    bool error = false;      // PxIS carried a fatal error bit
};

class LinuxAhci {
  public:
    // Guest RAM layout per port: command list, received FIS area and 32 command
    // tables of `table_bytes` each, starting at `base + port * kPortArea`.
    static constexpr uint64_t kPortArea = 0x100000; // 1 MiB per port
    LinuxAhci(sv::MmioRegisters& regs, SimPhysMemory& mem, uint64_t base = 0x400000);

    // ahci_reset_controller + ahci_init_controller: AE, HR, AE, read CAP/PI.
    bool init_controller();
    // ahci_port_start/ahci_start_fis_rx + hardreset (COMRESET) + start engine.
    // True if a device answered (SSTS.DET = 3, TFD not BSY).
    bool start_port(unsigned port);
    void stop_engine(unsigned port);
    void start_engine(unsigned port);
    bool comreset(unsigned port);

    // Fills header + table for a command FIS over PRDT `regions` {gpa, bytes}
    // (ahci_qc_prep) and issues it (PxSACT for NCQ, then PxCI). `table_at`
    // places the command table elsewhere (for PRDTs longer than kTableBytes).
    void issue(unsigned port, unsigned slot, const uint8_t (&cfis)[20],
               const std::vector<std::pair<uint64_t, uint32_t>>& regions, bool write, bool ncq,
               const uint8_t* acmd = nullptr, uint64_t table_at = 0);
    // READ/WRITE DMA EXT or FPDMA QUEUED (tag = slot) over [buf, buf + sectors*512)
    // split into PRDT entries of at most `max_entry` bytes.
    void rw(unsigned port, unsigned slot, bool write, uint64_t lba, uint32_t sectors, uint64_t buf,
            bool ncq = false, uint32_t max_entry = 0x400000);
    void non_data(unsigned port, unsigned slot, uint8_t command, uint8_t features = 0);
    // The interrupt handler for one port: IS, PxIS, PxIS write, PxSACT/PxCI, IS write.
    AhciCompletion interrupt(unsigned port);

    uint64_t cl(unsigned port) const { return base_ + port * kPortArea; }
    uint64_t rx_fis(unsigned port) const { return cl(port) + 0x400; }
    uint64_t table(unsigned port, unsigned slot) const { return cl(port) + 0x1000 + slot * kTableBytes; }
    static constexpr uint64_t kTableBytes = 0x3800; // 14 KiB: a PRDT of up to 888 entries
    static std::vector<std::pair<uint64_t, uint32_t>> split(uint64_t buf, uint64_t bytes,
                                                            uint32_t max_entry);

    uint32_t cap = 0, pi = 0;
    uint32_t active[32] = {};     // slots the driver has in flight, per port
    uint32_t ncq_active[32] = {}; // of which NCQ
    uint64_t reads = 0, writes = 0; // register accesses
    uint64_t accesses() const { return reads + writes; }

  private:
    uint32_t rd(uint32_t off);
    void wr(uint32_t off, uint32_t v);
    uint32_t prd(unsigned port, uint32_t reg) { return rd(0x100 + 0x80 * port + reg); }
    void pwr(unsigned port, uint32_t reg, uint32_t v) { wr(0x100 + 0x80 * port + reg, v); }

    sv::MmioRegisters& regs_;
    SimPhysMemory& mem_;
    uint64_t base_;
};

// H2D register FIS builders (as libata's ata_tf_to_fis).
void fis_rw_ext(uint8_t (&f)[20], bool write, uint64_t lba, uint32_t sectors);
void fis_fpdma(uint8_t (&f)[20], bool write, uint64_t lba, uint32_t sectors, unsigned tag);
void fis_command(uint8_t (&f)[20], uint8_t command, uint8_t features = 0);

} // namespace svtest
