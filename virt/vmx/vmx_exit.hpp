// Decodes VMX exit information (exit reason, exit qualification, VM-exit
// instruction length and information fields) into the vendor-neutral
// VmExit (core/vm_exit.hpp): the only place that knows their bit layouts
// (Intel SDM vol. 3C "VM Exits", "Exit Qualification for VM Exits";
// Appendix C "VMX Basic Exit Reasons"). Portable: the _hw glue VMREADs the
// fields into VmxExitFields.
#pragma once

#include <cstdint>

#include "core/vm_exit.hpp"

namespace sv::vmx {

// Basic exit reasons, SDM vol. 3D Appendix C (Table C-1).
namespace exit_reason {
constexpr uint16_t exception_or_nmi = 0;
constexpr uint16_t external_interrupt = 1;
constexpr uint16_t triple_fault = 2;
constexpr uint16_t init_signal = 3;
constexpr uint16_t sipi = 4;
constexpr uint16_t interrupt_window = 7;
constexpr uint16_t nmi_window = 8;
constexpr uint16_t task_switch = 9;
constexpr uint16_t cpuid = 10;
constexpr uint16_t getsec = 11;
constexpr uint16_t hlt = 12;
constexpr uint16_t invd = 13;
constexpr uint16_t vmcall = 18;
constexpr uint16_t vmclear = 19;
constexpr uint16_t vmlaunch = 20;
constexpr uint16_t vmptrld = 21;
constexpr uint16_t vmptrst = 22;
constexpr uint16_t vmread = 23;
constexpr uint16_t vmresume = 24;
constexpr uint16_t vmwrite = 25;
constexpr uint16_t vmxoff = 26;
constexpr uint16_t vmxon = 27;
constexpr uint16_t cr_access = 28;
constexpr uint16_t mov_dr = 29;
constexpr uint16_t io_instruction = 30;
constexpr uint16_t rdmsr = 31;
constexpr uint16_t wrmsr = 32;
constexpr uint16_t entry_failure_guest_state = 33;
constexpr uint16_t entry_failure_msr_loading = 34;
constexpr uint16_t mwait = 36;
constexpr uint16_t monitor_trap_flag = 37;
constexpr uint16_t monitor = 39;
constexpr uint16_t pause = 40;
constexpr uint16_t entry_failure_machine_check = 41;
constexpr uint16_t ept_violation = 48;
constexpr uint16_t ept_misconfiguration = 49;
constexpr uint16_t invept = 50;
constexpr uint16_t preemption_timer = 52;
constexpr uint16_t invvpid = 53;
constexpr uint16_t wbinvd = 54;
constexpr uint16_t xsetbv = 55;
constexpr uint16_t vmfunc = 59;
} // namespace exit_reason

// The exit-reason field (SDM vol. 3C "Basic VM-Exit Information"): basic
// reason in bits 15:0, bit 31 set when VM entry failed.
constexpr uint32_t exit_reason_basic_mask = 0xffff;
constexpr uint32_t exit_reason_entry_failure = 1u << 31;

// What the _hw glue reads from the VMCS after every exit.
struct VmxExitFields {
    uint32_t reason = 0;             // exit-reason field, whole
    uint64_t qualification = 0;      // exit qualification
    uint32_t instruction_length = 0; // VM-exit instruction length
    uint32_t instruction_info = 0;   // VM-exit instruction information
    uint64_t guest_rip = 0;
    uint64_t guest_physical = 0;     // guest-physical address (EPT exits)
};

// `ins_outs_info`: IA32_VMX_BASIC bit 54, the instruction-information field
// reports INS/OUTS address sizes. Instruction-caused exits get next_rip =
// RIP + instruction length; EPT violations (whose length field is undefined)
// get 0 and the core decodes the instruction.
VmExit decode_exit(const VmxExitFields& f, bool ins_outs_info);

// Basic exit reasons the backend handles itself, below the vendor-neutral
// VmExit (NMI kicks and re-injection, CR0/CR4 masked writes, SIPI in
// wait-for-SIPI, entry failures).
constexpr uint16_t basic_reason(uint32_t reason_field) {
    return static_cast<uint16_t>(reason_field & exit_reason_basic_mask);
}
constexpr bool is_entry_failure(uint32_t reason_field) { return reason_field & exit_reason_entry_failure; }

// Control-register access qualification (SDM vol. 3C Table 28-3).
enum class CrAccessType : uint8_t { MovToCr = 0, MovFromCr = 1, Clts = 2, Lmsw = 3 };
struct CrAccess {
    uint8_t cr = 0;
    CrAccessType type = CrAccessType::MovToCr;
    uint8_t gpr = 0;          // Gpr index (RAX=0 ... R15=15) for MOV
    bool lmsw_memory = false; // LMSW operand was memory
    uint16_t lmsw_source = 0;
};
CrAccess decode_cr_access(uint64_t qualification);

// VM-exit interruption information and IDT-vectoring information (SDM vol.
// 3C "Information for VM Exits Due to Vectored Events"); the same layout
// serves VM-entry event injection ("VM-Entry Controls for Event Injection"):
// vector 7:0, type 10:8, error code valid 11, valid 31.
namespace event_type {
constexpr uint8_t external_interrupt = 0;
constexpr uint8_t nmi = 2;
constexpr uint8_t hardware_exception = 3;
constexpr uint8_t software_interrupt = 4;
constexpr uint8_t privileged_software_exception = 5;
constexpr uint8_t software_exception = 6;
} // namespace event_type

// An event whose delivery a VM exit interrupted (the IDT-vectoring
// information field, SDM vol. 3C "Information for VM Exits That Occur
// During Event Delivery") is lost unless the hypervisor delivers it again
// at the next entry (SDM vol. 3C "Reflecting Exceptions to Guest Software",
// event re-injection): the VM-entry interruption information to write (0:
// nothing), whether the IDT-vectoring error code goes with it, and whether
// the VM-entry instruction length must be set (software interrupts and
// software exceptions: "VM-Entry Controls for Event Injection").
struct Reinjection {
    uint32_t info = 0;
    bool has_error_code = false;
    bool needs_instruction_length = false;
};
Reinjection reinjection_for(uint32_t idt_vectoring_info);

// Guest interruptibility state (SDM vol. 3C Table 25-3): blocking by STI
// (bit 0), by MOV SS (bit 1), by NMI (bit 3). VM entry refuses to inject an
// NMI while any of them is set ("Checks on Guest Non-Register State"; with
// virtual NMIs, bit 3 is the guest's virtual-NMI blocking): the backend then
// keeps the NMI pending for a later entry.
namespace interruptibility {
constexpr uint32_t blocking_sti = 1u << 0;
constexpr uint32_t blocking_mov_ss = 1u << 1;
constexpr uint32_t blocking_nmi = 1u << 3;
} // namespace interruptibility
constexpr bool may_inject_nmi(uint32_t state) {
    return !(state & (interruptibility::blocking_sti | interruptibility::blocking_mov_ss |
                      interruptibility::blocking_nmi));
}
// "NMI unblocking due to IRET" (bit 12 of an EPT violation's qualification,
// SDM vol. 3C Table 28-7): the exit came from an IRET that ended the guest's
// NMI handler; with virtual NMIs the blocking must be set again before the
// IRET re-executes (SDM vol. 3C "Information for VM Exits Due to Vectored
// Events"), unless an event was being delivered (then the bit is undefined).
constexpr uint64_t ept_nmi_unblocking_due_to_iret = 1ull << 12;
constexpr bool must_reblock_nmi(uint16_t basic, uint64_t qualification, uint32_t idt_vectoring_info) {
    return basic == exit_reason::ept_violation && (qualification & ept_nmi_unblocking_due_to_iret) &&
           !(idt_vectoring_info & (1u << 31));
}
struct EventInfo {
    bool valid = false;
    uint8_t vector = 0;
    uint8_t type = 0;
    bool has_error_code = false;
};
EventInfo decode_event_info(uint32_t info);
// The VM-entry interruption-information value that delivers `e`.
uint32_t encode_event_info(const EventInfo& e);

} // namespace sv::vmx
