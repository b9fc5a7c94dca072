// Semantic decode of the MMIO access forms (MOV, MOVZX/MOVSX, MOV moffs,
// STOS/MOVS/LODS, IN/OUT/INS/OUTS) and effective-address computation:
// ModRM/SIB, RIP-relative, 16-bit forms, address-size truncation, segments.
#include <gtest/gtest.h>

#include "tests/unit/x86/test_bytes.hpp"

namespace sv::x86 {
namespace {

constexpr unsigned kRax = 0, kRcx = 1, kRbx = 3, kRsp = 4, kRbp = 5, kRsi = 6, kRdi = 7;

Instruction must_decode(const char* hex, CpuMode mode) {
    const Result<Instruction> r = test::decode_hex(hex, mode);
    EXPECT_TRUE(r.ok()) << hex;
    return r.ok() ? r.value() : Instruction{};
}

GuestGprs gprs_with(std::initializer_list<std::pair<unsigned, uint64_t>> values, uint64_t rip = 0) {
    GuestGprs g{};
    for (const auto& [reg, value] : values) g.r[reg] = value;
    g.rip = rip;
    return g;
}

uint64_t ea_of(const Instruction& insn, const GuestGprs& g) {
    const Result<uint64_t> ea = effective_address(insn, g);
    EXPECT_TRUE(ea.ok());
    return ea.value_or(~0ull);
}

TEST(InsnDecodeMmio, MovRegisterToMemory) {
    const Instruction store = must_decode("89 08", CpuMode::Long64); // mov [rax], ecx
    EXPECT_EQ(store.kind, InsnKind::MovToMem);
    EXPECT_EQ(store.access_size, 4);
    EXPECT_EQ(store.reg, kRcx);
    EXPECT_FALSE(store.reg_high_byte);
    EXPECT_EQ(ea_of(store, gprs_with({{kRax, 0xfee0'0300}})), 0xfee0'0300u);

    const Instruction wide = must_decode("4c 89 78 08", CpuMode::Long64); // mov [rax+8], r15
    EXPECT_EQ(wide.access_size, 8);
    EXPECT_EQ(wide.reg, 15);
    EXPECT_EQ(ea_of(wide, gprs_with({{kRax, 0x1000}})), 0x1008u);

    const Instruction word = must_decode("66 89 08", CpuMode::Long64);
    EXPECT_EQ(word.access_size, 2);
}

TEST(InsnDecodeMmio, ByteRegistersHighAndRexForms) {
    const Instruction ah = must_decode("88 20", CpuMode::Long64); // mov [rax], ah
    EXPECT_EQ(ah.kind, InsnKind::MovToMem);
    EXPECT_EQ(ah.access_size, 1);
    EXPECT_EQ(ah.reg, 0);
    EXPECT_TRUE(ah.reg_high_byte);

    const Instruction spl = must_decode("40 88 20", CpuMode::Long64); // mov [rax], spl
    EXPECT_EQ(spl.reg, kRsp);
    EXPECT_FALSE(spl.reg_high_byte);

    const Instruction r8b = must_decode("44 88 00", CpuMode::Long64); // mov [rax], r8b
    EXPECT_EQ(r8b.reg, 8);

    const Instruction load_bh = must_decode("8a 3e", CpuMode::Protected32); // mov bh, [esi]
    EXPECT_EQ(load_bh.kind, InsnKind::MovFromMem);
    EXPECT_EQ(load_bh.reg, kRbx);
    EXPECT_TRUE(load_bh.reg_high_byte);
}

TEST(InsnDecodeMmio, RegisterToRegisterIsNotMemoryAccess) {
    EXPECT_EQ(must_decode("89 c8", CpuMode::Long64).kind, InsnKind::Other);
    const Instruction r = must_decode("89 c8", CpuMode::Long64);
    EXPECT_EQ(effective_address(r, GuestGprs{}).error(), Error::InvalidArgument);
    EXPECT_EQ(must_decode("c7 08 01 00 00 00", CpuMode::Long64).kind, InsnKind::Other); // C7 /1
}

TEST(InsnDecodeMmio, MovImmediateToMemory) {
    const Instruction dword = must_decode("c7 80 00 01 00 00 78 56 34 12", CpuMode::Long64);
    EXPECT_EQ(dword.kind, InsnKind::MovImmToMem);
    EXPECT_EQ(dword.access_size, 4);
    EXPECT_EQ(dword.immediate, 0x12345678u);
    EXPECT_EQ(ea_of(dword, gprs_with({{kRax, 0x2000}})), 0x2100u);

    const Instruction qword = must_decode("48 c7 00 ff ff ff ff", CpuMode::Long64);
    EXPECT_EQ(qword.access_size, 8);
    EXPECT_EQ(qword.immediate, ~0ull); // Iz sign-extended to 64 bits

    const Instruction word = must_decode("66 c7 00 34 12", CpuMode::Long64);
    EXPECT_EQ(word.access_size, 2);
    EXPECT_EQ(word.immediate, 0x1234u);

    const Instruction byte = must_decode("c6 00 7f", CpuMode::Long64);
    EXPECT_EQ(byte.access_size, 1);
    EXPECT_EQ(byte.immediate, 0x7fu);

    const Instruction rip = must_decode("c7 05 10 00 00 00 01 00 00 00", CpuMode::Long64);
    EXPECT_TRUE(rip.memory.rip_relative);
    EXPECT_EQ(ea_of(rip, gprs_with({}, 0x1000)), 0x1000u + 10 + 0x10); // next RIP + disp
}

TEST(InsnDecodeMmio, ZeroAndSignExtendingLoads) {
    const Instruction zx = must_decode("0f b6 08", CpuMode::Long64); // movzx ecx, byte [rax]
    EXPECT_EQ(zx.kind, InsnKind::MovZx);
    EXPECT_EQ(zx.access_size, 1);
    EXPECT_EQ(zx.operand_size, 4);
    EXPECT_EQ(zx.reg, kRcx);

    const Instruction sx = must_decode("4c 0f bf 0c 24", CpuMode::Long64); // movsx r9, word [rsp]
    EXPECT_EQ(sx.kind, InsnKind::MovSx);
    EXPECT_EQ(sx.access_size, 2);
    EXPECT_EQ(sx.operand_size, 8);
    EXPECT_EQ(sx.reg, 9);
    EXPECT_EQ(memory_segment(sx), Segment::Ss);
    EXPECT_EQ(ea_of(sx, gprs_with({{kRsp, 0x7000}})), 0x7000u);
}

TEST(InsnDecodeMmio, MoffsForms) {
    const Instruction load = must_decode("a1 88 77 66 55 44 33 22 11", CpuMode::Long64);
    EXPECT_EQ(load.kind, InsnKind::MovFromMem);
    EXPECT_EQ(load.access_size, 4);
    EXPECT_EQ(load.reg, kRax);
    EXPECT_EQ(ea_of(load, GuestGprs{}), 0x1122334455667788u);

    const Instruction store = must_decode("a2 44 33 22 11", CpuMode::Protected32);
    EXPECT_EQ(store.kind, InsnKind::MovToMem);
    EXPECT_EQ(store.access_size, 1);
    EXPECT_EQ(ea_of(store, GuestGprs{}), 0x11223344u);

    const Instruction addr32 = must_decode("67 48 a3 44 33 22 11", CpuMode::Long64);
    EXPECT_EQ(addr32.access_size, 8);
    EXPECT_EQ(addr32.address_size, 4);
    EXPECT_EQ(ea_of(addr32, GuestGprs{}), 0x11223344u);
}

TEST(InsnDecodeMmio, StringOperations) {
    const Instruction stos = must_decode("f3 48 ab", CpuMode::Long64); // rep stosq
    EXPECT_EQ(stos.kind, InsnKind::Stos);
    EXPECT_EQ(stos.access_size, 8);
    EXPECT_TRUE(stos.prefixes.rep);
    EXPECT_EQ(ea_of(stos, gprs_with({{kRdi, 0xabc0}, {kRsi, 0x5}})), 0xabc0u);
    EXPECT_EQ(memory_segment(must_decode("64 aa", CpuMode::Long64)), Segment::Es); // no override

    const Instruction movs = must_decode("64 67 f3 a5", CpuMode::Long64); // rep movsd fs:[esi] -> es:[edi]
    EXPECT_EQ(movs.kind, InsnKind::Movs);
    EXPECT_EQ(movs.access_size, 4);
    EXPECT_EQ(movs.address_size, 4);
    const GuestGprs g = gprs_with({{kRsi, 0x1'0000'1000}, {kRdi, 0x2'0000'2000}});
    EXPECT_EQ(ea_of(movs, g), 0x2000u);
    EXPECT_EQ(string_source_offset(movs, g).value(), 0x1000u);
    EXPECT_EQ(memory_segment(movs), Segment::Es);
    EXPECT_EQ(string_source_segment(movs), Segment::Fs);

    const Instruction lods = must_decode("66 ad", CpuMode::Protected32); // lodsw
    EXPECT_EQ(lods.kind, InsnKind::Lods);
    EXPECT_EQ(lods.access_size, 2);
    EXPECT_EQ(memory_segment(lods), Segment::Ds);
    EXPECT_EQ(ea_of(lods, gprs_with({{kRsi, 0x44}})), 0x44u);
    EXPECT_EQ(string_source_offset(stos, g).error(), Error::InvalidArgument);
}

TEST(InsnDecodeMmio, PortIo) {
    const Instruction in_imm = must_decode("e4 60", CpuMode::Long64);
    EXPECT_EQ(in_imm.kind, InsnKind::In);
    EXPECT_EQ(in_imm.access_size, 1);
    EXPECT_FALSE(in_imm.port_in_dx);
    EXPECT_EQ(in_imm.immediate, 0x60u);

    const Instruction in_dx = must_decode("66 ed", CpuMode::Long64);
    EXPECT_EQ(in_dx.access_size, 2);
    EXPECT_TRUE(in_dx.port_in_dx);
    EXPECT_EQ(must_decode("48 ed", CpuMode::Long64).access_size, 4); // REX.W does not widen I/O
    EXPECT_EQ(must_decode("ed", CpuMode::Real16).access_size, 2);

    const Instruction outs = must_decode("2e 66 f3 6f", CpuMode::Protected32); // rep outsw cs:[esi]
    EXPECT_EQ(outs.kind, InsnKind::Outs);
    EXPECT_EQ(outs.access_size, 2);
    EXPECT_TRUE(outs.prefixes.rep);
    EXPECT_EQ(string_source_segment(outs), Segment::Cs);

    const Instruction ins = must_decode("67 f3 6d", CpuMode::Real16); // rep insd es:[edi] (a32 o16: insw)
    EXPECT_EQ(ins.kind, InsnKind::Ins);
    EXPECT_EQ(ins.access_size, 2);
    EXPECT_EQ(ins.address_size, 4);
    EXPECT_EQ(memory_segment(ins), Segment::Es);
    EXPECT_EQ(must_decode("ee", CpuMode::Long64).kind, InsnKind::Out);
}

TEST(InsnDecodeMmio, SibAddressing) {
    // mov edx, [eax*4 + 0x1000]: SIB without base, 32-bit wrap-around.
    const Instruction no_base = must_decode("8b 14 85 00 10 00 00", CpuMode::Protected32);
    EXPECT_EQ(no_base.memory.base, -1);
    EXPECT_EQ(no_base.memory.index, 0);
    EXPECT_EQ(no_base.memory.scale, 4);
    EXPECT_EQ(ea_of(no_base, gprs_with({{kRax, 0x10}})), 0x1040u);
    EXPECT_EQ(ea_of(no_base, gprs_with({{kRax, 0xffff'ffff}})), 0xffcu);

    // [r12]: needs SIB, base = 12, no index.
    const Instruction r12 = must_decode("41 8b 04 24", CpuMode::Long64);
    EXPECT_EQ(r12.memory.base, 12);
    EXPECT_EQ(r12.memory.index, -1);
    // REX.X turns index 100b into r12.
    const Instruction idx12 = must_decode("42 8b 04 24", CpuMode::Long64);
    EXPECT_EQ(idx12.memory.base, kRsp);
    EXPECT_EQ(idx12.memory.index, 12);
    // [r13+0] is DS-based, [rbp+0] SS-based.
    const Instruction r13 = must_decode("41 8b 45 00", CpuMode::Long64);
    EXPECT_EQ(r13.memory.base, 13);
    EXPECT_EQ(memory_segment(r13), Segment::Ds);
    EXPECT_EQ(memory_segment(must_decode("8b 45 00", CpuMode::Long64)), Segment::Ss);

    // gs:[0x28] via SIB without base or index.
    const Instruction gs = must_decode("65 48 8b 04 25 28 00 00 00", CpuMode::Long64);
    EXPECT_EQ(memory_segment(gs), Segment::Gs);
    EXPECT_EQ(ea_of(gs, gprs_with({{kRax, 0x9999}})), 0x28u);

    // Negative displacement: mov eax, [rax-0x10]
    const Instruction neg = must_decode("8b 40 f0", CpuMode::Long64);
    EXPECT_EQ(neg.memory.displacement, -16);
    EXPECT_EQ(ea_of(neg, gprs_with({{kRax, 0x1000}})), 0xff0u);
}

TEST(InsnDecodeMmio, RipRelativeAndAddressSizeOverride) {
    const Instruction rip = must_decode("48 8b 05 10 00 00 00", CpuMode::Long64);
    EXPECT_EQ(rip.kind, InsnKind::MovFromMem);
    EXPECT_TRUE(rip.memory.rip_relative);
    EXPECT_EQ(memory_segment(rip), Segment::Ds);
    EXPECT_EQ(ea_of(rip, gprs_with({}, 0xffff'ffff'8100'0000)), 0xffff'ffff'8100'0017u);

    // 67 in 64-bit mode: RIP-relative with a 32-bit result (EIP + disp).
    const Instruction eip = must_decode("67 8b 05 f0 ff ff ff", CpuMode::Long64);
    EXPECT_EQ(eip.address_size, 4);
    EXPECT_EQ(ea_of(eip, gprs_with({}, 0xffff'ffff'0000'0008)), 0xffff'ffffu);

    // Outside 64-bit mode mod=00 rm=101 is an absolute disp32.
    const Instruction abs = must_decode("8b 05 00 10 00 00", CpuMode::Protected32);
    EXPECT_FALSE(abs.memory.rip_relative);
    EXPECT_EQ(ea_of(abs, gprs_with({}, 0x5000)), 0x1000u);

    // 67 with a 64-bit register: [eax] truncates the register.
    const Instruction a32 = must_decode("67 8b 08", CpuMode::Long64);
    EXPECT_EQ(ea_of(a32, gprs_with({{kRax, 0x1'2345'6789}})), 0x2345'6789u);
}

TEST(InsnDecodeMmio, SixteenBitAddressing) {
    // mov ax, [bp+si+0x10]: SS-based, wraps at 64 KiB.
    const Instruction bpsi = must_decode("8b 42 10", CpuMode::Real16);
    EXPECT_EQ(bpsi.kind, InsnKind::MovFromMem);
    EXPECT_EQ(bpsi.access_size, 2);
    EXPECT_EQ(bpsi.memory.base, kRbp);
    EXPECT_EQ(bpsi.memory.index, kRsi);
    EXPECT_EQ(memory_segment(bpsi), Segment::Ss);
    EXPECT_EQ(ea_of(bpsi, gprs_with({{kRbp, 0xfff0}, {kRsi, 0x30}})), 0x30u);

    // mov bx, [0x1234]
    const Instruction direct = must_decode("8b 1e 34 12", CpuMode::Real16);
    EXPECT_EQ(direct.memory.base, -1);
    EXPECT_EQ(ea_of(direct, gprs_with({{kRbx, 0x55}})), 0x1234u);

    // mov [di], al ; mov [bx+di-1], cx
    const Instruction di = must_decode("88 05", CpuMode::Protected16);
    EXPECT_EQ(di.memory.base, kRdi);
    EXPECT_EQ(ea_of(di, gprs_with({{kRdi, 0x1'0042}})), 0x42u);
    const Instruction bxdi = must_decode("89 49 ff", CpuMode::Protected16);
    EXPECT_EQ(memory_segment(bxdi), Segment::Ds);
    EXPECT_EQ(ea_of(bxdi, gprs_with({{kRbx, 0x100}, {kRdi, 0x20}})), 0x11fu);

    // 66 67 in real mode: 32-bit operand and 32-bit addressing.
    const Instruction wide = must_decode("66 67 89 03", CpuMode::Real16); // mov [ebx], eax
    EXPECT_EQ(wide.access_size, 4);
    EXPECT_EQ(wide.address_size, 4);
    EXPECT_EQ(ea_of(wide, gprs_with({{kRbx, 0x12'3456}})), 0x12'3456u);
}

TEST(InsnDecodeMmio, VectorInstructionsAreOnlyLengthDecoded) {
    const Instruction vmov = must_decode("c5 fe 6f 00", CpuMode::Long64);
    EXPECT_TRUE(vmov.vex);
    EXPECT_EQ(vmov.kind, InsnKind::Other);
    EXPECT_TRUE(vmov.memory.present);
    EXPECT_EQ(ea_of(vmov, gprs_with({{kRax, 0x4000}})), 0x4000u);
}

} // namespace
} // namespace sv::x86
