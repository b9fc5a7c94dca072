#include "devices/acpi/power_control.hpp"

namespace sv::acpi {
namespace {
constexpr uint32_t slp_en = 1u << 13;
constexpr uint32_t reset_cpu = 1u << 2;
constexpr unsigned slp_typ_shift = 10; // ACPI 6.4 §4.8.3.2.1: SLP_TYP bits 12:10
constexpr uint32_t slp_typ_mask = 7;
} // namespace

void PowerControl::io_out(uint16_t port, uint8_t size, uint32_t value) {
    if (port == reset_control_port) {
        if (size == 1 && (value & reset_cpu)) hook_("reset");
    } else if (size >= 2 && (value & slp_en)) {
        const uint8_t slp_typ = static_cast<uint8_t>((value >> slp_typ_shift) & slp_typ_mask);
        const SleepControl::Decision d = sleep_ ? sleep_->sleep_requested(slp_typ) : SleepControl::Decision::PowerOff;
        if (d == SleepControl::Decision::Refuse) return;
        if (d == SleepControl::Decision::Sleep) {
            io_.out(port, size, value);
            sleep_->sleep_write_returned();
            return;
        }
        hook_("power-off");
    }
    io_.out(port, size, value);
}

} // namespace sv::acpi
