#include "arch/x86/cpu.hpp"
#include "lib/log.hpp"
#include "virt/svm/svm_backend.hpp"
#include "virt/svm/svm_exit.hpp"

extern "C" void sv_svm_world_switch(uint64_t vmcb_pa, uint64_t* gprs);

namespace sv::svm {
namespace {
constexpr uint32_t cpuid_ext1_ecx_svm = 1u << 2;
constexpr uint32_t cpuid_svm_edx_np = 1u << 0;
constexpr uint32_t cpuid_svm_edx_nrips = 1u << 3;
constexpr uint64_t vm_cr_svmdis = 1u << 4;
constexpr uint16_t attr_code32 = 0xC9B; // G, D, P, S, type 0xB (exec/read, accessed)
constexpr uint16_t attr_data32 = 0xC93; // G, B, P, S, type 0x3 (read/write, accessed)
constexpr uint16_t attr_tss32 = 0x08B;  // P, type 0xB (busy 32-bit TSS)
constexpr uint16_t attr_ldt = 0x082;    // P, type 0x2 (LDT)

PhysHeap* heap_for_hsave = nullptr;
} // namespace

Result<void> check_support() {
    if (x86::cpuid(0x80000000).eax < 0x8000000A || !(x86::cpuid(0x80000001).ecx & cpuid_ext1_ecx_svm)) {
        log::error("this CPU has no AMD-V (SVM): cannot run the hypervisor");
        return fail(Error::Unsupported);
    }
    if (x86::rdmsr(x86::msr::vm_cr) & vm_cr_svmdis) {
        log::error("SVM is disabled by firmware (VM_CR.SVMDIS): enable it in the BIOS setup");
        return fail(Error::Unsupported);
    }
    if (!(x86::cpuid(0x8000000A).edx & cpuid_svm_edx_np)) {
        log::error("this CPU has SVM but no nested paging (NPT): refusing to start, the "
                   "hypervisor cannot protect its memory without NPT");
        return fail(Error::Unsupported);
    }
    return {};
}

void SvmVcpu::trap_port(uint16_t port) { iopm_[port / 8] |= static_cast<uint8_t>(1u << (port % 8)); }

void SvmVcpu::sync_io_intercepts(const IoDispatcher& io) {
    for (size_t i = 0; i < iopm_size; ++i) iopm_[i] = 0;
    io.for_each_port([this](uint16_t port) { trap_port(port); });
    io_ = &io;
    io_generation_ = io.generation();
}

// MSRPM layout, APM vol. 2 §15.11: two bits (read, write) per MSR in three
// 2 KiB ranges for 0000_0000h, C000_0000h and C001_0000h.
void SvmVcpu::trap_msr(uint32_t msr) {
    uint32_t range_base, byte_offset;
    if (msr < 0x2000) {
        range_base = 0;
        byte_offset = 0;
    } else if (msr >= 0xC0000000 && msr < 0xC0002000) {
        range_base = 0xC0000000;
        byte_offset = 0x800;
    } else {
        range_base = 0xC0010000;
        byte_offset = 0x1000;
    }
    const uint32_t bit = (msr - range_base) * 2;
    msrpm_[byte_offset + bit / 8] |= static_cast<uint8_t>(3u << (bit % 8));
}

Result<void> SvmVcpu::init(PhysHeap& heap, uint64_t npt_root, const IoDispatcher& io,
                           const GuestEntry& entry) {
    has_nrip_ = x86::cpuid(0x8000000A).edx & cpuid_svm_edx_nrips;
    if (!heap_for_hsave) {
        DmaBuffer hsave = TRY(heap.allocate(4096, 4096));
        x86::wrmsr(x86::msr::efer, x86::rdmsr(x86::msr::efer) | x86::efer::svme);
        x86::wrmsr(x86::msr::vm_hsave_pa, hsave.phys);
        heap_for_hsave = &heap;
    }
    DmaBuffer vmcb = TRY(heap.allocate(sizeof(Vmcb), 4096));
    DmaBuffer iopm = TRY(heap.allocate(iopm_size, 4096));
    DmaBuffer msrpm = TRY(heap.allocate(msrpm_size, 4096));
    vmcb_ = reinterpret_cast<Vmcb*>(vmcb.host);
    vmcb_pa_ = vmcb.phys;
    iopm_ = iopm.host;
    msrpm_ = msrpm.host;

    sync_io_intercepts(io);
    trap_msr(0xC0000080); // EFER: hide SVME
    trap_msr(0xC0010114); // VM_CR
    trap_msr(0xC0010117); // VM_HSAVE_PA

    VmcbControl& c = vmcb_->control;
    // Para-passthrough: interrupts, NMIs, exceptions, HLT, CR and DR
    // accesses all stay with the guest. VMRUN must be intercepted (APM
    // §15.5.1 consistency checks); the other SVM instructions are too, so the
    // guest gets #UD as on a CPU without SVM.
    c.intercept_misc1 = intercept1::cpuid | intercept1::ioio_prot | intercept1::msr_prot |
                        intercept1::shutdown;
    c.intercept_misc2 = intercept2::vmrun | intercept2::vmmcall | intercept2::vmload |
                        intercept2::vmsave | intercept2::stgi | intercept2::clgi | intercept2::skinit;
    c.iopm_base_pa = iopm.phys;
    c.msrpm_base_pa = msrpm.phys;
    c.guest_asid = 1;
    c.tlb_control = 1; // flush this ASID on the first VMRUN
    c.np_enable = 1;
    c.n_cr3 = npt_root;

    VmcbStateSave& s = vmcb_->save;
    s.cs = VmcbSegment{0x10, attr_code32, 0xFFFFFFFF, 0};
    s.ds = s.es = s.ss = VmcbSegment{0x18, attr_data32, 0xFFFFFFFF, 0};
    s.fs = s.gs = VmcbSegment{0x18, attr_data32, 0xFFFFFFFF, 0};
    s.gdtr = VmcbSegment{0, 0, entry.gdt_limit, entry.gdt_base};
    s.idtr = VmcbSegment{0, 0, 0, 0};
    s.tr = VmcbSegment{0, attr_tss32, 0x67, 0};
    s.ldtr = VmcbSegment{0, attr_ldt, 0, 0};
    s.cpl = 0;
    s.efer = x86::efer::svme; // required by VMRUN; hidden from the guest by the EFER intercept
    s.cr0 = 0x11;             // PE | ET: 32-bit protected mode, paging off
    s.cr3 = 0;
    s.cr4 = 0;
    s.dr6 = 0xFFFF0FF0;
    s.dr7 = 0x400;
    s.rflags = 0x2;
    s.rip = entry.rip;
    s.rsp = 0;
    s.g_pat = 0x0007040600070406ull; // power-on default PAT
    state_.reg(Gpr::Rsi) = entry.rsi;
    return {};
}

void SvmVcpu::run(ExitHandler& handler) {
    asm volatile("clgi"); // host runs with GIF=0: interrupts wait for the guest
    for (;;) {
        sv_svm_world_switch(vmcb_pa_, state_.gpr);
        VmcbControl& c = vmcb_->control;
        c.tlb_control = 0;
        c.event_inject = 0;
        if (c.exit_code == exit_code::invalid || c.exit_code == exit_code::invalid_tcg) {
            log::error("VMRUN failed: invalid guest state (VMEXIT_INVALID) rip {:x}", vmcb_->save.rip);
            return;
        }
        const VmExit exit = decode_exit(c, has_nrip_);
        load_state(*vmcb_, state_);
        if (handler.handle(state_, exit) == ExitHandler::Action::StopGuest) return;
        if (io_->generation() != io_generation_) sync_io_intercepts(*io_);
        store_state(state_, *vmcb_);
    }
}

} // namespace sv::svm
