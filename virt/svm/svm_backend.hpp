// AMD-V (SVM) backend: checks the CPU, enables SVM on each processor, builds
// the VMCB with the (shared) I/O and MSR permission maps and nested paging,
// and runs a vCPU, turning each #VMEXIT into a vendor-neutral VmExit for the
// core's ExitHandler.
#pragma once

#include <cstdint>

#include "core/exit_handler.hpp"
#include "core/guest_entry.hpp"
#include "core/io_dispatch.hpp"
#include "core/phys_heap.hpp"
#include "core/tlb_shootdown.hpp"
#include "core/vcpu_state.hpp"
#include "lib/result.hpp"
#include "virt/svm/vmcb.hpp"

namespace sv::svm {

// Logs a clear reason and fails when SVM or nested paging is missing or
// disabled by firmware (AMD APM vol. 2 §15.4 "Enabling SVM").
[[nodiscard]] Result<void> check_support();

// EFER.SVME and the host save area, on the calling processor (APM §15.4,
// §15.30.4). `hsave_pa`: a 4 KiB page of hypervisor memory for this CPU.
void enable_on_this_cpu(uint64_t hsave_pa);

// Sets I/O permission bits at once for all vCPUs (IoDispatcher::trap_now()).
void trap_ports_now(uint16_t first, uint32_t count);

class SvmVcpu {
  public:
    // Builds the VMCB (on any CPU); the guest starts at `entry` (BSP) or
    // waits for a STARTUP (APs: use start_in_real_mode()).
    [[nodiscard]] Result<void> init(PhysHeap& heap, uint64_t npt_root, const IoDispatcher& io,
                                    const GuestEntry& entry);
    // Architectural state after INIT + STARTUP with `vector`: real mode at
    // vector:0000 (Intel SDM vol. 3A §8.4.4.2 / AMD APM vol. 2 §16.5).
    void start_in_real_mode(uint8_t vector);
    // The state the firmware hands the OS at its S3 waking vector: real mode
    // at cs:ip, caches on (ACPI 6.4 §5.2.10, §16.3.2); the rest as after INIT.
    void start_at_waking_vector(uint16_t cs, uint16_t ip);
    // Runs the guest on the calling CPU until the handler asks to stop or to
    // wait for a STARTUP; returns that action.
    ExitHandler::Action run(ExitHandler& handler);
    // Nested-TLB shootdown (core/tlb_shootdown.hpp): this vCPU's record in
    // `sd` and its APIC id; sets the NMI intercept so that an NMI kicks it
    // out of the guest (virt/svm/svm_kick.hpp). After init().
    void set_shootdown(TlbShootdown& sd, size_t index, uint8_t apic_id);

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
    uint64_t mmio_generation_ = 0; // MMIO trap layout last seen: a change flushes the nested TLB
    VcpuState state_;
    TlbShootdown* shootdown_ = nullptr;
    size_t shootdown_index_ = 0;
    uint8_t apic_id_ = 0;
    bool guest_nmi_pending_ = false; // the guest's NMI, to inject at the next entry
};

} // namespace sv::svm
