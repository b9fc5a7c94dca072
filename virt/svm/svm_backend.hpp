// AMD-V (SVM) backend (core/virt_backend.hpp): checks the CPU, enables SVM on
// each processor, builds the VMCB with the (shared) I/O and MSR permission
// maps and nested paging, and runs a vCPU, turning each #VMEXIT into a
// vendor-neutral VmExit for the core's ExitHandler.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/virt_backend.hpp"
#include "core/tlb_shootdown.hpp"
#include "core/vcpu_state.hpp"
#include "virt/svm/vmcb.hpp"

namespace sv::svm {

class SvmVcpu final : public Vcpu {
  public:
    // Builds the VMCB (on any CPU) over the backend's shared permission
    // maps (SvmBackend::set_intercepts() ran); the guest starts at `entry`.
    [[nodiscard]] Result<void> init(PhysHeap& heap, uint64_t npt_root, const IoDispatcher& io,
                                    const GuestEntry& entry);
    void start_in_real_mode(uint8_t vector) override;
    void start_at_waking_vector(uint16_t cs, uint16_t ip) override;
    ExitHandler::Action run(ExitHandler& handler) override;
    void set_shootdown(TlbShootdown& sd, size_t index, uint8_t apic_id) override;

  private:
    // Runs the guest once (VMRUN to #VMEXIT) with the shootdown protocol.
    void enter_guest();
    // #VMEXIT(NMI): a kick is consumed, the guest's NMI re-injected.
    void nmi_exit();
    void enter_real_mode(uint16_t cs, uint16_t ip, uint64_t cr0);
    Vmcb* vmcb_ = nullptr;
    uint64_t vmcb_pa_ = 0;
    bool has_nrip_ = false;
    uint64_t io_generation_ = 0;
    uint64_t nested_tlb_seen_ = 0; // nested_tlb_flush() generation last flushed for
    VcpuState state_;
    TlbShootdown* shootdown_ = nullptr;
    size_t shootdown_index_ = 0;
    uint8_t apic_id_ = 0;
    bool guest_nmi_pending_ = false; // the guest's NMI, to inject at the next entry
};

class SvmBackend final : public VirtBackend {
  public:
    const char* name() const override { return "AMD SVM"; }
    // Fails, with the reason logged, when SVM or nested paging is missing or
    // disabled by firmware (AMD APM vol. 2 §15.4 "Enabling SVM").
    Result<void> check_support() override;
    Result<void> set_intercepts(PhysHeap& heap, const IoDispatcher& io) override;
    void trap_ports_now(uint16_t first, uint32_t count) override;
    // The host save area page of `cpu` (APM vol. 2 §15.30.4).
    Result<void> prepare_cpu(size_t cpu, PhysHeap& heap) override;
    // EFER.SVME, VM_HSAVE_PA, then GIF=0 (APM vol. 2 §15.4, §15.17).
    void enable_on_this_cpu(size_t cpu) override;
    // Storage for max_cpus vCPUs lives here.
    Result<Vcpu*> create_vcpu(PhysHeap& heap, uint64_t npt_root, const IoDispatcher& io,
                              const GuestEntry& entry) override;
    const VendorMsrPolicy& vendor_msrs() const override;
    // NPT: the long-mode entry format (APM vol. 2 §15.25.5).
    const NestedFormat& nested_format() const override;
    // Bumps a generation each vCPU compares before VMRUN: TLB_CONTROL flush.
    NestedTlbFlush& nested_tlb_flush() override;
    // An NMI IPI with the NMI intercept (virt/svm/svm_kick.hpp).
    VcpuKicker& vcpu_kicker() override;
    void log_kick_statistics() const override;

  private:
    uint64_t hsave_pa_[max_cpus] = {};
    SvmVcpu vcpus_[max_cpus];
    size_t vcpu_count_ = 0;
};

} // namespace sv::svm
