// Function Level Reset and power-state resets seen in config writes (see function_reset.hpp).
#include "devices/pci/function_reset.hpp"

namespace sv::pci {
namespace {
constexpr uint8_t kStatus = 0x06;
constexpr uint16_t kStatusCapList = 1u << 4; // PCI 3.0 §6.2.3
constexpr uint8_t kCapPointer = 0x34;        // PCI 3.0 §6.7
constexpr uint8_t kFirstCapability = 0x40;
constexpr unsigned kMaxCapabilities = 48; // (256 - 64) / 4: a loop guard
} // namespace

const char* to_string(ResetEvent e) {
    switch (e) {
    case ResetEvent::None: return "none";
    case ResetEvent::Flr: return "function level reset";
    case ResetEvent::PowerDown: return "power down";
    case ResetEvent::PowerUp: return "power up";
    case ResetEvent::PowerUpReset: return "D3hot -> D0 reset";
    }
    return "?";
}

uint8_t find_capability(ConfigSpace& config, Address a, uint8_t id) {
    if (!(config.read16(a, kStatus) & kStatusCapList)) return 0;
    uint8_t at = config.read8(a, kCapPointer) & 0xFC;
    for (unsigned n = 0; at >= kFirstCapability && n < kMaxCapabilities; ++n) {
        if (config.read8(a, at) == id) return at;
        at = config.read8(a, static_cast<uint8_t>(at + 1)) & 0xFC;
    }
    return 0;
}

ResetCapabilities find_reset_capabilities(ConfigSpace& config, Address a) {
    ResetCapabilities c;
    c.pcie = find_capability(config, a, cap_id::pci_express);
    c.af = find_capability(config, a, cap_id::advanced_features);
    c.pm = find_capability(config, a, cap_id::power_management);
    if (c.pcie)
        c.pcie_flr = config.read32(a, static_cast<uint8_t>(c.pcie + pcie::device_capabilities)) & pcie::cap_flr;
    if (c.af) c.af_flr = config.read8(a, static_cast<uint8_t>(c.af + af::capabilities)) & af::cap_flr;
    if (c.pm) {
        const uint16_t pmc = config.read16(a, static_cast<uint8_t>(c.pm + pm::pmc));
        c.d1 = pmc & pm::pmc_d1;
        c.d2 = pmc & pm::pmc_d2;
        c.no_soft_reset = config.read16(a, static_cast<uint8_t>(c.pm + pm::pmcsr)) & pm::no_soft_reset;
    }
    return c;
}

void FunctionResetWatch::attach(ConfigSpace& config, Address a) {
    config_ = &config;
    address_ = a;
    caps_ = find_reset_capabilities(config, a);
    state_ = caps_.pm ? static_cast<uint8_t>(config.read16(a, static_cast<uint8_t>(caps_.pm + pm::pmcsr)) &
                                             pm::state_mask)
                      : pm::d0;
    attached_ = true;
}

uint8_t FunctionResetWatch::state_after(const ConfigWrite& w) const {
    const uint16_t at = static_cast<uint16_t>(caps_.pm + pm::pmcsr);
    if (!caps_.pm || !w.covers(at)) return state_;
    const uint8_t next = w.byte_at(at) & pm::state_mask;
    // §7.3: an unsupported optional state is discarded; §5.4.1: D3hot only goes to D0.
    if ((next == 1 && !caps_.d1) || (next == 2 && !caps_.d2)) return state_;
    if (state_ == pm::d3hot && next != pm::d0) return state_;
    return next;
}

ResetEvent FunctionResetWatch::classify(const ConfigWrite& w) const {
    if (!attached_ || !(w.address == address_)) return ResetEvent::None;
    const uint16_t pcie_hi = static_cast<uint16_t>(caps_.pcie + pcie::device_control + 1);
    if (caps_.pcie_flr && w.covers(pcie_hi) && (w.byte_at(pcie_hi) & (pcie::control_initiate_flr >> 8)))
        return ResetEvent::Flr;
    const uint16_t af_control = static_cast<uint16_t>(caps_.af + af::control);
    if (caps_.af_flr && w.covers(af_control) && (w.byte_at(af_control) & af::control_initiate_flr))
        return ResetEvent::Flr;
    const uint8_t next = state_after(w);
    if (next == state_) return ResetEvent::None;
    if (next != pm::d0) return state_ == pm::d0 ? ResetEvent::PowerDown : ResetEvent::None; // D1 <-> D2: still off
    if (state_ == pm::d3hot && !caps_.no_soft_reset) return ResetEvent::PowerUpReset;
    return ResetEvent::PowerUp;
}

void FunctionResetWatch::happened(ResetEvent e, const ConfigWrite& w) {
    if (e == ResetEvent::Flr) {
        state_ = pm::d0; // PMCSR is reset with the function (PCIe Base 4.0 §6.6.2)
        return;
    }
    state_ = state_after(w);
}

ResetEvent FunctionResetWatch::before_write(const ConfigWrite& w) {
    pending_ = classify(w);
    quiesced_ = false;
    if (resets_function(pending_)) {
        // Written as the hypervisor (not through the mediator), then the
        // guest's write goes on: by then the function masters nothing.
        saved_command_ = config_->read16(address_, reg::command);
        config_->write16(address_, reg::command, static_cast<uint16_t>(saved_command_ & ~command_bus_master));
        quiesced_ = true;
    }
    return pending_;
}

void FunctionResetWatch::write_dropped(const ConfigWrite& w) {
    if (!(w.address == address_)) return;
    // A later rule refused the write: the function does not reset, its
    // command register is what it was.
    if (quiesced_) config_->write16(address_, reg::command, saved_command_);
    quiesced_ = false;
    pending_ = ResetEvent::None;
}

ResetEvent FunctionResetWatch::after_write(const ConfigWrite& w) {
    if (!attached_ || !(w.address == address_)) return ResetEvent::None;
    const ResetEvent e = pending_;
    pending_ = ResetEvent::None;
    quiesced_ = false;
    happened(e, w);
    switch (e) {
    case ResetEvent::Flr: ++stats_.flrs; break;
    case ResetEvent::PowerDown: ++stats_.power_downs; break;
    case ResetEvent::PowerUp: ++stats_.power_ups; break;
    case ResetEvent::PowerUpReset: ++stats_.power_up_resets; break;
    case ResetEvent::None: break;
    }
    return e;
}

} // namespace sv::pci
