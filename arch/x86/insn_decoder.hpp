// x86 instruction decoder for exit handling. QEMU TCG's SVM gives neither NRIP
// save nor decode assists, so the hypervisor finds instruction lengths (to
// advance RIP) and the operands of MMIO accesses (trapped by not-present
// nested page entries) itself.
//
// decode() finds the length of any instruction in every mode (legacy prefixes,
// REX, VEX, EVEX, XOP, the 1-, 2- and 3-byte opcode maps) and fills in the
// semantics of the memory-access forms a driver (or a hostile guest) may use
// on MMIO (MOV, MOVNTI, MOVZX/MOVSX, STOS, MOVS, LODS, the read-modify-write
// ALU forms, XCHG, CMPXCHG, XADD, BT*) and a few instructions that cause exits
// (CPUID, RDMSR, WRMSR, VMMCALL, IN/OUT, HLT ...). Pure logic over a byte span: it never reads
// outside the span and never trusts a byte.
//
// References: Intel SDM vol. 2 ch. 2 "Instruction Format" (2.1 prefixes and
// ModR/M, 2.2 REX, 2.3 VEX, 2.6-2.7 EVEX), vol. 2 appendix A opcode maps;
// AMD APM vol. 3 ch. 1 "Instruction Encoding" and appendix A.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "lib/result.hpp"

namespace sv::x86 {

// Code-segment mode. Compatibility mode is Protected32 or Protected16 by CS.D;
// virtual-8086 mode decodes as Real16.
enum class CpuMode : uint8_t { Real16, Protected16, Protected32, Long64 };

// SDM vol. 2 2.1.1: an instruction is at most 15 bytes; longer raises #GP/#UD.
inline constexpr size_t kMaxInstructionLength = 15;

enum class InsnKind : uint8_t {
    Other,       // length only
    MovToMem,    // 88/89, A2/A3, 0F C3 (MOVNTI): memory <- reg
    MovFromMem,  // 8A/8B, A0/A1: reg <- memory
    MovImmToMem, // C6 /0, C7 /0: memory <- imm
    MovZx,       // 0F B6/B7: reg <- zero_extend(memory)
    MovSx,       // 0F BE/BF: reg <- sign_extend(memory)
    Stos,        // AA/AB: ES:[rDI] <- AL/AX/EAX/RAX
    Movs,        // A4/A5: ES:[rDI] <- seg:[rSI]
    Lods,        // AC/AD: AL/AX/EAX/RAX <- seg:[rSI]
    Alu,         // memory operand of an ALU/BT form: see Instruction::alu
    Xchg,        // 86/87: reg <-> memory (implicitly locked)
    Cmpxchg,     // 0F B0/B1
    Xadd,        // 0F C0/C1
    Cpuid,       // 0F A2
    Rdmsr,       // 0F 32
    Wrmsr,       // 0F 30
    Vmmcall,     // 0F 01 D9 (AMD)
    Vmcall,      // 0F 01 C1 (Intel)
    Xsetbv,      // 0F 01 D1
    Hlt,         // F4
    In,          // E4/E5 (imm8 port), EC/ED (DX)
    Out,         // E6/E7, EE/EF
    Ins,         // 6C/6D
    Outs,        // 6E/6F
};

// The operation of an InsnKind::Alu instruction (SDM vol. 2 ch. 3-4 per
// mnemonic). Source: ModRM.reg (Register), the immediate (Immediate, already
// sign-extended for 83 /r ib) or none (the unary INC/DEC/NOT/NEG).
enum class AluOp : uint8_t { None, Add, Or, Adc, Sbb, And, Sub, Xor, Cmp, Test, Inc, Dec, Not, Neg, Bt, Bts, Btr, Btc };
enum class AluSource : uint8_t { None, Register, Immediate };

enum class Segment : uint8_t { None, Es, Cs, Ss, Ds, Fs, Gs };

// Legacy prefixes seen (SDM vol. 2 2.1.1). Repeated prefixes are legal; for
// the segment group the last one wins, as on hardware.
struct Prefixes {
    bool lock = false;     // F0
    bool repne = false;    // F2
    bool rep = false;      // F3 (REP/REPE)
    bool opsize = false;   // 66
    bool addrsize = false; // 67
    Segment segment = Segment::None;
    uint8_t count = 0;     // legacy prefix bytes, including redundant ones
};

// ModR/M memory operand in a form independent of 16/32/64-bit addressing:
// ea = base + index * scale + displacement (or next RIP + displacement),
// truncated to the address size (SDM vol. 2 2.1.5, tables 2-1 .. 2-3).
struct MemoryOperand {
    bool present = false;
    bool rip_relative = false;
    int8_t base = -1;  // GPR index 0-15, -1 for none
    int8_t index = -1; // GPR index 0-15, -1 for none
    uint8_t scale = 1;
    int64_t displacement = 0; // sign-extended; for moffs the zero-extended offset
};

struct Instruction {
    uint8_t length = 0;
    InsnKind kind = InsnKind::Other;
    uint8_t access_size = 0;  // bytes of memory (or port) accessed for the kinds above
    uint8_t operand_size = 0; // 2, 4 or 8: effective operand size (66 / REX.W)
    uint8_t address_size = 0; // 2, 4 or 8: effective address size (67)

