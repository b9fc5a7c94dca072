#include "core/exit_handler.hpp"

#include "core/guest_cpu.hpp"
#include "core/nmi_sink.hpp"
#include "core/xcr0_policy.hpp"

#include "arch/x86/guest_page_walk.hpp"
#include "arch/x86/insn_decoder.hpp"
#include "lib/log.hpp"
#include "lib/spinlock.hpp"

namespace sv {
namespace {
// IA32_APIC_BASE (SDM vol. 3A §10.4.4): BSP flag (8), x2APIC enable (10),
// global enable (11), base (12+). The guest may toggle the global enable but
// neither move the APIC away from the page we trap nor switch to x2APIC mode
// (its ICR would be an MSR we do not watch).
constexpr uint64_t apic_base_fixed = ~((1ull << 11) | 0xFFull);
// EFER bits every x86-64 CPU defines (AMD APM vol. 2 §3.1.7, Intel SDM vol.
// 3A §2.2.1): SCE, LME, LMA (read-only: the CPU sets it), NXE. A vendor adds
// its own (VendorMsrPolicy::efer_writable); anything else is refused with #GP.
constexpr uint64_t efer_sce = 1ull << 0, efer_lme = 1ull << 8, efer_lma = 1ull << 10, efer_nxe = 1ull << 11;
constexpr uint64_t efer_architectural = efer_sce | efer_lme | efer_lma | efer_nxe;
constexpr uint64_t rflags_df = 1ull << 10;
constexpr uint32_t msr_xss = 0xDA0;                  // IA32_XSS (not intercepted: the guest's)
constexpr uint32_t leafd_sub1_eax_xsaves = 1u << 3; // CPUID.(0Dh,1):EAX.XSAVES
constexpr unsigned xsetbv_length = 3;               // 0F 01 D1

// The table MSRs' virtual copies are shared by all vCPUs (msr_policy.hpp).
SpinLock msr_lock;

// Mediators keep per-device state machines; vCPUs take turns in them. One
// lock for all port I/O and mediated MMIO keeps that simple (exits are
// short; a config write reaches the same mediator through 0xCFC or ECAM).
SpinLock io_lock;

using guest_cpu::decode_at_rip;
using guest_cpu::paging;
using guest_cpu::segment_base;
using guest_cpu::user_mode;

// The bytes of RAX an IN/OUT of `size` bytes uses: AL, AX or EAX.
uint64_t io_size_mask(uint8_t size) { return size >= 4 ? 0xFFFFFFFFull : (1ull << (8 * size)) - 1; }

uint64_t address_mask(uint8_t address_size) {
    return address_size >= 8 ? ~0ull : (1ull << (8 * address_size)) - 1;
}
} // namespace

void release_locks_after_resume() { io_lock.unlock(); }

bool device_nmi(uint32_t apic_id) {
    NmiSinks& sinks = nmi_sinks();
    if (!sinks.any()) return false;
    LockGuard guard(io_lock);
    return sinks.dispatch(apic_id);
}

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
        const CpuidValues v = guest_cpuid(leaf, subleaf, host_cpuid_(leaf, subleaf), cpuid_state(s, leaf));
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
        // The virtualization extension is hidden from the guest (CPUID, the
        // vendor's EFER/MSR policy): behave as a CPU without it does, with
        // #UD (AMD APM vol. 3 VMRUN "Exceptions"; Intel SDM vol. 3C §30.3
        // VMXON without CR4.VMXE).
        s.raise_exception(exception_vector::ud);
        return Action::Resume;
    case ExitReason::NestedPageFault:
        if (mmio_ && !exit.fault.fetch) {
            LockGuard guard(io_lock);
            const MmioRange* r = mmio_->find(exit.fault.gpa);
            if (r && (exit.fault.write || r->reader)) {
                // The whole instruction is re-done (core/mmio_emulate.hpp);
                // on refusal it has injected #GP/#UD/#PF itself.
                mmio_emulator_.set_ranges(mmio_);
                (void)mmio_emulator_.emulate(s);
                return Action::Resume;
            }
            // No range (any more) takes this access. If the trap layout
            // changed since this vCPU last got here, its fault may predate
            // the change (a range moved away while another vCPU's config
            // write held io_lock and we waited): retry the access once; the
            // backend flushes the nested TLB before it re-enters.
            const uint64_t g = mmio_->generation();
            if (g != mmio_seen_generation_) {
                mmio_seen_generation_ = g;
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
    case ExitReason::Xsetbv: handle_xsetbv(s, exit); return Action::Resume;
    case ExitReason::Init: return Action::WaitForStartup;
    case ExitReason::Shutdown:
        log::error("guest shutdown (triple fault) at rip {:x}", s.rip);
        return Action::ResetPlatform;
    case ExitReason::Other:
    case ExitReason::Count: break;
    }
    if (!warned_unknown_exit_) {
        log::warn("unexpected exit code {:x} at rip {:x}", exit.raw_code, s.rip);
        warned_unknown_exit_ = true;
    }
    return Action::Resume;
}

VirtualMsrs& ExitHandler::shared_virtual_msrs() {
    static VirtualMsrs msrs;
    return msrs;
}

GuestCpuidState ExitHandler::cpuid_state(const VcpuState& s, uint32_t leaf) const {
    GuestCpuidState g;
    g.cr4 = s.cr4;
    g.host = host_cpuid_;
    // The real XCR0 and IA32_XSS are the guest's (neither is switched on
    // #VMEXIT, and the hypervisor changes XCR0 only inside a crypto request).
    // Only leaf 0Dh needs them.
    if (leaf != 0xD) return g;
    if (xcr0_read_) g.xcr0 = xcr0_read_();
    if (host_msr_read_ && (host_cpuid_(0xD, 1).eax & leafd_sub1_eax_xsaves)) g.xss = host_msr_read_(msr_xss);
    return g;
}

void ExitHandler::handle_xsetbv(VcpuState& s, const VmExit& exit) {
    const uint32_t ecx = static_cast<uint32_t>(s.reg(Gpr::Rcx));
    const uint64_t value = (s.reg(Gpr::Rdx) << 32) | (s.reg(Gpr::Rax) & 0xFFFFFFFF);
    const CpuidValues d0 = host_cpuid_(0xD, 0);
    const uint64_t supported = (uint64_t{d0.edx} << 32) | d0.eax;
    const unsigned cpl = s.ss.attributes >> 5 & 3;
    XsetbvFault fault = check_xsetbv(s.cr4, cpl, ecx, value, supported);
    if (!xcr0_write_) fault = XsetbvFault::InvalidOpcode; // no XSAVE on this CPU
    if (fault == XsetbvFault::InvalidOpcode) return s.raise_exception(exception_vector::ud);
    if (fault == XsetbvFault::GeneralProtection) return s.raise_exception(exception_vector::gp, 0);
    xcr0_write_(value); // the guest's value, exactly
    skip_instruction(s, exit, xsetbv_length);
}

bool ExitHandler::handle_table_msr(VcpuState& s, uint32_t msr, bool write, uint64_t value, uint64_t& result) {
    const MsrPolicy* p = msr_policy(msr);
    if (!p) return false;
    if (p->rule == MsrRule::ReadOnly) {
        if (write) {
            s.raise_exception(exception_vector::gp, 0);
            return true;
        }
        result = host_msr_read_ ? host_msr_read_(msr) : 0;
        return true;
    }
    LockGuard guard(msr_lock);
    if (write) {
        if (!warned_msr_write_) {
            log::info("guest wrote {} (MSR {:x}): kept in a virtual copy, hardware unchanged (logged once)",
                      p->what, msr);
            warned_msr_write_ = true;
        }
        ++virtual_msr_writes_;
        (void)virtual_msrs_->write(msr, host_msr_read_, value);
    } else {
        (void)virtual_msrs_->read(msr, host_msr_read_, result);
    }
    return true;
}

void ExitHandler::handle_msr(VcpuState& s, const VmExit& exit) {
    const uint32_t msr = static_cast<uint32_t>(s.reg(Gpr::Rcx));
    const bool write = exit.reason == ExitReason::MsrWrite;
    const uint64_t value = (s.reg(Gpr::Rdx) << 32) | (s.reg(Gpr::Rax) & 0xFFFFFFFF);
    uint64_t result = 0;
    if (handle_table_msr(s, msr, write, value, result)) {
        if (s.inject.valid) return; // #GP: the instruction does not complete
    } else if (msr == msr_index::apic_base && host_msr_read_ && host_msr_write_) {
        const uint64_t current = host_msr_read_(msr);
        if (!write) {
            result = current;
        } else if ((value & apic_base_fixed) != (current & apic_base_fixed)) {
            s.raise_exception(exception_vector::gp, 0);
            return;
        } else {
            host_msr_write_(msr, value);
        }
    } else if (msr == msr_index::efer) {
        // The vendor's hidden bits stay set underneath (SVM: SVME, which
        // VMRUN requires); the guest neither sees nor sets them.
        const uint64_t hidden = vendor_msrs_.efer_hidden;
        if (write) {
            if (value & ~((efer_architectural | vendor_msrs_.efer_writable) & ~hidden)) {
                s.raise_exception(exception_vector::gp, 0);
                return;
            }
            s.efer = (value & ~efer_lma) | (s.efer & efer_lma) | hidden;
        } else {
            result = s.efer & ~hidden;
        }
    } else {
        const VendorMsrOutcome vendor = vendor_msrs_.access ? vendor_msrs_.access(msr, write, value, result)
                                                            : VendorMsrOutcome::NotVendors;
        // Not the vendor's either, or refused by it: #GP, as for an MSR the
        // CPU does not have.
        if (vendor != VendorMsrOutcome::Done) {
            s.raise_exception(exception_vector::gp, 0);
            return;
        }
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
    // Every port the access covers counts, not only the first one the exit
    // names (issue 7 class 2): a 16-bit OUT at 1F6h also writes the ATA
    // Command register at 1F7h.
    const IoRoute route = io_.route(io.port, io.size);
    if (route.split()) {
        ++counters_.split_port_accesses;
        if (!warned_split_io_) {
            log::warn("port access at {:x} ({} bytes) covers mediated ports: split byte-exactly per owner",
                      io.port, io.size);
            warned_split_io_ = true;
        }
        if (io.is_string) {
            // An element of INS/OUTS is one bus transfer to/from memory; one
            // that a mediator would see only part of cannot be mediated as a
            // whole (e.g. a `rep outsw` at 1F6h would feed the Command
            // register every second byte). No driver does this: refuse, as
            // for string I/O to ports without a mediator.
            ++counters_.refused_port_accesses;
            s.raise_exception(exception_vector::gp, 0);
            return;
        }
        split_io(s, io, route);
        s.rip = exit.next_rip;
        return;
    }
    IoHandler* handler = route.pieces[0].handler;
    if (!handler) {
        // Trapped but unowned: pass through, or behave as an empty bus.
        const uint64_t mask = io_size_mask(io.size);
        if (io.is_string) {
            s.raise_exception(exception_vector::gp, 0); // no device here that uses string I/O
            return;
        }
        PortIo* target = route.pieces[0].beyond_64k ? nullptr : passthrough_;
        if (io.is_write) {
            if (target) target->out(io.port, io.size, static_cast<uint32_t>(s.reg(Gpr::Rax) & mask));
        } else {
            const uint64_t v = target ? target->in(io.port, io.size) : mask;
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

// An IN/OUT whose bytes belong to different owners: each piece is its own
// access to its owner (mediator, pass-through or empty bus); an IN is
// assembled from the pieces in byte order. Pieces are done lowest port
// first, the order in which a bus splits a misaligned access into cycles.
void ExitHandler::split_io(VcpuState& s, const IoAccess& io, const IoRoute& route) {
    const uint64_t mask = io_size_mask(io.size);
    const uint32_t value = static_cast<uint32_t>(s.reg(Gpr::Rax) & mask);
    uint32_t assembled = 0;
    for (uint8_t i = 0; i < route.count; ++i) {
        const IoPiece& p = route.pieces[i];
        const uint32_t piece_mask = static_cast<uint32_t>(io_size_mask(p.size));
        PortIo* target = p.beyond_64k ? nullptr : passthrough_;
        if (io.is_write) {
            const uint32_t v = (value >> (8 * p.offset)) & piece_mask;
            if (p.handler) p.handler->io_out(p.port, p.size, v);
            else if (target) target->out(p.port, p.size, v);
        } else {
            const uint32_t v = p.handler ? p.handler->io_in(p.port, p.size)
                               : target  ? target->in(p.port, p.size)
                                         : piece_mask;
            assembled |= (v & piece_mask) << (8 * p.offset);
        }
    }
    if (io.is_write) return;
    if (io.size == 4) s.reg(Gpr::Rax) = assembled;
    else s.reg(Gpr::Rax) = (s.reg(Gpr::Rax) & ~mask) | (assembled & mask);
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
