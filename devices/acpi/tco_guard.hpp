// Keeps the ICH TCO watchdog from resetting the platform behind the
// hypervisor's back: its second timeout reboots (unless GCS.NO_REBOOT), and
// that reset never passes a register the hypervisor traps, so the key would
// survive it. The TCO timer is kept halted: TCO1_CNT (TCOBASE+08h, TCOBASE =
// PMBASE+60h) bit 11 TCO_TMR_HLT is set at boot and every guest write that
// would clear it has the bit forced back on (any size, any byte lane; Intel
// ICH9 datasheet §13.9.5 TCO1_CNT; QEMU hw/acpi/tco.c starts the timer only
// while TMR_HLT is clear). Refusals are logged once and counted. The PIIX
// machines have no TCO timer.
#pragma once

#include <cstdint>

#include "core/io.hpp"
#include "core/io_dispatch.hpp"
#include "lib/result.hpp"

namespace sv::acpi {

class TcoGuard final : public IoHandler {
  public:
    static constexpr uint16_t tco1_cnt_offset = 0x68; // from PMBASE
    static constexpr uint16_t tmr_hlt = 1u << 11;

    explicit TcoGuard(PortIo& io) : io_(io) {}
    // The PM block is now at `pm_base` (0: disabled): the trap follows,
    // and the timer is halted there.
    [[nodiscard]] Result<void> move(uint16_t pm_base, IoDispatcher& dispatcher);
    uint16_t tco1_cnt() const { return port_; }

    uint32_t io_in(uint16_t port, uint8_t size) override { return io_.in(port, size); }
    void io_out(uint16_t port, uint8_t size, uint32_t value) override;

    uint64_t refused() const { return refused_; }

  private:
    PortIo& io_;
    uint16_t port_ = 0;
    uint64_t refused_ = 0;
    bool warned_ = false;
};

} // namespace sv::acpi