    // Register operand of MOV/MOVZX/MOVSX/ALU/XCHG/CMPXCHG/XADD (ModRM.reg +
    // REX.R), or 0 (rAX) for A0-A3, STOS, LODS. High-byte registers AH/CH/DH/BH (8-bit operand, reg
    // 4-7 and no REX prefix) are reported as reg 0-3 with reg_high_byte set.
    uint8_t reg = 0;
    bool reg_high_byte = false;

    // InsnKind::Alu: the operation, its source, and whether the register is
    // the destination (02/03-style "op reg, r/m": memory is only read).
    AluOp alu = AluOp::None;
    AluSource alu_source = AluSource::None;
    bool reg_is_destination = false;

    // Immediate as the instruction uses it: Iz with 64-bit operand size and
    // the imm8 of 83 /r are sign-extended to 64 bits, others zero-extended. second_immediate holds
    // ENTER's imm8 and EXTRQ/INSERTQ's second imm8.
    uint64_t immediate = 0;
    uint64_t second_immediate = 0;
    uint8_t immediate_size = 0;

    Prefixes prefixes;
    uint8_t rex = 0;    // the REX byte (0x40-0x4F) in effect, 0 if none
    bool vex = false;   // VEX, EVEX or XOP encoded
    uint8_t opcode_map = 0; // 0: one-byte, 1: 0F, 2: 0F38, 3: 0F3A (VEX/EVEX map otherwise)
    uint8_t opcode = 0;

    bool has_modrm = false;
    uint8_t modrm_mod = 0, modrm_reg = 0, modrm_rm = 0; // raw 3-bit fields (no REX)
    bool has_sib = false;
    uint8_t sib_scale = 0, sib_index = 0, sib_base = 0; // raw fields
    uint8_t displacement_size = 0;
    MemoryOperand memory;

    // For Ins/Outs/In/Out: port from imm8, or DX when false.
    bool port_in_dx = false;
};

// The one length rule where the vendors differ (SDM vol. 2 2.2.1.3 vs APM
// vol. 3 1.2.3 / 2.5.2): near branches (E8, E9, 0F 80-8F) with a 66 prefix in
// 64-bit mode. AMD honours 66 (rel16, 4-byte CALL); Intel ignores it (rel32).
enum class CpuVendor : uint8_t { Amd, Intel };

// Errors: OutOfRange - the span ends before the instruction does (fetch more
// bytes, or the next page is not mapped); Malformed - longer than 15 bytes, an
// opcode invalid in this mode, or a prefix combination that raises #UD.
[[nodiscard]] Result<Instruction> decode(std::span<const uint8_t> bytes, CpuMode mode,
                                         CpuVendor vendor = CpuVendor::Amd);

// Register state needed for address computation. Index order is the
// hardware's: RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8 .. R15.
struct GuestGprs {
    uint64_t r[16];
    uint64_t rip; // address of the decoded instruction
};

// Offset (before adding the segment base) of the instruction's memory operand:
// ModRM/SIB, RIP-relative (relative to rip + length) or moffs, truncated to the
// address size. For STOS/MOVS/LODS: the rDI (STOS, MOVS destination) or rSI
// (LODS, MOVS source) operand; use string_source_offset() for the MOVS source.
// InvalidArgument when the instruction has no memory operand.
[[nodiscard]] Result<uint64_t> effective_address(const Instruction& insn, const GuestGprs& gprs);
[[nodiscard]] Result<uint64_t> string_source_offset(const Instruction& insn, const GuestGprs& gprs);

// Segment the memory operand uses: the override prefix if any, else SS for
// rBP/rSP-based addresses and DS otherwise (SDM vol. 1 3.7.4). The destination
// of STOS/MOVS/INS (ES:rDI) cannot be overridden. In 64-bit mode the caller
// treats the ES/CS/SS/DS bases as 0; only FS and GS bases apply (SDM vol. 1
// 3.7.4.1).
[[nodiscard]] Segment memory_segment(const Instruction& insn);
[[nodiscard]] Segment string_source_segment(const Instruction& insn);

} // namespace sv::x86
