// Decoders for the guest writes that reset the platform or put it to sleep,
// byte-exact for any access size and alignment: an access of N bytes at port
// P writes ports P..P+N-1, little endian (the chipset forwards each byte lane
// to the register that decodes it), so every decoder asks "which byte does
// this access write to register R?" rather than comparing the port.
//
// The platform's reset and power-off sources (PIIX3/PIIX4 and ICH9
// datasheets, QEMU hw/isa/piix3.c, hw/isa/lpc_ich9.c, hw/input/pckbd.c,
// hw/acpi/core.c, hw/acpi/tco.c), and how the hypervisor handles each:
//  - Reset Control register 0xCF9 (PIIX4 §4.1.17 RC, ICH9 §13.7.5 RST_CNT):
//    bit 2 RST_CPU starts a reset (bit 1 SYS_RST / bit 3 FULL_RST pick its
//    kind). It shares a dword with CONFIG_ADDRESS: only a dword access at
//    0xCF8 is CONFIG_ADDRESS (PCI 3.0 §3.2.2.3.2); anything else covering
//    0xCF9 with bit 2 set is a reset (decoded conservatively). -> wipe.
//  - 8042 keyboard controller (the RCIN# / KBRST input): command 0xFE and
//    the pulse commands 0xF0-0xFF with bit 0 clear pulse the reset line;
//    command 0xD1 then a data byte with bit 0 clear writes the output port's
//    reset bit. -> wipe.
//  - Port 92h System Control Port A bit 0 (PIIX4 §4.1.6 FAST_INIT, ICH9
//    INIT_NOW): fast reset. -> wipe (any write with bit 0 set).
//  - ACPI PM1a/PM1b_CNT SLP_EN (bit 13) with SLP_TYP (bits 10-12) (ACPI 6.4
//    §4.8.3.2.1), at the PM base the chipset decodes (PIIX4 PMBA 00:01.3
//    0x40 with PMREGMISC 0x80 bit 0; ICH9 PMBASE 00:1f.0 0x40 with
//    ACPI_CNTL 0x44 bit 7) and wherever the FADT says. -> sleep_types.hpp
//    decides: power-off, hibernate and unknown types wipe; S1-S3 go to the
//    suspend hook (default: refused).
//  - FADT RESET_REG (ACPI 6.4 §4.8.3.6, §5.2.9), I/O or memory. -> wipe on
//    any write to it.
//  - CPU shutdown (triple fault): the chipset turns the shutdown cycle into
//    INIT/reset. -> the hypervisor sees it as a #VMEXIT(SHUTDOWN): wipe,
//    then reset the platform through 0xCF9.
//  - INIT IPI to the bootstrap processor: the local APIC mediator never
//    delivers INIT to a running processor (logged), so it restarts nothing.
//  - ICH9 TCO watchdog (second expiry reboots unless GCS.NO_REBOOT): not on
//    the PIIX machine; see the report/README for q35.
//  - Hypervisor fatal stops (panic, CPU exception): fatal_stop wipes first.
#pragma once

#include <cstdint>

namespace sv::acpi {

// The byte an access of `size` bytes at `port` writes to port `reg`.
struct ByteLane {
    bool covered = false;
    uint8_t value = 0;
};
constexpr ByteLane byte_lane(uint16_t port, uint8_t size, uint32_t value, uint16_t reg) {
    if (reg < port || reg - port >= size) return {};
    return {true, static_cast<uint8_t>(value >> (8 * (reg - port)))};
}
constexpr bool covers(uint16_t port, uint8_t size, uint16_t reg) { return reg >= port && reg - port < size; }

constexpr uint16_t config_address_port = 0xCF8;
constexpr uint16_t reset_control_port = 0xCF9;
constexpr uint16_t kbc_data_port = 0x60;
constexpr uint16_t kbc_command_port = 0x64;
constexpr uint16_t system_control_a_port = 0x92;

// 0xCF9 with RST_CPU set. A dword at 0xCF8 is CONFIG_ADDRESS instead.
bool resets_via_cf9(uint16_t port, uint8_t size, uint32_t value);
// Port 92h with bit 0 (fast reset) set.
bool resets_via_port92(uint16_t port, uint8_t size, uint32_t value);

// The 8042's command state: which writes pulse its reset output.
class Kbc8042 {
  public:
    // A guest write; true when it resets the platform.
    bool write(uint16_t port, uint8_t size, uint32_t value);

  private:
    bool output_port_pending_ = false; // 0xD1 seen, its data byte not yet
};

// A PM1x_CNT write (register of 2 bytes at `pm1_cnt`): SLP_EN sits in the
// high byte (bit 13 = byte 1 bit 5), as does SLP_TYP (byte 1 bits 2-4), so
// a request is any access covering pm1_cnt+1 with bit 5 of that byte set.
struct SleepRequest {
    bool requested = false;
    uint8_t slp_typ = 0;
};
SleepRequest decode_pm1_control(uint16_t port, uint8_t size, uint32_t value, uint16_t pm1_cnt);
// The same access with SLP_EN cleared (to refuse a sleep but keep the
// write's other bits, e.g. SCI_EN).
uint32_t without_slp_en(uint16_t port, uint8_t size, uint32_t value, uint16_t pm1_cnt);

} // namespace sv::acpi
