// Test double for the AHCI mediator: a simulated AHCI 1.3.1 HBA (register file
// behind sv::MmioRegisters) with SATA disks and ATAPI devices on its ports,
// doing its DMA in a SimPhysMemory (guest RAM + a hypervisor region, shared
// with the IDE simulator). It really does what the hardware does: fetches the
// command header at PxCLB, the table at CTBA, walks the PRDT it finds there,
// moves the data, updates PRDBC and writes received FISes where PxFB says.
// Every bus-master access is recorded, so a test can assert which memory the
// HBA touched. The simulator decodes FISes itself (not with the mediator's
// decoder) so that it stays an independent model.
//
// Timing: non-queued commands run to completion inside the PxCI write (unless
// `hold_commands`). NCQ commands are accepted at the PxCI write (PxCI bit
// cleared, as by the device's D2H FIS with BSY clear) and run their data
// phase and Set Device Bits FIS when the test calls complete_ncq(), in the
// order it chooses. As on real HBAs the data phase of a queued command walks
// the PRDT only then (SATA 3.x §13.6: DMA Setup FIS with the tag), indexing
// the command list by the tag the device reports.
#pragma once

#include <cstdint>
#include <vector>

#include "core/mmio_registers.hpp"
#include "devices/storage/ahci/ahci_memory.hpp"
#include "ide/sim_piix.hpp"

namespace svtest {

enum class SimSataKind : uint8_t { None, Disk, Atapi };

struct SimSataDevice {
    SimSataKind kind = SimSataKind::None;
    std::vector<uint8_t> platter; // disk: 512-byte sectors; ATAPI: 2048-byte blocks
    bool trim_supported = true;   // IDENTIFY word 169 bit 0
    bool ncq_supported = true;    // IDENTIFY word 76 bit 8
    std::vector<uint8_t> commands; // every ATA opcode the device received
    uint64_t sectors() const { return platter.size() / 512; }
};

struct SimAhciAccess {
    enum class What : uint8_t { CommandHeader, CommandTable, Prdt, Data, ReceivedFis, Prdbc };
    uint64_t addr = 0;
    uint64_t len = 0;
    bool to_memory = false; // the HBA wrote memory
    What what = What::Data;
    unsigned port = 0;
    bool ok = true; // false: the address was not backed (host bus error)
};

class SimAhci final : public sv::MmioRegisters {
  public:
    explicit SimAhci(SimPhysMemory& mem, unsigned ports = 6);

    void attach_disk(unsigned port, uint64_t sectors);
    void attach_atapi(unsigned port, uint64_t blocks);
    SimSataDevice& device(unsigned port) { return ports_[port].dev; }

    uint32_t read32(uint32_t offset) override;
    void write32(uint32_t offset, uint32_t value) override;

    // Runs the data phase and completion of these NCQ tags on `port`, in this
    // order; one Set Device Bits FIS each, or one for all of them.
    void complete_ncq(unsigned port, const std::vector<unsigned>& tags, bool one_sdb = false);
    enum class Order : uint8_t { InOrder, Reversed, Random };
    void complete_all_ncq(unsigned port, Order order, uint32_t seed = 1);
    uint32_t outstanding_ncq(unsigned port) const { return ports_[port].ncq_pending; }
    // Non-queued commands issued while `hold_commands` wait for this.
    void complete_held(unsigned port);
    bool hold_commands = false;
    // A PCI function reset (FLR, D3hot -> D0): as GHC.HR, with PxCLB/PxFB 0.
    void function_reset() {
        ++function_resets;
        hba_reset();
    }
    uint64_t function_resets = 0;
    // QEMU-like: a command the device aborts also has its PxCI bit cleared
    // (AHCI 1.3.1 §6.2.2.1 leaves it set; QEMU's ahci clears it).
    bool clear_ci_on_error = false;

    // INTx line: GHC.IE and any IS bit (AHCI 1.3.1 §10.7.1.1).
    bool irq() const;

    std::vector<SimAhciAccess> accesses;
    uint64_t register_reads = 0, register_writes = 0; // read32/write32 calls (the mediator's bus cycles)
    uint64_t bus_errors = 0;        // accesses to memory that is not there (HBFS)
    uint64_t bad_command_fis = 0;   // command FIS not 27h: never completed (as QEMU)
    uint64_t ignored_ci_writes = 0; // PxCI written while PxCMD.ST = 0
    uint64_t w_bit_mismatches = 0;  // header W disagrees with the data direction
    uint32_t cap;                   // CAP as reported (writable by tests before init)
    uint32_t cap2 = 0;
    // True if every recorded access lies in one of `regions` {addr, len}.
    bool only_touched(const std::vector<std::pair<uint64_t, uint64_t>>& regions) const;
    // Accesses of one kind.
    uint64_t count(SimAhciAccess::What w) const;

  private:
    struct Port {
        SimSataDevice dev;
        uint32_t clb = 0, clbu = 0, fb = 0, fbu = 0, is = 0, ie = 0, cmd = 0;
        uint32_t tfd = 0x7f, sig = 0xffffffff, ssts = 0, sctl = 0, serr = 0;
        uint32_t sact = 0, ci = 0, sntf = 0;
        uint32_t ncq_pending = 0; // tags the device accepted and has not completed
        uint32_t held = 0;        // non-queued slots waiting for complete_held()
        uint32_t started = 0;     // slots fetched whose PxCI bit is still set
        struct Queued {
            uint64_t lba = 0;
            uint32_t sectors = 0;
            bool write = false;
        } ncq[32];
        bool stalled = false;     // fatal error: no processing until ST is cleared
        bool srst = false;        // a device control FIS with SRST is in effect
        uint8_t multiple = 0;
    };

    uint32_t port_read(unsigned p, uint32_t reg);
    void port_write(unsigned p, uint32_t reg, uint32_t v);
    void hba_reset();
    void port_reset(unsigned p);
    void link_up(unsigned p);
    void update_ips();
    void raise(unsigned p, uint32_t bits);
    void process(unsigned p);
    void execute(unsigned p, unsigned slot, bool release = false);
    void finish(unsigned p, unsigned slot); // PxCI bit cleared
    void sdb(unsigned p, uint32_t tags);
    uint8_t* bus(unsigned p, uint64_t addr, uint64_t len, bool to_memory, SimAhciAccess::What w);
    // Moves `bytes` between `data` and the PRDT of `slot`; false on a bus error
    // or a PRDT too short (PxIS.HBFS / PxIS.OFS raised).
    bool transfer(unsigned p, unsigned slot, const sv::ahci::CommandHeader& h, uint8_t* data,
                  uint64_t bytes, bool to_memory);
    void write_fis(unsigned p, uint32_t offset, const void* fis, uint32_t len);
    void d2h(unsigned p, uint8_t status, uint8_t error, bool interrupt = true, bool signature = false);
    void pio_setup(unsigned p, uint8_t e_status, uint16_t bytes);
    void abort_command(unsigned p, uint8_t error, uint8_t status = 0x51);
    void fatal(unsigned p, uint32_t bit);
    uint64_t clb64(const Port& q) const { return uint64_t{q.clbu} << 32 | q.clb; }
    uint64_t fb64(const Port& q) const { return uint64_t{q.fbu} << 32 | q.fb; }
    void identify_disk(unsigned p, uint8_t (&id)[512]) const;

    SimPhysMemory& mem_;
    unsigned nports_;
    uint32_t ghc_ = 0x80000000, is_ = 0, bohc_ = 0;
    Port ports_[32];
};

} // namespace svtest
