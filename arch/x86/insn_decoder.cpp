// Instruction length and MMIO-operand decoder (see insn_decoder.hpp).
// Order of an instruction (SDM vol. 2 figure 2-1, APM vol. 3 figure 1-1):
//   legacy prefixes, REX | VEX | EVEX | XOP, opcode (1-3 bytes), ModR/M, SIB,
//   displacement, immediate.
#include "arch/x86/insn_decoder.hpp"

#include "arch/x86/insn_opcode_tables.hpp"

namespace sv::x86 {
namespace {

using opcode_tables::Imm;

// Bounds-checked cursor over the instruction bytes. The 15-byte limit is
// checked before the span end, so a 15-byte buffer always suffices to tell a
// too-long instruction (Malformed) from a truncated one (OutOfRange).
class ByteCursor {
  public:
    explicit ByteCursor(std::span<const uint8_t> bytes) : bytes_(bytes) {}

    [[nodiscard]] Result<uint64_t> take(unsigned count) {
        TRY(ensure(count));
        uint64_t value = 0;
        for (unsigned i = 0; i < count; ++i) value |= uint64_t{bytes_[pos_ + i]} << (8 * i);
        pos_ += count;
        return value;
    }
    [[nodiscard]] Result<uint8_t> take_byte() { return static_cast<uint8_t>(TRY(take(1))); }
    [[nodiscard]] Result<uint8_t> peek_byte() {
        TRY(ensure(1));
        return bytes_[pos_];
    }
    size_t position() const { return pos_; }

