// COM1 (16550 UART at 0x3F8) as the hypervisor console. The guest later
// drives the same UART as ttyS0; we only write while the guest is stopped in
// an exit, so lines interleave but never corrupt the UART's state.
#include "arch/x86/cpu.hpp"
#include "lib/log.hpp"

namespace sv::log {
namespace {
constexpr uint16_t com1 = 0x3F8;
bool initialised = false;

void init_uart() {
    x86::outb(com1 + 1, 0x00); // no UART interrupts
    x86::outb(com1 + 3, 0x80); // DLAB: set divisor
    x86::outb(com1 + 0, 0x01); // 115200 baud
    x86::outb(com1 + 1, 0x00);
    x86::outb(com1 + 3, 0x03); // 8N1
    x86::outb(com1 + 2, 0xC7); // FIFO on, cleared
    x86::outb(com1 + 4, 0x03); // DTR, RTS
    initialised = true;
}

void put_char(char c) {
    for (int spin = 0; spin < 100000 && !(x86::inb(com1 + 5) & 0x20); ++spin) {
    }
    x86::outb(com1, static_cast<uint8_t>(c));
}
} // namespace

void write_console(const char* text) {
    if (!initialised) init_uart();
    for (; *text; ++text) {
        if (*text == '\n') put_char('\r');
        put_char(*text);
    }
}
} // namespace sv::log
