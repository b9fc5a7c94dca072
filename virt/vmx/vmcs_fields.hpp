// VMCS field encodings (Intel SDM vol. 3D, Appendix B "Field Encoding in
// VMCS"), the VMX capability MSRs (Appendix A) and the control bits the
// backend uses (vol. 3C, "VM-Execution Control Fields", "VM-Exit Control
// Fields", "VM-Entry Control Fields"). An encoding's bits 14:13 give the
// width (0 16-bit, 1 64-bit, 2 32-bit, 3 natural), 11:10 the type (0
// control, 1 read-only data, 2 guest state, 3 host state), bit 0 the high
// half of a 64-bit field.
#pragma once

#include <cstdint>

namespace sv::vmx {

namespace msr {
constexpr uint32_t feature_control = 0x3A;
constexpr uint32_t vmx_basic = 0x480;
constexpr uint32_t vmx_pinbased_ctls = 0x481;
constexpr uint32_t vmx_procbased_ctls = 0x482;
constexpr uint32_t vmx_exit_ctls = 0x483;
constexpr uint32_t vmx_entry_ctls = 0x484;
constexpr uint32_t vmx_misc = 0x485;
constexpr uint32_t vmx_cr0_fixed0 = 0x486;
constexpr uint32_t vmx_cr0_fixed1 = 0x487;
constexpr uint32_t vmx_cr4_fixed0 = 0x488;
constexpr uint32_t vmx_cr4_fixed1 = 0x489;
constexpr uint32_t vmx_vmcs_enum = 0x48A;
constexpr uint32_t vmx_procbased_ctls2 = 0x48B;
constexpr uint32_t vmx_ept_vpid_cap = 0x48C;
constexpr uint32_t vmx_true_pinbased_ctls = 0x48D;
constexpr uint32_t vmx_true_procbased_ctls = 0x48E;
constexpr uint32_t vmx_true_exit_ctls = 0x48F;
constexpr uint32_t vmx_true_entry_ctls = 0x490;
constexpr uint32_t vmx_vmfunc = 0x491;
constexpr uint32_t first_vmx_capability = vmx_basic;
constexpr uint32_t last_vmx_capability = vmx_vmfunc;
} // namespace msr

// IA32_FEATURE_CONTROL (SDM vol. 3C "Enabling and Entering VMX Operation").
namespace feature_control {
constexpr uint64_t lock = 1u << 0;
constexpr uint64_t vmx_inside_smx = 1u << 1;
constexpr uint64_t vmx_outside_smx = 1u << 2;
} // namespace feature_control

// IA32_VMX_BASIC (SDM vol. 3D §A.1).
namespace basic {
constexpr uint64_t revision_mask = 0x7fffffffu;          // bits 30:0
constexpr unsigned region_size_shift = 32;               // bits 44:32: VMXON/VMCS region bytes
constexpr uint64_t region_size_mask = 0x1fffu;
constexpr unsigned memory_type_shift = 50;               // bits 53:50 (6 = write-back)
constexpr uint64_t ins_outs_info = 1ull << 54;           // instruction-information field for INS/OUTS
constexpr uint64_t true_controls = 1ull << 55;           // IA32_VMX_TRUE_*_CTLS exist
} // namespace basic

// IA32_VMX_EPT_VPID_CAP (SDM vol. 3D §A.10).
namespace ept_cap {
constexpr uint64_t execute_only = 1ull << 0;
constexpr uint64_t walk_length_4 = 1ull << 6;
constexpr uint64_t memtype_wb = 1ull << 14;
constexpr uint64_t pde_2mb = 1ull << 16;
constexpr uint64_t pdpte_1gb = 1ull << 17;
constexpr uint64_t invept = 1ull << 20;
constexpr uint64_t invept_single = 1ull << 25;
constexpr uint64_t invept_all = 1ull << 26;
constexpr uint64_t invvpid = 1ull << 32;
constexpr uint64_t invvpid_single = 1ull << 41;
constexpr uint64_t invvpid_all = 1ull << 42;
} // namespace ept_cap

// Pin-based VM-execution controls (SDM vol. 3C Table 25-5).
namespace pin {
constexpr uint32_t external_interrupt_exiting = 1u << 0;
constexpr uint32_t nmi_exiting = 1u << 3;
constexpr uint32_t virtual_nmis = 1u << 5;
constexpr uint32_t preemption_timer = 1u << 6;
} // namespace pin

// Primary processor-based VM-execution controls (Table 25-6).
namespace proc {
constexpr uint32_t interrupt_window_exiting = 1u << 2;
constexpr uint32_t use_tsc_offsetting = 1u << 3;
constexpr uint32_t hlt_exiting = 1u << 7;
constexpr uint32_t invlpg_exiting = 1u << 9;
constexpr uint32_t mwait_exiting = 1u << 10;
constexpr uint32_t rdpmc_exiting = 1u << 11;
constexpr uint32_t rdtsc_exiting = 1u << 12;
constexpr uint32_t cr3_load_exiting = 1u << 15;
constexpr uint32_t cr3_store_exiting = 1u << 16;
constexpr uint32_t cr8_load_exiting = 1u << 19;
constexpr uint32_t cr8_store_exiting = 1u << 20;
constexpr uint32_t use_tpr_shadow = 1u << 21;
constexpr uint32_t nmi_window_exiting = 1u << 22;
constexpr uint32_t mov_dr_exiting = 1u << 23;
constexpr uint32_t unconditional_io_exiting = 1u << 24;
constexpr uint32_t use_io_bitmaps = 1u << 25;
constexpr uint32_t monitor_trap_flag = 1u << 27;
constexpr uint32_t use_msr_bitmaps = 1u << 28;
constexpr uint32_t monitor_exiting = 1u << 29;
constexpr uint32_t pause_exiting = 1u << 30;
constexpr uint32_t activate_secondary = 1u << 31;
} // namespace proc

// Secondary processor-based VM-execution controls (Table 25-7).
namespace proc2 {
constexpr uint32_t virtualize_apic_accesses = 1u << 0;
constexpr uint32_t enable_ept = 1u << 1;
constexpr uint32_t descriptor_table_exiting = 1u << 2;
constexpr uint32_t enable_rdtscp = 1u << 3;
constexpr uint32_t virtualize_x2apic = 1u << 4;
constexpr uint32_t enable_vpid = 1u << 5;
constexpr uint32_t wbinvd_exiting = 1u << 6;
constexpr uint32_t unrestricted_guest = 1u << 7;
constexpr uint32_t enable_invpcid = 1u << 12;
constexpr uint32_t enable_vmfunc = 1u << 13;
constexpr uint32_t enable_xsaves = 1u << 20;
} // namespace proc2

// VM-exit controls (SDM vol. 3C "VM-Exit Controls").
namespace exit_ctl {
constexpr uint32_t save_debug_controls = 1u << 2;
constexpr uint32_t host_address_space_size = 1u << 9; // host runs in 64-bit mode
constexpr uint32_t ack_interrupt_on_exit = 1u << 15;
constexpr uint32_t save_pat = 1u << 18;
constexpr uint32_t load_pat = 1u << 19;
constexpr uint32_t save_efer = 1u << 20;
constexpr uint32_t load_efer = 1u << 21;
constexpr uint32_t save_preemption_timer = 1u << 22;
} // namespace exit_ctl

// VM-entry controls (SDM vol. 3C "VM-Entry Controls").
namespace entry_ctl {
constexpr uint32_t load_debug_controls = 1u << 2;
constexpr uint32_t ia32e_mode_guest = 1u << 9;
constexpr uint32_t entry_to_smm = 1u << 10;
constexpr uint32_t load_pat = 1u << 14;
constexpr uint32_t load_efer = 1u << 15;
} // namespace entry_ctl

// Guest activity states (SDM vol. 3C "Guest Non-Register State").
namespace activity {
constexpr uint32_t active = 0;
constexpr uint32_t hlt = 1;
constexpr uint32_t shutdown = 2;
constexpr uint32_t wait_for_sipi = 3;
} // namespace activity

namespace field {
// 16-bit control.
constexpr uint32_t vpid = 0x0000;
// 16-bit guest state.
constexpr uint32_t guest_es_selector = 0x0800;
constexpr uint32_t guest_cs_selector = 0x0802;
constexpr uint32_t guest_ss_selector = 0x0804;
constexpr uint32_t guest_ds_selector = 0x0806;
constexpr uint32_t guest_fs_selector = 0x0808;
constexpr uint32_t guest_gs_selector = 0x080A;
constexpr uint32_t guest_ldtr_selector = 0x080C;
constexpr uint32_t guest_tr_selector = 0x080E;
// 16-bit host state.
constexpr uint32_t host_es_selector = 0x0C00;
constexpr uint32_t host_cs_selector = 0x0C02;
constexpr uint32_t host_ss_selector = 0x0C04;
constexpr uint32_t host_ds_selector = 0x0C06;
constexpr uint32_t host_fs_selector = 0x0C08;
constexpr uint32_t host_gs_selector = 0x0C0A;
constexpr uint32_t host_tr_selector = 0x0C0C;
// 64-bit control.
constexpr uint32_t io_bitmap_a = 0x2000;
constexpr uint32_t io_bitmap_b = 0x2002;
constexpr uint32_t msr_bitmap = 0x2004;
constexpr uint32_t exit_msr_store_address = 0x2006;
constexpr uint32_t exit_msr_load_address = 0x2008;
constexpr uint32_t entry_msr_load_address = 0x200A;
constexpr uint32_t tsc_offset = 0x2010;
constexpr uint32_t ept_pointer = 0x201A;
constexpr uint32_t xss_exiting_bitmap = 0x202C;
// 64-bit read-only data.
constexpr uint32_t guest_physical_address = 0x2400;
// 64-bit guest state.
constexpr uint32_t vmcs_link_pointer = 0x2800;
constexpr uint32_t guest_debugctl = 0x2802;
constexpr uint32_t guest_pat = 0x2804;
constexpr uint32_t guest_efer = 0x2806;
constexpr uint32_t guest_pdpte0 = 0x280A;
constexpr uint32_t guest_pdpte1 = 0x280C;
constexpr uint32_t guest_pdpte2 = 0x280E;
constexpr uint32_t guest_pdpte3 = 0x2810;
// 64-bit host state.
constexpr uint32_t host_pat = 0x2C00;
constexpr uint32_t host_efer = 0x2C02;
// 32-bit control.
constexpr uint32_t pin_based_controls = 0x4000;
constexpr uint32_t primary_proc_controls = 0x4002;
constexpr uint32_t exception_bitmap = 0x4004;
constexpr uint32_t page_fault_error_mask = 0x4006;
constexpr uint32_t page_fault_error_match = 0x4008;
constexpr uint32_t cr3_target_count = 0x400A;
constexpr uint32_t exit_controls = 0x400C;
constexpr uint32_t exit_msr_store_count = 0x400E;
constexpr uint32_t exit_msr_load_count = 0x4010;
constexpr uint32_t entry_controls = 0x4012;
constexpr uint32_t entry_msr_load_count = 0x4014;
constexpr uint32_t entry_interruption_info = 0x4016;
constexpr uint32_t entry_exception_error_code = 0x4018;
constexpr uint32_t entry_instruction_length = 0x401A;
constexpr uint32_t tpr_threshold = 0x401C;
constexpr uint32_t secondary_proc_controls = 0x401E;
// 32-bit read-only data.
constexpr uint32_t vm_instruction_error = 0x4400;
constexpr uint32_t exit_reason = 0x4402;
constexpr uint32_t exit_interruption_info = 0x4404;
constexpr uint32_t exit_interruption_error_code = 0x4406;
constexpr uint32_t idt_vectoring_info = 0x4408;
constexpr uint32_t idt_vectoring_error_code = 0x440A;
constexpr uint32_t exit_instruction_length = 0x440C;
constexpr uint32_t exit_instruction_info = 0x440E;
// 32-bit guest state.
constexpr uint32_t guest_es_limit = 0x4800;
constexpr uint32_t guest_cs_limit = 0x4802;
constexpr uint32_t guest_ss_limit = 0x4804;
constexpr uint32_t guest_ds_limit = 0x4806;
constexpr uint32_t guest_fs_limit = 0x4808;
constexpr uint32_t guest_gs_limit = 0x480A;
constexpr uint32_t guest_ldtr_limit = 0x480C;
constexpr uint32_t guest_tr_limit = 0x480E;
constexpr uint32_t guest_gdtr_limit = 0x4810;
constexpr uint32_t guest_idtr_limit = 0x4812;
constexpr uint32_t guest_es_access_rights = 0x4814;
constexpr uint32_t guest_cs_access_rights = 0x4816;
constexpr uint32_t guest_ss_access_rights = 0x4818;
constexpr uint32_t guest_ds_access_rights = 0x481A;
constexpr uint32_t guest_fs_access_rights = 0x481C;
constexpr uint32_t guest_gs_access_rights = 0x481E;
constexpr uint32_t guest_ldtr_access_rights = 0x4820;
constexpr uint32_t guest_tr_access_rights = 0x4822;
constexpr uint32_t guest_interruptibility = 0x4824;
constexpr uint32_t guest_activity_state = 0x4826;
constexpr uint32_t guest_sysenter_cs = 0x482A;
constexpr uint32_t preemption_timer_value = 0x482E;
// 32-bit host state.
constexpr uint32_t host_sysenter_cs = 0x4C00;
// Natural-width control.
constexpr uint32_t cr0_guest_host_mask = 0x6000;
constexpr uint32_t cr4_guest_host_mask = 0x6002;
constexpr uint32_t cr0_read_shadow = 0x6004;
constexpr uint32_t cr4_read_shadow = 0x6006;
// Natural-width read-only data.
constexpr uint32_t exit_qualification = 0x6400;
constexpr uint32_t guest_linear_address = 0x640A;
// Natural-width guest state.
constexpr uint32_t guest_cr0 = 0x6800;
constexpr uint32_t guest_cr3 = 0x6802;
constexpr uint32_t guest_cr4 = 0x6804;
constexpr uint32_t guest_es_base = 0x6806;
constexpr uint32_t guest_cs_base = 0x6808;
constexpr uint32_t guest_ss_base = 0x680A;
constexpr uint32_t guest_ds_base = 0x680C;
constexpr uint32_t guest_fs_base = 0x680E;
constexpr uint32_t guest_gs_base = 0x6810;
constexpr uint32_t guest_ldtr_base = 0x6812;
constexpr uint32_t guest_tr_base = 0x6814;
constexpr uint32_t guest_gdtr_base = 0x6816;
constexpr uint32_t guest_idtr_base = 0x6818;
constexpr uint32_t guest_dr7 = 0x681A;
constexpr uint32_t guest_rsp = 0x681C;
constexpr uint32_t guest_rip = 0x681E;
constexpr uint32_t guest_rflags = 0x6820;
constexpr uint32_t guest_pending_debug = 0x6822;
constexpr uint32_t guest_sysenter_esp = 0x6824;
constexpr uint32_t guest_sysenter_eip = 0x6826;
// Natural-width host state.
constexpr uint32_t host_cr0 = 0x6C00;
constexpr uint32_t host_cr3 = 0x6C02;
constexpr uint32_t host_cr4 = 0x6C04;
constexpr uint32_t host_fs_base = 0x6C06;
constexpr uint32_t host_gs_base = 0x6C08;
constexpr uint32_t host_tr_base = 0x6C0A;
constexpr uint32_t host_gdtr_base = 0x6C0C;
constexpr uint32_t host_idtr_base = 0x6C0E;
constexpr uint32_t host_sysenter_esp = 0x6C10;
constexpr uint32_t host_sysenter_eip = 0x6C12;
constexpr uint32_t host_rsp = 0x6C14;
constexpr uint32_t host_rip = 0x6C16;
} // namespace field

// Width of a field from its encoding (bits 14:13), in bytes; natural = 8.
enum class FieldWidth : uint8_t { Bits16, Bits64, Bits32, Natural };
constexpr FieldWidth field_width(uint32_t encoding) { return static_cast<FieldWidth>((encoding >> 13) & 3); }
constexpr bool field_is_read_only(uint32_t encoding) { return ((encoding >> 10) & 3) == 1; }

} // namespace sv::vmx
