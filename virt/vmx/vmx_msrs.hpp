// VMX's part of MSR handling (core/vendor_msrs.hpp): VMX stays hidden from
// the guest, which finds the MSRs as on an Intel CPU whose firmware locked
// IA32_FEATURE_CONTROL with VMX disabled (Intel SDM vol. 3C "Enabling and
// Entering VMX Operation"); the VMX capability MSRs raise #GP, as on a CPU
// without VMX (SDM vol. 4: IA32_VMX_* exist only if CPUID.1:ECX.VMX = 1).
#pragma once

#include <cstdint>
#include <span>

#include "core/vendor_msrs.hpp"

namespace sv::vmx {

const VendorMsrPolicy& vendor_msr_policy();

// The MSRs only VMX intercepts, besides core's neutral_msr_intercepts():
// IA32_FEATURE_CONTROL and IA32_VMX_BASIC .. IA32_VMX_VMFUNC.
std::span<const uint32_t> own_msr_intercepts();

} // namespace sv::vmx
