// SVM's part of MSR handling (core/vendor_msrs.hpp): SVM stays hidden from the
// guest, which finds the MSRs as on an AMD CPU whose firmware disabled SVM.
#pragma once

#include <cstdint>
#include <span>

#include "core/vendor_msrs.hpp"

namespace sv::svm {

namespace msr {
constexpr uint32_t vm_cr = 0xC0010114;       // AMD APM vol. 2 §15.30.1
constexpr uint32_t vm_hsave_pa = 0xC0010117; // AMD APM vol. 2 §15.30.4
} // namespace msr

// EFER.SVME (AMD APM vol. 2 §3.1.7): VMRUN requires it set in the guest's
// EFER (§15.5.1), so it stays set underneath and reads as 0.
constexpr uint64_t efer_svme = 1ull << 12;
// VM_CR.LOCK | VM_CR.SVMDIS (§15.30.1): "SVM disabled by firmware, locked".
constexpr uint64_t vm_cr_lock = 1ull << 3;
constexpr uint64_t vm_cr_svmdis = 1ull << 4;

// The ExitHandler's view: hidden SVME, AMD's extra EFER bits, VM_CR reads
// as LOCK | SVMDIS, VM_CR writes (locked) and VM_HSAVE_PA raise #GP, as an
// unimplemented MSR does (AMD APM vol. 3, RDMSR/WRMSR "Exceptions").
const VendorMsrPolicy& vendor_msr_policy();

// The MSRs only SVM intercepts, besides core's neutral_msr_intercepts().
std::span<const uint32_t> own_msr_intercepts();

} // namespace sv::svm
