// Watches the guest's power-off and reset requests so secrets die with the
// guest: ACPI PM1 control writes with SLP_EN (ACPI 6.4 §4.8.3.2.1, bit 13)
// and the reset control register at 0xCF9 (PIIX/ICH, bit 2 = reset CPU).
// The hook runs first (wipe keys, log statistics), then the write goes to
// the hardware, which powers off or resets. A SleepControl, when set, decides
// about sleeping states first (core/suspend.hpp: S3 is survived, the key is
// kept; states we cannot survive are refused).
#pragma once

#include <cstdint>

#include "core/io.hpp"

namespace sv::acpi {

// Decides what a PM1 control write with SLP_EN and this SLP_TYP does.
class SleepControl {
  public:
    enum class Decision : uint8_t { PowerOff, Sleep, Refuse };
    // Sleep: the hook prepared the platform; the write is forwarded without
    // wiping the key, then sleep_write_returned() runs if the CPU is still
    // here afterwards. Refuse: the write is dropped.
    virtual Decision sleep_requested(uint8_t slp_typ) = 0;
    virtual void sleep_write_returned() = 0;

  protected:
    ~SleepControl() = default;
};

class PowerControl final : public IoHandler {
  public:
    using Hook = void (*)(const char* why);
    PowerControl(PortIo& io, Hook before_power_loss) : io_(io), hook_(before_power_loss) {}
    void set_sleep_control(SleepControl* sleep) { sleep_ = sleep; }

    uint32_t io_in(uint16_t port, uint8_t size) override { return io_.in(port, size); }
    void io_out(uint16_t port, uint8_t size, uint32_t value) override;

    static constexpr uint16_t reset_control_port = 0xCF9;

  private:
    PortIo& io_;
    Hook hook_;
    SleepControl* sleep_ = nullptr;
};

} // namespace sv::acpi
