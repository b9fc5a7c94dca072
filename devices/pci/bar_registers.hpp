// The real registers of a memory BAR as an MmioRegisters block (core/
// mmio_registers.hpp): offset o is the physical address bar.address() + o,
// wherever the guest has moved the BAR to (pci::MmioBar follows it). The
// volatile access itself is a PhysicalRegisters (the hypervisor's identity
// map in platform/, a fake in the unit tests), so this part is portable.
//
// While the function does not decode the BAR (Memory Space Enable off,
// PCI 3.0 §6.2.2) there are no registers to reach: reads return all ones
// (what a master abort returns, PCI 3.0 §6.2.5) and writes are dropped,
// counted. Offsets at or beyond the BAR's size, or not DWORD aligned, are
// refused the same way: the physical access never leaves the BAR. So are
// all accesses while the function is not ready (set_ready(false): outside
// D0 a function decodes no BAR, PCI PM 1.2 §5.3; during a Function Level
// Reset nothing may be accessed, PCIe Base 4.0 §6.6.2).
#pragma once

#include <cstdint>

#include "core/mmio_registers.hpp"
#include "devices/pci/mmio_bar.hpp"

namespace sv::pci {

class PhysicalRegisters {
  public:
    virtual uint32_t read32(uint64_t pa) = 0;
    virtual void write32(uint64_t pa, uint32_t value) = 0;

  protected:
    ~PhysicalRegisters() = default;
};

class BarRegisters final : public MmioRegisters {
  public:
    BarRegisters(const MmioBar& bar, PhysicalRegisters& physical) : bar_(bar), physical_(physical) {}
    uint32_t read32(uint32_t offset) override;
    void write32(uint32_t offset, uint32_t value) override;
    void set_ready(bool ready) { ready_ = ready; }
    bool ready() const { return ready_; }
    // Accesses that did not reach the device (decode off, outside the BAR, not ready).
    uint64_t refused() const { return refused_; }
    // Accesses that reached the device (each a bus cycle: under QEMU, a trip
    // through its device model).
    uint64_t reads() const { return reads_; }
    uint64_t writes() const { return writes_; }

  private:
    bool reachable(uint32_t offset) const;
    const MmioBar& bar_;
    PhysicalRegisters& physical_;
    uint64_t refused_ = 0;
    uint64_t reads_ = 0, writes_ = 0;
    bool ready_ = true;
};

} // namespace sv::pci
