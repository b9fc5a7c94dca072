#include "devices/isa/isa_dma_guard.hpp"

#include "lib/log.hpp"

namespace sv::isa {
namespace {
constexpr bool is_high_page(uint32_t port) {
    return port >= IsaDmaGuard::high_page_first && port < IsaDmaGuard::high_page_first + IsaDmaGuard::high_page_count;
}
} // namespace

Result<void> IsaDmaGuard::install(IoDispatcher& dispatcher) {
    for (uint16_t p = high_page_first; p < high_page_first + high_page_count; ++p) io_.out(p, 1, 0);
    return dispatcher.add(high_page_first, high_page_count, *this);
}

void IsaDmaGuard::io_out(uint16_t port, uint8_t size, uint32_t value) {
    bool any = false;
    for (uint8_t i = 0; i < size; ++i) any = any || is_high_page(port + i);
    if (!any) return io_.out(port, size, value);
    for (uint8_t i = 0; i < size; ++i) {
        const uint32_t p = port + i;
        const uint8_t byte = static_cast<uint8_t>(value >> (8 * i));
        if (!is_high_page(p)) {
            if (p <= 0xFFFF) io_.out(static_cast<uint16_t>(p), 1, byte);
            continue;
        }
        if (byte == 0) continue; // already zero: nothing to refuse
        ++refused_;
        if (!warned_) {
            log::warn("guest wrote {:x} to ISA DMA high page register {:x}: refused (legacy DMA stays below 16 MiB)",
                      byte, p);
            warned_ = true;
        }
    }
}

} // namespace sv::isa
