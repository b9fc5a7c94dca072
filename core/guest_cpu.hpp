// The guest CPU facts instruction emulation needs, from the vendor-neutral
// VcpuState: paging registers, code-segment mode, CPL 3, segment bases, and
// the instruction at RIP. Shared by the exit handler and the MMIO emulator.
#pragma once

#include <cstdint>

#include "core/guest_memory.hpp"
#include "core/vcpu_state.hpp"
#include "arch/x86/guest_page_walk.hpp"
#include "arch/x86/insn_decoder.hpp"
#include "lib/result.hpp"

namespace sv::guest_cpu {

inline x86::GuestPagingState paging(const VcpuState& s) { return {s.cr0, s.cr3, s.cr4, s.efer}; }

// AMD APM vol. 2 §4.8.1 / SDM vol. 3A §5.2.1: 64-bit mode needs EFER.LMA and
// CS.L; otherwise CS.D picks the default operand and address size.
inline x86::CpuMode cpu_mode(const VcpuState& s) {
    if (!(s.cr0 & 1)) return x86::CpuMode::Real16;
    if ((s.efer & (1ull << 10)) && s.cs.long_mode()) return x86::CpuMode::Long64;
    return s.cs.default_32() ? x86::CpuMode::Protected32 : x86::CpuMode::Protected16;
}

// CPL is SS.DPL (AMD APM vol. 2 §4.9.1).
inline bool user_mode(const VcpuState& s) { return (s.ss.attributes >> 5 & 3) == 3; }

inline uint64_t segment_base(const VcpuState& s, x86::Segment seg) {
    switch (seg) {
    case x86::Segment::Es: return s.es.base;
    case x86::Segment::Cs: return s.cs.base;
    case x86::Segment::Ss: return s.ss.base;
    case x86::Segment::Fs: return s.fs.base;
    case x86::Segment::Gs: return s.gs.base;
    case x86::Segment::Ds:
    case x86::Segment::None: return s.ds.base;
    }
    return 0;
}

// Linear address of seg:offset. In 64-bit mode only the FS and GS bases apply
// (SDM vol. 1 §3.7.4.1); outside it linear addresses are 32 bits wide.
inline uint64_t linear_address(const VcpuState& s, x86::Segment seg, uint64_t offset) {
    if (cpu_mode(s) == x86::CpuMode::Long64) {
        return (seg == x86::Segment::Fs || seg == x86::Segment::Gs) ? segment_base(s, seg) + offset : offset;
    }
    return (segment_base(s, seg) + offset) & 0xFFFFFFFFull;
}

inline Result<x86::Instruction> decode_at_rip(const VcpuState& s, GuestMemory& mem) {
    uint8_t bytes[x86::kMaxInstructionLength];
    const uint64_t linear = s.cs.base + s.rip;
    const size_t got = TRY(x86::fetch_linear(paging(s), mem, linear, bytes, user_mode(s)));
    return x86::decode(std::span<const uint8_t>(bytes, got), cpu_mode(s));
}

} // namespace sv::guest_cpu
