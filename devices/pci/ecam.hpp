// The PCI Express memory-mapped configuration window (ECAM, PCI Express Base
// 3.0 §7.2.2; described to the OS by the ACPI MCFG table, PCI Firmware 3.0
// §4.1.2). Configuration writes through it must meet the same rules as
// mechanism #1, so the window is mapped read-only in the nested page tables
// (reads go to the hardware), every write exits, is decoded into a
// ConfigWrite and goes through ConfigMediator::guest_write, which performs it
// on the real ECAM after the rules.
//
// On Q35 the window is the MCH's PCIEXBAR (device 0:0.0, config offset 60h,
// 64 bit; Intel 3 Series / Q35 Express Chipset datasheet §5.1.13, QEMU
// hw/pci-host/q35.c): bit 0 enables, bits 2:1 select 256/128/64 MiB (11b
// reserved), the base is bits 35:28 / 35:27 / 35:26. The guest may move or
// disable it through either mechanism: the tracker vets the new placement
// before the write reaches the MCH (refused, old value kept, logged: a
// reserved length, a window over RAM or hypervisor memory, overlapping
// another trapped range, or beyond what the nested page tables map), traps
// the new window before the MCH decodes it (every vCPU's nested TLB
// flushed) and releases the old pages after the write.
#pragma once

#include <cstdint>

#include "core/mmio_dispatch.hpp"
#include "devices/pci/mmio_placement.hpp"
#include "devices/pci/pci_config.hpp"

namespace sv::pci {

namespace pciexbar {
constexpr uint8_t offset = 0x60;
constexpr uint8_t bytes = 8;
constexpr uint64_t enable = 1u << 0;
constexpr uint64_t length_mask = 3u << 1;
constexpr uint64_t length_256m = 0u << 1, length_128m = 1u << 1, length_64m = 2u << 1;
constexpr uint64_t base_bits_256m = 0xFF0000000ull; // bits 35:28
constexpr uint64_t base_bit_128m = 1ull << 27;
constexpr uint64_t base_bit_64m = 1ull << 26;
} // namespace pciexbar

constexpr uint32_t q35_mch_id = 0x29C08086; // device:vendor of the Q35 MCH

struct EcamWindow {
    bool valid = false; // false: reserved length encoding
    bool enabled = false;
    uint64_t base = 0;
    uint64_t length = 0;
};
EcamWindow decode_pciexbar(uint64_t value);

// The real ECAM (physical memory writes; the hardware, or a fake in tests).
class PhysicalMmio {
  public:
    virtual void write(uint64_t pa, uint8_t size, uint32_t value) = 0;

  protected:
    ~PhysicalMmio() = default;
};

// Whether a window there could be trapped (devices/pci/mmio_placement.hpp).
using EcamPlacement = MmioPlacement;

struct EcamStats {
    uint64_t writes = 0;            // guest ECAM writes decoded as config writes
    uint64_t refused = 0;           // 8-byte, misaligned: dropped
    uint64_t relocations = 0;       // window moved/enabled/disabled and followed
    uint64_t refused_relocations = 0;
};

class EcamMediator final : public MmioWriteHandler, public ConfigRule, public ConfigWatcher {
  public:
    EcamMediator(ConfigMediator& mediator, ConfigSpace& config, MmioDispatcher& mmio, PhysicalMmio& hardware,
                 EcamPlacement& placement)
        : mediator_(mediator), config_(config), mmio_(mmio), hardware_(hardware), placement_(placement) {
        range_.handler = this;
    }

    // Traps the window the Q35 MCH at `mch` decodes now and follows its
    // PCIEXBAR from then on (registers the rule and the watcher).
    [[nodiscard]] Result<void> track_q35(Address mch);
    // A window we cannot follow (MCFG on an unknown chipset): trapped where
    // firmware put it.
    [[nodiscard]] Result<void> trap_fixed(uint64_t base, uint64_t length);

    void mmio_write(uint64_t gpa, uint8_t size, uint64_t value) override;
    bool filter(ConfigWrite& w) override;
    void dropped(const ConfigWrite& w) override;
    void config_written(const ConfigWrite& w) override;

    const EcamWindow& window() const { return window_; }
    const EcamStats& stats() const { return stats_; }

  private:
    class Writer;
    uint64_t read_pciexbar();
    [[nodiscard]] Result<void> follow(const EcamWindow& w);
    // After a PCIEXBAR write reached the MCH (or was dropped): the trap
    // follows the window the MCH decodes now; old pages released.
    void settle();

    ConfigMediator& mediator_;
    ConfigSpace& config_;
    MmioDispatcher& mmio_;
    MmioRange range_;     // the window, while enabled
    MmioLeaving leaving_; // old pages of a move until the MCH decodes the new window
    bool pending_ = false;
    PhysicalMmio& hardware_;
    EcamPlacement& placement_;
    Address mch_{};
    bool tracking_ = false;
    EcamWindow window_;
    EcamStats stats_;
    bool warned_refused_ = false;
};

} // namespace sv::pci
