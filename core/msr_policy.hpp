// MSRs that change how the *host* sees memory (issue #7 class 9): the guest
// runs on the real processor, so without an intercept its WRMSR would change
// the memory types, DRAM/MMIO decoding or SMM ranges the hypervisor itself
// runs under. One vendor-neutral table says, per MSR, what the guest gets;
// the backend intercepts every MSR in it (virt/svm MSR permission map), the
// exit handler applies the rule (core/exit_handler.cpp).
#pragma once

#include <cstddef>
#include <cstdint>

namespace sv {

enum class MsrRule : uint8_t {
    // Reads return a virtual copy, writes change only the copy; the copy
    // starts as the hardware (firmware) value at the first access. The
    // hardware keeps what the firmware programmed.
    Virtualize,
    // Reads return the hardware value, writes raise #GP(0), as on a CPU
    // where the firmware locked them.
    ReadOnly,
};

struct MsrPolicy {
    uint32_t first, last; // inclusive range
    MsrRule rule;
    const char* what;
};

// The table, and the rule for one MSR (nullptr: not in the table).
const MsrPolicy* msr_policy(uint32_t msr);
size_t msr_policy_count();
const MsrPolicy& msr_policy_at(size_t i);

// Shared virtual copies of the Virtualize MSRs (one set for all vCPUs: the
// firmware programs the same values on every processor, and Linux copies the
// BSP's MTRRs to the APs, SDM vol. 3A §11.11.8). Callers serialize access.
class VirtualMsrs {
  public:
    static constexpr size_t kCapacity = 48;
    using HostRead = uint64_t (*)(uint32_t msr);
    // Returns false when `msr` is not a Virtualize MSR.
    bool read(uint32_t msr, HostRead host, uint64_t& value);
    bool write(uint32_t msr, HostRead host, uint64_t value);

  private:
    uint64_t* slot(uint32_t msr, HostRead host);
    uint32_t msr_[kCapacity] = {};
    uint64_t value_[kCapacity] = {};
    size_t used_ = 0;
};

} // namespace sv
