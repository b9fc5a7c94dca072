// Vendor-neutral exit handling: CPUID policy, the few MSRs we virtualise,
// hypercalls, port I/O routed to mediators (string I/O emulated here),
// nested page faults on hidden hypervisor memory.
#pragma once

#include <cstdint>

#include "core/cpuid_policy.hpp"
#include "core/guest_memory.hpp"
#include "core/hypercall.hpp"
#include "core/io_dispatch.hpp"
#include "core/mmio.hpp"
#include "core/vcpu_state.hpp"
#include "core/vm_exit.hpp"

namespace sv {

// S3 resume (core/suspend.hpp): the BSP slept inside handle_io with the
// shared I/O lock held; its stack is gone, so the lock is released here.
void release_locks_after_resume();

class ExitHandler {
  public:
    using HostCpuid = CpuidValues (*)(uint32_t leaf, uint32_t subleaf);
    enum class Action : uint8_t { Resume, StopGuest, WaitForStartup };

    ExitHandler(IoDispatcher& io, GuestMemory& memory, HostCpuid host_cpuid, uint32_t version)
        : io_(io), memory_(memory), host_cpuid_(host_cpuid), version_(version) {}

    Action handle(VcpuState& state, const VmExit& exit);
    // Where a trapped port that no mediator owns goes (e.g. a dword access
    // that merely overlaps a trapped port). Without it such accesses read
    // as an empty bus and writes are dropped.
    void set_passthrough(PortIo* io) { passthrough_ = io; }
    // Guest writes to [base, base+length) (mapped read-only in the nested
    // page tables) are decoded and handed to `handler`.
    bool add_mmio_write_range(const MmioRange& range);
    // The physical MSRs, for the intercepted MSRs that pass through after a
    // check (IA32_APIC_BASE). Without them such accesses raise #GP.
    using HostMsrRead = uint64_t (*)(uint32_t msr);
    using HostMsrWrite = void (*)(uint32_t msr, uint64_t value);
    void set_host_msr(HostMsrRead read, HostMsrWrite write) {
        host_msr_read_ = read;
        host_msr_write_ = write;
    }
    const ExitCounters& counters() const { return counters_; }
    const IoDispatcher& io() const { return io_; }

  private:
    void handle_io(VcpuState& state, const VmExit& exit);
    void handle_string_io(VcpuState& state, const IoAccess& io, IoHandler& handler);
    void handle_msr(VcpuState& state, const VmExit& exit);
    bool emulate_mmio_write(VcpuState& state, const VmExit& exit, MmioWriteHandler& handler);
    bool skip_instruction(VcpuState& state, const VmExit& exit, unsigned fallback_length);

    IoDispatcher& io_;
    GuestMemory& memory_;
    HostCpuid host_cpuid_;
    PortIo* passthrough_ = nullptr;
    HostMsrRead host_msr_read_ = nullptr;
    HostMsrWrite host_msr_write_ = nullptr;
    MmioRange mmio_[4];
    unsigned mmio_count_ = 0;
    bool warned_mmio_ = false;
    uint32_t version_;
    ExitCounters counters_;
    bool warned_unknown_exit_ = false;
    bool warned_hidden_write_ = false;
    uint8_t bounce_[4096]; // string I/O staging, one chunk at a time
};

} // namespace sv
