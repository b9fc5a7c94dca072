// Integer ALU semantics of the instructions the MMIO emulator re-does
// (core/mmio_emulate.hpp): result and arithmetic flags exactly as the CPU
// computes them, for 1-, 2-, 4- and 8-byte operands. Pure logic.
//
// References: Intel SDM vol. 1 3.4.3.1 (status flags), vol. 2 ch. 3-4 per
// mnemonic ("Flags Affected"), appendix B of vol. 1 (EFLAGS cross-reference);
// AMD APM vol. 3 ch. 3 and appendix E (rFLAGS summary).
#pragma once

#include <cstdint>

#include "arch/x86/insn_decoder.hpp"

namespace sv::x86 {

namespace rflags {
constexpr uint64_t cf = 1ull << 0, pf = 1ull << 2, af = 1ull << 4, zf = 1ull << 6, sf = 1ull << 7;
constexpr uint64_t df = 1ull << 10, of = 1ull << 11;
constexpr uint64_t arithmetic = cf | pf | af | zf | sf | of;
} // namespace rflags

// Bits of an operand of `size` bytes (1, 2, 4 or 8).
constexpr uint64_t size_mask(uint8_t size) { return size >= 8 ? ~0ull : (1ull << (8 * size)) - 1; }

struct AluResult {
    uint64_t value = 0;  // the destination's new value (masked to size)
    uint64_t rflags = 0; // the new RFLAGS (only the bits the instruction defines changed)
    bool writes = false; // false for CMP, TEST, BT: the destination is not written
};

// dst OP src for the AluOp (Inc/Dec/Not/Neg ignore src). For BT*, src is the
// bit number already reduced modulo the operand width: CF gets the old bit,
// the other status flags are left as they were (SDM: OF, SF, AF, PF
// undefined, ZF unaffected; keeping them is one valid choice).
// Flags the SDM calls undefined: AF after AND/OR/XOR/TEST is cleared.
[[nodiscard]] AluResult alu(AluOp op, uint8_t size, uint64_t dst, uint64_t src, uint64_t rflags);

} // namespace sv::x86
