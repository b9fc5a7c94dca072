// Binds one PCI AHCI function (AHCI 1.3.1 §2.1.2: class 01h, subclass 06h,
// programming interface 01h) to its mediator (the AhciController,
// ahci_controller.hpp): the ABAR (BAR5, §2.1.11) is sized and trapped
// not-present wherever the guest puts it (pci::MmioBar, docs/design.md §4
// rule 1: reads and writes exit), every guest access is handed to the
// controller as an offset from the ABAR, and the controller reaches the real
// registers through a pci::BarRegisters over the BAR's current physical
// address. Only once the controller has pointed every real PxCLB/PxFB at its
// shadows (its init(), run with Bus Master Enable off) is the function
// registered as mediated with the bus-master rule, so that with a key loaded
// it may master the bus again.
//
// Resets behind the ABAR (pci::FunctionResetWatch, README "Resets"): an FLR
// through the PCIe or AF capability, or D3hot -> D0 without NoSoftReset,
// clears Bus Master Enable before the write reaches the function, then the
// controller drops its state (function_reset()); the ABAR trap stays where
// it was until the guest's next BAR or command write. Outside D0 the ABAR reads all ones, writes are dropped and
// the controller's real registers are not touched (PCI PM 1.2 §5.3).
#pragma once

#include <cstdint>

#include "core/dma_memory.hpp"
#include "core/mmio.hpp"
#include "core/mmio_dispatch.hpp"
#include "devices/pci/bar_registers.hpp"
#include "devices/pci/bus_master_rule.hpp"
#include "devices/pci/function_reset.hpp"
#include "devices/pci/mmio_bar.hpp"
#include "devices/storage/ahci/ahci_registers.hpp"
#include "lib/result.hpp"

namespace sv::ahci {

constexpr uint8_t kAbarIndex = 5; // AHCI 1.3.1 §2.1.11

// Class code bytes (PCI 3.0 §6.2.1, config offsets 0Bh, 0Ah, 09h).
constexpr bool is_ahci_function(uint8_t class_code, uint8_t subclass, uint8_t prog_if) {
    return class_code == 0x01 && subclass == 0x06 && prog_if == 0x01;
}

// The mediator the binding forwards to: AhciController's interface
// (ahci-contract §2). ControllerClient<AhciController> adapts it.
class AbarClient {
  public:
    virtual Result<void> init(DmaAllocator& dma) = 0;
    virtual uint64_t read(uint32_t offset, uint8_t size) = 0;
    virtual void write(uint32_t offset, uint8_t size, uint64_t value) = 0;
    virtual unsigned implemented_ports() const = 0;
    // The function reset itself (AhciController::function_reset()).
    virtual void function_reset() = 0;

  protected:
    ~AbarClient() = default;
};

template <class Controller> class ControllerClient final : public AbarClient {
  public:
    explicit ControllerClient(Controller& c) : c_(c) {}
    Result<void> init(DmaAllocator& dma) override { return c_.init(dma); }
    uint64_t read(uint32_t offset, uint8_t size) override { return c_.read(offset, size); }
    void write(uint32_t offset, uint8_t size, uint64_t value) override { c_.write(offset, size, value); }
    unsigned implemented_ports() const override { return c_.implemented_ports(); }
    void function_reset() override { c_.function_reset(); }

  private:
    Controller& c_;
};

struct AhciBindingStats {
    uint64_t reads = 0, writes = 0;  // guest ABAR accesses handed to the controller
    uint64_t outside_abar = 0;       // trapped page bytes beyond the ABAR (read as ones, dropped)
    uint64_t unbound = 0;            // accesses while no controller is bound (init failed)
    uint64_t not_ready = 0;          // accesses while the function is outside D0
};

class AhciPciFunction final : public MmioReadHandler,
                              public MmioWriteHandler,
                              public pci::ConfigRule,
                              public pci::ConfigWatcher {
  public:
    AhciPciFunction(pci::Address address, pci::ConfigMediator& mediator, pci::ConfigSpace& config,
                    MmioDispatcher& mmio, pci::MmioPlacement& placement, pci::PhysicalRegisters& physical)
        : address_(address), mediator_(mediator), config_(config), bar_(mediator, config, mmio, placement),
          registers_(bar_, physical) {}

    // Ports the firmware left implemented (popcount of PI, §3.1.4), read
    // before the heap is sized; kMaxPorts when the ABAR does not decode.
    static unsigned ports_at_boot(pci::ConfigSpace& config, pci::Address a, pci::PhysicalRegisters& physical);

    // Sizes and traps the ABAR and follows it from now on. Fails (nothing
    // trapped that the device decodes) if BAR5 is not a memory BAR or does
    // not decode at boot: the function then stays unmediated.
    [[nodiscard]] Result<void> attach(const char* name);
    // The real registers for the controller's constructor.
    MmioRegisters& registers() { return registers_; }
    const pci::BarRegisters& registers_stats() const { return registers_; }
    // Runs client.init() with Bus Master Enable off (ahci-contract §2: the
    // shadows are in place before the HBA can fetch anything), restores
    // BME, and registers the function as mediated with `bus_master`. On
    // failure BME stays off, the function is not mediated and the trapped
    // ABAR reads all ones (fail closed).
    [[nodiscard]] Result<void> bind(AbarClient& client, DmaAllocator& dma, pci::BusMasterRule& bus_master);

    uint64_t mmio_read(uint64_t gpa, uint8_t size) override;
    void mmio_write(uint64_t gpa, uint8_t size, uint64_t value) override;
    // Config writes that reset the function or change its power state.
    bool filter(pci::ConfigWrite& w) override;
    void dropped(const pci::ConfigWrite& w) override;
    void config_written(const pci::ConfigWrite& w) override;
    const pci::FunctionResetWatch& resets() const { return reset_; }

    pci::Address address() const { return address_; }
    bool bound() const { return client_ != nullptr; }
    const pci::MmioBar& abar() const { return bar_; }
    const AhciBindingStats& stats() const { return stats_; }
    const char* name() const { return name_; }

  private:
    // The ABAR offset of [gpa, gpa+size), or false when the access leaves
    // the ABAR (a BAR smaller than the trapped page) or nothing is bound.
    bool offset_of(uint64_t gpa, uint8_t size, uint32_t& offset);

    pci::Address address_;
    pci::ConfigMediator& mediator_;
    pci::ConfigSpace& config_;
    pci::MmioBar bar_;
    pci::BarRegisters registers_;
    AbarClient* client_ = nullptr;
    pci::FunctionResetWatch reset_;
    bool warned_reset_ = false;
    const char* name_ = "ahci";
    AhciBindingStats stats_;
};

} // namespace sv::ahci
