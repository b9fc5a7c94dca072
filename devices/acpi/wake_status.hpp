// What a guest sees after the hypervisor refused its sleep request: the
// platform "woke at once". ACPI 6.4 §4.8.3.1.1: PM1 status WAK_STS (bit 15)
// is set by the hardware when it leaves a sleeping state, and OSPM waits for
// it after writing SLP_EN (§16.1.6; Linux spins on it). Without it a refused
// sleep would hang the guest's CPU in that loop. So after a refusal the
// PM1a status register reads with WAK_STS set until the guest clears it
// (WAK_STS is write-1-to-clear, §4.8.3.1.1); everything else passes through.
// PowerControl keeps one per PM1a block (the status register at PM1_EVT_BLK,
// which moves with the block: PIIX4 PMBA+0 PMSTS, ICH PMBASE+0 PM1_STS).
#pragma once

#include <cstdint>

#include "core/io.hpp"

namespace sv::acpi {

class RefusedSleepStatus final : public IoHandler {
  public:
    static constexpr uint16_t wak_sts = 1u << 15;
    RefusedSleepStatus() = default;
    explicit RefusedSleepStatus(PortIo& io) : io_(&io) {}
    void set_io(PortIo& io) { io_ = &io; }
    // The PM1a status register (FADT PM1a_EVT_BLK, its first 2 bytes).
    void set_port(uint16_t pm1_status) { port_ = pm1_status; }
    uint16_t port() const { return port_; }
    void sleep_refused() { pending_ = true; }
    bool pending() const { return pending_; }

    uint32_t io_in(uint16_t port, uint8_t size) override;
    void io_out(uint16_t port, uint8_t size, uint32_t value) override;

  private:
    PortIo* io_ = nullptr;
    uint16_t port_ = 0;
    bool pending_ = false;
};

} // namespace sv::acpi
