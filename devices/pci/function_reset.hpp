// Resets a guest can start through config space alone, without touching
// the registers a mediator traps (docs/design.md §4 rule 7): it sees them
// here, on the one config write path (pci_config.hpp), so both mechanisms
// (0xCF8/0xCFC and ECAM), any size and byte lane are covered.
//
//  - Function Level Reset: Initiate FLR, bit 15 of Device Control in the
//    PCI Express capability (PCIe Base 4.0 §7.5.3.4), when Device
//    Capabilities bit 28 says the function has FLR (§6.6.2); or bit 0 of
//    AF Control in the Advanced Features capability (PCI AF ECN, cap ID
//    13h), when AF Capabilities bit 1 says so.
//  - Power states: PMCSR PowerState (bits 1:0) of the PCI Power Management
//    capability (PCI PM 1.2 §7.3). D3hot -> D0 resets the function unless
//    PMCSR NoSoftReset (bit 3) is set (§5.4.1 table 5-3, §7.3); D1 and D2
//    exist only where PMC says so (PMC bits 9, 10), and an unsupported
//    state written is discarded (§7.3). From D3hot the only way is D0.
//    Outside D0 the function answers config cycles only (§5.3): its BARs
//    do not decode.
//
// The capabilities are looked up in the real config space at attach(); the
// watch predicts the effect of each write from what it carries (no config
// read after a reset: the function may not answer before its recovery
// time, PCIe Base 4.0 §6.6.2 100 ms, PCI PM 1.2 §5.6.1 10 ms).
#pragma once

#include <cstdint>

#include "devices/pci/pci_config.hpp"

namespace sv::pci {

namespace cap_id {
constexpr uint8_t power_management = 0x01;  // PCI PM 1.2 §3.1
constexpr uint8_t pci_express = 0x10;       // PCIe Base 4.0 §7.5.3
constexpr uint8_t advanced_features = 0x13; // PCI AF ECN
} // namespace cap_id

// The capability `id` of `a` (PCI 3.0 §6.7 list walk), 0 when absent.
uint8_t find_capability(ConfigSpace& config, Address a, uint8_t id);

struct ResetCapabilities {
    uint8_t pcie = 0, af = 0, pm = 0; // config offsets; 0: absent
    bool pcie_flr = false, af_flr = false;
    bool no_soft_reset = false; // PMCSR bit 3: D3hot -> D0 keeps the function's state
    bool d1 = false, d2 = false;
};
ResetCapabilities find_reset_capabilities(ConfigSpace& config, Address a);

namespace pm {
constexpr uint8_t pmc = 2;   // Power Management Capabilities (16 bits)
constexpr uint8_t pmcsr = 4; // Control/Status (16 bits)
constexpr uint16_t pmc_d1 = 1u << 9, pmc_d2 = 1u << 10;
constexpr uint16_t state_mask = 3;
constexpr uint16_t no_soft_reset = 1u << 3;
constexpr uint8_t d0 = 0, d3hot = 3;
} // namespace pm
namespace pcie {
constexpr uint8_t device_capabilities = 4; // 32 bits
constexpr uint8_t device_control = 8;      // 16 bits
constexpr uint32_t cap_flr = 1u << 28;
constexpr uint16_t control_initiate_flr = 1u << 15;
} // namespace pcie
namespace af {
constexpr uint8_t capabilities = 3; // 8 bits
constexpr uint8_t control = 4;      // 8 bits
constexpr uint8_t cap_flr = 1u << 1;
constexpr uint8_t control_initiate_flr = 1u << 0;
} // namespace af

enum class ResetEvent : uint8_t {
    None,
    Flr,          // a Function Level Reset starts
    PowerDown,    // D0 -> D1/D2/D3hot: BARs stop decoding, state kept
    PowerUp,      // back to D0, state kept (D1/D2, or D3hot with NoSoftReset)
    PowerUpReset, // D3hot -> D0 with NoSoftReset 0: the function resets
};
const char* to_string(ResetEvent e);
// Whether the function loses its state (registers, queues, MSI-X table, BARs).
constexpr bool resets_function(ResetEvent e) { return e == ResetEvent::Flr || e == ResetEvent::PowerUpReset; }

struct FunctionResetStats {
    uint64_t flrs = 0, power_downs = 0, power_ups = 0, power_up_resets = 0;
};

// Used by a mediator's ConfigRule/ConfigWatcher pair for its function:
// before_write() from filter(), write_dropped() from dropped(),
// after_write() from config_written(). Before a write that resets the
// function reaches it, Bus Master Enable is cleared on the real function
// (PCI 3.0 §6.2.2: no new DMA), so the mediator may reclaim its shadow
// memory right after the write; the reset leaves the command register 0
// anyway, and the guest restores it (Linux pci_restore_state) through the
// config trap, where the bus-master rule decides again.
class FunctionResetWatch {
  public:
    // Reads the capabilities and the current power state of `a`.
    void attach(ConfigSpace& config, Address a);
    const ResetCapabilities& capabilities() const { return caps_; }
    bool attached() const { return attached_; }

    // What `w` will do once it reaches the function (None for other functions).
    ResetEvent classify(const ConfigWrite& w) const;
    ResetEvent before_write(const ConfigWrite& w);
    void write_dropped(const ConfigWrite& w);
    // The event `w` caused (None if none), power state updated.
    ResetEvent after_write(const ConfigWrite& w);

    uint8_t power_state() const { return state_; }
    bool in_d0() const { return state_ == pm::d0; }
    const FunctionResetStats& stats() const { return stats_; }

  private:
    uint8_t state_after(const ConfigWrite& w) const;
    void happened(ResetEvent e, const ConfigWrite& w);
    ConfigSpace* config_ = nullptr;
    Address address_{};
    ResetCapabilities caps_;
    uint8_t state_ = pm::d0;
    bool attached_ = false;
    ResetEvent pending_ = ResetEvent::None;
    uint16_t saved_command_ = 0;
    bool quiesced_ = false;
    FunctionResetStats stats_;
};

} // namespace sv::pci
