// Capability MSR values for the VMX unit tests: the layout of a Skylake-class
// CPU's IA32_VMX_* MSRs (Intel SDM vol. 3D Appendix A), legacy and TRUE.
#pragma once

#include "virt/vmx/vmx_controls.hpp"

namespace sv::vmx::test {

inline VmxCapabilities skylake_like() {
    VmxCapabilities c;
    // Revision 4, 4 KiB regions (0x400 bytes here), write-back, INS/OUTS
    // information (bit 54), TRUE controls (bit 55).
    c.basic = (1ull << 55) | (1ull << 54) | (6ull << 50) | (0x400ull << 32) | 4;
    c.pinbased = 0x0000007f00000016ull;
    c.true_pinbased = 0x0000007f00000016ull;
    // Legacy primary controls force CR3-load/store exiting (bits 15, 16,
    // "default1"); the TRUE MSR lets them be 0.
    c.procbased = 0xfff9fffe0401e172ull;
    c.true_procbased = 0xfff9fffe04006172ull;
    c.exit = 0x01ffffff00036dffull;
    c.true_exit = 0x01ffffff00036dfbull;
    c.entry = 0x0003ffff000011ffull;
    c.true_entry = 0x0003ffff000011fbull;
    c.procbased2 = 0x0057dfff00000000ull; // EPT, VPID, UG, RDTSCP, INVPCID, XSAVES, ...
    c.misc = 0x00000000000401e7ull;
    c.cr0_fixed0 = 0x80000021ull; // PE, NE, PG
    c.cr0_fixed1 = 0xffffffffull;
    c.cr4_fixed0 = 0x00002000ull; // VMXE
    c.cr4_fixed1 = 0x003767ffull;
    c.ept_vpid_cap = 0x00000f0106734141ull;
    return c;
}

} // namespace sv::vmx::test
