// Stages the Linux guest from the boot modules: module 1 is the bzImage, its
// module string "<path> <guest command line>"; module 2 (optional) is the
// initramfs. Copies kernel and initramfs to their places in guest RAM, writes
// the command line, boot_params and a boot GDT, and returns the entry state.
#pragma once

#include "core/guest_entry.hpp"
#include "core/guest_memory.hpp"
#include "core/hypervisor_memory.hpp"
#include "core/multiboot.hpp"
#include "lib/result.hpp"

namespace sv {

[[nodiscard]] Result<GuestEntry> stage_linux_guest(const BootInfo& boot, HypervisorMemory& hv,
                                                   GuestMemory& phys);

} // namespace sv
