// The nested-TLB flush hook. Processors cache guest-physical translations
// from the nested page tables (AMD APM vol. 2 §15.16 "TLB Control"; Intel SDM
// vol. 3C "Caching Translation Information", EPT-derived "combined mappings"),
// so when the hypervisor changes a mapping at run time (an MMIO trap set,
// moved or released: HypervisorMemory::set_trap) every vCPU must drop those
// before it runs guest code again, or it keeps using the old mapping.
//
// NestedPageTable calls its NestedTlbFlush after each change (once the new
// entries are written). The backend provides the hook: SVM gives a
// NestedTlbGeneration whose every vCPU sets TLB_CONTROL before its next VMRUN
// when the generation moved (virt/svm/svm_backend_hw.cpp); VT-x would do an
// INVEPT on the same condition. A vCPU that is running guest code when the
// change happens flushes at its next exit; forcing that exit (a kick) belongs
// in the hook too, which is why it is an interface.
#pragma once

#include <cstdint>

namespace sv {

class NestedTlbFlush {
  public:
    // Called after [gpa, gpa+length) changed in the nested page tables
    // (permissions, target or memory type; also after a partly failed change).
    virtual void nested_mapping_changed(uint64_t gpa, uint64_t length) = 0;

  protected:
    ~NestedTlbFlush() = default;
};

// A flush request every vCPU picks up before it next enters the guest: a
// counter bumped on each change, compared by each vCPU with the value it last
// flushed for. Safe to bump from any CPU.
class NestedTlbGeneration final : public NestedTlbFlush {
  public:
    void nested_mapping_changed(uint64_t, uint64_t) override {
        __atomic_fetch_add(&generation_, 1, __ATOMIC_RELEASE);
    }
    uint64_t generation() const { return __atomic_load_n(&generation_, __ATOMIC_ACQUIRE); }
    // For one vCPU's run loop: true if a change happened since `seen` (the
    // value it last flushed for), which it then updates.
    bool flush_due(uint64_t& seen) const {
        const uint64_t g = generation();
        if (g == seen) return false;
        seen = g;
        return true;
    }

  private:
    uint64_t generation_ = 0;
};

} // namespace sv
