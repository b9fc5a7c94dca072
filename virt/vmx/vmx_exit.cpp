#include "virt/vmx/vmx_exit.hpp"

namespace sv::vmx {
namespace {
// I/O instruction exit qualification (SDM vol. 3C Table 28-5).
constexpr uint64_t io_size_mask = 0x7;    // bits 2:0: size - 1 (0, 1 or 3)
constexpr uint64_t io_in = 1u << 3;       // direction: 1 = IN
constexpr uint64_t io_string = 1u << 4;
constexpr uint64_t io_rep = 1u << 5;
constexpr unsigned io_port_shift = 16;    // bits 31:16

// VM-exit instruction information for INS/OUTS (SDM vol. 3C "Information
// for VM Exits Due to Instruction Execution"): address size in bits 9:7,
// 0 = 16-bit, 1 = 32-bit, 2 = 64-bit.
constexpr unsigned insn_info_address_size_shift = 7;
constexpr uint32_t insn_info_address_size_mask = 0x7;

// EPT violation exit qualification (SDM vol. 3C Table 28-7); bit 0 (read)
// is implied when neither write nor fetch is set.
constexpr uint64_t ept_write = 1u << 1;
constexpr uint64_t ept_fetch = 1u << 2;
constexpr uint64_t ept_entry_permissions = 0x7u << 3; // readable/writable/executable of the entry

IoAccess decode_io(const VmxExitFields& f, bool ins_outs_info) {
    const uint64_t q = f.qualification;
    IoAccess io;
    io.port = static_cast<uint16_t>(q >> io_port_shift);
    const uint64_t size_code = q & io_size_mask;
    io.size = size_code == 3 ? 4 : size_code == 1 ? 2 : 1;
    io.is_write = !(q & io_in);
    io.is_string = q & io_string;
    io.is_rep = q & io_rep;
    io.address_size = 0; // unknown: the core decodes the prefixes itself
    if (io.is_string && ins_outs_info) {
        const uint32_t a = (f.instruction_info >> insn_info_address_size_shift) & insn_info_address_size_mask;
        io.address_size = a == 0 ? 2 : a == 1 ? 4 : a == 2 ? 8 : 0;
    }
    return io;
}

bool is_vmx_instruction(uint16_t basic) {
    switch (basic) {
    case exit_reason::vmclear:
    case exit_reason::vmlaunch:
    case exit_reason::vmptrld:
    case exit_reason::vmptrst:
    case exit_reason::vmread:
    case exit_reason::vmresume:
    case exit_reason::vmwrite:
    case exit_reason::vmxoff:
    case exit_reason::vmxon:
    case exit_reason::invept:
    case exit_reason::invvpid:
    case exit_reason::vmfunc:
    case exit_reason::getsec: return true;
    default: return false;
    }
}
} // namespace

VmExit decode_exit(const VmxExitFields& f, bool ins_outs_info) {
    VmExit e;
    e.raw_code = f.reason;
    e.next_rip = 0;
    if (is_entry_failure(f.reason)) return e; // Other: the backend reports it
    const uint16_t basic = basic_reason(f.reason);
    // Instruction-caused exits report the instruction's length (SDM vol. 3C
    // "VM-Exit Instruction Length"); 1..15 bytes, anything else is ignored.
    const bool length_ok = f.instruction_length >= 1 && f.instruction_length <= 15;
    const uint64_t after = length_ok ? f.guest_rip + f.instruction_length : 0;
    switch (basic) {
    case exit_reason::io_instruction:
        e.reason = ExitReason::Io;
        e.io = decode_io(f, ins_outs_info);
        e.next_rip = after;
        break;
    case exit_reason::cpuid:
        e.reason = ExitReason::Cpuid;
        e.next_rip = after;
        break;
    case exit_reason::rdmsr:
        e.reason = ExitReason::MsrRead;
        e.next_rip = after;
        break;
    case exit_reason::wrmsr:
        e.reason = ExitReason::MsrWrite;
        e.next_rip = after;
        break;
    case exit_reason::vmcall:
        e.reason = ExitReason::Hypercall;
        e.next_rip = after;
        break;
    case exit_reason::xsetbv:
        e.reason = ExitReason::Xsetbv;
        e.next_rip = after;
        break;
    case exit_reason::ept_violation:
        e.reason = ExitReason::NestedPageFault;
        e.fault.gpa = f.guest_physical;
        e.fault.write = f.qualification & ept_write;
        e.fault.fetch = f.qualification & ept_fetch;
        // "Present" in the NPT sense: the entry allowed some access, so this
        // is a permission fault (e.g. a write to the read-only zero page).
        e.fault.present = f.qualification & ept_entry_permissions;
        break;
    case exit_reason::triple_fault: e.reason = ExitReason::Shutdown; break;
    case exit_reason::init_signal: e.reason = ExitReason::Init; break;
    default:
        if (is_vmx_instruction(basic)) {
            e.reason = ExitReason::VirtInstruction;
            e.next_rip = after;
        }
        break;
    }
    return e;
}

CrAccess decode_cr_access(uint64_t q) {
    CrAccess a;
    a.cr = static_cast<uint8_t>(q & 0xf);
    a.type = static_cast<CrAccessType>((q >> 4) & 3);
    a.lmsw_memory = (q >> 6) & 1;
    a.gpr = static_cast<uint8_t>((q >> 8) & 0xf);
    a.lmsw_source = static_cast<uint16_t>(q >> 16);
    return a;
}

namespace {
constexpr uint32_t event_valid = 1u << 31;
constexpr uint32_t event_error_valid = 1u << 11;
constexpr unsigned event_type_shift = 8;
} // namespace

EventInfo decode_event_info(uint32_t info) {
    EventInfo e;
    e.valid = info & event_valid;
    e.vector = static_cast<uint8_t>(info);
    e.type = static_cast<uint8_t>((info >> event_type_shift) & 7);
    e.has_error_code = info & event_error_valid;
    return e;
}

Reinjection reinjection_for(uint32_t idt_vectoring_info) {
    Reinjection r;
    if (!(idt_vectoring_info & event_valid)) return r;
    // Bits 30:12 of the entry field are reserved (0); bit 12 of the
    // IDT-vectoring field is undefined.
    constexpr uint32_t kept = event_valid | event_error_valid | (7u << event_type_shift) | 0xffu;
    r.info = idt_vectoring_info & kept;
    r.has_error_code = idt_vectoring_info & event_error_valid;
    const uint8_t type = static_cast<uint8_t>((idt_vectoring_info >> event_type_shift) & 7);
    r.needs_instruction_length = type == event_type::software_interrupt ||
                                 type == event_type::privileged_software_exception ||
                                 type == event_type::software_exception;
    return r;
}

uint32_t encode_event_info(const EventInfo& e) {
    if (!e.valid) return 0;
    return event_valid | e.vector | (static_cast<uint32_t>(e.type & 7) << event_type_shift) |
           (e.has_error_code ? event_error_valid : 0);
}

} // namespace sv::vmx
