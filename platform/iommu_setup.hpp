// The IOMMU at boot (issue 12; devices/iommu/README.md): find the VT-d units in
// the ACPI DMAR, build one set of translation tables from the guest's memory
// map (the map the nested page tables come from), program and enable every
// unit, hide the DMAR and the register pages from the guest. Without a DMAR
// it says so and today's Bus Master rule (devices/pci/bus_master_rule.hpp)
// remains the only DMA confinement.
#pragma once

#include <cstddef>

#include "core/guest_memory.hpp"
#include "core/hypervisor_memory.hpp"
#include "core/mmio_dispatch.hpp"
#include "lib/result.hpp"

namespace sv {

// Call after setup_devices: `heap_before_devices` is hv.heap().used() before
// it, and the heap's DMA extents were restarted there, so those extents are
// the mediators' shadow memory (what the mediated functions alone may reach;
// the nested page tables split meanwhile are not in them). Should the heap
// not have kept every extent, [heap_before_devices, used()) is mapped instead,
// with a warning. Errors are only those that must stop
// the boot (a DMAR whose units cannot be hidden from the guest); a unit that
// cannot be programmed is logged and the Bus Master rule stays in force.
[[nodiscard]] Result<void> setup_iommu(HypervisorMemory& hv, GuestMemory& firmware, MmioDispatcher& mmio,
                                       size_t heap_before_devices);

// S3 resume: the units lost their registers in the suspend; programs them
// again with the same tables (a unit that refuses stops the hypervisor: the
// functions the Bus Master rule lets master the bus rely on it).
void resume_iommu();

// Collects recorded faults (logged once per device) and prints the counters.
void log_iommu_statistics();

} // namespace sv
