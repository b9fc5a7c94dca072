// Binds one PCI NVMe function (NVMe 1.4 §2.1.5: class 01h, subclass 08h,
// programming interface 02h) to its mediator (NvmeController,
// nvme_controller.hpp), as AhciPciFunction does for AHCI:
//
//  - BAR0 (64-bit with BAR1, NVMe 1.4 §2.1.10/§2.1.11) is sized and trapped
//    whole, not present (pci::MmioBar: reads and writes exit, moves
//    followed through both config mechanisms): the registers, the
//    doorbells and, where the capability puts them there, the MSI-X table
//    and PBA. A table or PBA in another memory BAR gets a second MmioBar.
//  - The MSI-X capability (PCI 3.0 §6.8.2) is read from config space at
//    attach(): table and PBA BIR/offset and size. Its Message Control is
//    watched: the guest's MSI-X Enable and Function Mask go to the virtual
//    table (MsixTable), the real ones are the mediator's: once bound, the
//    real MSI-X stays enabled and unmasked (every real entry is masked
//    unless a shadow CQ uses it), whatever the guest writes.
//  - Guest accesses are routed by BAR offset: MSI-X table / PBA to the
//    controller's MsixTable, the rest of BAR0 to the controller's registers.
//  - bind() runs the controller's init() (boot identify, shadows) with Bus
//    Master Enable off and registers the function as mediated with the
//    bus-master rule and the controller as an NMI sink (core/nmi_sink.hpp).
//    On failure BME stays off, the function is not mediated and the trapped
//    BAR reads all ones (fail closed).
//  - Resets behind the registers (pci::FunctionResetWatch: FLR through the
//    PCIe or AF capability, D3hot -> D0 without NoSoftReset, README
//    "Resets"): Bus Master Enable is cleared before the write reaches the
//    function, then the controller drops its state (function_reset()) and
//    the real MSI-X is owed: it is turned on again at the guest's next
//    access to the function (after its FLR wait), before that access. While
//    the function is outside D0 its BARs read all ones, writes are dropped
//    and the mediator touches none of its registers.
#pragma once

#include <cstdint>

#include "core/dma_memory.hpp"
#include "core/mmio.hpp"
#include "core/mmio_dispatch.hpp"
#include "devices/pci/bar_registers.hpp"
#include "devices/pci/bus_master_rule.hpp"
#include "devices/pci/function_reset.hpp"
#include "devices/pci/mmio_bar.hpp"
#include "devices/storage/nvme/msix_table.hpp"
#include "devices/storage/nvme/nvme_registers.hpp"
#include "lib/result.hpp"

