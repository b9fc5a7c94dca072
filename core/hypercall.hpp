// The VMMCALL hypercall ABI (docs in README "Hypercalls"):
//   RAX = function; results in RAX (status: 0 ok, ~0 unknown/invalid), RBX, RCX.
//   0 version          -> RBX = (major << 16) | (minor << 8) | patch, RCX = "SVSR"
//   1 exit count       -> RBX in: ExitReason index; RBX out: exits of that reason
//   2 exit reason count -> RBX = number of ExitReason values
// Callable from any guest privilege level: it only reads counters.
#pragma once

#include <cstdint>

#include "core/exit_counters.hpp"
#include "core/vcpu_state.hpp"
#include "core/vm_exit.hpp"

namespace sv {

namespace hypercall {
constexpr uint64_t version = 0;
constexpr uint64_t exit_count = 1;
constexpr uint64_t exit_reason_count = 2;
constexpr uint64_t status_ok = 0;
constexpr uint64_t status_invalid = ~0ull;
} // namespace hypercall


void handle_hypercall(VcpuState& state, const ExitCounters& counters, uint32_t version);

} // namespace sv
