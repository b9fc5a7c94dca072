// CR0/CR4 under VMX: the bits VMX operation fixes (IA32_VMX_CR0/CR4_FIXED0/1,
// Intel SDM vol. 3D §A.7, §A.8) are owned by the hypervisor through the
// CR0/CR4 guest/host masks; the guest reads its own values from the read
// shadows (SDM vol. 3C "Guest/Host Masks and Read Shadows for CR0 and CR4")
// and a write that changes an owned bit exits (CR-access exit) and is
// emulated here: the guest keeps the value it wrote, the CPU gets it with
// the fixed bits applied. CR4.VMXE is always owned and reads 0: VMX is
// hidden, setting it raises #GP as on a CPU without VMX (SDM vol. 3A
// "CR4", reserved bits).
#pragma once

#include <cstdint>

#include "lib/result.hpp"
#include "virt/vmx/vmx_controls.hpp"

namespace sv::vmx {

struct CrRegister {
    uint64_t real = 0;   // the guest CR field of the VMCS (what the CPU uses)
    uint64_t shadow = 0; // the read shadow (what the guest reads in owned bits)
};

// The guest/host mask for a fixed-bits set: every bit VMX fixes (within the
// architectural 32 bits), plus `always` (CR4.VMXE).
uint64_t cr_guest_host_mask(const FixedBits& fixed, uint64_t always = 0);

// The register state for a guest value `value` (e.g. at INIT or entry).
CrRegister cr_for_guest_value(const FixedBits& fixed, uint64_t value);

// MOV to CR0 / CR4 that exited: the new state, or InvalidArgument when the
// write must raise #GP(0) (SDM vol. 2B MOV to control registers: bits 63:32
// set, CR0.PG without PE, CR0.NW without CD; CR4: a bit VMX forbids or
// VMXE, which the guest must not see).
[[nodiscard]] Result<CrRegister> guest_write_cr0(const FixedBits& fixed, uint64_t value);
[[nodiscard]] Result<CrRegister> guest_write_cr4(const FixedBits& fixed, uint64_t value);

} // namespace sv::vmx
