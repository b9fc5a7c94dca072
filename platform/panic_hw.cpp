// Hypervisor panic: log, wipe the key, then stop the machine. Under QEMU an
// isa-debug-exit device at port 0xF4 turns the write into QEMU exit status
// 33, which `./shadowvisor run` reports as a hypervisor failure; on real
// hardware the write goes nowhere and the CPU halts (with the key wiped:
// a stopped hypervisor must not leave it in RAM for whoever resets next).
// Emulators without that port (Bochs) see the stop by its console line,
// written without the log lock (a stop may come from inside a log call).
#include "arch/x86/cpu.hpp"
#include "platform/devices_setup.hpp"
#include "platform/stops.hpp"
#include "lib/log.hpp"
#include "lib/panic.hpp"

namespace sv {
namespace log {
void write_console(const char* text); // lib/log.cpp: provided by the platform
} // namespace log

[[noreturn]] void fatal_stop() {
    wipe_secrets();
    log::write_console("[sv] ERROR hypervisor stopped\n");
    x86::outb(0xF4, 0x10);
    x86::halt_forever();
}

[[noreturn]] void panic(const char* why, const char* file, int line) {
    log::error("PANIC: {} ({}:{})", why, file, line);
    fatal_stop();
}

// What bare hardware does after a CPU shutdown (triple fault): the chipset
// resets the platform. Wipe first, then a hard reset through the Reset
// Control register (PIIX4 §4.1.17 / ICH9 §13.7.5: SYS_RST then RST_CPU);
// if nothing resets, stop.
[[noreturn]] void reset_platform(const char* why) {
    log::info("{}: wiping the key and resetting the platform", why);
    wipe_secrets();
    x86::outb(0xCF9, 0x02);
    x86::outb(0xCF9, 0x06);
    for (int i = 0; i < 1000000; ++i) __builtin_ia32_pause();
    fatal_stop();
}

} // namespace sv
