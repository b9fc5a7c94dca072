#include "devices/pci/bus_master_rule.hpp"

#include "lib/log.hpp"

namespace sv::pci {
namespace {
constexpr unsigned max_logged = 8; // per-function refusal lines, then silence (counted)
constexpr bool is_bridge(uint8_t header_type) {
    return header_type == header_type_bridge || header_type == header_type_cardbus;
}
} // namespace

const char* to_string(MasterDecision d) {
    switch (d) {
    case MasterDecision::Mediated: return "mediated";
    case MasterDecision::Allowed: return "allowed";
    case MasterDecision::Bridge: return "bridge";
    case MasterDecision::Confined: return "confined by the IOMMU";
    case MasterDecision::Blocked: return "blocked";
    }
    return "?";
}

bool BusMasterRule::add_mediated(Address a) {
    if (mediated_count_ == max_mediated) return false;
    mediated_[mediated_count_++] = a;
    return true;
}

MasterDecision BusMasterRule::decide(const FunctionIdentity& f) const {
    for (size_t i = 0; i < mediated_count_; ++i)
        if (mediated_[i] == f.address) return MasterDecision::Mediated;
    if (is_bridge(f.header_type)) return MasterDecision::Bridge;
    if (allow_ && allow_->allows(f.address, f.vendor, f.device)) return MasterDecision::Allowed;
    if (iommu_ && iommu_->confines(f.address)) return MasterDecision::Confined;
    return MasterDecision::Blocked;
}

FunctionIdentity BusMasterRule::identify(Address a) {
    const uint32_t id = config_.read32(a, reg::vendor_id);
    return FunctionIdentity{a, static_cast<uint16_t>(id), static_cast<uint16_t>(id >> 16),
                            static_cast<uint8_t>(config_.read8(a, reg::header_type) & header_type_mask)};
}

MasterDecision BusMasterRule::apply_at_boot(const FunctionIdentity& f) {
    const MasterDecision d = decide(f);
    if (!enforcing_ || d != MasterDecision::Blocked) return d;
    const uint16_t command = config_.read16(f.address, reg::command);
    if (command & command_bus_master) {
        config_.write16(f.address, reg::command, static_cast<uint16_t>(command & ~command_bus_master));
        ++stats_.cleared_at_boot;
    }
    return d;
}

bool BusMasterRule::filter(ConfigWrite& w) {
    if (!enforcing_) return true;
    const bool command = w.covers(reg::command);
    const bool bus_numbers = w.overlaps(reg::primary_bus, 3);
    if (!command && !bus_numbers) return true;
    const FunctionIdentity f = identify(w.address);
    if (f.vendor == 0xFFFF) return true; // no function: the write goes nowhere
    const MasterDecision d = decide(f);
    if (command && d == MasterDecision::Blocked && (w.byte_at(reg::command) & command_bus_master)) {
        w.set_byte(reg::command, static_cast<uint8_t>(w.byte_at(reg::command) & ~command_bus_master));
        ++stats_.bme_cleared;
        if (logged_ < max_logged) {
            ++logged_;
            log::warn("PCI {}:{}.{} ({:x}:{:x}): Bus Master Enable refused (not mediated, not in allow_dma, "
                      "disk key loaded)",
                      f.address.bus, f.address.device, f.address.function, f.vendor, f.device);
        }
    }
    if (bus_numbers && is_bridge(f.header_type)) {
        const uint32_t current = config_.read32(w.address, reg::primary_bus);
        bool changed = false;
        for (uint16_t at = reg::primary_bus; at <= reg::subordinate_bus; ++at) {
            if (!w.covers(at)) continue;
            const uint8_t keep = static_cast<uint8_t>(current >> (8 * (at - reg::primary_bus)));
            if (w.byte_at(at) != keep) changed = true;
            w.set_byte(at, keep);
        }
        if (changed) {
            ++stats_.bus_numbers_pinned;
            if (logged_ < max_logged) {
                ++logged_;
                log::warn("PCI {}:{}.{}: bridge bus numbers are pinned while the disk key is loaded (write "
                          "kept the old values)",
                          f.address.bus, f.address.device, f.address.function);
            }
        }
    }
    return true;
}

} // namespace sv::pci
