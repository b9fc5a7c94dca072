// The physical local APIC as the guest's interrupt source for mediated
// devices (core/guest_interrupts.hpp): platform/guest_interrupts_hw.cpp.
#pragma once

#include "core/guest_interrupts.hpp"

namespace sv {

// The one instance (stateless; callers hold the exit handler's io_lock).
GuestInterrupts& lapic_guest_interrupts();

} // namespace sv