  private:
    [[nodiscard]] Result<void> ensure(unsigned count) const {
        if (pos_ + count > kMaxInstructionLength) return fail(Error::Malformed);
        if (pos_ + count > bytes_.size()) return fail(Error::OutOfRange);
        return {};
    }
    std::span<const uint8_t> bytes_;
    size_t pos_ = 0;
};

// Register-extension bits from REX or (inverted) from VEX/EVEX/XOP.
struct Extension {
    bool w = false, r = false, x = false, b = false;
};

// Everything the opcode stage hands to the ModR/M and immediate stages.
struct OpcodeForm {
    bool modrm = false;
    bool modrm_forces_register = false; // MOV CR/DR: mod is ignored (SDM vol. 2 MOV-CR)
    Imm imm = Imm::None;
    bool extra_imm8 = false; // EXTRQ/INSERTQ second imm8
};

constexpr bool is_long(CpuMode mode) { return mode == CpuMode::Long64; }
constexpr bool is_16bit(CpuMode mode) { return mode == CpuMode::Real16 || mode == CpuMode::Protected16; }

int64_t sign_extend(uint64_t value, unsigned bytes) {
    if (bytes >= 8) return static_cast<int64_t>(value);
    const unsigned shift = 64 - 8 * bytes;
    return static_cast<int64_t>(value << shift) >> shift;
}

// Legacy prefixes and REX (SDM vol. 2 2.1.1, 2.2.1). A REX byte only counts
// when it is immediately followed by the opcode; a later legacy prefix cancels
// it. Returns the first byte after the prefixes.
Result<uint8_t> read_prefixes(ByteCursor& in, CpuMode mode, Instruction& insn) {
    for (;;) {
        const uint8_t b = TRY(in.take_byte());
        Prefixes& p = insn.prefixes;
        switch (b) {
        case 0xf0: p.lock = true; break;
        case 0xf2: p.repne = true; p.rep = false; break; // the last of F2/F3 wins
        case 0xf3: p.rep = true; p.repne = false; break;
        case 0x66: p.opsize = true; break;
        case 0x67: p.addrsize = true; break;
        case 0x26: p.segment = Segment::Es; break;
        case 0x2e: p.segment = Segment::Cs; break;
        case 0x36: p.segment = Segment::Ss; break;
        case 0x3e: p.segment = Segment::Ds; break;
        case 0x64: p.segment = Segment::Fs; break;
        case 0x65: p.segment = Segment::Gs; break;
        default:
            if (is_long(mode) && (b & 0xf0) == 0x40) {
                insn.rex = b;
                continue;
            }
            return b;
        }
        ++p.count;
        insn.rex = 0;
    }
}

void set_sizes(CpuMode mode, const Extension& ext, Instruction& insn) {
    const bool opsize = insn.prefixes.opsize, addrsize = insn.prefixes.addrsize;
    if (is_long(mode)) {
        insn.operand_size = ext.w ? 8 : (opsize ? 2 : 4);
        insn.address_size = addrsize ? 4 : 8;
    } else if (is_16bit(mode)) {
        insn.operand_size = opsize ? 4 : 2;
        insn.address_size = addrsize ? 4 : 2;
    } else {
        insn.operand_size = opsize ? 2 : 4;
        insn.address_size = addrsize ? 2 : 4;
    }
}

// VEX (C4/C5), EVEX (62) and XOP (8F) prefixes (SDM vol. 2 2.3.5, 2.7.1;
// APM vol. 3 1.8). Outside 64-bit mode C4/C5/62 are LES/LDS/BOUND unless the
// next byte has mod = 11, which those legacy forms cannot encode with a
// memory operand; 8F is XOP when its map field is 8 or more (POP Ev has reg 0).
// Real and virtual-8086 mode have no VEX/EVEX/XOP.
Result<bool> is_vector_escape(ByteCursor& in, CpuMode mode, uint8_t b) {
    if (b != 0xc4 && b != 0xc5 && b != 0x62 && b != 0x8f) return false;
    if (mode == CpuMode::Real16) return false;
    const uint8_t next = TRY(in.peek_byte());
    if (b == 0x8f) return (next & 0x1f) >= 8;
    return is_long(mode) || (next & 0xc0) == 0xc0;
}

Result<OpcodeForm> read_vector_opcode(ByteCursor& in, CpuMode mode, uint8_t escape,
                                      Instruction& insn, Extension& ext) {
    // SDM vol. 2 2.3.2: LOCK, 66, F2, F3 or REX before VEX/EVEX raise #UD.
    const Prefixes& p = insn.prefixes;
    if (p.lock || p.opsize || p.rep || p.repne || insn.rex) return fail(Error::Malformed);
    insn.vex = true;
    const bool long_mode = is_long(mode);
    unsigned map = 1;
    if (escape == 0xc5) {
        const uint8_t p0 = TRY(in.take_byte());
        ext.r = long_mode && !(p0 & 0x80);
    } else {
        const uint8_t p0 = TRY(in.take_byte());
        ext.r = long_mode && !(p0 & 0x80);
        ext.x = long_mode && !(p0 & 0x40);
        ext.b = long_mode && !(p0 & 0x20);
        if (escape == 0x62) {
            map = p0 & 0x07;
            const uint8_t p1 = TRY(in.take_byte());
            ext.w = p1 & 0x80;
            (void)TRY(in.take_byte()); // P2: z, L'L, b, V', aaa
        } else {
            map = p0 & 0x1f;
            const uint8_t p1 = TRY(in.take_byte());
            ext.w = p1 & 0x80;
        }
    }
    insn.opcode_map = static_cast<uint8_t>(map);
    insn.opcode = TRY(in.take_byte());

    OpcodeForm form;
    form.modrm = true;
    if (escape == 0x8f) { // XOP maps 8 (imm8), 9 (none), A (imm32)
        if (map < 8 || map > 10) return fail(Error::Malformed);
        form.imm = map == 8 ? Imm::Byte : Imm::None;
        if (map == 10) form.imm = Imm::Z; // 66 is refused above, so Iz is 4 bytes
        return form;
    }
    switch (map) {
    case 1:
        if (escape != 0x62 && insn.opcode == 0x77) form.modrm = false; // VZEROUPPER/VZEROALL
        form.imm = opcode_tables::vex_map1_has_imm8(insn.opcode) ? Imm::Byte : Imm::None;
        return form;
    case 2: return form;
    case 3: form.imm = Imm::Byte; return form;
    case 5:
    case 6:
        if (escape == 0x62) return form; // EVEX maps 5, 6 (AVX512-FP16): no immediate
        return fail(Error::Malformed);
    default: return fail(Error::Malformed); // reserved maps (and APX's EVEX map 4: not supported)
    }
}

Result<OpcodeForm> read_legacy_opcode(ByteCursor& in, CpuMode mode, uint8_t first, Instruction& insn) {
    using opcode_tables::kOneByteMap;
    using opcode_tables::kTwoByteMap;
    OpcodeForm form;
    if (first != 0x0f) {
        if (kOneByteMap.invalid(first, is_long(mode))) return fail(Error::Malformed);
        insn.opcode_map = 0;
        insn.opcode = first;
        form.modrm = kOneByteMap.has_modrm(first);
        form.imm = kOneByteMap.imm(first);
        return form;
    }
    const uint8_t second = TRY(in.take_byte());
    if (second == 0x38 || second == 0x3a) { // SDM tables
        insn.opcode_map = second == 0x38 ? 2 : 3;
        insn.opcode = TRY(in.take_byte());
        form.modrm = true;
        form.imm = second == 0x3a ? Imm::Byte : Imm::None;
        return form;
    }
    if (kTwoByteMap.invalid(second, is_long(mode))) return fail(Error::Malformed);
    insn.opcode_map = 1;
    insn.opcode = second;
    form.modrm = kTwoByteMap.has_modrm(second);
    form.imm = kTwoByteMap.imm(second);
    form.modrm_forces_register = second >= 0x20 && second <= 0x23;
    // AMD SSE4a: 66 0F 78 /0 ib ib (EXTRQ), F2 0F 78 /r ib ib (INSERTQ).
    if (second == 0x78 && (insn.prefixes.opsize || insn.prefixes.repne)) {
        form.imm = Imm::Byte;
        form.extra_imm8 = true;
    }
    return form;
}

// 16-bit addressing (SDM vol. 2 table 2-1): rm selects a base/index pair.
void decode_modrm16(Instruction& insn) {
    constexpr int8_t kBx = 3, kBp = 5, kSi = 6, kDi = 7;
    constexpr int8_t base[8] = {kBx, kBx, kBp, kBp, -1, -1, kBp, kBx};
    constexpr int8_t index[8] = {kSi, kDi, kSi, kDi, kSi, kDi, -1, -1};
    MemoryOperand& m = insn.memory;
    m.base = base[insn.modrm_rm];
    m.index = index[insn.modrm_rm];
    if (insn.modrm_rm == 4 || insn.modrm_rm == 5) m.base = m.index, m.index = -1; // [SI], [DI]
    if (insn.modrm_mod == 0 && insn.modrm_rm == 6) { // [disp16]
        m.base = -1;
        insn.displacement_size = 2;
    } else if (insn.modrm_mod == 1) {
        insn.displacement_size = 1;
    } else if (insn.modrm_mod == 2) {
        insn.displacement_size = 2;
    }
}

// ModR/M, SIB and displacement (SDM vol. 2 2.1.5 tables 2-2, 2-3; 2.2.1.6
// RIP-relative addressing in 64-bit mode).
Result<void> read_modrm(ByteCursor& in, CpuMode mode, const OpcodeForm& form, const Extension& ext,
                        Instruction& insn) {
    const uint8_t modrm = TRY(in.take_byte());
    insn.has_modrm = true;
    insn.modrm_mod = modrm >> 6;
    insn.modrm_reg = (modrm >> 3) & 7;
    insn.modrm_rm = modrm & 7;
    if (insn.modrm_mod == 3 || form.modrm_forces_register) return {};

    MemoryOperand& m = insn.memory;
    m.present = true;
    if (insn.address_size == 2) {
        decode_modrm16(insn);
    } else {
        if (insn.modrm_rm == 4) {
            const uint8_t sib = TRY(in.take_byte());
            insn.has_sib = true;
            insn.sib_scale = sib >> 6;
            insn.sib_index = (sib >> 3) & 7;
            insn.sib_base = sib & 7;
            m.scale = static_cast<uint8_t>(1u << insn.sib_scale);
            const unsigned index = insn.sib_index | (ext.x ? 8u : 0u);
            m.index = index == 4 ? -1 : static_cast<int8_t>(index); // 100b without REX.X: none
            if (insn.sib_base == 5 && insn.modrm_mod == 0) {
                m.base = -1;
                insn.displacement_size = 4;
            } else {
                m.base = static_cast<int8_t>(insn.sib_base | (ext.b ? 8u : 0u));
            }
        } else if (insn.modrm_rm == 5 && insn.modrm_mod == 0) {
            m.rip_relative = is_long(mode); // disp32 alone outside 64-bit mode
            insn.displacement_size = 4;
        } else {
            m.base = static_cast<int8_t>(insn.modrm_rm | (ext.b ? 8u : 0u));
        }
        if (insn.modrm_mod == 1) insn.displacement_size = 1;
        if (insn.modrm_mod == 2) insn.displacement_size = 4;
    }
    if (insn.displacement_size) {
        const uint64_t raw = TRY(in.take(insn.displacement_size));
        m.displacement = sign_extend(raw, insn.displacement_size);
    }
    return {};
}

Result<void> read_immediate(ByteCursor& in, CpuMode mode, CpuVendor vendor, const OpcodeForm& form,
                            Instruction& insn) {
    const unsigned z = insn.operand_size == 2 ? 2 : 4;
    unsigned size = 0;
    switch (form.imm) {
    case Imm::None: break;
    case Imm::Byte: size = 1; break;
    case Imm::Word: size = 2; break;
    case Imm::WordByte: size = 2; break;
    case Imm::Z: size = z; break;
    case Imm::RelZ: // Intel ignores 66 on 64-bit near branches, AMD does not
        size = is_long(mode) && vendor == CpuVendor::Intel ? 4 : z;
        break;
    case Imm::V: size = insn.operand_size; break;
    case Imm::FarPointer: size = z; break;
    case Imm::MemOffset: size = insn.address_size; break;
    case Imm::Group3:
        if (insn.modrm_reg <= 1) size = insn.opcode == 0xf6 ? 1 : z; // TEST Ib/Iz
        break;
    }
    if (size) {
        const uint64_t raw = TRY(in.take(size));
        insn.immediate_size = static_cast<uint8_t>(size);
        insn.immediate = (size == 4 && insn.operand_size == 8 && form.imm == Imm::Z)
                             ? static_cast<uint64_t>(sign_extend(raw, 4))
                             : raw;
    }
    if (form.imm == Imm::WordByte || form.extra_imm8) insn.second_immediate = TRY(in.take(1));
    if (form.imm == Imm::FarPointer) insn.second_immediate = TRY(in.take(2)); // selector
    if (form.imm == Imm::MemOffset) {
        insn.memory.present = true;
        insn.memory.displacement = static_cast<int64_t>(insn.immediate);
    }
    return {};
}

// The register operand, with AH/CH/DH/BH for 8-bit operands without REX
// (SDM vol. 2 2.2.1.2, table 3-1).
void set_reg_operand(Instruction& insn, const Extension& ext, bool byte_operand) {
    insn.reg = static_cast<uint8_t>(insn.modrm_reg | (ext.r ? 8u : 0u));
    if (byte_operand && insn.rex == 0 && insn.modrm_reg >= 4) {
        insn.reg = static_cast<uint8_t>(insn.modrm_reg - 4);
        insn.reg_high_byte = true;
    }
}

// The eight classic ALU operations in opcode order (SDM vol. 2 table A-2
// rows 0-3 and group 1, table A-6: ModRM.reg of 80-83).
constexpr AluOp kGroup1[8] = {AluOp::Add, AluOp::Or,  AluOp::Adc, AluOp::Sbb,
                              AluOp::And, AluOp::Sub, AluOp::Xor, AluOp::Cmp};

void set_alu(Instruction& insn, AluOp op, AluSource source, uint8_t size) {
    insn.kind = InsnKind::Alu;
    insn.alu = op;
    insn.alu_source = source;
    insn.access_size = size;
}

// ALU forms with a memory operand (SDM vol. 2 table A-2, groups 1, 3, 4, 5 in
// table A-6). Returns whether `op` was one of them.
bool classify_one_byte_alu(Instruction& insn, const Extension& ext) {
    const uint8_t op = insn.opcode;
    const uint8_t wide = insn.operand_size;
    const uint8_t size = (op & 1) ? wide : 1;
    const uint8_t reg = insn.modrm_reg;
    if (op < 0x40 && (op & 7) <= 3) { // 00-03, 08-0B, ... 38-3B: op Eb,Gb / Ev,Gv / Gb,Eb / Gv,Ev
        set_alu(insn, kGroup1[op >> 3], AluSource::Register, size);
        insn.reg_is_destination = op & 2;
        set_reg_operand(insn, ext, !(op & 1));
        return true;
    }
    switch (op) {
    case 0x80: case 0x81: case 0x82: case 0x83: // group 1: Eb,Ib / Ev,Iz / Eb,Ib / Ev,Ib (sign-extended)
        set_alu(insn, kGroup1[reg], AluSource::Immediate, (op == 0x81 || op == 0x83) ? wide : 1);
        return true;
    case 0x84: case 0x85: // TEST Eb,Gb / Ev,Gv
        set_alu(insn, AluOp::Test, AluSource::Register, size);
        set_reg_operand(insn, ext, !(op & 1));
        return true;
    case 0x86: case 0x87: // XCHG Eb,Gb / Ev,Gv
        insn.kind = InsnKind::Xchg;
        insn.access_size = size;
        set_reg_operand(insn, ext, !(op & 1));
        return true;
    case 0xf6: case 0xf7: // group 3: TEST Ib/Iz (reg 0, 1), NOT, NEG; MUL/DIV are not emulated
        if (reg <= 1) set_alu(insn, AluOp::Test, AluSource::Immediate, size);
        if (reg == 2) set_alu(insn, AluOp::Not, AluSource::None, size);
        if (reg == 3) set_alu(insn, AluOp::Neg, AluSource::None, size);
        return true;
    case 0xfe: case 0xff: // groups 4 and 5: INC, DEC (FF /2-/7 are branches and PUSH)
        if (reg <= 1) set_alu(insn, reg == 0 ? AluOp::Inc : AluOp::Dec, AluSource::None, size);
        return true;
    default: return false;
    }
}

void classify_one_byte(Instruction& insn, const Extension& ext) {
    const uint8_t op = insn.opcode;
    const bool mem = insn.memory.present;
    const uint8_t wide = insn.operand_size;
    const uint8_t port_size = insn.operand_size == 2 ? 2 : 4; // REX.W does not widen I/O
    auto set = [&insn](InsnKind kind, uint8_t size) {
        insn.kind = kind;
        insn.access_size = size;
    };
    // 83 /r ib: the imm8 is sign-extended to the operand size (SDM vol. 2 ADD "83 /0 ib").
    if (op == 0x83) insn.immediate = static_cast<uint64_t>(sign_extend(insn.immediate, 1));
    if (mem && classify_one_byte_alu(insn, ext)) return;
    switch (op) {
    case 0x88: case 0x89: case 0x8a: case 0x8b:
        if (!mem) return;
        set(op <= 0x89 ? InsnKind::MovToMem : InsnKind::MovFromMem, (op & 1) ? wide : 1);
        set_reg_operand(insn, ext, !(op & 1));
        return;
    case 0xc6: case 0xc7:
        if (mem && insn.modrm_reg == 0) set(InsnKind::MovImmToMem, op == 0xc7 ? wide : 1);
        return;
    case 0xa0: case 0xa1: set(InsnKind::MovFromMem, (op & 1) ? wide : 1); return;
    case 0xa2: case 0xa3: set(InsnKind::MovToMem, (op & 1) ? wide : 1); return;
    case 0xa4: case 0xa5: set(InsnKind::Movs, (op & 1) ? wide : 1); return;
    case 0xaa: case 0xab: set(InsnKind::Stos, (op & 1) ? wide : 1); return;
    case 0xac: case 0xad: set(InsnKind::Lods, (op & 1) ? wide : 1); return;
    case 0xf4: insn.kind = InsnKind::Hlt; return;
    case 0x6c: case 0x6d: insn.port_in_dx = true; set(InsnKind::Ins, (op & 1) ? port_size : 1); return;
    case 0x6e: case 0x6f: insn.port_in_dx = true; set(InsnKind::Outs, (op & 1) ? port_size : 1); return;
    case 0xe4: case 0xe5: set(InsnKind::In, (op & 1) ? port_size : 1); return;
    case 0xe6: case 0xe7: set(InsnKind::Out, (op & 1) ? port_size : 1); return;
    case 0xec: case 0xed: insn.port_in_dx = true; set(InsnKind::In, (op & 1) ? port_size : 1); return;
    case 0xee: case 0xef: insn.port_in_dx = true; set(InsnKind::Out, (op & 1) ? port_size : 1); return;
    default: return;
    }
}

void classify_two_byte(Instruction& insn, const Extension& ext) {
    switch (insn.opcode) {
    case 0xa2: insn.kind = InsnKind::Cpuid; return;
    case 0x30: insn.kind = InsnKind::Wrmsr; return;
    case 0x32: insn.kind = InsnKind::Rdmsr; return;
    case 0x01:
        if (insn.modrm_mod != 3) return;
        if (insn.modrm_reg == 3 && insn.modrm_rm == 1) insn.kind = InsnKind::Vmmcall; // 0F 01 D9
        if (insn.modrm_reg == 0 && insn.modrm_rm == 1) insn.kind = InsnKind::Vmcall;  // 0F 01 C1
        if (insn.modrm_reg == 2 && insn.modrm_rm == 1) insn.kind = InsnKind::Xsetbv;  // 0F 01 D1
        return;
    case 0xa3: case 0xab: case 0xb3: case 0xbb: // BT, BTS, BTR, BTC Ev,Gv
        if (!insn.memory.present) return;
        set_alu(insn, insn.opcode == 0xa3 ? AluOp::Bt : insn.opcode == 0xab ? AluOp::Bts
                      : insn.opcode == 0xb3 ? AluOp::Btr : AluOp::Btc,
                AluSource::Register, insn.operand_size);
        set_reg_operand(insn, ext, false);
        return;
    case 0xba: { // group 8: BT, BTS, BTR, BTC Ev,Ib (SDM vol. 2 table A-6)
        if (!insn.memory.present || insn.modrm_reg < 4) return;
        constexpr AluOp kGroup8[4] = {AluOp::Bt, AluOp::Bts, AluOp::Btr, AluOp::Btc};
        set_alu(insn, kGroup8[insn.modrm_reg - 4], AluSource::Immediate, insn.operand_size);
        return;
    }
    case 0xb0: case 0xb1: case 0xc0: case 0xc1: // CMPXCHG, XADD Eb,Gb / Ev,Gv
        if (!insn.memory.present) return;
        insn.kind = insn.opcode <= 0xb1 ? InsnKind::Cmpxchg : InsnKind::Xadd;
        insn.access_size = (insn.opcode & 1) ? insn.operand_size : 1;
        set_reg_operand(insn, ext, !(insn.opcode & 1));
        return;
    case 0xc3: // MOVNTI My,Gy: a plain store as far as the device can tell
        if (!insn.memory.present || insn.prefixes.opsize || insn.prefixes.rep || insn.prefixes.repne) return;
        insn.kind = InsnKind::MovToMem;
        insn.access_size = insn.operand_size == 8 ? 8 : 4;
        set_reg_operand(insn, ext, false);
        return;
    case 0xb6: case 0xb7: case 0xbe: case 0xbf:
        if (!insn.memory.present) return;
        insn.kind = insn.opcode <= 0xb7 ? InsnKind::MovZx : InsnKind::MovSx;
        insn.access_size = (insn.opcode & 1) ? 2 : 1;
        set_reg_operand(insn, ext, false);
        return;
    default: return;
    }
}

} // namespace

Result<Instruction> decode(std::span<const uint8_t> bytes, CpuMode mode, CpuVendor vendor) {
    ByteCursor in(bytes);
    Instruction insn;
    const uint8_t first = TRY(read_prefixes(in, mode, insn));

    Extension ext;
    if (insn.rex) {
        ext = {bool(insn.rex & 8), bool(insn.rex & 4), bool(insn.rex & 2), bool(insn.rex & 1)};
    }
    OpcodeForm form;
    if (TRY(is_vector_escape(in, mode, first))) {
        form = TRY(read_vector_opcode(in, mode, first, insn, ext));
    } else {
        form = TRY(read_legacy_opcode(in, mode, first, insn));
    }
    set_sizes(mode, ext, insn);
    if (form.modrm) TRY(read_modrm(in, mode, form, ext, insn));
    TRY(read_immediate(in, mode, vendor, form, insn));
    insn.length = static_cast<uint8_t>(in.position());

    if (!insn.vex && insn.opcode_map == 0) classify_one_byte(insn, ext);
    if (!insn.vex && insn.opcode_map == 1) classify_two_byte(insn, ext);
    return insn;
}

} // namespace sv::x86
