// Opcode attribute tables for insn_decoder.cpp: for every byte of the one-byte
// and 0F two-byte opcode maps, whether a ModR/M byte follows, what immediate
// follows, and whether the opcode is invalid (in 64-bit mode or always).
// Built at compile time from short lists that mirror the opcode maps of
// Intel SDM vol. 2 appendix A (tables) and AMD APM vol. 3 appendix A.
// The three-byte maps are uniform: 0F 38 has ModR/M and no immediate, 0F 3A
// has ModR/M and imm8 (SDM tables ).
#pragma once

#include <cstdint>
#include <initializer_list>

namespace sv::x86::opcode_tables {

// What follows the opcode (ModR/M and SIB/displacement come first).
enum class Imm : uint8_t {
    None,
    Byte,        // Ib, also Jb (rel8)
    Word,        // Iw (RET/RETF imm16)
    WordByte,    // Iw, Ib (ENTER)
    Z,           // Iz: 2 bytes with 16-bit operand size, else 4
    RelZ,        // Jz: like Iz, but always 4 in 64-bit mode (near branches)
    V,           // Iv: operand size, 8 with REX.W (MOV r64, imm64: B8+r)
    FarPointer,  // Ap: offset (Iz) + 16-bit selector (9A CALLF, EA JMPF)
    MemOffset,   // moffs: address size (A0-A3)
    Group3,      // F6/F7: Ib/Iz only for /0 and /1 (TEST)
};

inline constexpr uint8_t kModRm = 1u << 4;
inline constexpr uint8_t kInvalid64 = 1u << 5;  // #UD in 64-bit mode
inline constexpr uint8_t kInvalid = 1u << 6;    // #UD in every mode
inline constexpr uint8_t kImmMask = 0x0f;

struct OpcodeMap {
    uint8_t attr[256];
    constexpr Imm imm(uint8_t opcode) const { return static_cast<Imm>(attr[opcode] & kImmMask); }
    constexpr bool has_modrm(uint8_t opcode) const { return attr[opcode] & kModRm; }
    constexpr bool invalid(uint8_t opcode, bool long_mode) const {
        return (attr[opcode] & kInvalid) || (long_mode && (attr[opcode] & kInvalid64));
    }
};

constexpr void set_imm(OpcodeMap& m, uint8_t op, Imm imm) {
    m.attr[op] = static_cast<uint8_t>((m.attr[op] & ~kImmMask) | static_cast<uint8_t>(imm));
}
constexpr void set_range(OpcodeMap& m, unsigned first, unsigned last, uint8_t flags) {
    for (unsigned op = first; op <= last; ++op) m.attr[op] |= flags;
}
constexpr void set_imm_range(OpcodeMap& m, unsigned first, unsigned last, Imm imm) {
    for (unsigned op = first; op <= last; ++op) set_imm(m, static_cast<uint8_t>(op), imm);
}

// SDM vol. 2 table A-2 (one-byte opcode map).
constexpr OpcodeMap make_one_byte_map() {
    OpcodeMap m{};
    // ALU rows 00-3F: op r/m,reg (x0-x3, x8-xB), op AL,Ib (x4, xC), op eAX,Iz (x5, xD).
    for (unsigned row = 0; row < 0x40; row += 8) {
        set_range(m, row, row + 3, kModRm);
        set_imm(m, static_cast<uint8_t>(row + 4), Imm::Byte);
        set_imm(m, static_cast<uint8_t>(row + 5), Imm::Z);
    }
    for (uint8_t op : {0x06, 0x07, 0x0e, 0x16, 0x17, 0x1e, 0x1f, 0x27, 0x2f, 0x37, 0x3f})
        m.attr[op] |= kInvalid64; // PUSH/POP seg, DAA/DAS/AAA/AAS
    set_range(m, 0x60, 0x61, kInvalid64); // PUSHA/POPA
    m.attr[0x62] |= kModRm | kInvalid64;  // BOUND (EVEX in 64-bit mode: decoded separately)
    m.attr[0x63] |= kModRm;               // ARPL / MOVSXD
    set_imm(m, 0x68, Imm::Z);             // PUSH Iz
    m.attr[0x69] |= kModRm;               // IMUL Gv,Ev,Iz
    set_imm(m, 0x69, Imm::Z);
    set_imm(m, 0x6a, Imm::Byte); // PUSH Ib
    m.attr[0x6b] |= kModRm;      // IMUL Gv,Ev,Ib
    set_imm(m, 0x6b, Imm::Byte);
    set_imm_range(m, 0x70, 0x7f, Imm::Byte); // Jcc rel8
    set_range(m, 0x80, 0x8f, kModRm);        // group 1, TEST, XCHG, MOV, LEA, POP Ev
    set_imm(m, 0x80, Imm::Byte);
    set_imm(m, 0x81, Imm::Z);
    set_imm(m, 0x82, Imm::Byte);
    m.attr[0x82] |= kInvalid64;
    set_imm(m, 0x83, Imm::Byte);
    set_imm(m, 0x9a, Imm::FarPointer); // CALLF Ap
    m.attr[0x9a] |= kInvalid64;
    set_imm_range(m, 0xa0, 0xa3, Imm::MemOffset);
    set_imm(m, 0xa8, Imm::Byte); // TEST AL,Ib
    set_imm(m, 0xa9, Imm::Z);    // TEST eAX,Iz
    set_imm_range(m, 0xb0, 0xb7, Imm::Byte);
    set_imm_range(m, 0xb8, 0xbf, Imm::V);
    set_range(m, 0xc0, 0xc1, kModRm); // shift group 2, Ib
    set_imm_range(m, 0xc0, 0xc1, Imm::Byte);
    set_imm(m, 0xc2, Imm::Word);        // RET Iw
    set_range(m, 0xc4, 0xc5, kModRm);   // LES/LDS (VEX: decoded separately)
    set_range(m, 0xc4, 0xc5, kInvalid64);
    m.attr[0xc6] |= kModRm; // MOV Eb,Ib / XABORT Ib
    set_imm(m, 0xc6, Imm::Byte);
    m.attr[0xc7] |= kModRm; // MOV Ev,Iz / XBEGIN Jz
    set_imm(m, 0xc7, Imm::Z);
    set_imm(m, 0xc8, Imm::WordByte); // ENTER Iw,Ib
    set_imm(m, 0xca, Imm::Word);     // RETF Iw
    set_imm(m, 0xcd, Imm::Byte);     // INT Ib
    m.attr[0xce] |= kInvalid64;      // INTO
    set_range(m, 0xd0, 0xd3, kModRm);
    set_imm_range(m, 0xd4, 0xd5, Imm::Byte); // AAM/AAD Ib
    set_range(m, 0xd4, 0xd6, kInvalid64);   // AAM, AAD, SALC
    set_range(m, 0xd8, 0xdf, kModRm);       // x87 escape
    set_imm_range(m, 0xe0, 0xe7, Imm::Byte); // LOOPcc/JrCXZ rel8, IN/OUT Ib
    set_imm_range(m, 0xe8, 0xe9, Imm::RelZ); // CALL/JMP rel16/32
    set_imm(m, 0xea, Imm::FarPointer);       // JMPF Ap
    m.attr[0xea] |= kInvalid64;
    set_imm(m, 0xeb, Imm::Byte);
    set_range(m, 0xf6, 0xf7, kModRm); // group 3
    set_imm_range(m, 0xf6, 0xf7, Imm::Group3);
    set_range(m, 0xfe, 0xff, kModRm); // group 4, 5
    return m;
}

// SDM vol. 2 table A-3 (two-byte opcode map, first byte 0F). Most opcodes
// take ModR/M; the exceptions are listed.
constexpr OpcodeMap make_two_byte_map() {
    OpcodeMap m{};
    set_range(m, 0x00, 0xff, kModRm);
    auto no_modrm = [&m](unsigned first, unsigned last) {
        for (unsigned op = first; op <= last; ++op) m.attr[op] &= static_cast<uint8_t>(~kModRm);
    };
    no_modrm(0x05, 0x09); // SYSCALL CLTS SYSRET INVD WBINVD
    no_modrm(0x0b, 0x0b); // UD2
    no_modrm(0x0e, 0x0e); // FEMMS
    no_modrm(0x30, 0x37); // WRMSR RDTSC RDMSR RDPMC SYSENTER SYSEXIT - GETSEC
    no_modrm(0x77, 0x77); // EMMS
    no_modrm(0x80, 0x8f); // Jcc rel16/32
    set_imm_range(m, 0x80, 0x8f, Imm::RelZ);
    no_modrm(0xa0, 0xa2); // PUSH/POP FS, CPUID
    no_modrm(0xa8, 0xaa); // PUSH/POP GS, RSM
    no_modrm(0xc8, 0xcf); // BSWAP
    for (uint8_t op : {0x04, 0x0a, 0x0c, 0x24, 0x25, 0x26, 0x27, 0x36, 0x39, 0x3b, 0x3c, 0x3d, 0x3e,
                       0x3f, 0x7a, 0x7b, 0xa6, 0xa7})
        m.attr[op] |= kInvalid;
    // ModR/M + imm8: 3DNow! suffix, PSHUF*/PSxx group 12-14, SHLD/SHRD,
    // group 8 (BT* Ib), CMPPS, PINSRW, PEXTRW, SHUFPS.
    for (uint8_t op : {0x0f, 0x70, 0x71, 0x72, 0x73, 0xa4, 0xac, 0xba, 0xc2, 0xc4, 0xc5, 0xc6})
        set_imm(m, op, Imm::Byte);
    return m;
}

inline constexpr OpcodeMap kOneByteMap = make_one_byte_map();
inline constexpr OpcodeMap kTwoByteMap = make_two_byte_map();

// VEX/EVEX map 1 (0F) opcodes that take imm8 (same rows as the legacy map).
constexpr bool vex_map1_has_imm8(uint8_t opcode) {
    return (opcode >= 0x70 && opcode <= 0x73) || (opcode >= 0xc2 && opcode <= 0xc6 && opcode != 0xc3);
}

static_assert(kOneByteMap.has_modrm(0x89) && !kOneByteMap.has_modrm(0x90));
static_assert(kOneByteMap.imm(0xc8) == Imm::WordByte);
static_assert(!kTwoByteMap.has_modrm(0xa2) && kTwoByteMap.has_modrm(0x01));

} // namespace sv::x86::opcode_tables
