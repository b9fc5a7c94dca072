// Vendor-neutral exit handling: CPUID policy, the few MSRs we virtualise,
// hypercalls, port I/O routed to mediators (string I/O emulated here),
// nested page faults on hidden hypervisor memory.
#pragma once

#include <cstdint>

#include "core/cpuid_policy.hpp"
#include "core/guest_memory.hpp"
#include "core/hypercall.hpp"
#include "core/io_dispatch.hpp"
#include "core/mmio_dispatch.hpp"
#include "core/mmio_emulate.hpp"
#include "core/msr_policy.hpp"
#include "core/vendor_msrs.hpp"
#include "core/vcpu_state.hpp"
#include "core/vm_exit.hpp"
#include "arch/x86/insn_decoder.hpp"

namespace sv {

// S3 resume (platform/suspend.hpp): the BSP slept inside handle_io with the
// shared I/O lock held; its stack is gone, so the lock is released here.
void release_locks_after_resume();

// An NMI exit on the processor with local APIC ID `apic_id`: the NMI sinks
// (core/nmi_sink.hpp) run under the same io_lock as every mediated access;
// true if one claimed the NMI (the backend then does not re-inject it).
// Without sinks: false, no lock taken.
bool device_nmi(uint32_t apic_id);

class ExitHandler {
  public:
    using HostCpuid = CpuidValues (*)(uint32_t leaf, uint32_t subleaf);
    // ResetPlatform: the guest's CPU shut down (triple fault); bare hardware
    // would reset (the chipset turns the shutdown cycle into INIT/reset), so
    // the caller wipes the key and resets the platform.
    enum class Action : uint8_t { Resume, StopGuest, WaitForStartup, ResetPlatform };

    ExitHandler(IoDispatcher& io, GuestMemory& memory, HostCpuid host_cpuid, uint32_t version)
        : io_(io), memory_(memory), host_cpuid_(host_cpuid), virtual_msrs_(&shared_virtual_msrs()),
          version_(version) {}
    static VirtualMsrs& shared_virtual_msrs();

    Action handle(VcpuState& state, const VmExit& exit);
    // Where a trapped port that no mediator owns goes (e.g. a dword access
    // that merely overlaps a trapped port). Without it such accesses read
    // as an empty bus and writes are dropped.
    void set_passthrough(PortIo* io) { passthrough_ = io; }
    // The shared MMIO ranges (read-only or not present in the nested page
    // tables): the faulting instruction is emulated against the range's
    // handlers (core/mmio_emulate.hpp).
    void set_mmio(MmioDispatcher* mmio) { mmio_ = mmio; }
    // Direct access to device memory for reads of write-only trapped ranges
    // by read-modify-write instructions (without: those are refused).
    void set_mmio_device_memory(GuestMemory* device) { mmio_emulator_.set_device_memory(device); }
    const MmioDispatcher* mmio() const { return mmio_; }
    // The physical MSRs, for the intercepted MSRs that pass through after a
    // check (IA32_APIC_BASE). Without them such accesses raise #GP.
    using HostMsrRead = uint64_t (*)(uint32_t msr);
    using HostMsrWrite = void (*)(uint32_t msr, uint64_t value);
    void set_host_msr(HostMsrRead read, HostMsrWrite write) {
        host_msr_read_ = read;
        host_msr_write_ = write;
    }
    // XCR0 of this processor (XGETBV/XSETBV). SVM does not switch XCR0, so
    // the real register is the guest's; without these XSETBV raises #UD
    // (no XSAVE) and CPUID leaf 0Dh assumes XCR0 = 1.
    using HostXcr0Read = uint64_t (*)();
    using HostXcr0Write = void (*)(uint64_t value);
    void set_xcr0(HostXcr0Read read, HostXcr0Write write) {
        xcr0_read_ = read;
        xcr0_write_ = write;
    }
    // The backend's part of MSR handling (VirtBackend::vendor_msrs()):
    // hidden EFER bits and the vendor's own MSRs. Without it EFER has no
    // hidden bits and every MSR outside core's list raises #GP.
    void set_vendor_msrs(const VendorMsrPolicy& policy) { vendor_msrs_ = policy; }
    // The shared virtual copies of the MSRs in core/msr_policy (one set for
    // all vCPUs by default; tests give each handler its own).
    void set_virtual_msrs(VirtualMsrs* msrs) { virtual_msrs_ = msrs; }
    const ExitCounters& counters() const { return counters_; }
    uint64_t virtual_msr_writes() const { return virtual_msr_writes_; }
    const IoDispatcher& io() const { return io_; }

  private:
    void handle_io(VcpuState& state, const VmExit& exit);
    void handle_string_io(VcpuState& state, const IoAccess& io, IoHandler& handler);
    void split_io(VcpuState& state, const IoAccess& io, const IoRoute& route);
    void handle_msr(VcpuState& state, const VmExit& exit);
    bool handle_table_msr(VcpuState& state, uint32_t msr, bool write, uint64_t value, uint64_t& result);
    void handle_xsetbv(VcpuState& state, const VmExit& exit);
    GuestCpuidState cpuid_state(const VcpuState& state, uint32_t leaf) const;
    bool skip_instruction(VcpuState& state, const VmExit& exit, unsigned fallback_length);

    IoDispatcher& io_;
    GuestMemory& memory_;
    HostCpuid host_cpuid_;
    PortIo* passthrough_ = nullptr;
    HostMsrRead host_msr_read_ = nullptr;
    HostMsrWrite host_msr_write_ = nullptr;
    MmioDispatcher* mmio_ = nullptr;
    uint64_t mmio_seen_generation_ = 0; // trap layout at this vCPU's last unhandled NPF
    HostXcr0Read xcr0_read_ = nullptr;
    HostXcr0Write xcr0_write_ = nullptr;
    VirtualMsrs* virtual_msrs_;
    VendorMsrPolicy vendor_msrs_;
    bool warned_msr_write_ = false;
    uint64_t virtual_msr_writes_ = 0;
    uint32_t version_;
    ExitCounters counters_;
    MmioEmulator mmio_emulator_{memory_, counters_};
    bool warned_unknown_exit_ = false;
    bool warned_hidden_write_ = false;
    bool warned_split_io_ = false;
    uint8_t bounce_[4096]; // string I/O staging, one chunk at a time
};

} // namespace sv
