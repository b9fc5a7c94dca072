#include "arch/x86/cpu.hpp"
#include "core/msr_policy.hpp"
#include "core/nmi_sink.hpp"
#include "lib/log.hpp"
#include "lib/panic.hpp"
#include "lib/spinlock.hpp"
#include "virt/svm/permission_maps.hpp"
#include "virt/svm/svm_backend.hpp"
#include "virt/svm/svm_exit.hpp"
#include "virt/svm/svm_msrs.hpp"
#include "virt/svm/svm_kick.hpp"

extern "C" void sv_svm_world_switch(uint64_t vmcb_pa, uint64_t* gprs);

namespace sv::svm {
namespace {
constexpr uint32_t cpuid_ext1_ecx_svm = 1u << 2;
constexpr uint32_t cpuid_svm_edx_np = 1u << 0;
constexpr uint32_t cpuid_svm_edx_nrips = 1u << 3;
constexpr uint16_t attr_code32 = 0xC9B; // G, D, P, S, type 0xB (exec/read, accessed)
constexpr uint16_t attr_data32 = 0xC93; // G, B, P, S, type 0x3 (read/write, accessed)
constexpr uint16_t attr_code16 = 0x09B; // P, S, type 0xB: real-mode code
constexpr uint16_t attr_data16 = 0x093; // P, S, type 0x3: real-mode data
constexpr uint16_t attr_tss32 = 0x08B;  // P, type 0xB (busy 32-bit TSS)
constexpr uint16_t attr_ldt = 0x082;    // P, type 0x2 (LDT)

// One I/O and one MSR permission map for all vCPUs: intercepts are the same
// everywhere. New ports are only ever OR-ed in (a port that stops being ours
// keeps exiting and is passed through), so no vCPU can run with a map that
// misses a port it must trap, whatever the other vCPUs are doing.
uint8_t* iopm = nullptr;
uint64_t iopm_pa = 0;
uint8_t* msrpm = nullptr;
uint64_t msrpm_pa = 0;
SpinLock iopm_lock;
// Bumped by every run-time change of the nested page tables; each vCPU
// compares it before VMRUN (core/nested_tlb.hpp).
NestedTlbGeneration nested_tlb;

uint64_t sync_io_intercepts(const IoDispatcher& io) {
    LockGuard guard(iopm_lock);
    io.for_each_port([](uint16_t port) { trap_port(iopm, port); });
    return io.generation();
}

// IoDispatcher::trap_now(): the map is shared by all vCPUs and read by the
// processor at every IN/OUT (APM vol. 2 §15.10.1), so a bit set here is in
// force everywhere from the next access on.
void trap_ports(uint16_t first, uint32_t count) {
    if (!iopm) return; // before set_intercepts(), which syncs the whole map
    LockGuard guard(iopm_lock);
    for (uint32_t p = first; p < first + count && p <= 0xFFFF; ++p) trap_port(iopm, static_cast<uint16_t>(p));
}
} // namespace


Result<void> SvmBackend::check_support() {
    if (x86::cpuid(0x80000000).eax < 0x8000000A || !(x86::cpuid(0x80000001).ecx & cpuid_ext1_ecx_svm)) {
        log::error("this CPU has no AMD-V (SVM): cannot run the hypervisor");
        return fail(Error::Unsupported);
    }
    if (x86::rdmsr(msr::vm_cr) & vm_cr_svmdis) {
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

// The permission maps for the intercept set of core/virt_backend.hpp: MSRs
// from core's list plus SVM's own, ports from the dispatcher (and later
// through trap_ports_now).
Result<void> SvmBackend::set_intercepts(PhysHeap& heap, const IoDispatcher& io) {
    if (iopm) return {};
    DmaBuffer i = TRY(heap.allocate(iopm_size, 4096));
    DmaBuffer m = TRY(heap.allocate(msrpm_size, 4096));
    iopm = i.host;
    iopm_pa = i.phys;
    msrpm = m.host;
    msrpm_pa = m.phys;
    // Every listed MSR lies in the MSRPM's ranges (tests/unit/svm): one that
    // did not would exit anyway (APM vol. 2 §15.11).
    for (const MsrRange& r : neutral_msr_intercepts())
        for (uint32_t index = r.first; index <= r.last; ++index) (void)trap_msr(msrpm, index);
    for (uint32_t index : own_msr_intercepts()) (void)trap_msr(msrpm, index);
    (void)sync_io_intercepts(io);
    return {};
}

void SvmBackend::trap_ports_now(uint16_t first, uint32_t count) { trap_ports(first, count); }

const NestedFormat& SvmBackend::nested_format() const { return nested_format_npt; }
NestedTlbFlush& SvmBackend::nested_tlb_flush() { return nested_tlb; }
VcpuKicker& SvmBackend::vcpu_kicker() { return nmi_kicker(); }

void SvmBackend::log_kick_statistics() const {
    const NmiStats n = nmi_stats();
    log::info("NMI exits: kicks {} guest NMIs re-injected {}", n.kicks_taken, n.guest_nmis);
}

Result<void> SvmBackend::prepare_cpu(size_t cpu, PhysHeap& heap) {
    if (cpu >= max_cpus) return fail(Error::OutOfRange);
    if (!hsave_pa_[cpu]) hsave_pa_[cpu] = TRY(heap.allocate(4096, 4096)).phys;
    return {};
}

void SvmBackend::enable_on_this_cpu(size_t cpu) {
    // The platform prepares every CPU before it starts it: a missing page is
    // a bug of ours, never a guest value.
    SV_ASSERT(cpu < max_cpus && hsave_pa_[cpu]);
    x86::wrmsr(x86::msr::efer, x86::rdmsr(x86::msr::efer) | x86::efer::svme);
    x86::wrmsr(x86::msr::vm_hsave_pa, hsave_pa_[cpu]);
    asm volatile("clgi"); // host runs with GIF=0: interrupts, NMI and INIT wait for the guest
}

Result<Vcpu*> SvmBackend::create_vcpu(PhysHeap& heap, uint64_t npt_root, const IoDispatcher& io,
                                      const GuestEntry& entry) {
    if (!iopm) return fail(Error::Unsupported); // set_intercepts() first
    if (vcpu_count_ == max_cpus) return fail(Error::OutOfMemory);
    SvmVcpu& vcpu = vcpus_[vcpu_count_];
    TRY(vcpu.init(heap, npt_root, io, entry));
    ++vcpu_count_;
    return static_cast<Vcpu*>(&vcpu);
}

const VendorMsrPolicy& SvmBackend::vendor_msrs() const { return vendor_msr_policy(); }

Result<void> SvmVcpu::init(PhysHeap& heap, uint64_t npt_root, const IoDispatcher& io,
                           const GuestEntry& entry) {
    has_nrip_ = x86::cpuid(0x8000000A).edx & cpuid_svm_edx_nrips;
    DmaBuffer vmcb = TRY(heap.allocate(sizeof(Vmcb), 4096));
    vmcb_ = reinterpret_cast<Vmcb*>(vmcb.host);
    vmcb_pa_ = vmcb.phys;
    io_generation_ = sync_io_intercepts(io);

    VmcbControl& c = vmcb_->control;
    // Para-passthrough: interrupts, NMIs, exceptions, HLT, CR and DR
    // accesses all stay with the guest. VMRUN must be intercepted (APM
    // §15.5.1 consistency checks); the other SVM instructions are too, so the
    // guest gets #UD as on a CPU without SVM. INIT is intercepted so no
    // signal can reset a processor out of the hypervisor's control.
    // INVLPGA is an SVM instruction too (APM vol. 2 §15.9, Table B-1 bit
    // 26); XSETBV (Table B-1 offset 010h bit 13) because XCR0 is not
    // switched on VMRUN/#VMEXIT and the crypto depends on it.
    c.intercept_misc1 = intercept1::cpuid | intercept1::ioio_prot | intercept1::msr_prot |
                        intercept1::shutdown | intercept1::init | intercept1::invlpga;
    c.intercept_misc2 = intercept2::vmrun | intercept2::vmmcall | intercept2::vmload |
                        intercept2::vmsave | intercept2::stgi | intercept2::clgi | intercept2::skinit |
                        intercept2::xsetbv;
    c.iopm_base_pa = iopm_pa;
    c.msrpm_base_pa = msrpm_pa;
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
    s.efer = efer_svme; // required by VMRUN; hidden from the guest (svm_msrs.hpp)
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

void SvmVcpu::start_in_real_mode(uint8_t vector) {
    enter_real_mode(static_cast<uint16_t>(static_cast<uint16_t>(vector) << 8), 0, 0x60000010); // CD | NW | ET: the INIT value
}

void SvmVcpu::start_at_waking_vector(uint16_t cs, uint16_t ip) {
    enter_real_mode(cs, ip, 0x10); // ET: the firmware returns with caching enabled
}

void SvmVcpu::enter_real_mode(uint16_t segment, uint16_t ip, uint64_t cr0) {
    VmcbStateSave& s = vmcb_->save;
    s.cs = VmcbSegment{segment, attr_code16, 0xFFFF, static_cast<uint64_t>(segment) << 4};
    s.ds = s.es = s.ss = s.fs = s.gs = VmcbSegment{0, attr_data16, 0xFFFF, 0};
    s.gdtr = s.idtr = VmcbSegment{0, 0, 0xFFFF, 0};
    s.tr = VmcbSegment{0, attr_tss32, 0xFFFF, 0};
    s.ldtr = VmcbSegment{0, attr_ldt, 0xFFFF, 0};
    s.cpl = 0;
    s.efer = efer_svme;
    s.cr0 = cr0;
    s.cr2 = s.cr3 = s.cr4 = 0;
    s.dr6 = 0xFFFF0FF0;
    s.dr7 = 0x400;
    s.rflags = 0x2;
    s.rip = ip;
    s.rsp = 0;
    s.rax = 0;
    for (uint64_t& r : state_.gpr) r = 0;
    vmcb_->control.event_inject = 0;
    vmcb_->control.interrupt_shadow = 0;
    vmcb_->control.tlb_control = 1;
    guest_nmi_pending_ = false; // INIT discards a pending NMI
    // A (re)started processor is not in the guest, whatever it was doing
    // when it was reset (S3, parking): no shootdown may wait for it.
    if (shootdown_) {
        shootdown_->left_guest(shootdown_index_);
        (void)nmi_kicker().take(apic_id_);
    }
}

void SvmVcpu::set_shootdown(TlbShootdown& sd, size_t index, uint8_t apic_id) {
    shootdown_ = &sd;
    shootdown_index_ = index;
    apic_id_ = apic_id;
    vmcb_->control.intercept_misc1 |= intercept1::nmi;
}

void SvmVcpu::enter_guest() {
    VmcbControl& c = vmcb_->control;
    // The guest's NMI, once no other event is being injected (APM vol. 2
    // §15.20: one EVENTINJ per VMRUN). It exited for that NMI, so it was
    // not blocking NMIs then.
    if (guest_nmi_pending_ && !(c.event_inject & event_inject::valid)) {
        c.event_inject = event_inject::vector_nmi | event_inject::type_nmi | event_inject::valid;
        guest_nmi_pending_ = false;
    }
    if (shootdown_ && shootdown_->entering_guest(shootdown_index_)) c.tlb_control = 1; // APM §15.16
    sv_svm_world_switch(vmcb_pa_, state_.gpr);
    if (shootdown_) shootdown_->left_guest(shootdown_index_);
}

void SvmVcpu::nmi_exit() {
    VmcbControl& c = vmcb_->control;
    // An event the NMI interrupted on its way into the guest (EXITINTINFO,
    // APM §15.7.2) goes in again first.
    if (c.exit_int_info & event_inject::valid) c.event_inject = c.exit_int_info;
    const bool guests = handle_nmi_exit(apic_id_);
    // Devices whose MSIs arrive as NMIs are asked at every NMI, a kick too
    // (the two coalesce, core/nmi_sink.hpp); a claimed NMI is not the guest's.
    const bool claimed = device_nmi(apic_id_);
    if (guests && !claimed) guest_nmi_pending_ = true;
}

ExitHandler::Action SvmVcpu::run(ExitHandler& handler) {
    // A device interrupts through NMIs (core/nmi_sink.hpp): exit on them, even with one CPU.
    if (nmi_sinks().any()) vmcb_->control.intercept_misc1 |= intercept1::nmi;
    for (;;) {
        enter_guest();
        VmcbControl& c = vmcb_->control;
        c.tlb_control = 0;
        c.event_inject = 0;
        if (c.exit_code == exit_code::invalid || c.exit_code == exit_code::invalid_tcg) {
            log::error("VMRUN failed: invalid guest state (VMEXIT_INVALID) rip {:x}", vmcb_->save.rip);
            return ExitHandler::Action::StopGuest;
        }
        if (c.exit_code == exit_code::nmi) {
            nmi_exit(); // no guest state changed: straight back in
            continue;
        }
        const VmExit exit = decode_exit(c, has_nrip_);
        load_state(*vmcb_, state_);
        const ExitHandler::Action action = handler.handle(state_, exit);
        if (action != ExitHandler::Action::Resume) return action;
        store_state(state_, *vmcb_);
        const IoDispatcher& io = handler.io();
        if (io.generation() != io_generation_) io_generation_ = sync_io_intercepts(io);
        // The nested page tables changed since this vCPU last flushed (e.g.
        // the guest relocated the ECAM window): drop cached guest-physical
        // translations before the next VMRUN (TLB_CONTROL 1 flushes all
        // entries, AMD APM vol. 2 §15.16). Other vCPUs do the same at their
        // next exit.
        if (nested_tlb.flush_due(nested_tlb_seen_)) c.tlb_control = 1;
    }
}

} // namespace sv::svm
