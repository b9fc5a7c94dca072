// The AMD IOMMU is itself a PCI function (class 08h, subclass 06h; AMD IOMMU
// Specification 48882 §3.2): its capability block holds the MMIO base
// address and the enable bit of the register block (§3.2.2, §3.2.3), so a
// guest that could write its config space could move the register block
// away from the trapped pages or turn the unit's decoding off. Once the
// hypervisor owns the unit every guest config write to that function is
// refused (counted; the device keeps its values). Reads still reach the
// device: with the IVRS removed nothing in the guest binds to it (Linux's
// AMD-Vi driver starts from the IVRS only).
#pragma once

#include <cstddef>
#include <cstdint>

#include "devices/pci/pci_config.hpp"

namespace sv::amdvi {

class FunctionGuard final : public pci::ConfigRule {
  public:
    static constexpr size_t max_functions = 8;
    bool add(pci::Address a) {
        if (count_ == max_functions) return false;
        functions_[count_++] = a;
        return true;
    }
    bool guards(pci::Address a) const {
        for (size_t i = 0; i < count_; ++i)
            if (functions_[i] == a) return true;
        return false;
    }
    bool filter(pci::ConfigWrite& w) override {
        if (!guards(w.address)) return true;
        __atomic_fetch_add(&refused_, 1, __ATOMIC_RELAXED); // any vCPU
        return false;
    }
    uint64_t refused() const { return __atomic_load_n(&refused_, __ATOMIC_RELAXED); }

  private:
    pci::Address functions_[max_functions]{};
    size_t count_ = 0;
    uint64_t refused_ = 0;
};

} // namespace sv::amdvi
