// VMCS control values computed from the VMX capability MSRs (Intel SDM vol.
// 3D Appendix A "VMX Capability Reporting Facility"), and the CR0/CR4 values
// VMX operation allows (§A.7, §A.8). Portable: the capability MSR values are
// read by the _hw glue and passed in, so every rule here is unit-tested.
#pragma once

#include <cstdint>

#include "lib/result.hpp"

namespace sv::vmx {

// The raw capability MSRs one processor reports. `true_*` are only
// meaningful when IA32_VMX_BASIC bit 55 is set; `procbased2` only when the
// primary controls allow "activate secondary controls"; `ept_vpid_cap` only
// when the secondary controls allow EPT or VPID.
struct VmxCapabilities {
    uint64_t basic = 0;
    uint64_t pinbased = 0, procbased = 0, exit = 0, entry = 0;
    uint64_t true_pinbased = 0, true_procbased = 0, true_exit = 0, true_entry = 0;
    uint64_t procbased2 = 0;
    uint64_t misc = 0;
    uint64_t cr0_fixed0 = 0, cr0_fixed1 = 0, cr4_fixed0 = 0, cr4_fixed1 = 0;
    uint64_t ept_vpid_cap = 0;

    bool has_true_controls() const;
    uint32_t revision_id() const;
    uint32_t region_size() const; // VMXON/VMCS region bytes (IA32_VMX_BASIC 44:32)
};

// One control field's capability: bit X set in `must_be_one` means the
// control must be 1 (allowed-0 setting is 0, low dword), bit X clear in
// `may_be_one` means it must be 0 (allowed-1 setting, high dword).
struct ControlCapability {
    uint32_t must_be_one = 0;
    uint32_t may_be_one = 0;

    static ControlCapability from_msr(uint64_t msr) {
        return ControlCapability{static_cast<uint32_t>(msr), static_cast<uint32_t>(msr >> 32)};
    }
    bool allows(uint32_t bits) const { return (may_be_one & bits) == bits; }
};

// The value of one control field: `required` bits must end up set (else
// Unsupported), `wanted` bits are set where the CPU allows them, every
// must-be-one bit is set and every must-be-zero bit is clear (§A.3-§A.5:
// "a VM entry fails if a control is set to a value its capability MSR does
// not allow"). `forbidden` bits are intercepts the backend does not handle:
// if the CPU forces one to 1 this fails (Unsupported) rather than run a
// guest whose exits nobody handles. An inconsistent capability (a bit both
// must-be-one and must-be-zero, which no real CPU reports but a broken
// emulator might) is Malformed.
[[nodiscard]] Result<uint32_t> adjust_controls(ControlCapability cap, uint32_t required, uint32_t wanted = 0,
                                               uint32_t forbidden = 0);

// The capability the control computation uses for each field: the TRUE_*
// MSR where IA32_VMX_BASIC bit 55 says it exists (it may allow clearing
// some default1 bits), else the legacy MSR (§A.2).
ControlCapability pin_capability(const VmxCapabilities& c);
ControlCapability proc_capability(const VmxCapabilities& c);
ControlCapability exit_capability(const VmxCapabilities& c);
ControlCapability entry_capability(const VmxCapabilities& c);
// Zero (nothing allowed) unless the primary controls allow activating them.
ControlCapability proc2_capability(const VmxCapabilities& c);

// The control fields the backend programs, for the hypervisor's fixed
// intercept set (core/virt_backend.hpp): I/O and MSR bitmaps, EPT with VPID
// and unrestricted guest, a 64-bit host, guest EFER/PAT switched on entry
// and exit, NMI exiting for the shootdown kick, nothing else intercepted.
struct VmcsControls {
    uint32_t pin = 0;
    uint32_t proc = 0;
    uint32_t proc2 = 0;
    uint32_t exit = 0;
    uint32_t entry = 0; // without "IA32e mode guest": set per entry from the guest's EFER.LMA
};
[[nodiscard]] Result<VmcsControls> compute_controls(const VmxCapabilities& c);

// What the EPT/VPID capability must offer: 4-level walks, write-back EPT
// structures, INVEPT (single or all context) and INVVPID.
[[nodiscard]] Result<void> check_ept_vpid(const VmxCapabilities& c);

// CR0/CR4 in VMX operation (§A.7, §A.8): a bit set in FIXED0 must be 1, a
// bit clear in FIXED1 must be 0. With unrestricted guest, the guest's CR0.PE
// and CR0.PG may be 0 (SDM vol. 3C "Checks on Guest Control Registers").
namespace cr0_bit {
constexpr uint64_t pe = 1ull << 0;
constexpr uint64_t ne = 1ull << 5;
constexpr uint64_t nw = 1ull << 29;
constexpr uint64_t cd = 1ull << 30;
constexpr uint64_t pg = 1ull << 31;
} // namespace cr0_bit
namespace cr4_bit {
constexpr uint64_t vmxe = 1ull << 13;
} // namespace cr4_bit

struct FixedBits {
    uint64_t must_be_one = 0;
    uint64_t must_be_zero = 0;
    uint64_t apply(uint64_t value) const { return (value | must_be_one) & ~must_be_zero; }
    bool satisfied_by(uint64_t value) const {
        return (value & must_be_one) == must_be_one && (value & must_be_zero) == 0;
    }
};
FixedBits host_cr0_fixed(const VmxCapabilities& c);
FixedBits host_cr4_fixed(const VmxCapabilities& c);
FixedBits guest_cr0_fixed(const VmxCapabilities& c, bool unrestricted_guest);
FixedBits guest_cr4_fixed(const VmxCapabilities& c);

} // namespace sv::vmx
