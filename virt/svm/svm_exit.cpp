#include "virt/svm/svm_exit.hpp"

namespace sv::svm {
namespace {
// IOIO EXITINFO1, APM vol. 2 §15.10.2 (Figure 15-2).
constexpr uint64_t ioio_in = 1u << 0;
constexpr uint64_t ioio_string = 1u << 2;
constexpr uint64_t ioio_rep = 1u << 3;

IoAccess decode_io(uint64_t info1) {
    IoAccess io;
    io.port = static_cast<uint16_t>(info1 >> 16);
    io.is_write = !(info1 & ioio_in);
    io.is_string = info1 & ioio_string;
    io.is_rep = info1 & ioio_rep;
    io.size = (info1 & (1u << 6)) ? 4 : (info1 & (1u << 5)) ? 2 : 1;
    // Address size bits 7..9; QEMU TCG leaves them 0: the core decodes
    // prefixes itself when it needs the address size (docs/design.md §5 Platform facts).
    io.address_size = (info1 & (1u << 9)) ? 8 : (info1 & (1u << 8)) ? 4 : (info1 & (1u << 7)) ? 2 : 0;
    return io;
}

SegmentState from_vmcb(const VmcbSegment& s) { return SegmentState{s.selector, s.attrib, s.limit, s.base}; }
} // namespace

VmExit decode_exit(const VmcbControl& c, bool has_nrip) {
    VmExit e;
    e.raw_code = c.exit_code;
    e.next_rip = has_nrip ? c.next_rip : 0;
    switch (c.exit_code) {
    case exit_code::ioio:
        e.reason = ExitReason::Io;
        e.io = decode_io(c.exit_info1);
        e.next_rip = c.exit_info2; // APM §15.10.2: EXITINFO2 = rIP of the next instruction
        break;
    case exit_code::cpuid: e.reason = ExitReason::Cpuid; break;
    case exit_code::msr:
        e.reason = (c.exit_info1 & 1) ? ExitReason::MsrWrite : ExitReason::MsrRead;
        break;
    case exit_code::vmmcall: e.reason = ExitReason::Hypercall; break;
    case exit_code::npf:
        e.reason = ExitReason::NestedPageFault;
        e.fault.gpa = c.exit_info2;
        e.fault.present = c.exit_info1 & (1u << 0);
        e.fault.write = c.exit_info1 & (1u << 1);
        e.fault.fetch = c.exit_info1 & (1u << 4);
        break;
    case exit_code::vmrun:
    case exit_code::vmload:
    case exit_code::vmsave:
    case exit_code::stgi:
    case exit_code::clgi:
    case exit_code::skinit:
    case exit_code::invlpga: e.reason = ExitReason::VirtInstruction; break;
    case exit_code::xsetbv: e.reason = ExitReason::Xsetbv; break;
    case exit_code::shutdown: e.reason = ExitReason::Shutdown; break;
    case exit_code::init: e.reason = ExitReason::Init; break;
    default: e.reason = ExitReason::Other; break;
    }
    return e;
}

void load_state(const Vmcb& vmcb, VcpuState& s) {
    const VmcbStateSave& v = vmcb.save;
    s.reg(Gpr::Rax) = v.rax;
    s.reg(Gpr::Rsp) = v.rsp;
    s.rip = v.rip;
    s.rflags = v.rflags;
    s.cr0 = v.cr0;
    s.cr2 = v.cr2;
    s.cr3 = v.cr3;
    s.cr4 = v.cr4;
    s.efer = v.efer;
    s.cs = from_vmcb(v.cs);
    s.ss = from_vmcb(v.ss);
    s.ds = from_vmcb(v.ds);
    s.es = from_vmcb(v.es);
    s.fs = from_vmcb(v.fs);
    s.gs = from_vmcb(v.gs);
    s.inject = PendingEvent{};
}

void store_state(const VcpuState& s, Vmcb& vmcb) {
    VmcbStateSave& v = vmcb.save;
    v.rax = s.gpr[static_cast<unsigned>(Gpr::Rax)];
    v.rsp = s.gpr[static_cast<unsigned>(Gpr::Rsp)];
    v.rip = s.rip;
    v.rflags = s.rflags;
    v.efer = s.efer;
    v.cr2 = s.cr2;
    if (s.inject.valid) {
        vmcb.control.event_inject = s.inject.vector | event_inject::type_exception | event_inject::valid |
                                    (s.inject.has_error_code ? event_inject::error_valid : 0) |
                                    (static_cast<uint64_t>(s.inject.error_code) << 32);
    }
}

} // namespace sv::svm
