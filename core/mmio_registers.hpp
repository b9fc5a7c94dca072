// Vendor-neutral access to a device's memory-mapped register block, the MMIO
// counterpart of PortIo (core/io.hpp): a mediator reads and writes the real
// registers through this (the hardware BAR in the hypervisor, a simulated
// controller in the unit tests) and never maps the BAR itself. Offsets are
// relative to the block's base, so a BAR move changes nothing here.
#pragma once

#include <cstdint>

namespace sv {

class MmioRegisters {
  public:
    // DWORD accesses at 4-byte aligned offsets: AHCI 1.3.1 §3 and NVMe 1.4
    // §3.1 registers are defined as (at most) 32-bit aligned accesses, and
    // write-1-to-clear registers must not be widened by the caller.
    virtual uint32_t read32(uint32_t offset) = 0;
    virtual void write32(uint32_t offset, uint32_t value) = 0;

  protected:
    ~MmioRegisters() = default;
};

} // namespace sv
