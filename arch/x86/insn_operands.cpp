// Memory-operand addressing for decoded instructions: effective address
// (offset within the segment) and the segment used. SDM vol. 1 3.7.5
// "Specifying an Offset", 3.7.4 default segments; SDM vol. 2 2.2.1.6
// RIP-relative addressing; APM vol. 3 1.5 address-size overrides.
#include "arch/x86/insn_decoder.hpp"

namespace sv::x86 {
namespace {

constexpr unsigned kRsp = 4, kRbp = 5, kRsi = 6, kRdi = 7;

uint64_t truncate_to_address_size(uint64_t value, uint8_t address_size) {
    if (address_size >= 8) return value;
    return value & ((1ull << (8 * address_size)) - 1);
}

bool is_string_destination(InsnKind kind) {
    return kind == InsnKind::Stos || kind == InsnKind::Movs || kind == InsnKind::Ins;
}
bool is_string_source(InsnKind kind) {
    return kind == InsnKind::Movs || kind == InsnKind::Lods || kind == InsnKind::Outs;
}

Segment override_or(const Instruction& insn, Segment fallback) {
    return insn.prefixes.segment != Segment::None ? insn.prefixes.segment : fallback;
}

} // namespace

Result<uint64_t> effective_address(const Instruction& insn, const GuestGprs& gprs) {
    if (is_string_destination(insn.kind))
        return truncate_to_address_size(gprs.r[kRdi], insn.address_size);
    if (is_string_source(insn.kind))
        return truncate_to_address_size(gprs.r[kRsi], insn.address_size);

    const MemoryOperand& m = insn.memory;
    if (!m.present) return fail(Error::InvalidArgument);
    // Unsigned arithmetic wraps modulo 2^64; truncation then gives the
    // modulo-2^16/2^32 wrap the CPU applies for smaller address sizes.
    uint64_t ea = static_cast<uint64_t>(m.displacement);
    if (m.rip_relative) ea += gprs.rip + insn.length; // relative to the next instruction
    if (m.base >= 0 && m.base < 16) ea += gprs.r[m.base];
    if (m.index >= 0 && m.index < 16) ea += gprs.r[m.index] * m.scale;
    return truncate_to_address_size(ea, insn.address_size);
}

Result<uint64_t> string_source_offset(const Instruction& insn, const GuestGprs& gprs) {
    if (!is_string_source(insn.kind)) return fail(Error::InvalidArgument);
    return truncate_to_address_size(gprs.r[kRsi], insn.address_size);
}

Segment memory_segment(const Instruction& insn) {
    // SDM vol. 1 table 3-5: string destinations are always ES.
    if (is_string_destination(insn.kind)) return Segment::Es;
    if (is_string_source(insn.kind)) return override_or(insn, Segment::Ds);
    const MemoryOperand& m = insn.memory;
    const bool stack_based = !m.rip_relative && (m.base == kRsp || m.base == kRbp);
    return override_or(insn, stack_based ? Segment::Ss : Segment::Ds);
}

Segment string_source_segment(const Instruction& insn) { return override_or(insn, Segment::Ds); }

} // namespace sv::x86
