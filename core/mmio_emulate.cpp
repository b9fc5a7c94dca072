// MMIO instruction emulation (see mmio_emulate.hpp for what and why).
#include "core/mmio_emulate.hpp"

#include "core/guest_cpu.hpp"
#include "arch/x86/alu.hpp"
#include "arch/x86/guest_page_walk.hpp"
#include "lib/log.hpp"

namespace sv {

// One memory access of the instruction, translated: [gpa, gpa + first_bytes)
// on the first page and, when it crosses a page boundary, the rest from
// gpa_second. range: the trapped range holding all of it (contiguous), or
// nullptr for guest RAM.
struct MmioEmulator::Operand {
    const MmioRange* range = nullptr;
    uint64_t gpa = 0, gpa_second = 0;
    uint8_t size = 0, first_bytes = 0;
};

namespace {

using x86::AluOp;
using x86::InsnKind;
using x86::size_mask;

constexpr uint64_t kPageSize = 4096;

// #PF error code (SDM vol. 3A §4.7): P (protection, not a missing page), W/R,
// U/S, RSVD (a reserved bit in a paging entry).
constexpr uint32_t pf_present = 1u << 0, pf_write = 1u << 1, pf_user = 1u << 2, pf_reserved = 1u << 3;

bool long64(const VcpuState& s) { return guest_cpu::cpu_mode(s) == x86::CpuMode::Long64; }

// SDM vol. 3A §4.5: bits 63:47 (63:56 with 5-level paging) copy bit 47 (56).
bool canonical(const VcpuState& s, uint64_t linear) {
    const unsigned width = (s.cr4 & (1ull << 12)) ? 57 : 48; // CR4.LA57
    const int64_t shifted = static_cast<int64_t>(linear << (64 - width)) >> (64 - width);
    return static_cast<uint64_t>(shifted) == linear;
}

uint64_t read_reg(const VcpuState& s, uint8_t reg, bool high_byte, uint8_t size) {
    uint64_t v = s.gpr[reg & 15];
    if (high_byte) v >>= 8;
    return v & size_mask(size);
}

// SDM vol. 1 §3.4.1.1: a 32-bit result is zero-extended into the 64-bit
// register; 8- and 16-bit results (and AH-BH) leave the other bits alone.
void write_reg(VcpuState& s, uint8_t reg, bool high_byte, uint8_t size, uint64_t v) {
    uint64_t& r = s.gpr[reg & 15];
    if (high_byte) r = (r & ~0xFF00ull) | ((v & 0xFF) << 8);
    else if (size >= 8) r = v;
    else if (size == 4) r = v & 0xFFFFFFFFull;
    else r = (r & ~size_mask(size)) | (v & size_mask(size));
}

// rSI/rDI/rCX of a string instruction at its address size: a 16-bit update
// keeps the upper bits; a 32-bit one in 64-bit mode writes ESI/EDI/ECX,
// which zero-extends (SDM vol. 1 §3.4.1.1; SDM vol. 2 "REP").
void write_index(VcpuState& s, Gpr r, uint64_t value, uint8_t address_size) {
    uint64_t& reg = s.reg(r);
    const uint64_t m = size_mask(address_size);
    if (address_size >= 8) reg = value;
    else if (address_size == 4 && long64(s)) reg = value & m;
    else reg = (reg & ~m) | (value & m);
}

int64_t sign_extend(uint64_t v, uint8_t size) {
    if (size >= 8) return static_cast<int64_t>(v);
    const unsigned shift = 64 - 8 * size;
    return static_cast<int64_t>(v << shift) >> shift;
}

// Exact-size loads/stores for device memory (a device may care about the
// width of the bus cycle, e.g. the local APIC's 32-bit registers).
uint64_t load(const uint8_t* p, uint8_t size) {
    const auto addr = reinterpret_cast<uintptr_t>(p);
    if ((addr & (size - 1)) == 0) {
        switch (size) {
        case 1: return *reinterpret_cast<const volatile uint8_t*>(p);
        case 2: return *reinterpret_cast<const volatile uint16_t*>(p);
        case 4: return *reinterpret_cast<const volatile uint32_t*>(p);
        case 8: return *reinterpret_cast<const volatile uint64_t*>(p);
        default: break;
        }
    }
    uint64_t v = 0;
    for (unsigned i = 0; i < size; ++i) v |= uint64_t{p[i]} << (8 * i);
    return v;
}

// Little-endian bytes [from, from + n) of an access's value.
void get_bytes(uint64_t& value, const uint8_t* p, unsigned from, unsigned n) {
    for (unsigned i = 0; i < n; ++i) value |= uint64_t{p[i]} << (8 * (from + i));
}
void put_bytes(uint64_t value, uint8_t* p, unsigned from, unsigned n) {
    for (unsigned i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(value >> (8 * (from + i)));
}

bool lockable(const x86::Instruction& insn) {
    switch (insn.kind) {
    case InsnKind::Xchg:
    case InsnKind::Cmpxchg:
    case InsnKind::Xadd: return true;
    case InsnKind::Alu:
        // SDM vol. 2 "LOCK": ADD ADC AND BTC BTR BTS DEC INC NEG NOT OR SBB
        // SUB XOR (and the exchanges) with a memory destination.
        return !insn.reg_is_destination && insn.alu != AluOp::Cmp && insn.alu != AluOp::Test &&
               insn.alu != AluOp::Bt;
    default: return false;
    }
}

bool is_bit_test(AluOp op) { return op == AluOp::Bt || op == AluOp::Bts || op == AluOp::Btr || op == AluOp::Btc; }

x86::GuestGprs gprs_of(const VcpuState& s) {
    x86::GuestGprs g{};
    for (unsigned i = 0; i < 16; ++i) g.r[i] = s.gpr[i];
    g.rip = s.rip;
    return g;
}

uint64_t truncate(uint64_t offset, uint8_t address_size) { return offset & size_mask(address_size); }

} // namespace

MmioOutcome MmioEmulator::refuse(VcpuState& s, MmioOutcome why, const char* what) {
    bool* warned = why == MmioOutcome::Straddle ? &warned_straddle_
                   : why == MmioOutcome::NotMmio ? &warned_not_mmio_
                                                 : &warned_unsupported_;
    if (!*warned) {
        log::warn("MMIO emulation at rip {:x}: {}: {} (logged once)", s.rip, what,
                  why == MmioOutcome::InvalidLock ? "#UD" : "#GP");
        *warned = true;
    }
    if (why == MmioOutcome::InvalidLock) s.raise_exception(exception_vector::ud);
    else s.raise_exception(exception_vector::gp, 0);
    return why;
}

MmioOutcome MmioEmulator::resolve(VcpuState& s, x86::Segment seg, uint64_t offset, uint8_t size, bool write,
                                  Operand& out) {
    const bool wide = long64(s);
    const uint64_t linear = guest_cpu::linear_address(s, seg, offset);
    const uint64_t in_page = kPageSize - (linear & (kPageSize - 1));
    const uint8_t first = static_cast<uint8_t>(in_page < size ? in_page : size);
    uint64_t second_linear = linear + first;
    if (!wide) second_linear &= 0xFFFFFFFFull;
    if (wide && (!canonical(s, linear) || !canonical(s, linear + size - 1))) {
        s.raise_exception(exception_vector::gp, 0); // SDM vol. 3A §6.15 #GP: non-canonical
        return MmioOutcome::Fault;
    }
    const x86::GuestPagingState ps = guest_cpu::paging(s);
    const bool user = guest_cpu::user_mode(s);
    const x86::AccessIntent intent{write ? x86::AccessType::Write : x86::AccessType::Read, user};
    uint64_t gpa[2] = {0, 0};
    const uint64_t at[2] = {linear, second_linear};
    // emulate_fault(): the processor translated this access already.
    const bool faulted_here = fault_gpa_ != kNoFault && first == size &&
                              (linear & (kPageSize - 1)) == (fault_gpa_ & (kPageSize - 1));
    if (faulted_here) gpa[0] = fault_gpa_;
    fault_gpa_ = kNoFault; // one operand only
    for (unsigned i = faulted_here ? 1u : 0u; i < (first < size ? 2u : 1u); ++i) {
        Result<x86::Translation> t = x86::translate_for_access(ps, ram_, at[i], intent);
        if (t.ok()) {
            gpa[i] = t.value().gpa;
            continue;
        }
        uint32_t code = (write ? pf_write : 0) | (user ? pf_user : 0);
        switch (t.error()) {
        case Error::NotFound: break;
        case Error::InvalidArgument: code |= pf_present; break; // rights refuse the access
        case Error::Malformed: code |= pf_present | pf_reserved; break;
        default: // a paging structure outside guest RAM: nothing a CPU would do; refuse
            s.raise_exception(exception_vector::gp, 0);
            return MmioOutcome::Fault;
        }
        s.cr2 = at[i];
        s.raise_exception(exception_vector::pf, code);
        return MmioOutcome::Fault;
    }
    out = Operand{nullptr, gpa[0], gpa[1], size, first};
    const bool split = first < size;
    const bool trapped = ranges_ && (ranges_->overlaps(gpa[0], first) ||
                                     (split && ranges_->overlaps(gpa[1], size - first)));
    if (!trapped) {
        // Guest RAM, or nothing we may touch (hypervisor memory, an untrapped
        // device): checked now, before any access of the instruction is done.
        if (!ram_.map(gpa[0], first) || (split && !ram_.map(gpa[1], size - first)))
            return refuse(s, MmioOutcome::NotMmio, "an operand is neither guest RAM nor a trapped range");
        return MmioOutcome::Done;
    }
    const MmioRange* r = ranges_->find(gpa[0]);
    const bool contiguous = !split || gpa[1] == gpa[0] + first;
    if (contiguous && r && r->length >= size && gpa[0] - r->base <= r->length - size) {
        out.range = r;
        return MmioOutcome::Done;
    }
    // Part of the access is trapped and part is not (or two ranges, or two
    // pages that do not follow each other): no byte is done (issue 7 class 2).
    if (write) ++counters_.refused_mmio_writes;
    else ++counters_.refused_mmio_reads;
    return refuse(s, MmioOutcome::Straddle, "an access straddles the edge of a trapped range");
}

MmioOutcome MmioEmulator::read(const Operand& op, uint64_t& value) {
    value = 0;
    if (op.range) {
        if (op.range->reader) {
            value = op.range->reader->mmio_read(op.gpa, op.size) & size_mask(op.size);
            return MmioOutcome::Done;
        }
        // Write-trapped only: the page reads straight from the device.
        GuestMemory& direct = device_ ? *device_ : ram_;
        const uint8_t* p = direct.map(op.gpa, op.size);
        if (!p) return MmioOutcome::NotMmio;
        value = load(p, op.size);
        return MmioOutcome::Done;
    }
    const uint8_t* a = ram_.map(op.gpa, op.first_bytes);
    const uint8_t* b = op.first_bytes < op.size ? ram_.map(op.gpa_second, op.size - op.first_bytes) : nullptr;
    if (!a || (op.first_bytes < op.size && !b)) return MmioOutcome::NotMmio;
    get_bytes(value, a, 0, op.first_bytes);
    if (b) get_bytes(value, b, op.first_bytes, op.size - op.first_bytes);
    return MmioOutcome::Done;
}

MmioOutcome MmioEmulator::write(const Operand& op, uint64_t value) {
    value &= size_mask(op.size);
    if (op.range) {
        op.range->handler->mmio_write(op.gpa, op.size, value);
        return MmioOutcome::Done;
    }
    uint8_t* a = ram_.map(op.gpa, op.first_bytes);
    uint8_t* b = op.first_bytes < op.size ? ram_.map(op.gpa_second, op.size - op.first_bytes) : nullptr;
    if (!a || (op.first_bytes < op.size && !b)) return MmioOutcome::NotMmio;
    put_bytes(value, a, 0, op.first_bytes);
    if (b) put_bytes(value, b, op.first_bytes, op.size - op.first_bytes);
    return MmioOutcome::Done;
}

MmioOutcome MmioEmulator::emulate(VcpuState& s) {
    Result<x86::Instruction> insn = decode(s);
    if (!insn.ok()) return refuse(s, MmioOutcome::Undecodable, "the instruction cannot be fetched or decoded");
    return emulate(s, insn.value());
}

MmioOutcome MmioEmulator::emulate_fault(VcpuState& s, uint64_t fault_gpa) {
    Result<x86::Instruction> insn = decode(s);
    if (!insn.ok()) return refuse(s, MmioOutcome::Undecodable, "the instruction cannot be fetched or decoded");
    return emulate_fault(s, insn.value(), fault_gpa);
}

MmioOutcome MmioEmulator::emulate_fault(VcpuState& s, const x86::Instruction& insn, uint64_t fault_gpa) {
    // String instructions may have two memory operands: always walked.
    const bool one_operand = insn.kind != InsnKind::Stos && insn.kind != InsnKind::Lods && insn.kind != InsnKind::Movs;
    fault_gpa_ = one_operand && !guest_cpu::user_mode(s) ? fault_gpa : kNoFault;
    const MmioOutcome r = emulate(s, insn);
    fault_gpa_ = kNoFault;
    return r;
}

MmioOutcome MmioEmulator::emulate(VcpuState& s, const x86::Instruction& insn) {
    const uint8_t size = insn.access_size;
    const bool memory_kind = insn.kind == InsnKind::MovToMem || insn.kind == InsnKind::MovFromMem ||
                             insn.kind == InsnKind::MovImmToMem || insn.kind == InsnKind::MovZx ||
                             insn.kind == InsnKind::MovSx || insn.kind == InsnKind::Stos ||
                             insn.kind == InsnKind::Lods || insn.kind == InsnKind::Movs ||
                             insn.kind == InsnKind::Alu || insn.kind == InsnKind::Xchg ||
                             insn.kind == InsnKind::Cmpxchg || insn.kind == InsnKind::Xadd;
    if (!memory_kind || size == 0 || size > 8 || (insn.kind == InsnKind::Alu && insn.alu == AluOp::None))
        return refuse(s, MmioOutcome::Unsupported, "instruction not emulated on MMIO");
    if (insn.prefixes.lock && !lockable(insn))
        return refuse(s, MmioOutcome::InvalidLock, "LOCK on an instruction that does not take it");
    switch (insn.kind) {
    case InsnKind::Stos:
    case InsnKind::Lods:
    case InsnKind::Movs: return emulate_string(s, insn);
    case InsnKind::Alu: return emulate_alu(s, insn);
    case InsnKind::Xchg:
    case InsnKind::Cmpxchg:
    case InsnKind::Xadd: return emulate_exchange(s, insn);
    default: break;
    }
    // MOV forms: one access.
    const bool store = insn.kind == InsnKind::MovToMem || insn.kind == InsnKind::MovImmToMem;
    Result<uint64_t> offset = x86::effective_address(insn, gprs_of(s));
    if (!offset.ok()) return refuse(s, MmioOutcome::Unsupported, "no memory operand");
    Operand op;
    MmioOutcome r = resolve(s, x86::memory_segment(insn), offset.value(), size, store, op);
    if (r != MmioOutcome::Done) return r;
    if (!op.range) return refuse(s, MmioOutcome::NotMmio, "the instruction touches no trapped range");
    if (store) {
        const uint64_t v = insn.kind == InsnKind::MovImmToMem ? insn.immediate
                                                              : read_reg(s, insn.reg, insn.reg_high_byte, size);
        (void)write(op, v);
    } else {
        uint64_t v = 0;
        if (read(op, v) != MmioOutcome::Done) return refuse(s, MmioOutcome::NotMmio, "trapped range not readable");
        if (insn.kind == InsnKind::MovSx) v = static_cast<uint64_t>(sign_extend(v, size));
        const uint8_t dest = insn.kind == InsnKind::MovFromMem ? size : insn.operand_size;
        write_reg(s, insn.reg, insn.reg_high_byte, dest, v);
    }
    s.rip += insn.length;
    return MmioOutcome::Done;
}

// ALU forms: dst = dst OP src with the flags (arch/x86/alu.hpp). BT* with a
// register bit number address the bit string from the operand (SDM vol. 2
// "BT": the signed bit offset selects the operand-sized word at
// ea + (offset >> log2(width)) * size); an imm8 bit number is taken modulo
// the width.
MmioOutcome MmioEmulator::emulate_alu(VcpuState& s, const x86::Instruction& insn) {
    const uint8_t size = insn.access_size;
    const AluOp op = insn.alu;
    Result<uint64_t> ea = x86::effective_address(insn, gprs_of(s));
    if (!ea.ok()) return refuse(s, MmioOutcome::Unsupported, "no memory operand");
    uint64_t offset = ea.value();
    uint64_t src = 0;
    if (insn.alu_source == x86::AluSource::Register) src = read_reg(s, insn.reg, insn.reg_high_byte, size);
    if (insn.alu_source == x86::AluSource::Immediate) src = insn.immediate;
    if (is_bit_test(op)) {
        const unsigned width = 8u * size;
        if (insn.alu_source == x86::AluSource::Register) {
            const int64_t bit = sign_extend(src, size);
            const int64_t words = bit >> (width == 16 ? 4 : width == 32 ? 5 : 6); // arithmetic: floor
            offset = truncate(offset + static_cast<uint64_t>(words) * size, insn.address_size);
        }
        src &= width - 1;
    }
    const bool writes_memory = !insn.reg_is_destination && op != AluOp::Cmp && op != AluOp::Test && op != AluOp::Bt;
    Operand mem;
    MmioOutcome r = resolve(s, x86::memory_segment(insn), offset, size, writes_memory, mem);
    if (r != MmioOutcome::Done) return r;
    if (!mem.range) return refuse(s, MmioOutcome::NotMmio, "the instruction touches no trapped range");
    uint64_t value = 0;
    if (read(mem, value) != MmioOutcome::Done) return refuse(s, MmioOutcome::NotMmio, "trapped range not readable");
    if (insn.reg_is_destination) { // op reg, [mem]
        const x86::AluResult res = x86::alu(op, size, read_reg(s, insn.reg, insn.reg_high_byte, size), value, s.rflags);
        if (res.writes) write_reg(s, insn.reg, insn.reg_high_byte, size, res.value);
        s.rflags = res.rflags;
    } else {
        const x86::AluResult res = x86::alu(op, size, value, src, s.rflags);
        if (res.writes) (void)write(mem, res.value);
        s.rflags = res.rflags;
    }
    s.rip += insn.length;
    return MmioOutcome::Done;
}

// XCHG (always locked, SDM vol. 2 "XCHG"), CMPXCHG, XADD: all under io_lock,
// so no other emulated access comes between the read and the write.
MmioOutcome MmioEmulator::emulate_exchange(VcpuState& s, const x86::Instruction& insn) {
    const uint8_t size = insn.access_size;
    Result<uint64_t> ea = x86::effective_address(insn, gprs_of(s));
    if (!ea.ok()) return refuse(s, MmioOutcome::Unsupported, "no memory operand");
    Operand mem;
    MmioOutcome r = resolve(s, x86::memory_segment(insn), ea.value(), size, true, mem);
    if (r != MmioOutcome::Done) return r;
    if (!mem.range) return refuse(s, MmioOutcome::NotMmio, "the instruction touches no trapped range");
    uint64_t old = 0;
    if (read(mem, old) != MmioOutcome::Done) return refuse(s, MmioOutcome::NotMmio, "trapped range not readable");
    const uint64_t reg = read_reg(s, insn.reg, insn.reg_high_byte, size);
    switch (insn.kind) {
    case InsnKind::Xchg:
        (void)write(mem, reg);
        write_reg(s, insn.reg, insn.reg_high_byte, size, old);
        break;
    case InsnKind::Cmpxchg: {
        // SDM vol. 2 "CMPXCHG": flags as CMP accumulator, destination.
        const uint64_t acc = s.reg(Gpr::Rax) & size_mask(size);
        s.rflags = x86::alu(AluOp::Cmp, size, acc, old, s.rflags).rflags;
        if (acc == old) (void)write(mem, reg);
        else write_reg(s, 0, false, size, old); // no write-back: see mmio_emulate.hpp
        break;
    }
    default: { // Xadd: destination = sum, register = old destination, flags as ADD
        const x86::AluResult sum = x86::alu(AluOp::Add, size, old, reg, s.rflags);
        (void)write(mem, sum.value);
        write_reg(s, insn.reg, insn.reg_high_byte, size, old);
        s.rflags = sum.rflags;
        break;
    }
    }
    s.rip += insn.length;
    return MmioOutcome::Done;
}

// STOS, LODS, MOVS (SDM vol. 2 per mnemonic, "REP"). Each element is its own
// access, resolved (translated, straddle-checked) before it is done.
MmioOutcome MmioEmulator::emulate_string(VcpuState& s, const x86::Instruction& insn) {
    const uint8_t size = insn.access_size, asize = insn.address_size;
    const uint64_t amask = size_mask(asize);
    // F2 and F3 both repeat MOVS/LODS/STOS (they take no condition).
    const bool rep = insn.prefixes.rep || insn.prefixes.repne;
    uint64_t count = rep ? (s.reg(Gpr::Rcx) & amask) : 1;
    if (count == 0) {
        s.rip += insn.length;
        return MmioOutcome::Done;
    }
    const bool reads = insn.kind != InsnKind::Stos, writes = insn.kind != InsnKind::Lods;
    const uint64_t step = (s.rflags & x86::rflags::df) ? 0 - uint64_t{size} : uint64_t{size};
    const uint64_t batch = count < kMaxRepBatch ? count : kMaxRepBatch;
    for (uint64_t i = 0; i < batch; ++i) {
        const uint64_t si = s.reg(Gpr::Rsi) & amask, di = s.reg(Gpr::Rdi) & amask;
        Operand src, dst;
        MmioOutcome r = MmioOutcome::Done;
        if (reads) r = resolve(s, x86::string_source_segment(insn), si, size, false, src);
        if (r != MmioOutcome::Done) return r;
        if (writes) r = resolve(s, x86::Segment::Es, di, size, true, dst);
        if (r != MmioOutcome::Done) return r;
        if (i == 0 && !src.range && !dst.range)
            return refuse(s, MmioOutcome::NotMmio, "the instruction touches no trapped range");
        uint64_t value = s.reg(Gpr::Rax) & size_mask(size);
        if (reads && read(src, value) != MmioOutcome::Done)
            return refuse(s, MmioOutcome::NotMmio, "string source neither RAM nor readable");
        if (writes && write(dst, value) != MmioOutcome::Done)
            return refuse(s, MmioOutcome::NotMmio, "string destination neither RAM nor trapped");
        if (!writes) write_reg(s, 0, false, size, value); // LODS: AL/AX/EAX/RAX
        if (reads) write_index(s, Gpr::Rsi, si + step, asize);
        if (writes) write_index(s, Gpr::Rdi, di + step, asize);
        if (rep) write_index(s, Gpr::Rcx, (s.reg(Gpr::Rcx) & amask) - 1, asize);
    }
    if (!rep || (s.reg(Gpr::Rcx) & amask) == 0) s.rip += insn.length;
    return MmioOutcome::Done;
}

} // namespace sv
