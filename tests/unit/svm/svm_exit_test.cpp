// Unit tests for virt/svm/svm_exit: EXITCODE/EXITINFO decoding and the
// VMCB <-> VcpuState sync (AMD APM vol. 2 §15.10.2, §15.20, Appendix C).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>

#include "virt/svm/svm_exit.hpp"

namespace sv::svm {
namespace {

// IOIO EXITINFO1 fields, APM vol. 2 §15.10.2 Figure 15-2.
constexpr uint64_t IN = 1u << 0, STR = 1u << 2, REP = 1u << 3;
constexpr uint64_t SZ8 = 1u << 4, SZ16 = 1u << 5, SZ32 = 1u << 6;
constexpr uint64_t A16 = 1u << 7, A32 = 1u << 8, A64 = 1u << 9;
uint64_t port(uint16_t p) { return static_cast<uint64_t>(p) << 16; }

std::unique_ptr<Vmcb> zeroed_vmcb() { return std::make_unique<Vmcb>(); }

VmExit decode(uint64_t code, uint64_t info1, uint64_t info2, bool has_nrip, uint64_t nrip = 0) {
    auto vmcb = zeroed_vmcb();
    vmcb->control.exit_code = code;
    vmcb->control.exit_info1 = info1;
    vmcb->control.exit_info2 = info2;
    vmcb->control.next_rip = nrip;
    return decode_exit(vmcb->control, has_nrip);
}

TEST(CoreSvmExit, IoInWordFromDx) {
    // `in ax, dx` with DX = 0x1f0 in 32-bit code.
    const VmExit e = decode(exit_code::ioio, port(0x1f0) | SZ16 | A32 | IN, 0x100a3, true, 0x100a3);
    EXPECT_EQ(e.reason, ExitReason::Io);
    EXPECT_EQ(e.raw_code, exit_code::ioio);
    EXPECT_EQ(e.io.port, 0x1f0);
    EXPECT_EQ(e.io.size, 2);
    EXPECT_FALSE(e.io.is_write);
    EXPECT_FALSE(e.io.is_string);
    EXPECT_FALSE(e.io.is_rep);
    EXPECT_EQ(e.io.address_size, 4);
    EXPECT_EQ(e.next_rip, 0x100a3u);
}

TEST(CoreSvmExit, IoOutByteAndDword) {
    VmExit e = decode(exit_code::ioio, port(0x3f8) | SZ8 | A64, 0xffffffff81000002ull, true);
    EXPECT_EQ(e.io.port, 0x3f8);
    EXPECT_EQ(e.io.size, 1);
    EXPECT_TRUE(e.io.is_write);
    EXPECT_EQ(e.io.address_size, 8);
    EXPECT_EQ(e.next_rip, 0xffffffff81000002ull);
    e = decode(exit_code::ioio, port(0xcfc) | SZ32 | A16, 0x7c05, false);
    EXPECT_EQ(e.io.port, 0xcfc);
    EXPECT_EQ(e.io.size, 4);
    EXPECT_EQ(e.io.address_size, 2);
    EXPECT_TRUE(e.io.is_write);
}

TEST(CoreSvmExit, IoRepInswString) {
    const VmExit e = decode(exit_code::ioio, port(0x1f0) | SZ16 | A32 | REP | STR | IN, 0x1003, false);
    EXPECT_TRUE(e.io.is_string);
    EXPECT_TRUE(e.io.is_rep);
    EXPECT_FALSE(e.io.is_write);
    EXPECT_EQ(e.io.size, 2);
    EXPECT_EQ(e.next_rip, 0x1003u); // EXITINFO2, even without NRIP support
}

TEST(CoreSvmExit, IoPortFFFFAndMissingAddressSize) {
    // QEMU TCG leaves the address-size bits clear: reported as 0 (unknown).
    const VmExit e = decode(exit_code::ioio, port(0xffff) | SZ8 | IN, 0x10, false);
    EXPECT_EQ(e.io.port, 0xffff);
    EXPECT_EQ(e.io.address_size, 0);
    EXPECT_EQ(e.io.size, 1);
}

TEST(CoreSvmExit, MsrReadAndWrite) {
    VmExit e = decode(exit_code::msr, 0, 0, true, 0x1234);
    EXPECT_EQ(e.reason, ExitReason::MsrRead);
    EXPECT_EQ(e.next_rip, 0x1234u);
    e = decode(exit_code::msr, 1, 0, true, 0x1234);
    EXPECT_EQ(e.reason, ExitReason::MsrWrite);
}

TEST(CoreSvmExit, NestedPageFault) {
    // Write to a present, read-only nested page (P | RW | US, final walk bit 32).
    VmExit e = decode(exit_code::npf, (1ull << 32) | 0x7, 0x7f00123, true, 0x2000);
    EXPECT_EQ(e.reason, ExitReason::NestedPageFault);
    EXPECT_EQ(e.fault.gpa, 0x7f00123u);
    EXPECT_TRUE(e.fault.present);
    EXPECT_TRUE(e.fault.write);
    EXPECT_FALSE(e.fault.fetch);
    // Instruction fetch from a not-present page above 4 GiB.
    e = decode(exit_code::npf, (1ull << 32) | 0x14, 0x1'2345'6000, false);
    EXPECT_EQ(e.fault.gpa, 0x123456000u);
    EXPECT_FALSE(e.fault.present);
    EXPECT_FALSE(e.fault.write);
    EXPECT_TRUE(e.fault.fetch);
    EXPECT_EQ(e.next_rip, 0u);
}

TEST(CoreSvmExit, CpuidWithAndWithoutNrip) {
    VmExit e = decode(exit_code::cpuid, 0, 0, true, 0x100002);
    EXPECT_EQ(e.reason, ExitReason::Cpuid);
    EXPECT_EQ(e.next_rip, 0x100002u);
    e = decode(exit_code::cpuid, 0, 0, false, 0x100002);
    EXPECT_EQ(e.reason, ExitReason::Cpuid);
    EXPECT_EQ(e.next_rip, 0u); // the handler must decode the instruction
}

TEST(CoreSvmExit, SvmInstructionsAreVirtInstruction) {
    for (uint64_t code : {exit_code::vmrun, exit_code::vmload, exit_code::vmsave, exit_code::stgi,
                          exit_code::clgi, exit_code::skinit, exit_code::invlpga}) {
        const VmExit e = decode(code, 0, 0, true);
        EXPECT_EQ(e.reason, ExitReason::VirtInstruction) << std::hex << code;
        EXPECT_EQ(e.raw_code, code);
    }
}

TEST(CoreSvmExit, VmmcallShutdownAndOthers) {
    EXPECT_EQ(decode(exit_code::vmmcall, 0, 0, true).reason, ExitReason::Hypercall);
    EXPECT_EQ(decode(exit_code::shutdown, 0, 0, true).reason, ExitReason::Shutdown);
    EXPECT_EQ(decode(exit_code::init, 0, 0, true).reason, ExitReason::Init);
    EXPECT_EQ(decode(exit_code::xsetbv, 0, 0, true).reason, ExitReason::Xsetbv);
    for (uint64_t code : {exit_code::intr, exit_code::exception_base + 14, exit_code::invalid,
                          exit_code::invalid_tcg}) {
        const VmExit e = decode(code, 0, 0, true);
        EXPECT_EQ(e.reason, ExitReason::Other) << std::hex << code;
        EXPECT_EQ(e.raw_code, code);
    }
}

void fill_save_area(Vmcb& v) {
    v.save.rax = 0x1111;
    v.save.rsp = 0x7ff0;
    v.save.rip = 0xffffffff81000000ull;
    v.save.rflags = 0x246;
    v.save.cr0 = 0x80050033;
    v.save.cr2 = 0x7f0000001000;
    v.save.cr3 = 0x1a0e000;
    v.save.cr4 = 0x3606f0;
    v.save.efer = 0x1d01;
    v.save.cs = VmcbSegment{0x10, 0xa9b, 0xffffffff, 0};
    v.save.ss = VmcbSegment{0x18, 0xc93, 0xffffffff, 0};
    v.save.ds = VmcbSegment{0x18, 0xc93, 0xffffffff, 0};
    v.save.es = VmcbSegment{0x18, 0xc93, 0xffffffff, 0x1000};
    v.save.fs = VmcbSegment{0, 0, 0, 0x7f1234560000};
    v.save.gs = VmcbSegment{0, 0, 0, 0xffff888007a00000ull};
}

TEST(CoreSvmExit, LoadStateCopiesVmcb) {
    auto vmcb = zeroed_vmcb();
    fill_save_area(*vmcb);
    VcpuState s;
    s.reg(Gpr::Rbx) = 0xb0b;
    s.reg(Gpr::R15) = 0xf15;
    s.raise_exception(exception_vector::gp, 0); // stale, must be cleared
    load_state(*vmcb, s);
    EXPECT_EQ(s.reg(Gpr::Rax), 0x1111u);
    EXPECT_EQ(s.reg(Gpr::Rsp), 0x7ff0u);
    EXPECT_EQ(s.reg(Gpr::Rbx), 0xb0bu); // lives in the backend's GPR save area
    EXPECT_EQ(s.reg(Gpr::R15), 0xf15u);
    EXPECT_EQ(s.rip, 0xffffffff81000000ull);
    EXPECT_EQ(s.rflags, 0x246u);
    EXPECT_EQ(s.cr0, 0x80050033u);
    EXPECT_EQ(s.cr2, 0x7f0000001000u);
    EXPECT_EQ(s.cr3, 0x1a0e000u);
    EXPECT_EQ(s.cr4, 0x3606f0u);
    EXPECT_EQ(s.efer, 0x1d01u);
    EXPECT_EQ(s.cs.selector, 0x10);
    EXPECT_EQ(s.cs.attributes, 0xa9b);
    EXPECT_TRUE(s.cs.long_mode());
    EXPECT_FALSE(s.cs.default_32());
    EXPECT_EQ(s.ss.attributes, 0xc93);
    EXPECT_EQ(s.es.base, 0x1000u);
    EXPECT_EQ(s.fs.base, 0x7f1234560000u);
    EXPECT_EQ(s.gs.base, 0xffff888007a00000ull);
    EXPECT_EQ(s.ds.limit, 0xffffffffu);
    EXPECT_FALSE(s.inject.valid);
}

TEST(CoreSvmExit, StoreStateRoundTripLeavesVmcbUnchanged) {
    auto vmcb = zeroed_vmcb();
    fill_save_area(*vmcb);
    auto before = zeroed_vmcb();
    std::memcpy(before.get(), vmcb.get(), sizeof(Vmcb));
    VcpuState s;
    load_state(*vmcb, s);
    store_state(s, *vmcb);
    EXPECT_EQ(std::memcmp(before.get(), vmcb.get(), sizeof(Vmcb)), 0);
}

TEST(CoreSvmExit, StoreStateWritesHandlerChanges) {
    auto vmcb = zeroed_vmcb();
    fill_save_area(*vmcb);
    VcpuState s;
    load_state(*vmcb, s);
    s.reg(Gpr::Rax) = 0xDEADBEEF;
    s.reg(Gpr::Rsp) = 0x6000;
    s.rip += 2;
    s.rflags = 0x202;
    s.efer = 0x1d01 & ~0x1ull;
    s.cr2 = 0xcafe000;
    store_state(s, *vmcb);
    EXPECT_EQ(vmcb->save.rax, 0xDEADBEEFu);
    EXPECT_EQ(vmcb->save.rsp, 0x6000u);
    EXPECT_EQ(vmcb->save.rip, 0xffffffff81000002ull);
    EXPECT_EQ(vmcb->save.rflags, 0x202u);
    EXPECT_EQ(vmcb->save.efer, 0x1d00u);
    EXPECT_EQ(vmcb->save.cr2, 0xcafe000u);
    EXPECT_EQ(vmcb->control.event_inject, 0u); // nothing pending
}

TEST(CoreSvmExit, EventInjectionEncoding) {
    // APM vol. 2 §15.20: vector[7:0], type[10:8] = 3 (exception), EV[11], V[31], errorcode[63:32].
    struct Case {
        uint8_t vector;
        bool has_error;
        uint32_t error;
        uint64_t expected;
    };
    const Case cases[] = {
        {exception_vector::ud, false, 0, 0x80000306ull},
        {exception_vector::gp, true, 0, 0x80000B0Dull},
        {exception_vector::gp, true, 0x18, 0x00000018'80000B0Dull},
        {exception_vector::pf, true, 0x2, 0x00000002'80000B0Eull},
        {exception_vector::pf, true, 0xFFFFFFFF, 0xFFFFFFFF'80000B0Eull},
    };
    for (const Case& c : cases) {
        auto vmcb = zeroed_vmcb();
        VcpuState s;
        if (c.has_error) s.raise_exception(c.vector, c.error);
        else s.raise_exception(c.vector);
        store_state(s, *vmcb);
        EXPECT_EQ(vmcb->control.event_inject, c.expected) << int(c.vector) << " err " << c.error;
    }
}

} // namespace
} // namespace sv::svm
