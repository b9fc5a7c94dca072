// Every processor runs under the hypervisor. At boot the BSP starts each AP
// listed in the MADT into the hypervisor (INIT-STARTUP-STARTUP to a real-mode
// trampoline); each AP enables virtualization (the backend chosen at boot,
// core/virt_backend.hpp), its vCPU built beforehand, and waits. The guest's
// later INIT/STARTUP IPIs are caught at its local APIC page (written through
// the APIC mediator) and become a real-mode start of that vCPU at the
// STARTUP vector, as on bare hardware. A guest can never run code on a
// processor outside SVM.
#pragma once

#include <cstddef>

#include "core/exit_handler.hpp"
#include "core/hypervisor_memory.hpp"
#include "core/io_dispatch.hpp"
#include "core/mmio.hpp"
#include "core/virt_backend.hpp"
#include "core/tlb_shootdown.hpp"
#include "lib/result.hpp"

namespace sv::smp {

constexpr size_t max_application_processors = max_cpus - 1;

struct VcpuFactory {
    ExitHandler::HostCpuid host_cpuid;
    uint32_t version;
    void (*configure)(ExitHandler& handler); // pass-through, MSRs, MMIO ranges
    TlbShootdown* shootdown;                  // every AP's vCPU takes part
};

// Starts the APs under `backend` (its intercepts set, enabled on the BSP);
// returns how many are online and waiting.
[[nodiscard]] Result<size_t> start_application_processors(HypervisorMemory& hv, GuestMemory& firmware,
                                                          GuestMemory& guest_ram, VirtBackend& backend,
                                                          uint64_t npt_root, IoDispatcher& io,
                                                          const VcpuFactory& factory);

// S3 (platform/suspend.hpp). Before sleeping: every AP that runs the guest
// (Linux leaves offlined APs idling in the guest) is taken out of it and
// parked in the hypervisor's wait-for-STARTUP loop, so no guest code runs
// while the FACS holds our vector. INIT-STARTUP-STARTUP through
// `trampoline_page` (guest RAM below 1 MiB that the caller borrowed): the
// INIT intercept ends the guest (AMD APM vol. 2 §15.13.1); a CPU that the
// INIT then resets (QEMU does, whatever GIF) restarts through the page into
// the hypervisor. False when one does not arrive in time. After waking (all
// CPUs were reset): the same start for every AP, with virtualization on
// again, its vCPU started afresh at the guest's STARTUP. Returns how many
// came back.
bool park_application_processors(GuestMemory& guest_ram, uint64_t trampoline_page);
size_t restart_application_processors(GuestMemory& guest_ram, uint64_t trampoline_page);

// The guest's local APIC page write handler (nullptr before any AP started:
// a single CPU needs no APIC trap).
MmioWriteHandler* apic_write_handler();

} // namespace sv::smp
