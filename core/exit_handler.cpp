#include "core/exit_handler.hpp"

#include "arch/x86/guest_page_walk.hpp"
#include "arch/x86/insn_decoder.hpp"
#include "lib/log.hpp"
#include "lib/spinlock.hpp"

namespace sv {
namespace {
constexpr uint32_t msr_apic_base = 0x1B;
// IA32_APIC_BASE (SDM vol. 3A §10.4.4): BSP flag (8), x2APIC enable (10),
// global enable (11), base (12+). The guest may toggle the global enable but
// neither move the APIC away from the page we trap nor switch to x2APIC mode
// (its ICR would be an MSR we do not watch).
constexpr uint64_t apic_base_fixed = ~((1ull << 11) | 0xFFull);
constexpr uint32_t msr_efer = 0xC0000080;
constexpr uint32_t msr_vm_cr = 0xC0010114;
constexpr uint32_t msr_vm_hsave_pa = 0xC0010117;
constexpr uint64_t efer_svme = 1ull << 12;
// EFER bits a guest may set (AMD APM vol. 2 §3.1.7): SCE, LME, LMA, NXE,
// LMSLE, FFXSR, TCE. Anything else (incl. SVME) is refused with #GP.
constexpr uint64_t efer_guest_writable = (1ull << 0) | (1ull << 8) | (1ull << 10) | (1ull << 11) |
                                         (1ull << 13) | (1ull << 14) | (1ull << 15);
constexpr uint64_t rflags_df = 1ull << 10;

// Mediators keep per-device state machines; vCPUs take turns in them. One
// lock for all port I/O keeps that simple (exits are short).
SpinLock io_lock;

x86::GuestPagingState paging(const VcpuState& s) { return {s.cr0, s.cr3, s.cr4, s.efer}; }

x86::CpuMode cpu_mode(const VcpuState& s) {
    if (!(s.cr0 & 1)) return x86::CpuMode::Real16;
    if ((s.efer & (1ull << 10)) && s.cs.long_mode()) return x86::CpuMode::Long64;
    return s.cs.default_32() ? x86::CpuMode::Protected32 : x86::CpuMode::Protected16;
}

bool user_mode(const VcpuState& s) { return (s.ss.attributes >> 5 & 3) == 3; }

Result<x86::Instruction> decode_at_rip(const VcpuState& s, GuestMemory& mem) {
    uint8_t bytes[x86::kMaxInstructionLength];
    const uint64_t linear = s.cs.base + s.rip;
    const size_t got = TRY(x86::fetch_linear(paging(s), mem, linear, bytes, user_mode(s)));
    return x86::decode(std::span<const uint8_t>(bytes, got), cpu_mode(s));
}

uint64_t segment_base(const VcpuState& s, x86::Segment seg) {
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

// The bytes of RAX an IN/OUT of `size` bytes uses: AL, AX or EAX.
uint64_t io_size_mask(uint8_t size) { return size >= 4 ? 0xFFFFFFFFull : (1ull << (8 * size)) - 1; }

uint64_t address_mask(uint8_t address_size) {
    return address_size >= 8 ? ~0ull : (1ull << (8 * address_size)) - 1;
}
} // namespace

void release_locks_after_resume() { io_lock.unlock(); }

bool ExitHandler::skip_instruction(VcpuState& s, const VmExit& exit, unsigned fallback_length) {
    if (exit.next_rip) {
        s.rip = exit.next_rip;
        return true;
    }
    // No NRIP (QEMU TCG): decode the instruction at RIP for its length.
    Result<x86::Instruction> insn = decode_at_rip(s, memory_);
    if (insn.ok()) {
        s.rip += insn.value().length;
        return true;
    }
    if (fallback_length) {
        s.rip += fallback_length;
        return true;
    }
    return false;
}

ExitHandler::Action ExitHandler::handle(VcpuState& s, const VmExit& exit) {
    counters_.count(exit.reason);
    switch (exit.reason) {
    case ExitReason::Cpuid: {
        const uint32_t leaf = static_cast<uint32_t>(s.reg(Gpr::Rax));
        const uint32_t subleaf = static_cast<uint32_t>(s.reg(Gpr::Rcx));
        const CpuidValues v = guest_cpuid(leaf, subleaf, host_cpuid_(leaf, subleaf));
        s.reg(Gpr::Rax) = v.eax;
        s.reg(Gpr::Rbx) = v.ebx;
        s.reg(Gpr::Rcx) = v.ecx;
        s.reg(Gpr::Rdx) = v.edx;
        skip_instruction(s, exit, 2);
        return Action::Resume;
    }
    case ExitReason::MsrRead:
    case ExitReason::MsrWrite: handle_msr(s, exit); return Action::Resume;
    case ExitReason::Hypercall:
        handle_hypercall(s, counters_, version_);
        skip_instruction(s, exit, 3);
        return Action::Resume;
    case ExitReason::Io: handle_io(s, exit); return Action::Resume;
    case ExitReason::VirtInstruction:
        // SVM is hidden from the guest (CPUID, EFER.SVME): behave as a CPU
        // without SVM does, with #UD (AMD APM vol. 3, VMRUN "Exceptions").
        s.raise_exception(exception_vector::ud);
        return Action::Resume;
    case ExitReason::NestedPageFault:
        for (unsigned i = 0; exit.fault.write && i < mmio_count_; ++i) {
            const MmioRange& r = mmio_[i];
            if (exit.fault.gpa - r.base < r.length) {
                if (!emulate_mmio_write(s, exit, *r.handler)) s.raise_exception(exception_vector::gp, 0);
                return Action::Resume;
            }
        }
        if (exit.fault.present && exit.fault.write) {
            // A write to hypervisor memory, which guests see as a read-only
            // page of zeros: drop the write, skip the instruction.
            if (!warned_hidden_write_) {
                log::warn("guest wrote to hidden hypervisor memory at {:x} (dropped)", exit.fault.gpa);
                warned_hidden_write_ = true;
            }
            if (skip_instruction(s, exit, 0)) return Action::Resume;
        }
        log::error("unhandled nested page fault at gpa {:x} rip {:x}", exit.fault.gpa, s.rip);
        s.raise_exception(exception_vector::gp, 0);
        return Action::Resume;
    case ExitReason::Init: return Action::WaitForStartup;
    case ExitReason::Shutdown:
        log::error("guest shutdown (triple fault) at rip {:x}", s.rip);
        return Action::StopGuest;
    case ExitReason::Other:
    case ExitReason::Count: break;
    }
    if (!warned_unknown_exit_) {
        log::warn("unexpected exit code {:x} at rip {:x}", exit.raw_code, s.rip);
        warned_unknown_exit_ = true;
    }
    return Action::Resume;
}

bool ExitHandler::add_mmio_write_range(const MmioRange& range) {
    if (mmio_count_ == sizeof mmio_ / sizeof mmio_[0]) return false;
    mmio_[mmio_count_++] = range;
    return true;
}

// The write that faulted, re-done by us: MOV r/m,reg / MOV r/m,imm / STOS
// (single, not REP) are what drivers use on MMIO registers.
bool ExitHandler::emulate_mmio_write(VcpuState& s, const VmExit& exit, MmioWriteHandler& handler) {
    Result<x86::Instruction> decoded = decode_at_rip(s, memory_);
    if (!decoded.ok()) return false;
    const x86::Instruction& insn = decoded.value();
    uint64_t value;
    switch (insn.kind) {
    case x86::InsnKind::MovToMem:
        value = s.gpr[insn.reg];
        if (insn.reg_high_byte) value >>= 8;
        break;
    case x86::InsnKind::MovImmToMem: value = insn.immediate; break;
    case x86::InsnKind::Stos:
        if (insn.prefixes.rep || insn.prefixes.repne) return false;
        value = s.reg(Gpr::Rax);
        break;
    default:
        if (!warned_mmio_) {
            log::warn("unsupported MMIO write instruction at rip {:x} (gpa {:x})", s.rip, exit.fault.gpa);
            warned_mmio_ = true;
        }
        return false;
    }
    const uint8_t size = insn.access_size;
    if (size == 0 || size > 8) return false;
    if (size < 8) value &= (1ull << (8 * size)) - 1;
    handler.mmio_write(exit.fault.gpa, size, value);
    if (insn.kind == x86::InsnKind::Stos) {
        const uint64_t amask = address_mask(insn.address_size);
        const uint64_t rdi = s.reg(Gpr::Rdi);
        const uint64_t next = (s.rflags & rflags_df) ? rdi - size : rdi + size;
        s.reg(Gpr::Rdi) = (rdi & ~amask) | (next & amask);
    }
    s.rip += insn.length;
    return true;
}

void ExitHandler::handle_msr(VcpuState& s, const VmExit& exit) {
    const uint32_t msr = static_cast<uint32_t>(s.reg(Gpr::Rcx));
    const bool write = exit.reason == ExitReason::MsrWrite;
    const uint64_t value = (s.reg(Gpr::Rdx) << 32) | (s.reg(Gpr::Rax) & 0xFFFFFFFF);
    uint64_t result = 0;
    if (msr == msr_apic_base && host_msr_read_ && host_msr_write_) {
        const uint64_t current = host_msr_read_(msr);
        if (!write) {
            result = current;
        } else if ((value & apic_base_fixed) != (current & apic_base_fixed)) {
            s.raise_exception(exception_vector::gp, 0);
            return;
        } else {
            host_msr_write_(msr, value);
        }
    } else if (msr == msr_efer) {
        if (write) {
            if (value & ~efer_guest_writable) {
                s.raise_exception(exception_vector::gp, 0);
                return;
            }
            // Keep SVME set underneath: VMRUN requires it (APM §15.5.1), the
            // guest never sees it.
            s.efer = (value & ~(1ull << 10)) | (s.efer & (1ull << 10)) | efer_svme;
        } else {
            result = s.efer & ~efer_svme;
        }
    } else if (msr == msr_vm_cr && !write) {
        result = (1ull << 3) | (1ull << 4); // LOCK | SVMDIS: "SVM disabled by firmware"
    } else {
        // VM_HSAVE_PA and writes to VM_CR: as on a CPU without SVM, #GP.
        s.raise_exception(exception_vector::gp, 0);
        return;
    }
    if (!write) {
        s.reg(Gpr::Rax) = result & 0xFFFFFFFF;
        s.reg(Gpr::Rdx) = result >> 32;
    }
    skip_instruction(s, exit, 2);
}

void ExitHandler::handle_io(VcpuState& s, const VmExit& exit) {
    LockGuard guard(io_lock);
    const IoAccess& io = exit.io;
    counters_.count_port(io.port);
    IoHandler* handler = io_.find(io.port);
    if (!handler) {
        // Trapped but unowned: pass through, or behave as an empty bus.
        const uint64_t mask = io_size_mask(io.size);
        if (io.is_string) {
            s.raise_exception(exception_vector::gp, 0); // no device here that uses string I/O
            return;
        }
        if (io.is_write) {
            if (passthrough_) passthrough_->out(io.port, io.size, static_cast<uint32_t>(s.reg(Gpr::Rax) & mask));
        } else {
            const uint64_t v = passthrough_ ? passthrough_->in(io.port, io.size) : mask;
            s.reg(Gpr::Rax) = io.size == 4 ? (v & mask) : ((s.reg(Gpr::Rax) & ~mask) | (v & mask));
        }
        s.rip = exit.next_rip;
        return;
    }
    if (io.is_string) {
        handle_string_io(s, io, *handler);
        return;
    }
    if (io.is_write) {
        handler->io_out(io.port, io.size, static_cast<uint32_t>(s.reg(Gpr::Rax) & io_size_mask(io.size)));
    } else {
        const uint32_t v = handler->io_in(io.port, io.size);
        const uint64_t mask = io_size_mask(io.size);
        // A 32-bit IN zero-extends into RAX; 8/16-bit INs merge (SDM vol. 2 IN).
        if (io.size == 4) s.reg(Gpr::Rax) = v;
        else s.reg(Gpr::Rax) = (s.reg(Gpr::Rax) & ~mask) | (v & mask);
    }
    s.rip = exit.next_rip;
}

// INS/OUTS (with or without REP) emulated in one exit: the whole count moves
// through a bounce buffer in chunks, so a `rep insw` of a sector run costs one
// exit (issue 4 target). SDM vol. 2 INS/OUTS, REP.
void ExitHandler::handle_string_io(VcpuState& s, const IoAccess& io, IoHandler& handler) {
    Result<x86::Instruction> decoded = decode_at_rip(s, memory_);
    if (!decoded.ok()) {
        s.raise_exception(exception_vector::gp, 0);
        return;
    }
    const x86::Instruction& insn = decoded.value();
    const uint64_t amask = address_mask(insn.address_size);
    uint64_t count = io.is_rep ? (s.reg(Gpr::Rcx) & amask) : 1;
    const bool backwards = s.rflags & rflags_df;
    Gpr index_reg = io.is_write ? Gpr::Rsi : Gpr::Rdi;
    const uint64_t base = io.is_write ? segment_base(s, x86::string_source_segment(insn)) : s.es.base;
    const x86::GuestPagingState ps = paging(s);
    const bool user = user_mode(s);

    while (count) {
        // Forward: as many elements as fit the bounce buffer. Backwards
        // (DF=1, rare): one element at a time keeps the address math simple.
        uint64_t n = backwards ? 1 : sizeof(bounce_) / io.size;
        if (n > count) n = count;
        const size_t bytes = n * io.size;
        const uint64_t offset = s.reg(index_reg) & amask;
        const uint64_t linear = base + offset;
        std::span<uint8_t> chunk(bounce_, bytes);
        Result<void> moved;
        if (io.is_write) {
            moved = x86::read_linear(ps, memory_, linear, chunk, x86::AccessIntent{x86::AccessType::Read, user});
            if (moved.ok()) handler.io_out_string(io.port, io.size, chunk);
        } else {
            handler.io_in_string(io.port, io.size, chunk);
            moved = x86::write_linear(ps, memory_, linear, chunk, user);
        }
        if (!moved.ok()) {
            // Leave RCX/RDI/RSI describing the remaining work, as a faulting
            // REP instruction does, and report a page fault on the buffer.
            s.cr2 = linear;
            s.raise_exception(exception_vector::pf, io.is_write ? 0 : 2);
            return;
        }
        const uint64_t step = backwards ? (0 - bytes) : bytes;
        s.reg(index_reg) = (s.reg(index_reg) & ~amask) | ((offset + step) & amask);
        count -= n;
        if (io.is_rep) s.reg(Gpr::Rcx) = (s.reg(Gpr::Rcx) & ~amask) | (count & amask);
    }
    s.rip += insn.length;
}

} // namespace sv
