// Hypervisor panic: log, then stop the machine. Under QEMU an isa-debug-exit
// device at port 0xF4 turns the write into QEMU exit status 33, which
// `./shadowvisor run` reports as a hypervisor failure; on real hardware the
// write goes nowhere and the CPU halts.
#include "arch/x86/cpu.hpp"
#include "lib/log.hpp"
#include "lib/panic.hpp"

namespace sv {

[[noreturn]] void fatal_stop() {
    x86::outb(0xF4, 0x10);
    x86::halt_forever();
}

[[noreturn]] void panic(const char* why, const char* file, int line) {
    log::error("PANIC: {} ({}:{})", why, file, line);
    fatal_stop();
}

} // namespace sv
