// Guest writes to the local APIC page, which nested paging maps read-only:
// reads go straight to the APIC, writes exit here. INIT and STARTUP IPIs aimed
// at other processors are virtualized, because the hypervisor owns the
// application processors (each waits in its own vCPU for a virtual STARTUP);
// every other write goes to the real APIC of the CPU that wrote it.
// Intel SDM vol. 3A §10.6.1 (ICR), §8.4.4 (INIT-SIPI-SIPI).
#pragma once

#include <cstdint>

namespace sv::apic {

constexpr uint32_t page_size = 4096;

// The real local APIC registers of the current CPU (hardware, or a fake).
class ApicRegisters {
  public:
    virtual uint32_t read(uint32_t reg) = 0;
    virtual void write(uint32_t reg, uint32_t value) = 0;

  protected:
    ~ApicRegisters() = default;
};

// Where virtual INIT/STARTUP IPIs go: the hypervisor's AP start-up code.
class ProcessorControl {
  public:
    virtual void init(uint8_t apic_id) = 0;
    virtual void startup(uint8_t apic_id, uint8_t vector) = 0;
    // All processors the hypervisor runs as vCPUs, other than `self`.
    virtual void for_each_other(uint8_t self, void (*fn)(ProcessorControl&, uint8_t id, uint8_t vector),
                                uint8_t vector) = 0;

  protected:
    ~ProcessorControl() = default;
};

struct ApicStats {
    uint64_t writes = 0;
    uint64_t inits = 0;
    uint64_t startups = 0;
    uint64_t dropped = 0; // INIT/STARTUP in logical destination mode (unused by Linux)
};

class ApicMediator {
  public:
    ApicMediator(ApicRegisters& regs, ProcessorControl& cpus) : regs_(regs), cpus_(cpus) {}

    // A guest write of `size` bytes at `offset` into the APIC page. xAPIC
    // registers are 32-bit and 16-byte aligned; other writes are dropped.
    void guest_write(uint32_t offset, uint8_t size, uint32_t value);
    const ApicStats& stats() const { return stats_; }

  private:
    void icr_written(uint32_t low);

    ApicRegisters& regs_;
    ProcessorControl& cpus_;
    ApicStats stats_;
};

} // namespace sv::apic
