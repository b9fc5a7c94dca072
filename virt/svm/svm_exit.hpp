// Decodes SVM exit information into vendor-neutral VmExit values (the only
// place that knows EXITINFO bit layouts), and syncs guest state between the
// VMCB and VcpuState.
#pragma once

#include "core/vcpu_state.hpp"
#include "core/vm_exit.hpp"
#include "virt/svm/vmcb.hpp"

namespace sv::svm {

// `has_nrip`: CPUID Fn8000_000A_EDX[3] NRIPS; without it (QEMU TCG) next_rip
// is only known for IOIO exits (EXITINFO2 holds it there).
VmExit decode_exit(const VmcbControl& control, bool has_nrip);

void load_state(const Vmcb& vmcb, VcpuState& state);  // VMCB -> state (gprs besides RAX/RSP kept)
void store_state(const VcpuState& state, Vmcb& vmcb); // state -> VMCB incl. pending exception

} // namespace sv::svm
