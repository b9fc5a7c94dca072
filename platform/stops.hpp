// How the hypervisor ends (platform/panic_hw.cpp) and the host IDT it runs
// on (arch/x86/idt_hw.cpp), for the boot, SMP and S3 paths.
#pragma once

namespace sv {
// Wipes the key, then stops the machine (QEMU: exit status 33).
[[noreturn]] void fatal_stop();
// Wipes the key, then resets the platform as bare hardware would.
[[noreturn]] void reset_platform(const char* why);
namespace x86 {
void install_idt();
}
} // namespace sv
