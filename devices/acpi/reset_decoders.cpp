#include "devices/acpi/reset_decoders.hpp"

namespace sv::acpi {
namespace {
constexpr uint8_t cf9_reset_cpu = 1u << 2;
constexpr uint8_t port92_fast_reset = 1u << 0;
// 8042 commands (IBM PC AT technical reference; QEMU hw/input/pckbd.c).
constexpr uint8_t kbc_write_output_port = 0xD1;
constexpr uint8_t kbc_pulse_first = 0xF0; // 0xF0-0xFF: pulse output bits 0-3 where the command bit is 0
constexpr uint8_t kbc_output_reset_bit = 1u << 0; // output port bit 0: system reset (active low)
// Commands that take a data byte through port 60h (their data byte is not
// an output-port write): write command byte, write to keyboard/aux output
// buffer, write to aux device.
constexpr bool takes_data_byte(uint8_t c) { return c == 0x60 || c == 0xD2 || c == 0xD3 || c == 0xD4; }
constexpr uint8_t slp_en_in_high_byte = 1u << 5; // PM1_CNT bit 13
constexpr unsigned slp_typ_shift_in_high_byte = 2;
} // namespace

bool resets_via_cf9(uint16_t port, uint8_t size, uint32_t value) {
    if (port == config_address_port && size == 4) return false;
    const ByteLane b = byte_lane(port, size, value, reset_control_port);
    return b.covered && (b.value & cf9_reset_cpu);
}

bool resets_via_port92(uint16_t port, uint8_t size, uint32_t value) {
    const ByteLane b = byte_lane(port, size, value, system_control_a_port);
    return b.covered && (b.value & port92_fast_reset);
}

bool Kbc8042::write(uint16_t port, uint8_t size, uint32_t value) {
    bool reset = false;
    // Lanes in address order: a word at 0x60 writes 0x60 before 0x61, and
    // no single access covers both 0x60 and 0x64.
    const ByteLane data = byte_lane(port, size, value, kbc_data_port);
    if (data.covered) {
        if (output_port_pending_ && !(data.value & kbc_output_reset_bit)) reset = true;
        output_port_pending_ = false;
    }
    const ByteLane cmd = byte_lane(port, size, value, kbc_command_port);
    if (cmd.covered) {
        if (cmd.value >= kbc_pulse_first && !(cmd.value & kbc_output_reset_bit)) reset = true;
        if (cmd.value == kbc_write_output_port) output_port_pending_ = true;
        // QEMU keeps a pending output-port write across unrelated commands;
        // only another data-taking command replaces it.
        else if (takes_data_byte(cmd.value)) output_port_pending_ = false;
    }
    return reset;
}

SleepRequest decode_pm1_control(uint16_t port, uint8_t size, uint32_t value, uint16_t pm1_cnt) {
    const ByteLane high = byte_lane(port, size, value, static_cast<uint16_t>(pm1_cnt + 1));
    if (!high.covered || !(high.value & slp_en_in_high_byte)) return {};
    return {true, static_cast<uint8_t>((high.value >> slp_typ_shift_in_high_byte) & 7)};
}

uint32_t without_slp_en(uint16_t port, uint8_t size, uint32_t value, uint16_t pm1_cnt) {
    const uint16_t reg = static_cast<uint16_t>(pm1_cnt + 1);
    if (!covers(port, size, reg)) return value;
    return value & ~(static_cast<uint32_t>(slp_en_in_high_byte) << (8 * (reg - port)));
}

} // namespace sv::acpi
