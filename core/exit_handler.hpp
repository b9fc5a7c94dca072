// Vendor-neutral exit handling: CPUID policy, the few MSRs we virtualise,
// hypercalls, port I/O routed to mediators (string I/O emulated here),
// nested page faults on hidden hypervisor memory.
#pragma once

#include <cstdint>

#include "core/cpuid_policy.hpp"
#include "core/guest_memory.hpp"
#include "core/hypercall.hpp"
#include "core/io_dispatch.hpp"
#include "core/vcpu_state.hpp"
#include "core/vm_exit.hpp"

namespace sv {

class ExitHandler {
  public:
    using HostCpuid = CpuidValues (*)(uint32_t leaf, uint32_t subleaf);
    enum class Action : uint8_t { Resume, StopGuest };

    ExitHandler(IoDispatcher& io, GuestMemory& memory, HostCpuid host_cpuid, uint32_t version)
        : io_(io), memory_(memory), host_cpuid_(host_cpuid), version_(version) {}

    Action handle(VcpuState& state, const VmExit& exit);
    // Where a trapped port that no mediator owns goes (e.g. a dword access
    // that merely overlaps a trapped port). Without it such accesses read
    // as an empty bus and writes are dropped.
    void set_passthrough(PortIo* io) { passthrough_ = io; }
    const ExitCounters& counters() const { return counters_; }

  private:
    void handle_io(VcpuState& state, const VmExit& exit);
    void handle_string_io(VcpuState& state, const IoAccess& io, IoHandler& handler);
    void handle_msr(VcpuState& state, const VmExit& exit);
    bool skip_instruction(VcpuState& state, const VmExit& exit, unsigned fallback_length);

    IoDispatcher& io_;
    GuestMemory& memory_;
    HostCpuid host_cpuid_;
    PortIo* passthrough_ = nullptr;
    uint32_t version_;
    ExitCounters counters_;
    bool warned_unknown_exit_ = false;
    bool warned_hidden_write_ = false;
    uint8_t bounce_[4096]; // string I/O staging, one chunk at a time
};

} // namespace sv
