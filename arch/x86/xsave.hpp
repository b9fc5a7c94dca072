// XSAVE enablement for the hypervisor on each processor.
#pragma once

namespace sv::x86 {

// If the CPU has XSAVE (CPUID.1:ECX bit 26): sets the hypervisor's
// CR4.OSXSAVE (SVM switches CR4 on VMRUN/#VMEXIT, the guest has its own) and
// loads XCR0 with its reset value 1 (x87 only, Intel SDM vol. 1 §13.3), which
// is what the guest starts with. XCR0 is not switched by SVM: from here on
// it belongs to the guest; the crypto switches it per request
// (crypto/xcr0_switch.hpp). Returns whether XSAVE is on.
bool enable_xsave();

} // namespace sv::x86
