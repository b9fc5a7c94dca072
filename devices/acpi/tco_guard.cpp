#include "devices/acpi/tco_guard.hpp"

#include "devices/acpi/reset_decoders.hpp"
#include "lib/log.hpp"

namespace sv::acpi {

Result<void> TcoGuard::move(uint16_t pm_base, IoDispatcher& dispatcher) {
    const uint16_t target = pm_base ? static_cast<uint16_t>(pm_base + tco1_cnt_offset) : 0;
    if (target == port_) return {};
    if (port_) dispatcher.remove(*this);
    port_ = 0;
    if (!target) return {};
    TRY(dispatcher.add(target, 2, *this));
    port_ = target;
    io_.out(target, 2, io_.in(target, 2) | tmr_hlt);
    return {};
}

void TcoGuard::io_out(uint16_t port, uint8_t size, uint32_t value) {
    const uint16_t high = static_cast<uint16_t>(port_ + 1); // bits 8-15 of TCO1_CNT
    const ByteLane lane = byte_lane(port, size, value, high);
    if (port_ && lane.covered && !(lane.value & (tmr_hlt >> 8))) {
        value |= static_cast<uint32_t>(tmr_hlt >> 8) << (8 * (high - port));
        ++refused_;
        if (!warned_) {
            log::warn("guest tried to start the TCO watchdog (TCO1_CNT {:x}): kept halted", port_);
            warned_ = true;
        }
    }
    io_.out(port, size, value);
}

} // namespace sv::acpi
