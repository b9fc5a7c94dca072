// Flag-exact integer ALU (see alu.hpp). Carry and overflow come from the
// operands' and result's top bits (carry out of the MSB, SDM vol. 1 3.4.3.1),
// so one formula serves every operand size without wider arithmetic.
#include "arch/x86/alu.hpp"

namespace sv::x86 {
namespace {

uint64_t sign_bit(uint8_t size) { return 1ull << (8 * (size >= 8 ? 8 : size) - 1); }

// PF: set when the low byte of the result has an even number of 1 bits.
// (Folded by hand: a popcount builtin may call libgcc, which the freestanding
// hypervisor does not link.)
bool even_parity(uint64_t value) {
    unsigned v = static_cast<unsigned>(value & 0xff);
    v ^= v >> 4;
    v ^= v >> 2;
    v ^= v >> 1;
    return !(v & 1);
}

// SF, ZF, PF from the result; the caller's CF/OF/AF.
uint64_t result_flags(uint64_t r, uint8_t size, bool cf, bool of, bool af) {
    uint64_t f = 0;
    if (cf) f |= rflags::cf;
    if (of) f |= rflags::of;
    if (af) f |= rflags::af;
    if (r & sign_bit(size)) f |= rflags::sf;
    if (r == 0) f |= rflags::zf;
    if (even_parity(r)) f |= rflags::pf;
    return f;
}

uint64_t merge(uint64_t old, uint64_t defined, uint64_t flags) { return (old & ~defined) | (flags & defined); }

// dst + src + carry_in: carry out of the MSB is (d & s) | ((d | s) & ~r).
AluResult add(uint8_t size, uint64_t d, uint64_t s, bool carry_in, uint64_t old, uint64_t defined) {
    const uint64_t m = size_mask(size), sb = sign_bit(size);
    d &= m, s &= m;
    const uint64_t r = (d + s + (carry_in ? 1 : 0)) & m;
    const bool cf = ((d & s) | ((d | s) & ~r)) & sb;
    const bool of = ((d ^ r) & (s ^ r)) & sb;
    const bool af = (d ^ s ^ r) & 0x10;
    return {r, merge(old, defined, result_flags(r, size, cf, of, af)), true};
}

// dst - src - borrow_in: borrow out of the MSB is (~d & s) | (~(d ^ s) & r).
AluResult sub(uint8_t size, uint64_t d, uint64_t s, bool borrow_in, uint64_t old, uint64_t defined) {
    const uint64_t m = size_mask(size), sb = sign_bit(size);
    d &= m, s &= m;
    const uint64_t r = (d - s - (borrow_in ? 1 : 0)) & m;
    const bool cf = ((~d & s) | (~(d ^ s) & r)) & sb;
    const bool of = ((d ^ s) & (d ^ r)) & sb;
    const bool af = (d ^ s ^ r) & 0x10;
    return {r, merge(old, defined, result_flags(r, size, cf, of, af)), true};
}

AluResult logic(uint8_t size, uint64_t r, uint64_t old) {
    r &= size_mask(size);
    return {r, merge(old, rflags::arithmetic, result_flags(r, size, false, false, false)), true};
}

} // namespace

AluResult alu(AluOp op, uint8_t size, uint64_t dst, uint64_t src, uint64_t old) {
    constexpr uint64_t all = rflags::arithmetic, no_cf = rflags::arithmetic & ~rflags::cf;
    const bool carry = old & rflags::cf;
    const uint64_t m = size_mask(size);
    AluResult r;
    switch (op) {
    case AluOp::Add: return add(size, dst, src, false, old, all);
    case AluOp::Adc: return add(size, dst, src, carry, old, all);
    case AluOp::Sub: return sub(size, dst, src, false, old, all);
    case AluOp::Sbb: return sub(size, dst, src, carry, old, all);
    case AluOp::Cmp: r = sub(size, dst, src, false, old, all); r.writes = false; return r;
    case AluOp::And: return logic(size, dst & src, old);
    case AluOp::Or: return logic(size, dst | src, old);
    case AluOp::Xor: return logic(size, dst ^ src, old);
    case AluOp::Test: r = logic(size, dst & src, old); r.writes = false; return r;
    case AluOp::Inc: return add(size, dst, 1, false, old, no_cf); // INC/DEC leave CF alone
    case AluOp::Dec: return sub(size, dst, 1, false, old, no_cf);
    case AluOp::Neg: return sub(size, 0, dst, false, old, all);   // CF = (dst != 0)
    case AluOp::Not: return {~dst & m, old, true};                 // no flags
    case AluOp::Bt:
    case AluOp::Bts:
    case AluOp::Btr:
    case AluOp::Btc: {
        const uint64_t bit = 1ull << (src & (8 * size - 1));
        const uint64_t flags = (dst & bit) ? (old | rflags::cf) : (old & ~rflags::cf);
        uint64_t v = dst & m;
        if (op == AluOp::Bts) v |= bit;
        if (op == AluOp::Btr) v &= ~bit;
        if (op == AluOp::Btc) v ^= bit;
        return {v, flags, op != AluOp::Bt};
    }
    case AluOp::None: break;
    }
    return {dst & m, old, false};
}

} // namespace sv::x86
