// The vendor-neutral virtualization backend: everything the hypervisor needs
// from AMD SVM (virt/svm/) or, later, Intel VT-x (virt/vmx/, issue #11). One
// backend is chosen once at boot from CPUID (platform/backend_select.hpp), as
// NOVA does; only platform/ ever names a concrete one. core/ and devices/ see
// a vCPU only through Vcpu and exits only as VmExit (docs/design.md, "Layers
// and the backend interface").
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/exit_handler.hpp"
#include "core/guest_entry.hpp"
#include "core/io_dispatch.hpp"
#include "core/nested_format.hpp"
#include "core/nested_tlb.hpp"
#include "core/tlb_shootdown.hpp"
#include "core/phys_heap.hpp"
#include "core/vendor_msrs.hpp"
#include "lib/result.hpp"

namespace sv {

// Processors the hypervisor runs on: the BSP is host CPU 0, the application
// processors 1..max_cpus-1 in the order platform/smp_hw.cpp starts them.
constexpr size_t max_cpus = 16;

// One guest processor. Created by the backend, which owns its storage; the
// platform holds it only through this interface.
class Vcpu {
  public:
    // Architectural state after INIT + STARTUP with `vector`: real mode at
    // vector:0000 (Intel SDM vol. 3A §8.4.4.2 / AMD APM vol. 2 §16.5).
    virtual void start_in_real_mode(uint8_t vector) = 0;
    // The state the firmware hands the OS at its S3 waking vector: real mode
    // at cs:ip, caches on (ACPI 6.4 §5.2.10, §16.3.2); the rest as after INIT.
    virtual void start_at_waking_vector(uint16_t cs, uint16_t ip) = 0;
    // Runs the guest on the calling CPU, handing every exit to `handler` as
    // a VmExit, until the handler asks for anything but Resume; returns that.
    virtual ExitHandler::Action run(ExitHandler& handler) = 0;
    // Takes part in the nested-TLB shootdown (core/tlb_shootdown.hpp) as
    // record `index` of `sd`, kicked through its local APIC id. After
    // creation, before the first run; only with more than one CPU.
    virtual void set_shootdown(TlbShootdown& sd, size_t index, uint8_t apic_id) = 0;

  protected:
    ~Vcpu() = default; // never deleted through the interface: the backend owns it
};

// The one set of intercepts every backend applies, whatever the vendor:
//  - ports: every port an IoDispatcher owner claims, at set-up and (through
//    trap_ports_now) whenever one is added later;
//  - MSRs: core's list (msr_policy.hpp neutral_msr_intercepts()) plus the
//    vendor's own (its VendorMsrPolicy);
//  - always: CPUID, XSETBV, the hypercall, INIT, shutdown, the vendor's
//    virtualization instructions (the guest gets #UD), nested page faults.
// Nothing else exits (para-passthrough: interrupts, exceptions, HLT, CR and
// DR accesses stay with the guest).
class VirtBackend {
  public:
    // "AMD SVM", for the boot log.
    virtual const char* name() const = 0;
    // Logs a clear reason and fails when this CPU cannot run the hypervisor
    // with this backend (e.g. no nested paging, disabled by firmware).
    [[nodiscard]] virtual Result<void> check_support() = 0;
    // Once at boot, before any vCPU: the permission maps for the intercepts
    // above, shared by all vCPUs. Ports `io` already owns are trapped now.
    [[nodiscard]] virtual Result<void> set_intercepts(PhysHeap& heap, const IoDispatcher& io) = 0;
    // A port range becomes trapped at once on every vCPU (IoDispatcher's
    // trap hook): in force from the next guest access on any processor.
    virtual void trap_ports_now(uint16_t first, uint32_t count) = 0;
    // The per-processor host state of host CPU `cpu` (< max_cpus), allocated
    // on any CPU before that processor enables virtualization.
    [[nodiscard]] virtual Result<void> prepare_cpu(size_t cpu, PhysHeap& heap) = 0;
    // Turns virtualization on, on the calling processor, which is host CPU
    // `cpu`; again after S3, which resets every CPU.
    virtual void enable_on_this_cpu(size_t cpu) = 0;
    // A new vCPU over nested paging at `npt_root`, trapping `io`'s ports; the
    // guest starts at `entry` when run (the BSP), or the caller starts it in
    // real mode first (APs).
    [[nodiscard]] virtual Result<Vcpu*> create_vcpu(PhysHeap& heap, uint64_t npt_root, const IoDispatcher& io,
                                                    const GuestEntry& entry) = 0;
    // What the ExitHandler adds for this vendor's MSRs (ExitHandler::set_vendor_msrs).
    virtual const VendorMsrPolicy& vendor_msrs() const = 0;
    // The nested page tables' entry format (core/nested_format.hpp: NPT, EPT)
    // and the hook their run-time changes call (core/nested_tlb.hpp): each
    // vCPU flushes its nested TLB before its next entry.
    virtual const NestedFormat& nested_format() const = 0;
    virtual NestedTlbFlush& nested_tlb_flush() = 0;
    // How a vCPU running guest code is made to leave it unnoticed, for the
    // cross-vCPU nested-TLB shootdown (core/tlb_shootdown.hpp), and the
    // power-off statistics of those kicks.
    virtual VcpuKicker& vcpu_kicker() = 0;
    virtual void log_kick_statistics() const = 0;

  protected:
    ~VirtBackend() = default;
};

} // namespace sv
