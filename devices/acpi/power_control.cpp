#include "devices/acpi/power_control.hpp"

namespace sv::acpi {
namespace {
constexpr uint32_t slp_en = 1u << 13;
constexpr uint32_t reset_cpu = 1u << 2;
} // namespace

void PowerControl::io_out(uint16_t port, uint8_t size, uint32_t value) {
    if (port == reset_control_port) {
        if (size == 1 && (value & reset_cpu)) hook_("reset");
    } else if (size >= 2 && (value & slp_en)) {
        hook_("power-off");
    }
    io_.out(port, size, value);
}

} // namespace sv::acpi
