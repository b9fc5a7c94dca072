// The real I/O ports, for mediators that pass accesses through to hardware.
#include "arch/x86/port_io.hpp"

#include "arch/x86/cpu.hpp"

namespace sv::x86 {

uint32_t HardwarePortIo::in(uint16_t port, uint8_t size) {
    switch (size) {
    case 1: return inb(port);
    case 2: return inw(port);
    default: return inl(port);
    }
}

void HardwarePortIo::out(uint16_t port, uint8_t size, uint32_t value) {
    switch (size) {
    case 1: outb(port, static_cast<uint8_t>(value)); break;
    case 2: outw(port, static_cast<uint16_t>(value)); break;
    default: outl(port, value); break;
    }
}

} // namespace sv::x86
