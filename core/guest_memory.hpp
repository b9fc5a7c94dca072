// Access to guest-physical memory, injected into every mediator so the same
// code runs in the hypervisor (identity-mapped RAM, hypervisor ranges refused)
// and in host unit tests (a simulated RAM array).
#pragma once

#include <cstddef>
#include <cstdint>

namespace sv {

class GuestMemory {
  public:
    // Host pointer to guest-physical [gpa, gpa + len) when the whole range is
    // guest RAM, nullptr otherwise (hypervisor memory, MMIO, holes, overflow).
    // Guest values are hostile: every descriptor address goes through here.
    virtual uint8_t* map(uint64_t gpa, uint64_t len) = 0;

  protected:
    ~GuestMemory() = default;
};

} // namespace sv
