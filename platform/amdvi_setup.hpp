// AMD-Vi at boot (issue 12; devices/iommu/README.md), the counterpart of the
// VT-d path in platform/iommu_setup_hw.cpp, which calls it when the firmware
// has no DMAR: find the IOMMUs in the ACPI IVRS, hide the IVRS, the units'
// register blocks and their PCI functions from the guest, build the device
// table and I/O page tables from the guest's memory map, program and enable
// every unit. Without an IVRS it says so and the Bus Master rule
// (devices/pci/bus_master_rule.hpp) remains the only DMA confinement.
#pragma once

#include <cstdint>

#include "core/guest_memory.hpp"
#include "core/hypervisor_memory.hpp"
#include "core/mmio_dispatch.hpp"
#include <span>

#include "devices/iommu/dma_domain.hpp"
#include "lib/result.hpp"

namespace sv {

// `shadow`: the mediators' shadow memory (whole pages), the windows only the
// mediated functions may reach. Errors are only those
// that must stop the boot (an IVRS whose units cannot be hidden).
[[nodiscard]] Result<void> setup_amdvi(HypervisorMemory& hv, GuestMemory& firmware, MmioDispatcher& mmio,
                                       std::span<const iommu::PhysWindow> shadow);
void resume_amdvi();
void log_amdvi_statistics();

} // namespace sv
