// Vendor-neutral VM exits: the backend decodes its raw exit information
// (SVM EXITCODE/EXITINFO, VMX exit reason/qualification) into one of these at
// the backend edge (docs/design.md §6 Code conventions, rule 4).
#pragma once

#include <cstdint>

#include "core/io.hpp"

namespace sv {

enum class ExitReason : uint8_t {
    Io,              // trapped IN/OUT/INS/OUTS
    Cpuid,
    MsrRead,
    MsrWrite,
    Hypercall,       // VMMCALL / VMCALL
    NestedPageFault, // NPT / EPT violation
    VirtInstruction, // guest tried VMRUN/VMLOAD/STGI/... or VMXON/... (hidden: #UD)
    Shutdown,        // guest triple fault
    Init,            // INIT signal (intercepted: vCPU back to wait-for-STARTUP)
    Xsetbv,          // XSETBV: validated, then the guest's XCR0 is loaded (core/xcr0_policy.hpp)
    Other,
    Count,
};

constexpr const char* to_string(ExitReason r) {
    switch (r) {
    case ExitReason::Io: return "io";
    case ExitReason::Cpuid: return "cpuid";
    case ExitReason::MsrRead: return "msr-read";
    case ExitReason::MsrWrite: return "msr-write";
    case ExitReason::Hypercall: return "hypercall";
    case ExitReason::NestedPageFault: return "npf";
    case ExitReason::VirtInstruction: return "virt-insn";
    case ExitReason::Shutdown: return "shutdown";
    case ExitReason::Init: return "init";
    case ExitReason::Xsetbv: return "xsetbv";
    case ExitReason::Other: return "other";
    case ExitReason::Count: break;
    }
    return "?";
}

struct NestedFault {
    uint64_t gpa = 0;
    bool write = false;
    bool fetch = false;
    bool present = false; // the nested entry was present (a permission fault)
};

struct VmExit {
    ExitReason reason = ExitReason::Other;
    uint64_t raw_code = 0;  // backend's own exit code, for logs only
    uint64_t next_rip = 0;  // 0 when the backend does not know (no NRIP): decode
    IoAccess io;            // reason == Io
    uint32_t msr = 0;       // MsrRead/MsrWrite
    NestedFault fault;      // NestedPageFault
};

} // namespace sv
