// Which virtualization backend runs this machine, chosen once at boot from
// CPUID as NOVA does: the vendor string says which extension the CPU should
// have, the feature bit whether it has it (AMD APM vol. 3 CPUID Fn8000_0001
// ECX[2] SVM; Intel SDM vol. 2A CPUID.1:ECX[5] VMX). One binary runs on
// whichever CPU it finds (virt/svm/ or virt/vmx/).
#pragma once

#include "core/cpuid_policy.hpp"
#include "core/virt_backend.hpp"

namespace sv {

enum class BackendKind : uint8_t { None, Svm, Vmx };
enum class CpuVendor : uint8_t { Amd, Intel, Other };

struct BackendChoice {
    CpuVendor vendor;
    BackendKind kind; // None: neither extension is reported
};

using CpuidSource = CpuidValues (*)(uint32_t leaf, uint32_t subleaf);

// The vendor's own extension first (AMD and Hygon: SVM; Intel: VMX), else
// the other one if the CPU reports it (an emulator may offer either).
BackendChoice choose_backend(CpuidSource cpuid);

// The backend for this CPU, its support checked (check_support() logs why
// not); nullptr, with the reason logged, when none can run here.
VirtBackend* select_backend();

} // namespace sv
