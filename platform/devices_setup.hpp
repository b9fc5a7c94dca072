// Device discovery and mediator set-up for the hypervisor: PCI scan for
// storage controllers, the disk key, the IDE mediators, PCI config and
// power-control interception. Split from main so boot stays readable.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/guest_memory.hpp"
#include "core/io.hpp"
#include "core/hypervisor_memory.hpp"
#include "core/io_dispatch.hpp"
#include "core/mmio_dispatch.hpp"
#include "devices/pci/bus_master_rule.hpp"
#include "devices/pci/dma_allow_list.hpp"
#include "core/multiboot.hpp"
#include "devices/acpi/power_control.hpp"
#include "lib/result.hpp"

namespace sv {

struct StorageInventory {
    size_t ide_functions = 0;
    size_t ahci_functions = 0;
    // AHCI controllers' share: AhciController::pool_bytes / heap_bytes of
    // each, for the ports it implements.
    uint64_t ahci_pool = 0, ahci_heap = 0;
    size_t nvme_functions = 0;
    // NVMe controllers' share: NvmeController::pool_bytes / heap_bytes each.
    uint64_t nvme_pool = 0, nvme_heap = 0;
    // Shadow pool for the controllers found (each IDE channel's largest
    // request, each AHCI and NVMe controller's pool_bytes), bytes.
    uint64_t shadow_pool_bytes() const;
    // Heap the mediators will need (the pool, its bookkeeping, descriptor
    // tables), bytes.
    uint64_t shadow_bytes() const;
};

// Scans PCI buses for storage controllers (before memory is reserved, so the
// heap can be sized for their shadow buffers).
StorageInventory scan_storage();

// Finds the key module ("<path> key"), checks it (32 or 64 bytes, halves
// differ), installs it and wipes the module's memory. No key module: the
// disks pass through unencrypted (still through shadow descriptors).
[[nodiscard]] Result<void> load_disk_key(const BootInfo& boot, GuestMemory& loader_memory);

// Creates the mediators and registers every trapped port with `io` and
// every trapped MMIO range (the PCIe ECAM window) with `mmio`. With a key,
// every PCI function that is neither mediated nor in `allow_dma` loses Bus
// Master Enable for good.
[[nodiscard]] Result<void> setup_devices(HypervisorMemory& hv, GuestMemory& guest_ram,
                                         GuestMemory& firmware_memory, IoDispatcher& io, MmioDispatcher& mmio,
                                         const pci::DmaAllowList& allow_dma);

// The PCI functions the storage mediators own (valid after setup_devices):
// the IOMMU maps the shadow window for these alone. Returns how many were
// written (at most `max`).
size_t mediated_pci_functions(pci::Address* out, size_t max);

// From now on, functions `iommu` confines keep Bus Master Enable with a key
// (devices/pci/bus_master_rule.hpp).
void confine_bus_masters(const pci::DmaConfinement* iommu);

// One more rule on every guest config write (after setup_devices; the AMD
// IOMMU's own function refuses them all, devices/iommu/amdvi/function_guard.hpp).
[[nodiscard]] bool add_config_rule(pci::ConfigRule& rule);

// Wipes the disk key (idempotent; logs once it was there). Called on every
// path that ends the guest: power-off/reset requests, triple fault, fatal stops.
void wipe_secrets();

// The handler of a memory-mapped FADT reset register and its page (0 when
// the reset register is not in memory): every vCPU's exit handler adds it.
MmioWriteHandler* reset_register_handler(uint64_t& page);

namespace acpi {
class PowerControl;
}
// The power-control mediator (the S3 support installs its SuspendHandler).
acpi::PowerControl& power_controls();

// The machine's real ports (for pass-through of unowned trapped ports).
PortIo& hardware_ports();

// S3 (platform/suspend.hpp; its engine is power_controls()' SuspendHandler): the
// mediated PCI functions' configuration is saved at the request and, after
// the wake-up reset, restored and the mediators (IDE, PM block) re-synced.
void save_devices_for_sleep();
void resync_devices_after_resume();

// Exit statistics for the power-off log.
void set_exit_counters_source(const struct ExitCounters* counters);
// More lines for the statistics logged at power-off/reset (the nested-TLB
// shootdown and NMI counters, which main_hw.cpp owns).
void set_extra_statistics(void (*log_more)());

} // namespace sv
