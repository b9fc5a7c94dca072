// Default-deny Bus Master Enable (issue 7, class 6). With a disk key loaded,
// a PCI function that can master the bus could DMA the key or hypervisor
// memory out (a NIC in a packet) or write plaintext to a disk. So every
// function that the hypervisor does not mediate, the configuration does not
// allow (allow_dma=) and no IOMMU confines (set_confinement) keeps Bus Master
// Enable (command register bit 2, PCI 3.0 §6.2.2) off: the bit is cleared at
// boot and from every guest config write to the command register, through
// either mechanism (the rule runs in ConfigMediator::guest_write). The
// function's identity (vendor:device, bus:device.function) is read at each
// such write, so a device that appears later is covered too.
//
// Bridges (header type 1, PCI-PCI; 2, CardBus) keep their BME: on a bridge it
// only lets the bridge forward its secondary side's transactions upstream
// (PCI-to-PCI Bridge Architecture 1.2 §3.2.2), including MSIs and the DMA
// of allowed devices behind it, and every device behind it is checked by
// its own command register. Their bus numbers (primary, secondary,
// subordinate: offsets 18h-1Ah) are pinned instead, so the guest cannot
// renumber a bus and give a device the bus:device.function of a mediated or
// allowed one: writes there keep the current bytes.
#pragma once

#include <cstddef>
#include <cstdint>

#include "devices/pci/dma_allow_list.hpp"
#include "devices/pci/pci_config.hpp"

namespace sv::pci {

// Confined: the IOMMU translates the function's DMA (guest RAM only), so it
// may master the bus with a key loaded (issue 12).
enum class MasterDecision : uint8_t { Mediated, Allowed, Bridge, Confined, Blocked };

// Whether an IOMMU the hypervisor programmed translates this function's DMA
// (devices/iommu/README.md). Bus numbers stay pinned under the rule, so a
// function keeps the requester ID the IOMMU's tables were built for.
class DmaConfinement {
  public:
    virtual bool confines(Address a) const = 0;

  protected:
    ~DmaConfinement() = default;
};

struct FunctionIdentity {
    Address address;
    uint16_t vendor = 0xFFFF, device = 0xFFFF;
    uint8_t header_type = 0; // without the multi-function bit
};

struct BusMasterStats {
    uint64_t bme_cleared = 0;        // guest writes that had BME removed
    uint64_t bus_numbers_pinned = 0; // bridge writes whose bus numbers were kept
    uint64_t cleared_at_boot = 0;
};

class BusMasterRule final : public ConfigRule {
  public:
    static constexpr size_t max_mediated = 8;
    explicit BusMasterRule(ConfigSpace& config) : config_(config) {}

    // Off (no key): the rule changes nothing.
    void set_enforcing(bool on) { enforcing_ = on; }
    bool enforcing() const { return enforcing_; }
    void set_allow_list(const DmaAllowList* list) { allow_ = list; }
    void set_confinement(const DmaConfinement* iommu) { iommu_ = iommu; }
    [[nodiscard]] bool add_mediated(Address a);
    // The mediated functions (the IOMMU gives them the shadow window).
    size_t mediated_count() const { return mediated_count_; }
    Address mediated(size_t i) const { return i < mediated_count_ ? mediated_[i] : Address{}; }

    MasterDecision decide(const FunctionIdentity& f) const;
    FunctionIdentity identify(Address a);
    // At boot, per present function: clears BME where it is not allowed.
    // Returns the decision (for the boot log).
    MasterDecision apply_at_boot(const FunctionIdentity& f);

    bool filter(ConfigWrite& w) override;
    const BusMasterStats& stats() const { return stats_; }

  private:
    ConfigSpace& config_;
    const DmaAllowList* allow_ = nullptr;
    const DmaConfinement* iommu_ = nullptr;
    Address mediated_[max_mediated]{};
    size_t mediated_count_ = 0;
    bool enforcing_ = false;
    BusMasterStats stats_;
    unsigned logged_ = 0;
};

const char* to_string(MasterDecision d);

} // namespace sv::pci
