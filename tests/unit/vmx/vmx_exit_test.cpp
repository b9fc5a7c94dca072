// Unit tests for virt/vmx/vmx_exit: exit reason, exit qualification and
// instruction length/information decoding into VmExit (Intel SDM vol. 3C
// "Exit Qualification for VM Exits", Tables 28-3, 28-5, 28-7; vol. 3D
// Appendix C), and the event-information layout.
#include <gtest/gtest.h>

#include "virt/vmx/vmx_exit.hpp"

namespace sv::vmx {
namespace {

// I/O exit qualification, Table 28-5.
constexpr uint64_t SZ1 = 0, SZ2 = 1, SZ4 = 3, IN = 1u << 3, STR = 1u << 4, REP = 1u << 5, IMM = 1u << 6;
uint64_t port(uint16_t p) { return static_cast<uint64_t>(p) << 16; }
// Instruction information address size, bits 9:7.
constexpr uint32_t A16 = 0u << 7, A32 = 1u << 7, A64 = 2u << 7;

VmExit decode(uint32_t reason, uint64_t qual, uint32_t length = 0, uint64_t rip = 0x1000, uint32_t info = 0,
              uint64_t gpa = 0, bool ins_outs_info = true) {
    VmxExitFields f;
    f.reason = reason;
    f.qualification = qual;
    f.instruction_length = length;
    f.instruction_info = info;
    f.guest_rip = rip;
    f.guest_physical = gpa;
    return decode_exit(f, ins_outs_info);
}

TEST(VmxExit, IoInWordFromDx) {
    const VmExit e = decode(exit_reason::io_instruction, port(0x1f0) | SZ2 | IN, 2, 0xffffffff81000000ull);
    EXPECT_EQ(e.reason, ExitReason::Io);
    EXPECT_EQ(e.raw_code, exit_reason::io_instruction);
    EXPECT_EQ(e.io.port, 0x1f0);
    EXPECT_EQ(e.io.size, 2);
    EXPECT_FALSE(e.io.is_write);
    EXPECT_FALSE(e.io.is_string);
    EXPECT_FALSE(e.io.is_rep);
    EXPECT_EQ(e.next_rip, 0xffffffff81000002ull);
}

TEST(VmxExit, IoOutSizes) {
    EXPECT_EQ(decode(exit_reason::io_instruction, port(0x80) | SZ1 | IMM, 2).io.size, 1);
    EXPECT_EQ(decode(exit_reason::io_instruction, port(0xcfc) | SZ4, 1).io.size, 4);
    const VmExit e = decode(exit_reason::io_instruction, port(0xcf8) | SZ4, 1, 0x2000);
    EXPECT_TRUE(e.io.is_write);
    EXPECT_EQ(e.io.port, 0xcf8);
    EXPECT_EQ(e.next_rip, 0x2001u);
    // `out 0x80, al` with an immediate port: the port is in the qualification too.
    EXPECT_EQ(decode(exit_reason::io_instruction, port(0x80) | SZ1 | IMM, 2).io.port, 0x80);
}

TEST(VmxExit, RepInswWithAddressSizeFromInstructionInformation) {
    const uint64_t q = port(0x1f0) | SZ2 | IN | STR | REP;
    const VmExit e64 = decode(exit_reason::io_instruction, q, 3, 0x5000, A64);
    EXPECT_TRUE(e64.io.is_string);
    EXPECT_TRUE(e64.io.is_rep);
    EXPECT_FALSE(e64.io.is_write);
    EXPECT_EQ(e64.io.address_size, 8);
    EXPECT_EQ(e64.next_rip, 0x5003u);
    EXPECT_EQ(decode(exit_reason::io_instruction, q, 2, 0, A32).io.address_size, 4);
    EXPECT_EQ(decode(exit_reason::io_instruction, q, 2, 0, A16).io.address_size, 2);
    // Reserved encoding 3, and a CPU without IA32_VMX_BASIC bit 54: unknown.
    EXPECT_EQ(decode(exit_reason::io_instruction, q, 2, 0, 3u << 7).io.address_size, 0);
    EXPECT_EQ(decode(exit_reason::io_instruction, q, 2, 0, A64, 0, false).io.address_size, 0);
    // OUTSB: a write.
    EXPECT_TRUE(decode(exit_reason::io_instruction, port(0x3f8) | SZ1 | STR, 1, 0, A64).io.is_write);
}

TEST(VmxExit, InstructionExitsGetNextRipFromTheLength) {
    struct Case {
        uint16_t reason;
        ExitReason expected;
        uint32_t length;
    };
    for (const Case& c : {Case{exit_reason::cpuid, ExitReason::Cpuid, 2}, Case{exit_reason::rdmsr, ExitReason::MsrRead, 2},
                          Case{exit_reason::wrmsr, ExitReason::MsrWrite, 2},
                          Case{exit_reason::vmcall, ExitReason::Hypercall, 3},
                          Case{exit_reason::xsetbv, ExitReason::Xsetbv, 3}}) {
        const VmExit e = decode(c.reason, 0, c.length, 0x7000);
        EXPECT_EQ(e.reason, c.expected) << c.reason;
        EXPECT_EQ(e.next_rip, 0x7000u + c.length) << c.reason;
        EXPECT_EQ(e.raw_code, c.reason);
    }
}

TEST(VmxExit, ImplausibleInstructionLengthGivesNoNextRip) {
    // 0 or more than 15 bytes cannot be an x86 instruction: let the core decode.
    EXPECT_EQ(decode(exit_reason::cpuid, 0, 0, 0x7000).next_rip, 0u);
    EXPECT_EQ(decode(exit_reason::cpuid, 0, 16, 0x7000).next_rip, 0u);
    EXPECT_EQ(decode(exit_reason::cpuid, 0, 15, 0x7000).next_rip, 0x700fu);
}

TEST(VmxExit, EptViolationWriteToReadOnlyPage) {
    // Data write (bit 1) to an entry that is readable (bit 3) only: the
    // hidden hypervisor page. The length field is undefined for EPT exits.
    const VmExit e = decode(exit_reason::ept_violation, (1u << 1) | (1u << 3) | (1u << 7), 7, 0x1000, 0, 0x1000123);
    EXPECT_EQ(e.reason, ExitReason::NestedPageFault);
    EXPECT_EQ(e.fault.gpa, 0x1000123u);
    EXPECT_TRUE(e.fault.write);
    EXPECT_FALSE(e.fault.fetch);
    EXPECT_TRUE(e.fault.present);
    EXPECT_EQ(e.next_rip, 0u);
}

TEST(VmxExit, EptViolationReadOfUnmappedPage) {
    const VmExit e = decode(exit_reason::ept_violation, 1u << 0, 0, 0, 0, 0xfee00030ull);
    EXPECT_EQ(e.reason, ExitReason::NestedPageFault);
    EXPECT_EQ(e.fault.gpa, 0xfee00030ull);
    EXPECT_FALSE(e.fault.write);
    EXPECT_FALSE(e.fault.fetch);
    EXPECT_FALSE(e.fault.present);
}

TEST(VmxExit, EptViolationFetch) {
    const VmExit e = decode(exit_reason::ept_violation, (1u << 2) | (1u << 3) | (1u << 4), 0, 0, 0, 0x2000);
    EXPECT_TRUE(e.fault.fetch);
    EXPECT_TRUE(e.fault.present);
    EXPECT_FALSE(e.fault.write);
}

TEST(VmxExit, TripleFaultAndInit) {
    EXPECT_EQ(decode(exit_reason::triple_fault, 0).reason, ExitReason::Shutdown);
    EXPECT_EQ(decode(exit_reason::init_signal, 0).reason, ExitReason::Init);
    EXPECT_EQ(decode(exit_reason::init_signal, 0).next_rip, 0u);
}

TEST(VmxExit, VmxInstructionsAreVirtInstructions) {
    for (uint16_t r : {exit_reason::vmclear, exit_reason::vmlaunch, exit_reason::vmptrld, exit_reason::vmptrst,
                       exit_reason::vmread, exit_reason::vmresume, exit_reason::vmwrite, exit_reason::vmxoff,
                       exit_reason::vmxon, exit_reason::invept, exit_reason::invvpid, exit_reason::vmfunc,
                       exit_reason::getsec}) {
        EXPECT_EQ(decode(r, 0, 3).reason, ExitReason::VirtInstruction) << r;
    }
}

TEST(VmxExit, BackendInternalAndUnknownReasonsAreOther) {
    for (uint16_t r : {exit_reason::exception_or_nmi, exit_reason::external_interrupt, exit_reason::sipi,
                       exit_reason::cr_access, exit_reason::hlt, exit_reason::ept_misconfiguration,
                       static_cast<uint16_t>(200)}) {
        const VmExit e = decode(r, 0, 2);
        EXPECT_EQ(e.reason, ExitReason::Other) << r;
        EXPECT_EQ(e.raw_code, r);
        EXPECT_EQ(e.next_rip, 0u);
    }
}

TEST(VmxExit, EntryFailureIsOtherWhateverItsBasicReason) {
    const uint32_t failed = exit_reason_entry_failure | exit_reason::entry_failure_guest_state;
    EXPECT_TRUE(is_entry_failure(failed));
    EXPECT_EQ(basic_reason(failed), exit_reason::entry_failure_guest_state);
    const VmExit e = decode(failed, 0, 2);
    EXPECT_EQ(e.reason, ExitReason::Other);
    EXPECT_EQ(e.raw_code, failed);
    // Even a basic reason that would otherwise decode (bit 31 wins).
    EXPECT_EQ(decode(exit_reason_entry_failure | exit_reason::cpuid, 0, 2).reason, ExitReason::Other);
    EXPECT_FALSE(is_entry_failure(exit_reason::cpuid));
}

TEST(VmxExit, UpperReasonBitsDoNotChangeTheBasicReason) {
    // Bit 27 (enclave) / 28 (pending MTF): the basic reason is bits 15:0.
    EXPECT_EQ(decode((1u << 28) | exit_reason::cpuid, 0, 2).reason, ExitReason::Cpuid);
}

TEST(VmxExit, CrAccessQualification) {
    // mov cr4, rbx: CR 4, type 0, GPR 3.
    CrAccess a = decode_cr_access(4 | (0u << 4) | (3u << 8));
    EXPECT_EQ(a.cr, 4);
    EXPECT_EQ(a.type, CrAccessType::MovToCr);
    EXPECT_EQ(a.gpr, 3);
    // mov r15, cr0 (a read): type 1, GPR 15.
    a = decode_cr_access(0 | (1u << 4) | (15u << 8));
    EXPECT_EQ(a.cr, 0);
    EXPECT_EQ(a.type, CrAccessType::MovFromCr);
    EXPECT_EQ(a.gpr, 15);
    // lmsw [mem] with source 0x0011.
    a = decode_cr_access(0 | (3u << 4) | (1u << 6) | (0x11ull << 16));
    EXPECT_EQ(a.type, CrAccessType::Lmsw);
    EXPECT_TRUE(a.lmsw_memory);
    EXPECT_EQ(a.lmsw_source, 0x11);
    EXPECT_EQ(decode_cr_access(2u << 4).type, CrAccessType::Clts);
}

TEST(VmxExit, EventInfoRoundTrip) {
    // NMI: vector 2, type 2, valid.
    const EventInfo nmi = decode_event_info((1u << 31) | (2u << 8) | 2);
    EXPECT_TRUE(nmi.valid);
    EXPECT_EQ(nmi.vector, 2);
    EXPECT_EQ(nmi.type, event_type::nmi);
    EXPECT_FALSE(nmi.has_error_code);
    EXPECT_EQ(encode_event_info(nmi), (1u << 31) | (2u << 8) | 2u);
    // #GP(0): vector 13, hardware exception, error code valid.
    const EventInfo gp{true, 13, event_type::hardware_exception, true};
    EXPECT_EQ(encode_event_info(gp), (1u << 31) | (1u << 11) | (3u << 8) | 13u);
    EXPECT_EQ(decode_event_info(encode_event_info(gp)).vector, 13);
    EXPECT_TRUE(decode_event_info(encode_event_info(gp)).has_error_code);
    EXPECT_FALSE(decode_event_info(0).valid);
    EXPECT_EQ(encode_event_info(EventInfo{}), 0u);
}

TEST(VmxExit, InterruptedDeliveryIsReinjected) {
    // A #PF (vector 14, hardware exception, error code) whose delivery hit
    // an EPT violation; bit 12 (undefined in IDT-vectoring) is dropped.
    const uint32_t pf = (1u << 31) | (1u << 12) | (1u << 11) | (3u << 8) | 14u;
    const Reinjection r = reinjection_for(pf);
    EXPECT_EQ(r.info, (1u << 31) | (1u << 11) | (3u << 8) | 14u);
    EXPECT_TRUE(r.has_error_code);
    EXPECT_FALSE(r.needs_instruction_length);
    // An external interrupt: no error code, no length.
    const Reinjection irq = reinjection_for((1u << 31) | (0u << 8) | 0x30u);
    EXPECT_EQ(irq.info, (1u << 31) | 0x30u);
    EXPECT_FALSE(irq.has_error_code);
    EXPECT_FALSE(irq.needs_instruction_length);
    // INT n (software interrupt) and INT3 (software exception) need the length.
    EXPECT_TRUE(reinjection_for((1u << 31) | (4u << 8) | 0x80u).needs_instruction_length);
    EXPECT_TRUE(reinjection_for((1u << 31) | (6u << 8) | 3u).needs_instruction_length);
    EXPECT_TRUE(reinjection_for((1u << 31) | (5u << 8) | 1u).needs_instruction_length);
    // Nothing was being delivered.
    EXPECT_EQ(reinjection_for(0x30u | (1u << 11)).info, 0u);
}

TEST(VmxExit, NmiInjectionWaitsForBlocking) {
    EXPECT_TRUE(may_inject_nmi(0));
    EXPECT_FALSE(may_inject_nmi(interruptibility::blocking_sti));
    EXPECT_FALSE(may_inject_nmi(interruptibility::blocking_mov_ss));
    EXPECT_FALSE(may_inject_nmi(interruptibility::blocking_nmi));
    EXPECT_TRUE(may_inject_nmi(1u << 2)); // blocking by SMI does not matter here
}

TEST(VmxExit, NmiReblockedAfterIretThatFaulted) {
    EXPECT_TRUE(must_reblock_nmi(exit_reason::ept_violation, 1u << 12, 0));
    EXPECT_FALSE(must_reblock_nmi(exit_reason::ept_violation, 0x2, 0));
    // During event delivery the bit is undefined: no re-blocking.
    EXPECT_FALSE(must_reblock_nmi(exit_reason::ept_violation, 1u << 12, (1u << 31) | 14u));
    EXPECT_FALSE(must_reblock_nmi(exit_reason::io_instruction, 1u << 12, 0));
}

} // namespace
} // namespace sv::vmx
