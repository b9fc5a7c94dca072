// Watches the guest's power-off and reset requests so secrets die with the
// guest: ACPI PM1 control writes with SLP_EN (ACPI 6.4 §4.8.3.2.1, bit 13)
// and the reset control register at 0xCF9 (PIIX/ICH, bit 2 = reset CPU).
// The hook runs first (wipe keys, log statistics), then the write goes to
// the hardware, which powers off or resets. Sleep states are treated like
// power-off: the hypervisor does not survive S3 anyway.
#pragma once

#include <cstdint>

#include "core/io.hpp"

namespace sv::acpi {

class PowerControl final : public IoHandler {
  public:
    using Hook = void (*)(const char* why);
    PowerControl(PortIo& io, Hook before_power_loss) : io_(io), hook_(before_power_loss) {}

    uint32_t io_in(uint16_t port, uint8_t size) override { return io_.in(port, size); }
    void io_out(uint16_t port, uint8_t size, uint32_t value) override;

    static constexpr uint16_t reset_control_port = 0xCF9;

  private:
    PortIo& io_;
    Hook hook_;
};

} // namespace sv::acpi
