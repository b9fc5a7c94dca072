#include "devices/acpi/pm_base.hpp"

#include "lib/log.hpp"

namespace sv::acpi {
namespace {
constexpr uint8_t pm_base_offset = 0x40; // PIIX4 PMBA / ICH PMBASE
constexpr uint8_t piix4_enable_offset = 0x80; // PMREGMISC, bit 0 PMIOSE
constexpr uint8_t ich_enable_offset = 0x44;   // ACPI_CNTL, bit 7 ACPI_EN
constexpr uint32_t piix4_enable = 1u << 0;
constexpr uint32_t ich_enable = 1u << 7;
constexpr uint32_t piix4_base_mask = 0xFFC0; // bits 15-6
constexpr uint32_t ich_base_mask = 0xFF80;   // bits 15-7
constexpr uint16_t pm1_control_offset = 4;   // PMCNTRL / PM1_CNT
// PMSTS / PM1_STS at the block's start (PIIX4 §7.2.2, ICH9 §13.8.3.1): the
// refused-sleep WAK_STS (wake_status.hpp) moves with the block.
constexpr uint16_t pm1_status_offset = 0;
constexpr uint16_t vendor_intel = 0x8086;
constexpr uint16_t piix4_pm = 0x7113;
constexpr uint32_t config_enable = 1u << 31;

uint8_t enable_offset(PmChipset c) { return c == PmChipset::Piix4 ? piix4_enable_offset : ich_enable_offset; }
uint16_t status_port(uint16_t pm1_cnt) {
    return pm1_cnt ? static_cast<uint16_t>(pm1_cnt - pm1_control_offset + pm1_status_offset) : 0;
}
} // namespace

PmChipset pm_chipset_of(uint32_t id, uint8_t base_class, uint8_t subclass) {
    if ((id & 0xFFFF) != vendor_intel) return PmChipset::None;
    if ((id >> 16) == piix4_pm) return PmChipset::Piix4;
    // ICH8/ICH9/ICH10 LPC bridges (class 06h/01h; QEMU q35: 8086:2918)
    // share the PMBASE/ACPI_CNTL layout.
    const uint16_t dev = static_cast<uint16_t>(id >> 16);
    const bool ich = (dev >= 0x2810 && dev <= 0x2815) || (dev >= 0x2912 && dev <= 0x2919) ||
                     (dev >= 0x3A14 && dev <= 0x3A1A);
    if (ich && base_class == 0x06 && subclass == 0x01) return PmChipset::Ich;
    return PmChipset::None;
}

uint16_t pm1_control_port(PmChipset chipset, uint32_t base_dword, uint32_t enable_dword) {
    uint32_t base = 0;
    switch (chipset) {
    case PmChipset::Piix4:
        if (!(enable_dword & piix4_enable)) return 0;
        base = base_dword & piix4_base_mask;
        break;
    case PmChipset::Ich:
        if (!(enable_dword & ich_enable)) return 0;
        base = base_dword & ich_base_mask;
        break;
    case PmChipset::None: return 0;
    }
    return base ? static_cast<uint16_t>(base + pm1_control_offset) : 0;
}

uint16_t PmBaseTracker::current_port() {
    last_base_dword_ = config_.read32(address_, pm_base_offset);
    return pm1_control_port(chipset_, last_base_dword_, config_.read32(address_, enable_offset(chipset_)));
}

void PmBaseTracker::move_tco(uint16_t pm1_cnt) {
    if (!tco_ || chipset_ != PmChipset::Ich) return;
    const uint16_t base = pm1_cnt ? static_cast<uint16_t>(pm1_cnt - pm1_control_offset) : 0;
    if (!tco_->move(base, dispatcher_).ok())
        log::warn("cannot trap the TCO watchdog at PM base {:x} (ports owned by another mediator)", base);
}

Result<uint16_t> PmBaseTracker::track(pci::Address a, PmChipset chipset, size_t slot) {
    address_ = a;
    chipset_ = chipset;
    slot_ = slot;
    const uint16_t port = current_port();
    TRY(power_.move_pm1(slot_, port, false, dispatcher_, status_port(port)));
    move_tco(port);
    return port;
}

void PmBaseTracker::resync() {
    if (chipset_ == PmChipset::None) return;
    config_written(pci::ConfigWrite{address_, pm_base_offset, 4, 0});
}

void PmBaseTracker::config_written(const pci::ConfigWrite& w) {
    const pci::Address a = w.address;
    if (!(a == address_) || chipset_ == PmChipset::None) return;
    const uint32_t previous_base_dword = last_base_dword_;
    const uint16_t before = power_.pm1_port(slot_);
    const uint16_t now = current_port();
    if (now == before) return;
    if (power_.move_pm1(slot_, now, false, dispatcher_, status_port(now)).ok()) {
        ++moves_;
        move_tco(now);
        log::info("ACPI PM1 control moved by the guest: port {:x} -> {:x} (still trapped)", before, now);
        return;
    }
    // The new ports belong to another mediator: put the PM block back.
    ++refusals_;
    log::warn("guest moved the ACPI PM block to ports the hypervisor cannot trap ({:x}): refused, restored {:x}",
              now, before);
    const uint32_t saved = io_.in(0xCF8, 4);
    io_.out(0xCF8, 4,
            config_enable | static_cast<uint32_t>(a.bus) << 16 | static_cast<uint32_t>(a.device & 31) << 11 |
                static_cast<uint32_t>(a.function & 7) << 8 | pm_base_offset);
    io_.out(0xCFC, 4, previous_base_dword);
    io_.out(0xCF8, 4, saved);
    last_base_dword_ = previous_base_dword;
    if (!power_.move_pm1(slot_, before, false, dispatcher_, status_port(before)).ok()) log::error("cannot re-trap ACPI PM1 control");
}

} // namespace sv::acpi
