// MSRs that change how the *host* sees memory (issue #7 class 9): the guest
// runs on the real processor, so without an intercept its WRMSR would change
// the memory types, DRAM/MMIO decoding or SMM ranges the hypervisor itself
// runs under. One vendor-neutral table says, per MSR, what the guest gets;
// the backend intercepts every MSR in it (neutral_msr_intercepts()), the
// exit handler applies the rule (core/exit_handler.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace sv {

// Architectural MSRs with their own rules in core/exit_handler.cpp.
namespace msr_index {
constexpr uint32_t apic_base = 0x0000001B; // IA32_APIC_BASE: the APIC must stay where we trap it
constexpr uint32_t efer = 0xC0000080;      // EFER: the vendor's hidden bits (vendor_msrs.hpp)
} // namespace msr_index

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

// The vendor-neutral MSR intercepts every backend installs (core/virt_backend.hpp):
// IA32_APIC_BASE, EFER and every range of the table above. The backend adds
// its vendor's own (VendorMsrPolicy) to its permission map.
struct MsrRange {
    uint32_t first, last; // inclusive
};
std::span<const MsrRange> neutral_msr_intercepts();

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
