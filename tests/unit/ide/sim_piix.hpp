// Test double for the IDE mediator: a simulated physical address space (guest
// RAM plus a hypervisor DMA region), and a PIIX bus-master IDE channel with one
// RAM-backed ATA disk. The bus master really walks the PRD table found at the
// address in its PRD register and moves the data, so a wrong shadow table, a
// guest address slipping through, or plaintext in a shadow buffer shows up as
// wrong bytes on the simulated platter or in memory.
#pragma once

#include <cstdint>
#include <vector>

#include "core/dma_memory.hpp"
#include "core/guest_memory.hpp"
#include "core/io.hpp"

namespace svtest {

class SimPhysMemory {
  public:
    SimPhysMemory(uint64_t ram_bytes, uint64_t dma_base, uint64_t dma_bytes)
        : ram_(ram_bytes), dma_base_(dma_base), dma_(dma_bytes) {}
    // What a bus master sees: RAM or the hypervisor region, nullptr elsewhere.
    uint8_t* phys(uint64_t addr, uint64_t len);
    uint8_t* ram(uint64_t addr) { return ram_.data() + addr; }
    uint64_t ram_size() const { return ram_.size(); }
    uint64_t dma_base() const { return dma_base_; }
    uint64_t dma_size() const { return dma_.size(); }
    bool in_dma_region(uint64_t addr, uint64_t len) const {
        return addr >= dma_base_ && addr + len <= dma_base_ + dma_.size();
    }

  private:
    std::vector<uint8_t> ram_;
    uint64_t dma_base_;
    std::vector<uint8_t> dma_;
};

// The hypervisor's view of guest memory: guest RAM only (hypervisor memory is
// refused like in the real GuestMemory).
class SimGuestMemory final : public sv::GuestMemory {
  public:
    explicit SimGuestMemory(SimPhysMemory& m) : m_(m) {}
    uint8_t* map(uint64_t gpa, uint64_t len) override;
    unsigned maps = 0;

  private:
    SimPhysMemory& m_;
};

class SimDmaAllocator final : public sv::DmaAllocator {
  public:
    explicit SimDmaAllocator(SimPhysMemory& m) : m_(m), next_(m.dma_base()) {}
    sv::Result<sv::DmaBuffer> allocate(size_t bytes, size_t align) override;
    unsigned allocations = 0;
    bool fail = false;

  private:
    SimPhysMemory& m_;
    uint64_t next_;
};

struct SimDmaRun {
    uint32_t prd_table = 0;
    bool to_memory = false;
    uint64_t bytes = 0;
    bool all_in_dma_region = true; // every region the bus master touched
    uint64_t touched_lo = ~0ull;   // lowest / one past the highest address touched
    uint64_t touched_hi = 0;
};

struct SimPorts {
    uint16_t cmd = 0x1f0, ctl = 0x3f6, bm = 0xc000;
};

class SimPiix final : public sv::PortIo {
  public:
    using Ports = SimPorts;
    SimPiix(SimPhysMemory& mem, uint64_t sectors, Ports ports = {});

    uint32_t in(uint16_t port, uint8_t size) override;
    void out(uint16_t port, uint8_t size, uint32_t value) override;

    std::vector<uint8_t> platter;
    std::vector<uint8_t> commands;  // every opcode the device received
    std::vector<SimDmaRun> dma_runs;
    bool intrq = false;             // INTRQ line (after nIEN)
    uint64_t idle_starts = 0;       // START with no DMA data phase (nothing moves)
    uint64_t stray_data_writes = 0; // data-port writes without DRQ
    uint8_t multiple = 0;
    bool trim_supported = true;
    // ATAPI mode: PACKET takes a 12-byte CDB; READ(10) (28h) / WRITE(10)
    // (2Ah) with Features bit 0 (DMA) move 2048-byte blocks of the platter by
    // bus-master DMA.
    bool atapi = false;
    Ports ports;

    uint8_t status() const { return status_; }
    uint8_t error() const { return error_; }
    uint32_t prd_register() const { return prd_; }

  private:
    enum class Phase { Idle, PioIn, PioOut, Dma };
    uint8_t reg_read(uint8_t off);
    void reg_write(uint8_t off, uint8_t v);
    void execute(uint8_t op);
    void complete(uint8_t error = 0);
    void raise_irq();
    void start_pio(bool in, uint32_t block);
    void load_block();
    void data_word_in(uint16_t& w);
    void data_word_out(uint16_t w);
    void run_dma();
    uint64_t lba(bool lba48) const;
    uint32_t count(bool lba48) const;

    SimPhysMemory& mem_;
    uint64_t sectors_;
    uint8_t fifo_[6][2] = {}; // [reg][0 = current, 1 = previous] for regs 1..5
    uint8_t device_ = 0, status_ = 0x50, error_ = 0, devctl_ = 0;
    Phase phase_ = Phase::Idle;
    bool identify_ = false;
    uint64_t xfer_lba_ = 0;
    uint32_t xfer_left_ = 0, block_ = 1;
    std::vector<uint8_t> buf_;
    uint32_t buf_pos_ = 0;
    uint8_t bm_cmd_ = 0, bm_status_ = 0;
    bool packet_cdb_ = false;  // PioOut phase carries a CDB
    bool dma_to_mem_ = false;
    uint64_t dma_pos_ = 0, dma_bytes_ = 0;
    uint32_t prd_ = 0;
};

} // namespace svtest
