// Intel VT-x (VMX) backend (core/virt_backend.hpp), issue #11: chosen by
// platform/backend_select_hw.cpp on a CPU with VMX (Intel's own first). Run
// under Bochs (corei7_haswell_4770: EPT, VPID, unrestricted guest): VMXON,
// VMLAUNCH and the Linux boot protocol entry work; status and open points in
// virt/vmx/README.md. Every rule it applies is in the portable, unit-tested
// files beside it (vmx_controls, vmx_exit, vmx_cr, vmx_bitmaps, vmx_msrs,
// vmx_segments).
//
// Shape: VMXON per processor (IA32_FEATURE_CONTROL, CR0/CR4 fixed bits),
// one VMCS per vCPU, programmed on the processor that first runs it
// (VMCLEAR/VMPTRLD are per CPU, so create_vcpu() on the BSP for an AP only
// records the state); EPT from the nested_format_ept tables, VPID per
// vCPU, unrestricted guest for the real-mode start and the waking vector,
// shared I/O and MSR bitmaps, CR0/CR4 guest/host masks and read shadows.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/tlb_shootdown.hpp"
#include "core/vcpu_state.hpp"
#include "core/virt_backend.hpp"
#include "virt/vmx/vmx_controls.hpp"
#include "virt/vmx/vmx_cr.hpp"

namespace sv::vmx {

class VmxBackend;

class VmxVcpu final : public Vcpu {
  public:
    [[nodiscard]] Result<void> init(VmxBackend& backend, uint16_t vpid, PhysHeap& heap, uint64_t ept_root,
                                    const IoDispatcher& io, const GuestEntry& entry);
    void start_in_real_mode(uint8_t vector) override;
    void start_at_waking_vector(uint16_t cs, uint16_t ip) override;
    ExitHandler::Action run(ExitHandler& handler) override;
    void set_shootdown(TlbShootdown& sd, size_t index, uint8_t apic_id) override;

  private:
    // The guest state to load at the next entry, kept in memory until the
    // VMCS is current on the running processor.
    struct PendingStart {
        bool valid = false;
        bool real_mode = false;
        uint16_t cs = 0, ip = 0;
        uint64_t cr0 = 0;
    };
    void program_vmcs();               // controls, host state, then the pending guest state
    void write_protected_mode_entry(); // the Linux 32-bit boot protocol entry
    void write_real_mode(uint16_t cs, uint16_t ip, uint64_t cr0);
    void load_state();                 // VMCS -> state_
    void store_state();                // state_ -> VMCS incl. a pending exception
    bool handle_cr_access(uint64_t qualification); // false: could not emulate
    void enter_guest(bool& failed);

    VmxBackend* backend_ = nullptr;
    uint64_t vmcs_pa_ = 0;
    uint64_t eptp_ = 0;
    uint16_t vpid_ = 0;
    bool programmed_ = false; // the VMCS was set up on this processor
    bool launched_ = false;   // VMLAUNCH done since the last VMCLEAR
    GuestEntry entry_;
    PendingStart pending_;
    CrRegister cr0_, cr4_;
    uint64_t io_generation_ = 0;
    uint64_t nested_tlb_seen_ = 0;
    VcpuState state_;
    TlbShootdown* shootdown_ = nullptr;
    size_t shootdown_index_ = 0;
    uint8_t apic_id_ = 0;
    bool guest_nmi_pending_ = false;
    bool nmi_delay_counted_ = false;
};

class VmxBackend final : public VirtBackend {
  public:
    const char* name() const override { return "Intel VT-x"; }
    // CPUID.1:ECX.VMX, IA32_FEATURE_CONTROL (not locked with VMX off), the
    // capability MSRs: controls (vmx_controls.hpp), EPT/VPID.
    Result<void> check_support() override;
    Result<void> set_intercepts(PhysHeap& heap, const IoDispatcher& io) override;
    void trap_ports_now(uint16_t first, uint32_t count) override;
    // The VMXON region of `cpu` (SDM vol. 3C "VMXON Region").
    Result<void> prepare_cpu(size_t cpu, PhysHeap& heap) override;
    // IA32_FEATURE_CONTROL (lock it with VMX on if firmware left it
    // unlocked), CR0/CR4 fixed bits, VMXON.
    void enable_on_this_cpu(size_t cpu) override;
    Result<Vcpu*> create_vcpu(PhysHeap& heap, uint64_t npt_root, const IoDispatcher& io,
                              const GuestEntry& entry) override;
    const VendorMsrPolicy& vendor_msrs() const override;
    const NestedFormat& nested_format() const override; // EPT
    NestedTlbFlush& nested_tlb_flush() override;
    VcpuKicker& vcpu_kicker() override;
    void log_kick_statistics() const override;

    const VmxCapabilities& capabilities() const { return caps_; }
    const VmcsControls& controls() const { return controls_; }

  private:
    VmxCapabilities caps_;
    VmcsControls controls_;
    uint64_t vmxon_pa_[max_cpus] = {};
    VmxVcpu vcpus_[max_cpus];
    size_t vcpu_count_ = 0;
};

} // namespace sv::vmx
