// Whether a guest-physical MMIO range could be trapped where the guest wants
// it (docs/design.md §4 rule 1): not over RAM (guest or firmware-listed) or
// hypervisor memory, and inside what the nested page tables map. Shared by
// the ECAM window tracker and MmioBar; the platform implements it over the
// memory map (platform/devices_setup_hw.cpp), tests with a fake.
#pragma once

#include <cstdint>

namespace sv::pci {

class MmioPlacement {
  public:
    virtual bool placement_ok(uint64_t base, uint64_t length) = 0;

  protected:
    ~MmioPlacement() = default;
};

} // namespace sv::pci
