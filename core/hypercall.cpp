#include "core/hypercall.hpp"

namespace sv {

void handle_hypercall(VcpuState& s, const ExitCounters& counters, uint32_t version) {
    uint64_t& rax = s.reg(Gpr::Rax);
    uint64_t& rbx = s.reg(Gpr::Rbx);
    switch (rax) {
    case hypercall::version:
        rax = hypercall::status_ok;
        rbx = version;
        s.reg(Gpr::Rcx) = 0x52535653; // "SVSR" little-endian
        return;
    case hypercall::exit_count:
        if (rbx >= static_cast<uint64_t>(ExitReason::Count)) {
            rax = hypercall::status_invalid;
            return;
        }
        rbx = counters.by_reason[rbx];
        rax = hypercall::status_ok;
        return;
    case hypercall::exit_reason_count:
        rbx = static_cast<uint64_t>(ExitReason::Count);
        rax = hypercall::status_ok;
        return;
    default: rax = hypercall::status_invalid; return;
    }
}

} // namespace sv
