// The S3 engine's hardware side (platform/suspend.hpp has the sequence): hooks
// PowerControl as its SuspendHandler and owns the resume entry sv_resume_main.
#pragma once

#include "core/guest_memory.hpp"
#include "core/memory_map.hpp"
#include "platform/suspend.hpp"

namespace sv::suspend {

// What only the virtualization backend's owner (platform/main_hw.cpp) can do.
struct Platform {
    // Before sleeping: every AP out of the guest, parked in the hypervisor
    // (started through this borrowed page if it has to be).
    bool (*park_other_cpus)(uint64_t trampoline_page) = nullptr;
    // After waking, on the BSP: virtualization on again (VirtBackend::
    // enable_on_this_cpu; SVM: EFER.SVME, VM_HSAVE_PA).
    void (*reenable_this_cpu)() = nullptr;
    // After waking: the APs back into wait-for-STARTUP through this page.
    void (*restart_other_cpus)(uint64_t trampoline_page) = nullptr;
    // Runs the guest's BSP vCPU in real mode at `entry`; never returns.
    void (*run_guest_at)(const RealModeEntry& entry) = nullptr;
};

// At boot, before the guest runs (after setup_devices): finds the FACS and
// installs the S3 engine as PowerControl's SuspendHandler (PowerControl
// decodes \_Sx, refuses what the engine does not take and shows WAK_STS
// after a refusal: devices/acpi/wake_status.hpp).
void configure(GuestMemory& firmware, GuestMemory& guest_ram, const MemoryMap& guest_map, const Platform& platform);
unsigned resume_count();

} // namespace sv::suspend
