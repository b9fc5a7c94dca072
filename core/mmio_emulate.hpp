// Vendor-neutral MMIO instruction emulation. A trapped MMIO page (nested
// paging: read-only, or not present) makes the guest's access exit; without
// decode assists (QEMU TCG) the hypervisor re-does the whole instruction: it
// decodes it at RIP, finds every memory operand (ModRM, moffs, rSI/rDI),
// translates it through the guest's page tables, and performs each access
// either against the trapped range's handlers (core/mmio.hpp) or against
// guest RAM, then updates registers, RFLAGS and RIP as the CPU would.
//
// Emulated (SDM vol. 2 per mnemonic; AMD APM vol. 3):
//   MOV r/m<->reg (all sizes, AH-BH, moffs A0-A3), MOV r/m,imm, MOVNTI,
//   MOVZX, MOVSX; STOS, LODS, MOVS with and without REP (RAM<->MMIO either
//   way and MMIO<->MMIO); ADD OR ADC SBB AND SUB XOR CMP (r/m,imm; r/m,reg;
//   reg,r/m), TEST, INC, DEC, NOT, NEG, BT BTS BTR BTC (reg and imm8 bit
//   numbers), XCHG, CMPXCHG, XADD, each with or without LOCK.
// Refused with #GP, logged once: everything else with a memory operand on a
// trapped range (SSE/AVX moves, PUSH/POP, shifts, MUL/DIV, SETcc, CMPS,
// SCAS, ...). LOCK on an instruction that cannot take it raises #UD, as on
// hardware (SDM vol. 2 "LOCK").
//
// Rules (docs/design.md §3.3):
// - Each access (each element of a string instruction) lies wholly inside
//   one trapped range or wholly outside all of them; one that straddles a
//   range's edge is refused (#GP), reads and writes alike, so no byte of a
//   trapped register is touched around its mediator. An access that crosses
//   a page boundary translates both pages. Inside a range the handler gets
//   the access as it is (any size, any alignment): it splits or refuses.
// - Every instruction emulated here must touch a trapped range: an operand
//   that is not trapped is accessed only as guest RAM (GuestMemory, which
//   never maps hypervisor memory); an instruction that touches no trapped
//   range (the guest changed it after the fault) is refused.
// - A range without a reader (write-trapped only, e.g. the local APIC page)
//   is read directly (set_device_memory; the guest's RAM view otherwise) by
//   the read-modify-write forms, which then call its write handler.
// - REP: up to kMaxRepBatch elements per exit; with RCX left over RIP stays
//   on the instruction, so the guest re-executes it (interrupts are taken in
//   between), as hardware-assisted emulators do. RCX = 0 does nothing. DF,
//   the address size (rCX/rSI/rDI width) and segment overrides are honoured.
// - CMPXCHG that fails does not write the destination back (hardware writes
//   the old value; on a register with write-1-to-clear bits that would lose
//   state): it only loads the accumulator.
// - Faults: #PF (CR2, error code) on a guest page-table miss or a rights
//   refusal, #GP on a non-canonical address. Accesses of an instruction are
//   all translated before the first one is done, so a fault has no effect
//   on the device; a REP faults at the element it reaches, with the
//   registers describing the rest (SDM vol. 2 "REP").
//
// Callers serialise (the exit handler's io_lock): handlers are never entered
// twice at once, and the ranges do not change during an emulation.
#pragma once

#include <cstdint>

#include "core/decoded_insn_cache.hpp"
#include "core/exit_counters.hpp"
#include "core/guest_memory.hpp"
#include "core/mmio_dispatch.hpp"
#include "core/vcpu_state.hpp"
#include "arch/x86/insn_decoder.hpp"

namespace sv {

enum class MmioOutcome : uint8_t {
    Done,          // emulated (a REP batch may leave RIP on the instruction)
    Unsupported,   // not an instruction we emulate: #GP injected
    Straddle,      // an access straddles a trapped range's edge: #GP injected
    NotMmio,       // no trapped range touched, or an operand is neither RAM nor trapped: #GP
    Fault,         // #PF or #GP injected for an operand's address
    InvalidLock,   // LOCK on an instruction that does not take it: #UD injected
    Undecodable,   // the instruction at RIP could not be fetched or decoded: #GP
};

class MmioEmulator {
  public:
    // Elements of a REP string instruction per exit: bounds the time one
    // exit takes whatever RCX is.
    static constexpr uint64_t kMaxRepBatch = 128;

    MmioEmulator(GuestMemory& ram, ExitCounters& counters) : ram_(ram), counters_(counters) {}
    void set_ranges(const MmioDispatcher* ranges) { ranges_ = ranges; }
    // Direct access to device memory (identity) for the reads of write-only
    // trapped ranges; nullptr: through the guest-RAM view.
    void set_device_memory(GuestMemory* device) { device_ = device; }

    // Decodes the instruction at RIP (through the decoded-instruction cache,
    // core/decoded_insn_cache.hpp) and emulates it.
    MmioOutcome emulate(VcpuState& s);
    Result<x86::Instruction> decode(const VcpuState& s) {
        Result<x86::Instruction> insn = insn_cache_.decode_at_rip(s, ram_);
        counters_.insn_cache_hits = insn_cache_.stats().hits;
        counters_.insn_cache_misses = insn_cache_.stats().misses;
        return insn;
    }
    MmioOutcome emulate(VcpuState& s, const x86::Instruction& insn);
    // The same for a nested page fault at `fault_gpa` (the guest-physical
    // address the processor translated the access to, AMD APM vol. 2
    // §15.25.6 EXITINFO2). A supervisor-mode instruction with one memory
    // operand that does not cross a page, whose linear address has the fault
    // address's page offset, is taken to be that access: its guest page walk
    // is skipped (the processor did it, rights and accessed bits included).
    // The access still goes to the trapped range at that address, through
    // its mediator, so an instruction the guest changed under the fault can
    // only confuse the guest itself.
    MmioOutcome emulate_fault(VcpuState& s, uint64_t fault_gpa);
    MmioOutcome emulate_fault(VcpuState& s, const x86::Instruction& insn, uint64_t fault_gpa);

    struct Operand; // one resolved memory access (mmio_emulate.cpp)

  private:
    MmioOutcome emulate_string(VcpuState& s, const x86::Instruction& insn);
    MmioOutcome emulate_alu(VcpuState& s, const x86::Instruction& insn);
    MmioOutcome emulate_exchange(VcpuState& s, const x86::Instruction& insn);
    MmioOutcome resolve(VcpuState& s, x86::Segment seg, uint64_t offset, uint8_t size, bool write, Operand& out);
    MmioOutcome read(const Operand& op, uint64_t& value);
    MmioOutcome write(const Operand& op, uint64_t value);
    MmioOutcome refuse(VcpuState& s, MmioOutcome why, const char* what);

    GuestMemory& ram_;
    ExitCounters& counters_;
    const MmioDispatcher* ranges_ = nullptr;
    GuestMemory* device_ = nullptr;
    DecodedInsnCache insn_cache_;
    static constexpr uint64_t kNoFault = ~uint64_t{0};
    uint64_t fault_gpa_ = kNoFault; // emulate_fault(): for the one operand's resolve()
    bool warned_unsupported_ = false, warned_straddle_ = false, warned_not_mmio_ = false;
};

} // namespace sv
