// VMX backend glue: VMXON, VMCS reads/writes, VMLAUNCH/VMRESUME (status in
// virt/vmx/README.md); every rule it applies lives in the portable,
// unit-tested files beside it.
#include <cstring>

#include "arch/x86/cpu.hpp"
#include "arch/x86/tss.hpp"
#include "core/msr_policy.hpp"
#include "core/nmi_kicker.hpp"
#include "core/nmi_sink.hpp"
#include "lib/log.hpp"
#include "lib/panic.hpp"
#include "lib/spinlock.hpp"
#include "virt/vmx/vmcs_fields.hpp"
#include "virt/vmx/vmx_backend.hpp"
#include "virt/vmx/vmx_bitmaps.hpp"
#include "virt/vmx/vmx_exit.hpp"
#include "virt/vmx/vmx_msrs.hpp"
#include "virt/vmx/vmx_segments.hpp"

// virt/vmx/vmx_entry.S: returns 0 after a VM exit, 1 when VMLAUNCH/VMRESUME
// failed (VMfailValid/VMfailInvalid, SDM vol. 3C "VMLAUNCH/VMRESUME").
extern "C" int sv_vmx_world_switch(uint64_t* gprs, int launched);
extern "C" char sv_vmx_exit_point[];

namespace sv::vmx {
namespace {
constexpr uint32_t cpuid1_ecx_vmx = 1u << 5;
constexpr uint64_t efer_lme = 1ull << 8;
constexpr uint64_t efer_lma = 1ull << 10;
constexpr uint64_t eptp_wb_4level = 6 | (3u << 3); // memory type WB, walk length 4 - 1 (SDM vol. 3C "EPTP")

// VMX instructions (SDM vol. 3C chapter "VMX Instruction Reference"): CF or
// ZF set means failure.
bool vmxon(uint64_t pa) {
    bool bad;
    asm volatile("vmxon %1; setbe %0" : "=qm"(bad) : "m"(pa) : "cc", "memory");
    return !bad;
}
bool vmclear(uint64_t pa) {
    bool bad;
    asm volatile("vmclear %1; setbe %0" : "=qm"(bad) : "m"(pa) : "cc", "memory");
    return !bad;
}
bool vmptrld(uint64_t pa) {
    bool bad;
    asm volatile("vmptrld %1; setbe %0" : "=qm"(bad) : "m"(pa) : "cc", "memory");
    return !bad;
}
uint64_t vmread(uint32_t field) {
    uint64_t v = 0;
    asm volatile("vmread %1, %0" : "=r"(v) : "r"(static_cast<uint64_t>(field)) : "cc");
    return v;
}
void vmwrite(uint32_t field, uint64_t value) {
    asm volatile("vmwrite %1, %0" ::"r"(static_cast<uint64_t>(field)), "r"(value) : "cc");
}
void invept_single(uint64_t eptp) {
    struct {
        uint64_t eptp, reserved;
    } desc{eptp, 0};
    asm volatile("invept %0, %1" ::"m"(desc), "r"(1ull) : "cc", "memory");
}
void invvpid_single(uint16_t vpid) {
    struct {
        uint64_t vpid, address;
    } desc{vpid, 0};
    asm volatile("invvpid %0, %1" ::"m"(desc), "r"(1ull) : "cc", "memory");
}
uint64_t read_cr2() {
    uint64_t v;
    asm volatile("mov %%cr2, %0" : "=r"(v));
    return v;
}
void write_cr2(uint64_t v) { asm volatile("mov %0, %%cr2" ::"r"(v)); }
void write_cr0(uint64_t v) { asm volatile("mov %0, %%cr0" ::"r"(v) : "memory"); }

struct [[gnu::packed]] DescriptorTable {
    uint16_t limit;
    uint64_t base;
};
uint16_t read_selector_cs() {
    uint16_t s;
    asm volatile("mov %%cs, %0" : "=r"(s));
    return s;
}
uint16_t read_selector_ds() {
    uint16_t s;
    asm volatile("mov %%ds, %0" : "=r"(s));
    return s;
}

VmxCapabilities read_capabilities() {
    VmxCapabilities c;
    c.basic = x86::rdmsr(msr::vmx_basic);
    c.pinbased = x86::rdmsr(msr::vmx_pinbased_ctls);
    c.procbased = x86::rdmsr(msr::vmx_procbased_ctls);
    c.exit = x86::rdmsr(msr::vmx_exit_ctls);
    c.entry = x86::rdmsr(msr::vmx_entry_ctls);
    c.misc = x86::rdmsr(msr::vmx_misc);
    c.cr0_fixed0 = x86::rdmsr(msr::vmx_cr0_fixed0);
    c.cr0_fixed1 = x86::rdmsr(msr::vmx_cr0_fixed1);
    c.cr4_fixed0 = x86::rdmsr(msr::vmx_cr4_fixed0);
    c.cr4_fixed1 = x86::rdmsr(msr::vmx_cr4_fixed1);
    if (c.has_true_controls()) {
        c.true_pinbased = x86::rdmsr(msr::vmx_true_pinbased_ctls);
        c.true_procbased = x86::rdmsr(msr::vmx_true_procbased_ctls);
        c.true_exit = x86::rdmsr(msr::vmx_true_exit_ctls);
        c.true_entry = x86::rdmsr(msr::vmx_true_entry_ctls);
    }
    // Read only where they exist (§A.3.3, §A.10), else RDMSR would #GP.
    if (proc_capability(c).allows(proc::activate_secondary)) {
        c.procbased2 = x86::rdmsr(msr::vmx_procbased_ctls2);
        if (proc2_capability(c).allows(proc2::enable_ept) || proc2_capability(c).allows(proc2::enable_vpid))
            c.ept_vpid_cap = x86::rdmsr(msr::vmx_ept_vpid_cap);
    }
    return c;
}

// Shared by all vCPUs, as under SVM: ports are only ever added.
uint8_t* io_bitmaps = nullptr;
uint64_t io_bitmaps_pa = 0;
uint8_t* msr_bitmap = nullptr;
uint64_t msr_bitmap_pa = 0;
SpinLock io_lock;
NestedTlbGeneration nested_tlb;
// The host TR: every VM exit loads TR from the host-state area (selector,
// base; limit 67h, type busy 64-bit TSS: SDM vol. 3C "Loading Host Segment
// and Descriptor-Table Registers"), and the selector must not be 0 (SDM vol.
// 3C "Checks on Host Segment and Descriptor-Table Registers"). The selector
// names a real descriptor of this TSS in the boot GDT (boot/entry32.S slot
// 0x28), so TR after an exit is what the GDT says. One TSS serves every CPU:
// the hypervisor runs at CPL 0 without IST, so no CPU ever reads it. The
// descriptor is written busy, as TR holds it: a stray LTR of it faults
// (#GP) instead of silently sharing the TSS.
alignas(16) x86::Tss64 host_tss{};
constexpr uint16_t host_tr_selector = 0x28;

void install_host_tss_descriptor() {
    DescriptorTable gdt{};
    asm volatile("sgdt %0" : "=m"(gdt));
    if (gdt.limit < host_tr_selector + 15) panic("boot GDT has no TSS slot at 0x28", __FILE__, __LINE__);
    const x86::SystemDescriptor64 d = x86::system_descriptor64(reinterpret_cast<uint64_t>(&host_tss),
                                                               sizeof(x86::Tss64) - 1, x86::system_type::tss64_busy);
    auto* slot = reinterpret_cast<volatile uint64_t*>(gdt.base + host_tr_selector);
    slot[0] = d.low;
    slot[1] = d.high;
}

uint64_t sync_io_intercepts(const IoDispatcher& io) {
    LockGuard guard(io_lock);
    io.for_each_port([](uint16_t port) { trap_port(io_bitmaps, port); });
    return io.generation();
}

uint32_t read_vmcs32(uint32_t f) { return static_cast<uint32_t>(vmread(f)); }

// NMI exits (the kick, the guest's own NMIs, devices' NMIs): counted for the
// power-off statistics as under SVM.
uint64_t kicks_taken = 0, guest_nmis = 0, guest_nmis_delayed = 0;
} // namespace

Result<void> VmxBackend::check_support() {
    if (!(x86::cpuid(1).ecx & cpuid1_ecx_vmx)) {
        log::error("this CPU has no Intel VT-x (VMX): cannot run the hypervisor");
        return fail(Error::Unsupported);
    }
    const uint64_t fc = x86::rdmsr(msr::feature_control);
    if ((fc & feature_control::lock) && !(fc & feature_control::vmx_outside_smx)) {
        log::error("VMX is disabled by firmware (IA32_FEATURE_CONTROL locked): enable VT-x in the BIOS setup");
        return fail(Error::Unsupported);
    }
    caps_ = read_capabilities();
    Result<VmcsControls> c = compute_controls(caps_);
    if (!c.ok()) {
        log::error("this CPU's VMX lacks what the hypervisor needs (EPT, VPID, unrestricted guest, I/O and MSR "
                   "bitmaps, EFER switching) or forces intercepts it does not handle: {}",
                   to_string(c.error()));
        return fail(Error::Unsupported);
    }
    controls_ = c.value();
    log::info("VMX controls: pin {:x} primary {:x} secondary {:x} exit {:x} entry {:x} (VMCS revision {:x})",
              controls_.pin, controls_.proc, controls_.proc2, controls_.exit, controls_.entry, caps_.revision_id());
    if (!check_ept_vpid(caps_).ok()) {
        log::error("this CPU's EPT/VPID lacks 4-level write-back tables, 2 MiB pages, INVEPT or INVVPID");
        return fail(Error::Unsupported);
    }
    if (caps_.region_size() == 0 || caps_.region_size() > 4096) return fail(Error::Unsupported);
    return {};
}

Result<void> VmxBackend::set_intercepts(PhysHeap& heap, const IoDispatcher& io) {
    if (io_bitmaps) return {};
    DmaBuffer i = TRY(heap.allocate(io_bitmaps_size, 4096));
    DmaBuffer m = TRY(heap.allocate(msr_bitmap_size, 4096));
    std::memset(i.host, 0, io_bitmaps_size);
    std::memset(m.host, 0, msr_bitmap_size);
    io_bitmaps = i.host;
    io_bitmaps_pa = i.phys;
    msr_bitmap = m.host;
    msr_bitmap_pa = m.phys;
    // MSRs outside the bitmap's two ranges exit anyway (SDM vol. 3C "RDMSR").
    for (const MsrRange& r : neutral_msr_intercepts())
        for (uint32_t index = r.first; index <= r.last; ++index) (void)trap_msr(msr_bitmap, index);
    for (uint32_t index : own_msr_intercepts()) (void)trap_msr(msr_bitmap, index);
    (void)sync_io_intercepts(io);
    return {};
}

void VmxBackend::trap_ports_now(uint16_t first, uint32_t count) {
    if (!io_bitmaps) return;
    LockGuard guard(io_lock);
    for (uint32_t p = first; p < first + count && p <= 0xFFFF; ++p) trap_port(io_bitmaps, static_cast<uint16_t>(p));
}

Result<void> VmxBackend::prepare_cpu(size_t cpu, PhysHeap& heap) {
    if (cpu >= max_cpus) return fail(Error::OutOfRange);
    if (!vmxon_pa_[cpu]) {
        DmaBuffer r = TRY(heap.allocate(4096, 4096));
        std::memset(r.host, 0, 4096);
        const uint32_t rev = caps_.revision_id();
        std::memcpy(r.host, &rev, sizeof rev);
        vmxon_pa_[cpu] = r.phys;
    }
    return {};
}

void VmxBackend::enable_on_this_cpu(size_t cpu) {
    SV_ASSERT(cpu < max_cpus && vmxon_pa_[cpu]);
    const uint64_t fc = x86::rdmsr(msr::feature_control);
    if (!(fc & feature_control::lock))
        x86::wrmsr(msr::feature_control, fc | feature_control::lock | feature_control::vmx_outside_smx);
    write_cr0(host_cr0_fixed(caps_).apply(x86::read_cr0()));
    x86::write_cr4(host_cr4_fixed(caps_).apply(x86::read_cr4() | cr4_bit::vmxe));
    if (!vmxon(vmxon_pa_[cpu])) panic("VMXON failed", __FILE__, __LINE__);
    install_host_tss_descriptor(); // the same bytes from every CPU: the GDT is shared
}

Result<Vcpu*> VmxBackend::create_vcpu(PhysHeap& heap, uint64_t npt_root, const IoDispatcher& io,
                                      const GuestEntry& entry) {
    if (!io_bitmaps) return fail(Error::Unsupported);
    if (vcpu_count_ == max_cpus) return fail(Error::OutOfMemory);
    VmxVcpu& vcpu = vcpus_[vcpu_count_];
    TRY(vcpu.init(*this, static_cast<uint16_t>(vcpu_count_ + 1), heap, npt_root, io, entry)); // VPID 0 is the host's
    ++vcpu_count_;
    return static_cast<Vcpu*>(&vcpu);
}

const VendorMsrPolicy& VmxBackend::vendor_msrs() const { return vendor_msr_policy(); }
const NestedFormat& VmxBackend::nested_format() const { return nested_format_ept; }
NestedTlbFlush& VmxBackend::nested_tlb_flush() { return nested_tlb; }
VcpuKicker& VmxBackend::vcpu_kicker() { return nmi_kicker(); }
void VmxBackend::log_kick_statistics() const {
    log::info("NMI exits: kicks {} guest NMIs re-injected {} (of which waited for NMI blocking to end {})",
              __atomic_load_n(&kicks_taken, __ATOMIC_RELAXED), __atomic_load_n(&guest_nmis, __ATOMIC_RELAXED),
              __atomic_load_n(&guest_nmis_delayed, __ATOMIC_RELAXED));
}

Result<void> VmxVcpu::init(VmxBackend& backend, uint16_t vpid, PhysHeap& heap, uint64_t ept_root,
                           const IoDispatcher& io, const GuestEntry& entry) {
    backend_ = &backend;
    DmaBuffer v = TRY(heap.allocate(4096, 4096));
    std::memset(v.host, 0, 4096);
    const uint32_t rev = backend.capabilities().revision_id();
    std::memcpy(v.host, &rev, sizeof rev);
    vmcs_pa_ = v.phys;
    eptp_ = ept_root | eptp_wb_4level;
    vpid_ = vpid;
    entry_ = entry;
    io_generation_ = sync_io_intercepts(io);
    state_.reg(Gpr::Rsi) = entry.rsi;
    return {};
}

void VmxVcpu::start_in_real_mode(uint8_t vector) {
    pending_ = PendingStart{true, true, static_cast<uint16_t>(static_cast<uint16_t>(vector) << 8), 0, 0x60000010};
    for (uint64_t& r : state_.gpr) r = 0;
    guest_nmi_pending_ = false;
    if (shootdown_) {
        shootdown_->left_guest(shootdown_index_);
        (void)nmi_kicker().take(apic_id_);
    }
}

void VmxVcpu::start_at_waking_vector(uint16_t cs, uint16_t ip) {
    pending_ = PendingStart{true, true, cs, ip, 0x10};
    for (uint64_t& r : state_.gpr) r = 0;
    guest_nmi_pending_ = false;
}

void VmxVcpu::set_shootdown(TlbShootdown& sd, size_t index, uint8_t apic_id) {
    shootdown_ = &sd;
    shootdown_index_ = index;
    apic_id_ = apic_id;
}

void VmxVcpu::program_vmcs() {
    const VmxCapabilities& caps = backend_->capabilities();
    const VmcsControls& ctl = backend_->controls();
    if (!vmclear(vmcs_pa_) || !vmptrld(vmcs_pa_)) panic("VMCLEAR/VMPTRLD failed", __FILE__, __LINE__);
    launched_ = false;
    vmwrite(field::pin_based_controls, ctl.pin);
    vmwrite(field::primary_proc_controls, ctl.proc);
    vmwrite(field::secondary_proc_controls, ctl.proc2);
    vmwrite(field::exit_controls, ctl.exit);
    vmwrite(field::entry_controls, ctl.entry);
    vmwrite(field::exception_bitmap, 0);
    vmwrite(field::page_fault_error_mask, 0);
    vmwrite(field::page_fault_error_match, 0);
    vmwrite(field::cr3_target_count, 0);
    vmwrite(field::exit_msr_store_count, 0);
    vmwrite(field::exit_msr_load_count, 0);
    vmwrite(field::entry_msr_load_count, 0);
    vmwrite(field::entry_interruption_info, 0);
    vmwrite(field::io_bitmap_a, io_bitmaps_pa);
    vmwrite(field::io_bitmap_b, io_bitmaps_pa + 4096);
    vmwrite(field::msr_bitmap, msr_bitmap_pa);
    vmwrite(field::ept_pointer, eptp_);
    vmwrite(field::vpid, vpid_);
    if (ctl.proc2 & proc2::enable_xsaves) vmwrite(field::xss_exiting_bitmap, 0);
    vmwrite(field::vmcs_link_pointer, ~0ull);
    const FixedBits g0 = guest_cr0_fixed(caps, true);
    const FixedBits g4 = guest_cr4_fixed(caps);
    vmwrite(field::cr0_guest_host_mask, cr_guest_host_mask(g0));
    vmwrite(field::cr4_guest_host_mask, cr_guest_host_mask(g4, cr4_bit::vmxe));

    // Host state: this processor as it is now (SDM vol. 3C "Host-State Area").
    vmwrite(field::host_cr0, x86::read_cr0());
    vmwrite(field::host_cr3, x86::read_cr3());
    vmwrite(field::host_cr4, x86::read_cr4());
    vmwrite(field::host_cs_selector, read_selector_cs() & 0xf8);
    const uint16_t ds = read_selector_ds() & 0xf8;
    vmwrite(field::host_ss_selector, ds);
    vmwrite(field::host_ds_selector, ds);
    vmwrite(field::host_es_selector, ds);
    vmwrite(field::host_fs_selector, ds);
    vmwrite(field::host_gs_selector, ds);
    vmwrite(field::host_tr_selector, host_tr_selector);
    vmwrite(field::host_fs_base, x86::rdmsr(0xC0000100));
    vmwrite(field::host_gs_base, x86::rdmsr(0xC0000101));
    vmwrite(field::host_tr_base, reinterpret_cast<uint64_t>(&host_tss));
    DescriptorTable gdt{}, idt{};
    asm volatile("sgdt %0" : "=m"(gdt));
    asm volatile("sidt %0" : "=m"(idt));
    vmwrite(field::host_gdtr_base, gdt.base);
    vmwrite(field::host_idtr_base, idt.base);
    vmwrite(field::host_sysenter_cs, 0);
    vmwrite(field::host_sysenter_esp, 0);
    vmwrite(field::host_sysenter_eip, 0);
    vmwrite(field::host_efer, x86::rdmsr(x86::msr::efer));
    if (ctl.exit & exit_ctl::load_pat) vmwrite(field::host_pat, x86::rdmsr(0x277));
    vmwrite(field::host_rip, reinterpret_cast<uint64_t>(sv_vmx_exit_point));

    if (pending_.valid && pending_.real_mode) write_real_mode(pending_.cs, pending_.ip, pending_.cr0);
    else write_protected_mode_entry();
    pending_.valid = false;
    invvpid_single(vpid_);
    invept_single(eptp_);
    programmed_ = true;
}

namespace {
void write_segment(uint32_t selector_field, uint16_t selector, uint64_t base, uint32_t limit, uint32_t ar) {
    // Selector, limit, access rights and base fields of one segment keep the
    // same order in every group (SDM vol. 3D Appendix B): ES..GS, LDTR, TR.
    const uint32_t index = (selector_field - field::guest_es_selector) / 2;
    vmwrite(selector_field, selector);
    vmwrite(field::guest_es_limit + 2 * index, limit);
    vmwrite(field::guest_es_access_rights + 2 * index, ar);
    vmwrite(field::guest_es_base + 2 * index, base);
}

void write_common_guest_state(uint64_t rip, uint64_t efer) {
    vmwrite(field::guest_rip, rip);
    vmwrite(field::guest_rsp, 0);
    vmwrite(field::guest_rflags, 0x2);
    vmwrite(field::guest_cr3, 0);
    vmwrite(field::guest_dr7, 0x400);
    vmwrite(field::guest_efer, efer);
    vmwrite(field::guest_pat, 0x0007040600070406ull); // power-on default PAT
    vmwrite(field::guest_debugctl, 0);
    vmwrite(field::guest_sysenter_cs, 0);
    vmwrite(field::guest_sysenter_esp, 0);
    vmwrite(field::guest_sysenter_eip, 0);
    vmwrite(field::guest_interruptibility, 0);
    vmwrite(field::guest_activity_state, activity::active);
    vmwrite(field::guest_pending_debug, 0);
    vmwrite(field::entry_interruption_info, 0); // a (re)started processor has no event in flight
}
} // namespace

void VmxVcpu::write_protected_mode_entry() {
    const VmxCapabilities& caps = backend_->capabilities();
    cr0_ = cr_for_guest_value(guest_cr0_fixed(caps, true), 0x11); // PE | ET, paging off
    cr4_ = cr_for_guest_value(guest_cr4_fixed(caps), 0);
    vmwrite(field::guest_cr0, cr0_.real);
    vmwrite(field::cr0_read_shadow, cr0_.shadow);
    vmwrite(field::guest_cr4, cr4_.real);
    vmwrite(field::cr4_read_shadow, cr4_.shadow);
    write_segment(field::guest_cs_selector, 0x10, 0, 0xFFFFFFFF, 0xC09B);
    for (uint32_t f : {field::guest_ds_selector, field::guest_es_selector, field::guest_ss_selector,
                       field::guest_fs_selector, field::guest_gs_selector})
        write_segment(f, 0x18, 0, 0xFFFFFFFF, 0xC093);
    write_segment(field::guest_tr_selector, 0, 0, 0x67, ar_tss_busy32);
    write_segment(field::guest_ldtr_selector, 0, 0, 0, access_rights_unusable);
    vmwrite(field::guest_gdtr_base, entry_.gdt_base);
    vmwrite(field::guest_gdtr_limit, entry_.gdt_limit);
    vmwrite(field::guest_idtr_base, 0);
    vmwrite(field::guest_idtr_limit, 0);
    write_common_guest_state(entry_.rip, 0);
}

void VmxVcpu::write_real_mode(uint16_t cs, uint16_t ip, uint64_t cr0) {
    const VmxCapabilities& caps = backend_->capabilities();
    cr0_ = cr_for_guest_value(guest_cr0_fixed(caps, true), cr0);
    cr4_ = cr_for_guest_value(guest_cr4_fixed(caps), 0);
    vmwrite(field::guest_cr0, cr0_.real);
    vmwrite(field::cr0_read_shadow, cr0_.shadow);
    vmwrite(field::guest_cr4, cr4_.real);
    vmwrite(field::cr4_read_shadow, cr4_.shadow);
    write_segment(field::guest_cs_selector, cs, static_cast<uint64_t>(cs) << 4, 0xFFFF, ar_real_code);
    for (uint32_t f : {field::guest_ds_selector, field::guest_es_selector, field::guest_ss_selector,
                       field::guest_fs_selector, field::guest_gs_selector})
        write_segment(f, 0, 0, 0xFFFF, ar_real_data);
    write_segment(field::guest_tr_selector, 0, 0, 0xFFFF, ar_tss_busy32);
    write_segment(field::guest_ldtr_selector, 0, 0, 0xFFFF, ar_ldt);
    vmwrite(field::guest_gdtr_base, 0);
    vmwrite(field::guest_gdtr_limit, 0xFFFF);
    vmwrite(field::guest_idtr_base, 0);
    vmwrite(field::guest_idtr_limit, 0xFFFF);
    write_common_guest_state(ip, 0);
    vmwrite(field::entry_controls, backend_->controls().entry); // not IA-32e mode
}

void VmxVcpu::load_state() {
    VcpuState& s = state_;
    s.reg(Gpr::Rsp) = vmread(field::guest_rsp);
    s.rip = vmread(field::guest_rip);
    s.rflags = vmread(field::guest_rflags);
    // What the guest sees: owned bits from the read shadow (SDM vol. 3C
    // "Guest/Host Masks and Read Shadows").
    const uint64_t m0 = vmread(field::cr0_guest_host_mask), m4 = vmread(field::cr4_guest_host_mask);
    s.cr0 = (vmread(field::guest_cr0) & ~m0) | (vmread(field::cr0_read_shadow) & m0);
    s.cr4 = (vmread(field::guest_cr4) & ~m4) | (vmread(field::cr4_read_shadow) & m4);
    s.cr3 = vmread(field::guest_cr3);
    s.cr2 = read_cr2(); // VMX does not switch CR2: the guest's value is still in the register
    s.efer = vmread(field::guest_efer);
    const auto seg = [](uint32_t sel_field) {
        const uint32_t i = (sel_field - field::guest_es_selector) / 2;
        return SegmentState{static_cast<uint16_t>(vmread(sel_field)),
                            from_vmx_access_rights(read_vmcs32(field::guest_es_access_rights + 2 * i)),
                            read_vmcs32(field::guest_es_limit + 2 * i), vmread(field::guest_es_base + 2 * i)};
    };
    s.cs = seg(field::guest_cs_selector);
    s.ss = seg(field::guest_ss_selector);
    s.ds = seg(field::guest_ds_selector);
    s.es = seg(field::guest_es_selector);
    s.fs = seg(field::guest_fs_selector);
    s.gs = seg(field::guest_gs_selector);
    s.inject = PendingEvent{};
}

void VmxVcpu::store_state() {
    const VcpuState& s = state_;
    vmwrite(field::guest_rsp, s.gpr[static_cast<unsigned>(Gpr::Rsp)]);
    vmwrite(field::guest_rip, s.rip);
    vmwrite(field::guest_rflags, s.rflags);
    vmwrite(field::guest_efer, s.efer);
    write_cr2(s.cr2);
    // IA-32e mode guest follows EFER.LMA (SDM vol. 3C "Checks on VM-Entry
    // Control Fields"; the core may have changed EFER).
    const uint32_t entry = backend_->controls().entry | ((s.efer & efer_lma) ? entry_ctl::ia32e_mode_guest : 0);
    vmwrite(field::entry_controls, entry);
    if (s.inject.valid) {
        vmwrite(field::entry_interruption_info,
                encode_event_info(EventInfo{true, s.inject.vector, event_type::hardware_exception,
                                            s.inject.has_error_code}));
        if (s.inject.has_error_code) vmwrite(field::entry_exception_error_code, s.inject.error_code);
    }
}

bool VmxVcpu::handle_cr_access(uint64_t qualification) {
    const CrAccess a = decode_cr_access(qualification);
    if (a.type != CrAccessType::MovToCr || (a.cr != 0 && a.cr != 4)) return false;
    const uint64_t value = a.gpr == static_cast<uint8_t>(Gpr::Rsp) ? vmread(field::guest_rsp) : state_.gpr[a.gpr];
    const VmxCapabilities& caps = backend_->capabilities();
    Result<CrRegister> r =
        a.cr == 0 ? guest_write_cr0(guest_cr0_fixed(caps, true), value) : guest_write_cr4(guest_cr4_fixed(caps), value);
    if (!r.ok()) {
        vmwrite(field::entry_interruption_info,
                encode_event_info(EventInfo{true, exception_vector::gp, event_type::hardware_exception, true}));
        vmwrite(field::entry_exception_error_code, 0);
        return true;
    }
    CrRegister& reg = a.cr == 0 ? cr0_ : cr4_;
    const uint64_t old_cr0 = cr0_.real;
    reg = r.value();
    vmwrite(a.cr == 0 ? field::guest_cr0 : field::guest_cr4, reg.real);
    vmwrite(a.cr == 0 ? field::cr0_read_shadow : field::cr4_read_shadow, reg.shadow);
    if (a.cr == 0 && ((old_cr0 ^ reg.real) & cr0_bit::pg)) {
        // The MOV to CR0 that turns paging on with EFER.LME set activates
        // IA-32e mode (SDM vol. 3A "Initializing IA-32e Mode"): the CPU would
        // set EFER.LMA; here the write was emulated, so the backend does it,
        // and the "IA-32e mode guest" entry control must follow LMA (SDM
        // vol. 3C "Checks on Guest Control Registers"). Linux's startup_32
        // does exactly this write (it sets CR0.NE, an owned bit, with PG).
        uint64_t efer = vmread(field::guest_efer);
        efer = (reg.real & cr0_bit::pg) && (efer & efer_lme) ? efer | efer_lma : efer & ~efer_lma;
        vmwrite(field::guest_efer, efer);
        vmwrite(field::entry_controls,
                backend_->controls().entry | ((efer & efer_lma) ? entry_ctl::ia32e_mode_guest : 0));
    }
    vmwrite(field::guest_rip, vmread(field::guest_rip) + vmread(field::exit_instruction_length));
    return true;
}

void VmxVcpu::enter_guest(bool& failed) {
    // The guest's NMI, once no other event is injected and nothing blocks
    // it (else VM entry fails; it waits for a later entry, as the NMI latch
    // would hold it on bare hardware).
    if (guest_nmi_pending_ && !(read_vmcs32(field::entry_interruption_info) & (1u << 31))) {
        if (may_inject_nmi(read_vmcs32(field::guest_interruptibility))) {
            vmwrite(field::entry_interruption_info, encode_event_info(EventInfo{true, 2, event_type::nmi, false}));
            guest_nmi_pending_ = false;
        } else if (!nmi_delay_counted_) {
            nmi_delay_counted_ = true;
            __atomic_fetch_add(&guest_nmis_delayed, 1, __ATOMIC_RELAXED);
        }
        if (!guest_nmi_pending_) nmi_delay_counted_ = false;
    }
    if (shootdown_ && shootdown_->entering_guest(shootdown_index_)) invept_single(eptp_);
    failed = sv_vmx_world_switch(state_.gpr, launched_ ? 1 : 0) != 0;
    if (!failed) launched_ = true;
    if (shootdown_) shootdown_->left_guest(shootdown_index_);
}

ExitHandler::Action VmxVcpu::run(ExitHandler& handler) {
    // The VMCS is set up on the processor that runs it (VMPTRLD is per CPU).
    if (!programmed_ || pending_.valid) {
        if (programmed_ && pending_.valid) {
            write_real_mode(pending_.cs, pending_.ip, pending_.cr0);
            pending_.valid = false;
            invvpid_single(vpid_);
        } else {
            program_vmcs();
        }
    }
    for (;;) {
        bool failed = false;
        enter_guest(failed);
        if (failed) {
            log::error("VMLAUNCH/VMRESUME failed: VM-instruction error {}", read_vmcs32(field::vm_instruction_error));
            return ExitHandler::Action::StopGuest;
        }
        VmxExitFields f;
        f.reason = read_vmcs32(field::exit_reason);
        if (is_entry_failure(f.reason)) {
            log::error("VM entry failed: exit reason {:x} qualification {:x} guest rip {:x}", f.reason,
                       vmread(field::exit_qualification), vmread(field::guest_rip));
            return ExitHandler::Action::StopGuest;
        }
        const uint16_t basic = basic_reason(f.reason);
        // An event the exit interrupted on its way into the guest goes in
        // again first (vmx_exit.hpp Reinjection); the handler's own
        // injection (store_state) replaces it only for instruction exits,
        // which never interrupt a delivery.
        const uint32_t vectoring = read_vmcs32(field::idt_vectoring_info);
        const Reinjection again = reinjection_for(vectoring);
        vmwrite(field::entry_interruption_info, again.info);
        if (again.has_error_code)
            vmwrite(field::entry_exception_error_code, read_vmcs32(field::idt_vectoring_error_code));
        if (again.needs_instruction_length)
            vmwrite(field::entry_instruction_length, read_vmcs32(field::exit_instruction_length));
        if (basic == exit_reason::exception_or_nmi) {
            const EventInfo e = decode_event_info(read_vmcs32(field::exit_interruption_info));
            if (e.valid && e.type == event_type::nmi) {
                // NMI exiting: this NMI never reaches the host (SDM vol. 3C
                // "NMI Exiting"). A kick (consumed), a device's NMI (its sink
                // claims it, core/nmi_sink.hpp) or the guest's own NMI
                // (re-injected as a virtual NMI). A kick and a device NMI
                // coalesce in the one NMI latch: the sinks are asked always.
                const bool kick = nmi_kicker().take(apic_id_);
                const bool claimed = device_nmi(apic_id_);
                if (kick) __atomic_fetch_add(&kicks_taken, 1, __ATOMIC_RELAXED);
                if (!kick && !claimed) {
                    guest_nmi_pending_ = true;
                    __atomic_fetch_add(&guest_nmis, 1, __ATOMIC_RELAXED);
                }
                continue;
            }
        }
        if (basic == exit_reason::cr_access) {
            if (handle_cr_access(vmread(field::exit_qualification))) continue;
            log::error("unexpected control-register access exit {:x}", vmread(field::exit_qualification));
            return ExitHandler::Action::StopGuest;
        }
        f.qualification = vmread(field::exit_qualification);
        if (must_reblock_nmi(basic, f.qualification, vectoring))
            vmwrite(field::guest_interruptibility,
                    read_vmcs32(field::guest_interruptibility) | interruptibility::blocking_nmi);
        f.instruction_length = read_vmcs32(field::exit_instruction_length);
        f.instruction_info = read_vmcs32(field::exit_instruction_info);
        f.guest_rip = vmread(field::guest_rip);
        f.guest_physical = vmread(field::guest_physical_address);
        const VmExit exit = decode_exit(f, backend_->capabilities().basic & basic::ins_outs_info);
        load_state();
        const ExitHandler::Action action = handler.handle(state_, exit);
        if (action != ExitHandler::Action::Resume) return action;
        store_state();
        const IoDispatcher& io = handler.io();
        if (io.generation() != io_generation_) io_generation_ = sync_io_intercepts(io);
        if (nested_tlb.flush_due(nested_tlb_seen_)) invept_single(eptp_);
    }
}

} // namespace sv::vmx
