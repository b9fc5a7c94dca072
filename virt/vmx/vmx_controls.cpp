#include "virt/vmx/vmx_controls.hpp"

#include "virt/vmx/vmcs_fields.hpp"

namespace sv::vmx {

bool VmxCapabilities::has_true_controls() const { return basic & basic::true_controls; }
uint32_t VmxCapabilities::revision_id() const { return static_cast<uint32_t>(basic & basic::revision_mask); }
uint32_t VmxCapabilities::region_size() const {
    return static_cast<uint32_t>((basic >> basic::region_size_shift) & basic::region_size_mask);
}

Result<uint32_t> adjust_controls(ControlCapability cap, uint32_t required, uint32_t wanted, uint32_t forbidden) {
    if (cap.must_be_one & ~cap.may_be_one) return fail(Error::Malformed);
    if (!cap.allows(required)) return fail(Error::Unsupported);
    if (cap.must_be_one & forbidden) return fail(Error::Unsupported);
    const uint32_t value = (cap.must_be_one | required | (wanted & ~forbidden)) & cap.may_be_one;
    return value;
}

namespace {
ControlCapability pick(const VmxCapabilities& c, uint64_t legacy, uint64_t true_msr) {
    return ControlCapability::from_msr(c.has_true_controls() ? true_msr : legacy);
}
} // namespace

ControlCapability pin_capability(const VmxCapabilities& c) { return pick(c, c.pinbased, c.true_pinbased); }
ControlCapability proc_capability(const VmxCapabilities& c) { return pick(c, c.procbased, c.true_procbased); }
ControlCapability exit_capability(const VmxCapabilities& c) { return pick(c, c.exit, c.true_exit); }
ControlCapability entry_capability(const VmxCapabilities& c) { return pick(c, c.entry, c.true_entry); }
ControlCapability proc2_capability(const VmxCapabilities& c) {
    // IA32_VMX_PROCBASED_CTLS2 exists only if the primary controls' allowed-1
    // setting of bit 31 is 1 (§A.3.3); it has no TRUE variant.
    if (!proc_capability(c).allows(proc::activate_secondary)) return ControlCapability{};
    return ControlCapability::from_msr(c.procbased2);
}

namespace {
// Intercepts the backend has no handler for: a CPU that forces one on is
// refused (para-passthrough: HLT, CR3, DR, interrupts stay with the guest).
constexpr uint32_t pin_forbidden = pin::external_interrupt_exiting | pin::preemption_timer;
constexpr uint32_t proc_forbidden = proc::interrupt_window_exiting | proc::hlt_exiting | proc::invlpg_exiting |
                                    proc::mwait_exiting | proc::rdpmc_exiting | proc::rdtsc_exiting |
                                    proc::cr3_load_exiting | proc::cr3_store_exiting | proc::cr8_load_exiting |
                                    proc::cr8_store_exiting | proc::nmi_window_exiting | proc::mov_dr_exiting |
                                    proc::monitor_trap_flag | proc::monitor_exiting | proc::pause_exiting;
constexpr uint32_t proc2_forbidden =
    proc2::virtualize_apic_accesses | proc2::descriptor_table_exiting | proc2::wbinvd_exiting;
constexpr uint32_t exit_forbidden = exit_ctl::ack_interrupt_on_exit | exit_ctl::save_preemption_timer;
constexpr uint32_t entry_forbidden = entry_ctl::entry_to_smm | entry_ctl::ia32e_mode_guest;
} // namespace

Result<VmcsControls> compute_controls(const VmxCapabilities& c) {
    VmcsControls v;
    // NMI exiting is the shootdown kick (as SVM's NMI intercept); virtual
    // NMIs let the backend re-inject the guest's own NMIs with blocking
    // tracked by the CPU.
    v.pin = TRY(adjust_controls(pin_capability(c), pin::nmi_exiting, pin::virtual_nmis, pin_forbidden));
    v.proc = TRY(adjust_controls(proc_capability(c),
                                 proc::use_io_bitmaps | proc::use_msr_bitmaps | proc::activate_secondary, 0,
                                 proc_forbidden));
    // RDTSCP, INVPCID and XSAVES #UD in the guest unless enabled: enable
    // them where the CPU has them (the XSS-exiting bitmap stays 0).
    v.proc2 = TRY(adjust_controls(proc2_capability(c),
                                  proc2::enable_ept | proc2::enable_vpid | proc2::unrestricted_guest,
                                  proc2::enable_rdtscp | proc2::enable_invpcid | proc2::enable_xsaves,
                                  proc2_forbidden));
    v.exit = TRY(adjust_controls(exit_capability(c),
                                 exit_ctl::host_address_space_size | exit_ctl::save_efer | exit_ctl::load_efer,
                                 exit_ctl::save_pat | exit_ctl::load_pat, exit_forbidden));
    v.entry = TRY(adjust_controls(entry_capability(c), entry_ctl::load_efer, entry_ctl::load_pat, entry_forbidden));
    return v;
}

Result<void> check_ept_vpid(const VmxCapabilities& c) {
    const uint64_t cap = c.ept_vpid_cap;
    constexpr uint64_t needed = ept_cap::walk_length_4 | ept_cap::memtype_wb | ept_cap::pde_2mb | ept_cap::invept |
                                ept_cap::invvpid;
    if ((cap & needed) != needed) return fail(Error::Unsupported);
    if (!(cap & (ept_cap::invept_single | ept_cap::invept_all))) return fail(Error::Unsupported);
    if (!(cap & (ept_cap::invvpid_single | ept_cap::invvpid_all))) return fail(Error::Unsupported);
    return {};
}

namespace {
FixedBits fixed(uint64_t fixed0, uint64_t fixed1) { return FixedBits{fixed0, ~fixed1}; }
} // namespace

FixedBits host_cr0_fixed(const VmxCapabilities& c) { return fixed(c.cr0_fixed0, c.cr0_fixed1); }
FixedBits host_cr4_fixed(const VmxCapabilities& c) { return fixed(c.cr4_fixed0, c.cr4_fixed1); }
FixedBits guest_cr0_fixed(const VmxCapabilities& c, bool unrestricted_guest) {
    FixedBits f = fixed(c.cr0_fixed0, c.cr0_fixed1);
    if (unrestricted_guest) f.must_be_one &= ~(cr0_bit::pe | cr0_bit::pg);
    return f;
}
FixedBits guest_cr4_fixed(const VmxCapabilities& c) { return fixed(c.cr4_fixed0, c.cr4_fixed1); }

} // namespace sv::vmx