namespace sv::nvme {

class NvmeController;

constexpr uint8_t kBar0Index = 0;

// Class code bytes (PCI 3.0 §6.2.1, config offsets 0Bh, 0Ah, 09h).
constexpr bool is_nvme_function(uint8_t class_code, uint8_t subclass, uint8_t prog_if) {
    return class_code == kPciClassMassStorage && subclass == kPciSubclassNvm && prog_if == kPciProgIfNvme;
}

// The MSI-X capability of `a` (PCI 3.0 §6.7 capability list), or an empty placement.
MsixPlacement find_msix(pci::ConfigSpace& config, pci::Address a);

struct NvmeBindingStats {
    uint64_t reads = 0, writes = 0;    // guest BAR accesses handed to the controller / table
    uint64_t outside_bar = 0;          // trapped page bytes beyond the BAR (read as ones, dropped)
    uint64_t unbound = 0;              // accesses while no controller is bound (init failed)
    uint64_t control_writes = 0;       // guest writes to MSI-X Message Control (kept virtual)
    uint64_t not_ready = 0;            // accesses outside D0, or before the real MSI-X could be re-armed
};

class NvmePciFunction final : public MmioReadHandler,
                              public MmioWriteHandler,
                              public pci::ConfigRule,
                              public pci::ConfigWatcher {
  public:
    NvmePciFunction(pci::Address address, pci::ConfigMediator& mediator, pci::ConfigSpace& config,
                    MmioDispatcher& mmio, pci::MmioPlacement& placement, pci::PhysicalRegisters& physical);

    // Sizes and traps BAR0 (and the MSI-X table's BAR if another), reads
    // the MSI-X capability, watches its Message Control. Fails (function
    // stays unmediated, nothing trapped that it decodes) if BAR0 is not a
    // memory BAR, does not decode at boot, or the function has no MSI-X.
    [[nodiscard]] Result<void> attach(const char* name);

    // For the controller's constructor: the real BAR0 registers, where the
    // MSI-X table is, and the registers of the BAR holding it.
    MmioRegisters& registers() { return bar0_registers_; }
    const MsixPlacement& msix() const { return msix_; }
    MmioRegisters& msix_registers() { return msix_in_bar0() ? bar0_registers_ : table_registers_; }

    // See above. The controller must have been built over registers(),
    // msix() and msix_registers().
    [[nodiscard]] Result<void> bind(NvmeController& controller, DmaAllocator& dma, pci::BusMasterRule& bus_master);

    uint64_t mmio_read(uint64_t gpa, uint8_t size) override;
    void mmio_write(uint64_t gpa, uint8_t size, uint64_t value) override;
    // Message Control: the guest's bits are recorded, the real enable and
    // mask kept ours (ConfigRule); the guest's reach the table after the
    // write went on (ConfigWatcher).
    // Also: writes that reset the function or change its power state.
    bool filter(pci::ConfigWrite& w) override;
    void dropped(const pci::ConfigWrite& w) override;
    void config_written(const pci::ConfigWrite& w) override;
    const pci::FunctionResetWatch& resets() const { return reset_; }

    pci::Address address() const { return address_; }
    bool bound() const { return controller_ != nullptr; }
    const pci::MmioBar& bar0() const { return bar0_; }
    const NvmeBindingStats& stats() const { return stats_; }
    const char* name() const { return name_; }

  private:
    // A trapped second BAR (MSI-X table or PBA outside BAR0).
    class TableBar final : public MmioReadHandler, public MmioWriteHandler {
      public:
        explicit TableBar(NvmePciFunction& f) : f_(f) {}
        uint64_t mmio_read(uint64_t gpa, uint8_t size) override;
        void mmio_write(uint64_t gpa, uint8_t size, uint64_t value) override;

      private:
        NvmePciFunction& f_;
    };

    bool msix_in_bar0() const { return msix_.table_bir == kBar0Index; }
    // Offset of [gpa, gpa+size) in `bar`, false when outside or unbound.
    bool offset_of(const pci::MmioBar& bar, uint64_t gpa, uint8_t size, uint32_t& offset);
    uint64_t read_at(uint8_t bir, uint32_t offset, uint8_t size);
    void write_at(uint8_t bir, uint32_t offset, uint8_t size, uint64_t value);
    uint16_t message_control_offset() const { return static_cast<uint16_t>(msix_.capability + 2); }
    void force_real_msix_on();
    void reset_event(pci::ResetEvent e);
    // Owed after a function reset: the real MSI-X on again. False while the
    // function does not take it (still resetting).
    bool rearm();
    // Whether a guest access may reach the controller now.
    bool function_ready();

    pci::Address address_;
    pci::ConfigMediator& mediator_;
    pci::ConfigSpace& config_;
    pci::MmioBar bar0_;
    pci::MmioBar table_bar_;
    pci::BarRegisters bar0_registers_;
    pci::BarRegisters table_registers_;
    TableBar table_handler_;
    MsixPlacement msix_;
    NvmeController* controller_ = nullptr;
    uint16_t guest_control_ = 0;        // the guest's Message Control as it last wrote it
    bool control_seen_ = false;         // a Message Control write passed filter(), not yet notified
    pci::FunctionResetWatch reset_;
    bool rearm_owed_ = false;           // reset seen, real MSI-X not re-enabled yet
    bool warned_reset_ = false;
    const char* name_ = "nvme";
    NvmeBindingStats stats_;
};

} // namespace sv::nvme
