// Follows the chipset's ACPI PM I/O block when the guest moves or disables
// it through PCI configuration space, so the PM1 control register stays
// trapped wherever it decodes:
//  - PIIX4 power management function (8086:7113, 00:01.3): PMBA at config
//    0x40 (bits 15-6, 64-byte block), enabled by PMREGMISC 0x80 bit 0
//    (PMIOSE); PMCNTRL (PM1_CNT) at PMBA+4 (Intel 82371AB PIIX4 datasheet
//    §3.4.2.1, §3.4.2.6, §7.2.2).
//  - ICH9 LPC bridge (8086:2918, 00:1f.0) and the ICH family: PMBASE at
//    0x40 (bits 15-7, 128-byte block), enabled by ACPI_CNTL 0x44 bit 7
//    (ACPI_EN); PM1_CNT at PMBASE+4 (Intel ICH9 datasheet §13.8.3.1,
//    §13.8.3.2, §13.8.3.3).
// After every guest config write to the function the register pair is read
// back from the hardware and the trap is moved (pci::ConfigWatcher); the
// PM1 status register (block + 0) moves with it (PowerControl's refused-sleep
// WAK_STS, wake_status.hpp). A block
// that cannot be trapped where the guest put it (the ports belong to another
// mediator) is refused: the previous PM base is written back and logged.
#pragma once

#include <cstdint>

#include "core/io_dispatch.hpp"
#include "devices/acpi/power_control.hpp"
#include "devices/acpi/tco_guard.hpp"
#include "devices/pci/pci_config.hpp"

namespace sv::acpi {

enum class PmChipset : uint8_t { None, Piix4, Ich };

// Which PM block layout the function with this vendor:device ID (config
// dword 0) and class (base class, subclass) has.
PmChipset pm_chipset_of(uint32_t id, uint8_t base_class, uint8_t subclass);

// The PM1_CNT port the chipset decodes for these config values (the dwords
// at 0x40 and at the enable register's dword: 0x80 for PIIX4, 0x44 for
// ICH), 0 when the block is disabled or at port 0.
uint16_t pm1_control_port(PmChipset chipset, uint32_t base_dword, uint32_t enable_dword);

class PmBaseTracker final : public pci::ConfigWatcher {
  public:
    PmBaseTracker(pci::ConfigSpace& config, PortIo& io, PowerControl& power, IoDispatcher& dispatcher)
        : config_(config), io_(io), power_(power), dispatcher_(dispatcher) {}

    // Starts tracking `a` (PM block in PowerControl slot `slot`) and traps
    // its current PM1_CNT. Returns the port (0: disabled).
    [[nodiscard]] Result<uint16_t> track(pci::Address a, PmChipset chipset, size_t slot);
    // ICH: the TCO watchdog inside the PM block follows it (tco_guard.hpp).
    void set_tco_guard(TcoGuard* tco) { tco_ = tco; }
    void config_written(const pci::ConfigWrite& w) override;
    // After a platform reset the hypervisor did not see as config writes
    // (S3 wake-up: the firmware re-programs the chipset): reads the PM base
    // back from the hardware and follows it like a guest move.
    void resync();

    uint64_t moves() const { return moves_; }
    uint64_t refusals() const { return refusals_; }

  private:
    uint16_t current_port();
    void move_tco(uint16_t pm1_cnt);
    TcoGuard* tco_ = nullptr;
    pci::ConfigSpace& config_;
    PortIo& io_;
    PowerControl& power_;
    IoDispatcher& dispatcher_;
    pci::Address address_{};
    PmChipset chipset_ = PmChipset::None;
    size_t slot_ = 0;
    uint32_t last_base_dword_ = 0;
    uint64_t moves_ = 0, refusals_ = 0;
};

} // namespace sv::acpi
