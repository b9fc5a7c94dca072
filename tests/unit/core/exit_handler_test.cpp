// Unit tests for core/exit_handler: vendor-neutral exit handling over a fake
// guest RAM and a recording I/O mediator.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <tuple>
#include <vector>

#include "core/exit_handler.hpp"
#include "fake_guest_memory.hpp"
#include "virt/svm/svm_msrs.hpp"

namespace sv {
namespace {

using test::FakeGuestMemory;

constexpr uint64_t guest_ram = 1024 * 1024;
constexpr uint64_t code_at = 0x10000;
constexpr uint32_t msr_efer = 0xC0000080;
constexpr uint64_t efer_sce = 1ull << 0, efer_lme = 1ull << 8, efer_lma = 1ull << 10, efer_nxe = 1ull << 11,
                   efer_svme = 1ull << 12;

// Host CPUID: an AMD EPYC with SVM.
CpuidValues epyc_cpuid(uint32_t leaf, uint32_t) {
    switch (leaf) {
    case 0: return {0x10, 0x68747541, 0x444d4163, 0x69746e65}; // "AuthenticAMD"
    case 1: return {0x00800f12, 0x00020800, 0x7ed8320b, 0x178bfbff};
    case 0x80000001: return {0x00800f12, 0x40000000, 0x0040f3ff, 0x2fd3fbff};
    case 0x8000000A: return {0x1, 0x10, 0x0, 0x0001b6ff};
    default: return {0, 0, 0, 0};
    }
}

// Records port accesses; INs return `in_value`, string INs fill a pattern.
class RecordingHandler final : public IoHandler {
  public:
    struct Call {
        bool write;
        bool string;
        uint16_t port;
        uint8_t size;
        uint32_t value;
        size_t bytes;
    };
    uint32_t in_value = 0;
    std::vector<Call> calls;
    std::vector<uint8_t> written; // data of string OUTs

    uint32_t io_in(uint16_t port, uint8_t size) override {
        calls.push_back({false, false, port, size, 0, 0});
        return in_value;
    }
    void io_out(uint16_t port, uint8_t size, uint32_t value) override {
        calls.push_back({true, false, port, size, value, 0});
    }
    void io_in_string(uint16_t port, uint8_t size, std::span<uint8_t> data) override {
        calls.push_back({false, true, port, size, 0, data.size()});
        for (size_t i = 0; i < data.size(); ++i) data[i] = pattern(next_++);
    }
    void io_out_string(uint16_t port, uint8_t size, std::span<const uint8_t> data) override {
        calls.push_back({true, true, port, size, 0, data.size()});
        written.insert(written.end(), data.begin(), data.end());
    }
    static uint8_t pattern(size_t i) { return static_cast<uint8_t>(i * 31 + 7); }

  private:
    size_t next_ = 0;
};

class CoreExitHandler : public ::testing::Test {
  protected:
    FakeGuestMemory mem{0, guest_ram};
    IoDispatcher io;
    RecordingHandler ide;
    std::unique_ptr<ExitHandler> handler;
    VcpuState s;

    void SetUp() override {
        handler = std::make_unique<ExitHandler>(io, mem, &epyc_cpuid, 0x000100);
        handler->set_vendor_msrs(svm::vendor_msr_policy()); // as platform/main_hw.cpp on this AMD CPU
        ASSERT_TRUE(io.add(0x1f0, 8, ide).ok());
        // Flat 32-bit protected mode, paging off, as Linux's 32-bit entry.
        s.cr0 = 0x11; // PE | ET
        s.efer = efer_svme;
        s.cs = SegmentState{0x10, 0xC9B, 0xffffffff, 0};
        s.ds = s.es = s.ss = SegmentState{0x18, 0xC93, 0xffffffff, 0};
        s.rip = code_at;
        s.rflags = 0x2;
    }
    void code(std::initializer_list<uint8_t> bytes) {
        std::vector<uint8_t> v(bytes);
        mem.write(code_at, v.data(), v.size());
    }
    static VmExit exit(ExitReason reason, uint64_t next_rip = 0) {
        VmExit e;
        e.reason = reason;
        e.next_rip = next_rip;
        return e;
    }
    static VmExit io_exit(uint16_t port, uint8_t size, bool write, uint64_t next_rip, bool string = false,
                          bool rep = false) {
        VmExit e = exit(ExitReason::Io, next_rip);
        e.io = IoAccess{port, size, write, string, rep, 4};
        return e;
    }
    ExitHandler::Action run(const VmExit& e) { return handler->handle(s, e); }
};

TEST_F(CoreExitHandler, CpuidWithoutNripDecodesInstructionLength) {
    code({0x0F, 0xA2});
    s.reg(Gpr::Rax) = 0xFFFFFFFF'40000000ull; // only EAX is the leaf
    s.reg(Gpr::Rcx) = 0;
    EXPECT_EQ(run(exit(ExitReason::Cpuid)), ExitHandler::Action::Resume);
    EXPECT_EQ(s.rip, code_at + 2);
    EXPECT_EQ(s.reg(Gpr::Rax), hypervisor_leaf_max);
    EXPECT_EQ(s.reg(Gpr::Rbx), 0x64616853u); // "Shad"
    EXPECT_EQ(s.reg(Gpr::Rcx), 0x6956776fu); // "owVi"
    EXPECT_EQ(s.reg(Gpr::Rdx), 0x00726f73u); // "sor\0"
    EXPECT_FALSE(s.inject.valid);
}

TEST_F(CoreExitHandler, CpuidLengthComesFromTheDecoder) {
    code({0x3E, 0x0F, 0xA2}); // redundant DS prefix: 3 bytes, not the 2-byte fallback
    s.reg(Gpr::Rax) = 1;
    run(exit(ExitReason::Cpuid));
    EXPECT_EQ(s.rip, code_at + 3);
    EXPECT_NE(s.reg(Gpr::Rcx) & (1u << 31), 0u); // hypervisor present
    EXPECT_EQ(s.reg(Gpr::Rcx) & (1u << 5), 0u);
    EXPECT_EQ(s.reg(Gpr::Rdx), 0x178bfbffu);
}

TEST_F(CoreExitHandler, CpuidWithNripUsesIt) {
    s.reg(Gpr::Rax) = 0x80000001;
    run(exit(ExitReason::Cpuid, code_at + 2));
    EXPECT_EQ(s.rip, code_at + 2);
    EXPECT_EQ(s.reg(Gpr::Rcx), 0x0040f3ffu & ~(1u << 2)); // SVM hidden
    s.reg(Gpr::Rax) = 0x8000000A;
    run(exit(ExitReason::Cpuid, code_at + 4));
    EXPECT_EQ(s.reg(Gpr::Rax), 0u);
    EXPECT_EQ(s.reg(Gpr::Rdx), 0u);
    EXPECT_EQ(handler->counters().by_reason[static_cast<unsigned>(ExitReason::Cpuid)], 2u);
}

TEST_F(CoreExitHandler, EferReadHidesSvme) {
    s.efer = efer_svme | efer_nxe | efer_lma | efer_lme | efer_sce;
    s.reg(Gpr::Rcx) = msr_efer;
    s.reg(Gpr::Rax) = 0xFFFFFFFF'FFFFFFFFull;
    s.reg(Gpr::Rdx) = 0xFFFFFFFF'FFFFFFFFull;
    run(exit(ExitReason::MsrRead, code_at + 2));
    EXPECT_EQ(s.reg(Gpr::Rax), 0xD01u);
    EXPECT_EQ(s.reg(Gpr::Rdx), 0u);
    EXPECT_EQ(s.rip, code_at + 2);
    EXPECT_EQ(s.efer & efer_svme, efer_svme);
}

TEST_F(CoreExitHandler, EferWriteKeepsSvmeAndHardwareLma) {
    // A 32-bit guest enabling long mode: SCE | LME | NXE.
    s.reg(Gpr::Rcx) = msr_efer;
    s.reg(Gpr::Rax) = efer_sce | efer_lme | efer_nxe | efer_lma; // LMA is read-only: ignored
    s.reg(Gpr::Rdx) = 0;
    run(exit(ExitReason::MsrWrite, code_at + 2));
    EXPECT_FALSE(s.inject.valid);
    EXPECT_EQ(s.efer, efer_svme | efer_sce | efer_lme | efer_nxe);
    EXPECT_EQ(s.rip, code_at + 2);
    // And the guest reads back what it wrote, without SVME.
    run(exit(ExitReason::MsrRead, code_at + 4));
    EXPECT_EQ(s.reg(Gpr::Rax), efer_sce | efer_lme | efer_nxe);
}

TEST_F(CoreExitHandler, EferWriteWithReservedBitsInjectsGp) {
    const uint64_t before = efer_svme | efer_lme;
    for (auto [edx, eax] : {std::pair<uint64_t, uint64_t>{0, efer_svme | efer_lme}, // guest sets SVME
                            {0, 1u << 1},                                           // reserved bit 1
                            {1, efer_lme}}) {                                       // bit 32
        s.efer = before;
        s.rip = code_at;
        s.inject = {};
        s.reg(Gpr::Rcx) = msr_efer;
        s.reg(Gpr::Rax) = eax;
        s.reg(Gpr::Rdx) = edx;
        run(exit(ExitReason::MsrWrite, code_at + 2));
        EXPECT_TRUE(s.inject.valid);
        EXPECT_EQ(s.inject.vector, exception_vector::gp);
        EXPECT_TRUE(s.inject.has_error_code);
        EXPECT_EQ(s.inject.error_code, 0u);
        EXPECT_EQ(s.efer, before); // unchanged, SVME still set
        EXPECT_EQ(s.rip, code_at); // a faulting WRMSR does not retire
    }
}

TEST_F(CoreExitHandler, SvmMsrsBehaveAsWithoutSvm) {
    s.reg(Gpr::Rcx) = 0xC0010114; // VM_CR
    run(exit(ExitReason::MsrRead, code_at + 2));
    EXPECT_FALSE(s.inject.valid);
    EXPECT_EQ(s.reg(Gpr::Rax), 0x18u); // LOCK | SVMDIS
    EXPECT_EQ(s.rip, code_at + 2);

    s.rip = code_at;
    run(exit(ExitReason::MsrWrite, code_at + 2));
    EXPECT_TRUE(s.inject.valid);
    EXPECT_EQ(s.inject.vector, exception_vector::gp);
    EXPECT_EQ(s.rip, code_at);

    s.inject = {};
    s.reg(Gpr::Rcx) = 0xC0010117; // VM_HSAVE_PA
    run(exit(ExitReason::MsrRead, code_at + 2));
    EXPECT_TRUE(s.inject.valid);
    EXPECT_EQ(s.inject.vector, exception_vector::gp);
}

// The vendor-neutral core: EFER without hidden bits, no vendor MSRs.
TEST_F(CoreExitHandler, WithoutVendorPolicyNoEferBitIsHiddenAndVendorMsrsFault) {
    handler->set_vendor_msrs(VendorMsrPolicy{});
    s.efer = efer_svme | efer_lme;
    s.reg(Gpr::Rcx) = msr_efer;
    run(exit(ExitReason::MsrRead, code_at + 2));
    EXPECT_EQ(s.reg(Gpr::Rax), efer_svme | efer_lme); // nothing hidden

    s.rip = code_at;
    s.reg(Gpr::Rax) = efer_lme | (1ull << 13); // LMSLE: AMD's, not architectural
    s.reg(Gpr::Rdx) = 0;
    run(exit(ExitReason::MsrWrite, code_at + 2));
    EXPECT_TRUE(s.inject.valid);
    EXPECT_EQ(s.inject.vector, exception_vector::gp);
    EXPECT_EQ(s.rip, code_at);

    s.inject = {};
    s.reg(Gpr::Rax) = efer_sce | efer_lme | efer_nxe;
    run(exit(ExitReason::MsrWrite, code_at + 2));
    EXPECT_FALSE(s.inject.valid);
    EXPECT_EQ(s.efer, efer_sce | efer_lme | efer_nxe); // SVME not kept: no vendor asked for it

    s.rip = code_at;
    s.reg(Gpr::Rcx) = svm::msr::vm_cr;
    run(exit(ExitReason::MsrRead, code_at + 2));
    EXPECT_TRUE(s.inject.valid);
    EXPECT_EQ(s.inject.vector, exception_vector::gp);
    EXPECT_EQ(s.rip, code_at);
}

// A vendor's policy is applied as given: its hidden EFER bit, its extra
// writable bit, its MSRs' answers (a made-up vendor, not SVM's values).
TEST_F(CoreExitHandler, VendorPolicyDecidesHiddenEferBitsAndVendorMsrs) {
    constexpr uint64_t hidden = 1ull << 20, extra = 1ull << 21;
    constexpr uint32_t vendor_msr = 0xC0012345, refused_msr = 0xC0012346;
    handler->set_vendor_msrs(VendorMsrPolicy{
        .efer_writable = extra,
        .efer_hidden = hidden,
        .access = [](uint32_t msr, bool write, uint64_t, uint64_t& result) {
            if (msr == 0xC0012345 && !write) {
                result = 0x1122334455667788ull;
                return VendorMsrOutcome::Done;
            }
            return msr == 0xC0012346 ? VendorMsrOutcome::Fault : VendorMsrOutcome::NotVendors;
        },
    });
    s.efer = hidden;
    s.reg(Gpr::Rcx) = msr_efer;
    s.reg(Gpr::Rax) = efer_lme | extra;
    s.reg(Gpr::Rdx) = 0;
    run(exit(ExitReason::MsrWrite, code_at + 2));
    EXPECT_FALSE(s.inject.valid);
    EXPECT_EQ(s.efer, hidden | efer_lme | extra);
    run(exit(ExitReason::MsrRead, code_at + 4));
    EXPECT_EQ(s.reg(Gpr::Rax), efer_lme | extra);

    s.rip = code_at;
    s.reg(Gpr::Rax) = hidden; // the guest may not set a hidden bit itself
    run(exit(ExitReason::MsrWrite, code_at + 2));
    EXPECT_TRUE(s.inject.valid);
    EXPECT_EQ(s.rip, code_at);

    s.inject = {};
    s.reg(Gpr::Rcx) = vendor_msr;
    run(exit(ExitReason::MsrRead, code_at + 2));
    EXPECT_FALSE(s.inject.valid);
    EXPECT_EQ(s.reg(Gpr::Rax), 0x55667788u);
    EXPECT_EQ(s.reg(Gpr::Rdx), 0x11223344u);
    EXPECT_EQ(s.rip, code_at + 2);

    for (uint32_t msr : {refused_msr, 0xC0012347u}) { // refused by the vendor; nobody's
        s.rip = code_at;
        s.inject = {};
        s.reg(Gpr::Rcx) = msr;
        run(exit(ExitReason::MsrRead, code_at + 2));
        EXPECT_TRUE(s.inject.valid) << std::hex << msr;
        EXPECT_EQ(s.inject.vector, exception_vector::gp);
        EXPECT_EQ(s.rip, code_at);
    }
}

TEST_F(CoreExitHandler, VmmcallVersion) {
    code({0x0F, 0x01, 0xD9});
    s.reg(Gpr::Rax) = hypercall::version;
    run(exit(ExitReason::Hypercall));
    EXPECT_EQ(s.reg(Gpr::Rax), hypercall::status_ok);
    EXPECT_EQ(s.reg(Gpr::Rbx), 0x000100u);
    EXPECT_EQ(s.reg(Gpr::Rcx), 0x52535653u);
    EXPECT_EQ(s.rip, code_at + 3);
}

TEST_F(CoreExitHandler, VmmcallSeesItsOwnExitCount) {
    s.reg(Gpr::Rax) = 0;
    run(exit(ExitReason::Cpuid, code_at + 2));
    s.reg(Gpr::Rax) = hypercall::exit_count;
    s.reg(Gpr::Rbx) = static_cast<uint64_t>(ExitReason::Hypercall);
    run(exit(ExitReason::Hypercall, code_at + 5));
    EXPECT_EQ(s.reg(Gpr::Rax), hypercall::status_ok);
    EXPECT_EQ(s.reg(Gpr::Rbx), 1u); // counted before it is handled
    EXPECT_EQ(s.rip, code_at + 5);
    EXPECT_EQ(handler->counters().total(), 2u);
}

TEST_F(CoreExitHandler, InByteAndWordMergeIntoRax) {
    ide.in_value = 0xDEADBEAB;
    s.reg(Gpr::Rax) = 0xFFFFFFFF'12345678ull;
    run(io_exit(0x1f7, 1, false, code_at + 1));
    EXPECT_EQ(s.reg(Gpr::Rax), 0xFFFFFFFF'123456ABull);
    EXPECT_EQ(s.rip, code_at + 1);
    ASSERT_EQ(ide.calls.size(), 1u);
    EXPECT_EQ(ide.calls[0].port, 0x1f7);
    EXPECT_EQ(ide.calls[0].size, 1);
    EXPECT_FALSE(ide.calls[0].write);

    ide.in_value = 0xDEADBEEF;
    s.reg(Gpr::Rax) = 0xFFFFFFFF'12345678ull;
    run(io_exit(0x1f0, 2, false, code_at + 3));
    EXPECT_EQ(s.reg(Gpr::Rax), 0xFFFFFFFF'1234BEEFull);
    EXPECT_EQ(s.rip, code_at + 3);
}

TEST_F(CoreExitHandler, InDwordZeroExtends) {
    ide.in_value = 0x89ABCDEF;
    s.reg(Gpr::Rax) = 0xFFFFFFFF'12345678ull;
    run(io_exit(0x1f0, 4, false, code_at + 1));
    EXPECT_EQ(s.reg(Gpr::Rax), 0x89ABCDEFu);
}

TEST_F(CoreExitHandler, OutPassesRaxToHandler) {
    s.reg(Gpr::Rax) = 0xAAAAAAAA'000000ECull; // IDENTIFY DEVICE to the command port
    run(io_exit(0x1f7, 1, true, code_at + 1));
    ASSERT_EQ(ide.calls.size(), 1u);
    EXPECT_TRUE(ide.calls[0].write);
    EXPECT_EQ(ide.calls[0].port, 0x1f7);
    EXPECT_EQ(ide.calls[0].size, 1);
    EXPECT_EQ(ide.calls[0].value & 0xFF, 0xECu);
    EXPECT_EQ(s.reg(Gpr::Rax), 0xAAAAAAAA'000000ECull);
    EXPECT_EQ(s.rip, code_at + 1);
}

TEST_F(CoreExitHandler, InFromUnownedPortReadsAllOnes) {
    s.reg(Gpr::Rax) = 0x12345678;
    run(io_exit(0x170, 1, false, code_at + 2));
    EXPECT_EQ(s.reg(Gpr::Rax), 0x123456FFu);
    EXPECT_EQ(s.rip, code_at + 2);
    s.reg(Gpr::Rax) = 0x12345678;
    run(io_exit(0x170, 2, false, code_at + 2));
    EXPECT_EQ(s.reg(Gpr::Rax), 0x1234FFFFu);
    s.reg(Gpr::Rax) = 0xFFFF0000'12345678ull;
    run(io_exit(0x170, 4, false, code_at + 2));
    EXPECT_EQ(s.reg(Gpr::Rax), 0xFFFFFFFFull); // a 32-bit IN zero-extends into RAX, as with a handler
    EXPECT_TRUE(ide.calls.empty());
    EXPECT_FALSE(s.inject.valid);
}

TEST_F(CoreExitHandler, RepInswReadsWholeSectorInOneCall) {
    code({0xF3, 0x66, 0x6D}); // rep insw (32-bit code: 66 selects 16-bit)
    const uint64_t buffer = 0x20000;
    s.reg(Gpr::Rcx) = 256; // one 512-byte sector
    s.reg(Gpr::Rdi) = buffer;
    s.reg(Gpr::Rdx) = 0x1f0;
    run(io_exit(0x1f0, 2, false, code_at + 3, true, true));
    EXPECT_FALSE(s.inject.valid);
    ASSERT_EQ(ide.calls.size(), 1u);
    EXPECT_TRUE(ide.calls[0].string);
    EXPECT_EQ(ide.calls[0].port, 0x1f0);
    EXPECT_EQ(ide.calls[0].size, 2);
    EXPECT_EQ(ide.calls[0].bytes, 512u);
    const uint8_t* ram = mem.map(buffer, 513);
    for (size_t i = 0; i < 512; ++i) ASSERT_EQ(ram[i], RecordingHandler::pattern(i)) << i;
    EXPECT_EQ(ram[512], 0); // nothing past the buffer
    EXPECT_EQ(s.reg(Gpr::Rcx), 0u);
    EXPECT_EQ(s.reg(Gpr::Rdi), buffer + 512);
    EXPECT_EQ(s.rip, code_at + 3);
}

TEST_F(CoreExitHandler, RepInswLargerThanBounceBufferIsChunked) {
    code({0xF3, 0x66, 0x6D});
    const uint64_t buffer = 0x30000;
    s.reg(Gpr::Rcx) = 4096; // 8 KiB: two 4 KiB chunks
    s.reg(Gpr::Rdi) = buffer;
    run(io_exit(0x1f0, 2, false, code_at + 3, true, true));
    EXPECT_FALSE(s.inject.valid);
    ASSERT_EQ(ide.calls.size(), 2u);
    EXPECT_EQ(ide.calls[0].bytes + ide.calls[1].bytes, 8192u);
    const uint8_t* ram = mem.map(buffer, 8192);
    for (size_t i = 0; i < 8192; ++i) ASSERT_EQ(ram[i], RecordingHandler::pattern(i)) << i;
    EXPECT_EQ(s.reg(Gpr::Rcx), 0u);
    EXPECT_EQ(s.reg(Gpr::Rdi), buffer + 8192);
    EXPECT_EQ(s.rip, code_at + 3);
}

TEST_F(CoreExitHandler, RepOutswWritesSectorFromRsi) {
    code({0xF3, 0x66, 0x6F}); // rep outsw
    const uint64_t buffer = 0x40000;
    std::vector<uint8_t> sector(512);
    for (size_t i = 0; i < sector.size(); ++i) sector[i] = static_cast<uint8_t>(0xA5 ^ i);
    mem.write(buffer, sector.data(), sector.size());
    s.reg(Gpr::Rcx) = 256;
    s.reg(Gpr::Rsi) = buffer;
    run(io_exit(0x1f0, 2, true, code_at + 3, true, true));
    EXPECT_FALSE(s.inject.valid);
    ASSERT_EQ(ide.calls.size(), 1u);
    EXPECT_TRUE(ide.calls[0].write);
    EXPECT_EQ(ide.written, sector);
    EXPECT_EQ(s.reg(Gpr::Rcx), 0u);
    EXPECT_EQ(s.reg(Gpr::Rsi), buffer + 512);
    EXPECT_EQ(s.rip, code_at + 3);
}

TEST_F(CoreExitHandler, InsdWithoutRepMovesOneElement) {
    code({0x6D}); // insd
    s.reg(Gpr::Rcx) = 77; // ignored without REP
    s.reg(Gpr::Rdi) = 0x50000;
    run(io_exit(0x1f0, 4, false, code_at + 1, true, false));
    ASSERT_EQ(ide.calls.size(), 1u);
    EXPECT_EQ(ide.calls[0].bytes, 4u);
    EXPECT_EQ(s.reg(Gpr::Rcx), 77u);
    EXPECT_EQ(s.reg(Gpr::Rdi), 0x50004u);
    EXPECT_EQ(s.rip, code_at + 1);
}

TEST_F(CoreExitHandler, RepInswToBufferOutsideRamRaisesPageFault) {
    code({0xF3, 0x66, 0x6D});
    s.reg(Gpr::Rcx) = 256;
    s.reg(Gpr::Rdi) = guest_ram - 256; // second half of the sector is outside RAM
    run(io_exit(0x1f0, 2, false, code_at + 3, true, true));
    EXPECT_TRUE(s.inject.valid);
    EXPECT_EQ(s.inject.vector, exception_vector::pf);
    EXPECT_EQ(s.cr2, guest_ram - 256);
    EXPECT_EQ(s.reg(Gpr::Rcx), 256u); // remaining work still described
    EXPECT_EQ(s.reg(Gpr::Rdi), guest_ram - 256);
    EXPECT_EQ(s.rip, code_at);
}

TEST_F(CoreExitHandler, ShutdownResetsThePlatform) {
    EXPECT_EQ(run(exit(ExitReason::Shutdown)), ExitHandler::Action::ResetPlatform);
    EXPECT_EQ(handler->counters().by_reason[static_cast<unsigned>(ExitReason::Shutdown)], 1u);
}

TEST_F(CoreExitHandler, SvmInstructionRaisesUd) {
    code({0x0F, 0x01, 0xD8}); // vmrun
    EXPECT_EQ(run(exit(ExitReason::VirtInstruction, code_at + 3)), ExitHandler::Action::Resume);
    EXPECT_TRUE(s.inject.valid);
    EXPECT_EQ(s.inject.vector, exception_vector::ud);
    EXPECT_FALSE(s.inject.has_error_code);
    EXPECT_EQ(s.rip, code_at); // #UD is a fault: RIP stays on VMRUN
}

TEST_F(CoreExitHandler, WriteToHiddenMemoryIsDroppedAndSkipped) {
    VmExit e = exit(ExitReason::NestedPageFault, code_at + 6);
    e.fault = NestedFault{0x7f00000, true, false, true};
    EXPECT_EQ(run(e), ExitHandler::Action::Resume);
    EXPECT_FALSE(s.inject.valid);
    EXPECT_EQ(s.rip, code_at + 6);
}

TEST_F(CoreExitHandler, OtherNestedFaultInjectsGp) {
    VmExit e = exit(ExitReason::NestedPageFault, code_at + 6);
    e.fault = NestedFault{0xfee00000, false, false, false}; // not present: not ours to emulate
    run(e);
    EXPECT_TRUE(s.inject.valid);
    EXPECT_EQ(s.inject.vector, exception_vector::gp);
    EXPECT_EQ(s.rip, code_at);
}

TEST_F(CoreExitHandler, UnknownExitResumesAndIsCounted) {
    VmExit e = exit(ExitReason::Other);
    e.raw_code = 0x60;
    EXPECT_EQ(run(e), ExitHandler::Action::Resume);
    EXPECT_EQ(run(e), ExitHandler::Action::Resume);
    EXPECT_EQ(handler->counters().by_reason[static_cast<unsigned>(ExitReason::Other)], 2u);
    EXPECT_EQ(s.rip, code_at);
    EXPECT_FALSE(s.inject.valid);
}

// --- accesses that cover more than one port (issue 7 class 2) ---

// The hardware behind unowned ports: records what passes through.
class RecordingPorts final : public PortIo {
  public:
    struct Access {
        bool write;
        uint16_t port;
        uint8_t size;
        uint32_t value;
    };
    std::vector<Access> log;
    uint32_t in(uint16_t port, uint8_t size) override {
        log.push_back({false, port, size, 0});
        return 0x11 * (port & 0xF); // distinct per port
    }
    void out(uint16_t port, uint8_t size, uint32_t value) override { log.push_back({true, port, size, value}); }
};

class CoreExitHandlerSplit : public CoreExitHandler {
  protected:
    RecordingHandler command; // the secondary channel's Command register only
    RecordingPorts bus;
    void SetUp() override {
        CoreExitHandler::SetUp();
        ASSERT_TRUE(io.add(0x177, 1, command).ok());
        handler->set_passthrough(&bus);
    }
};

TEST_F(CoreExitHandlerSplit, WordOutBelowTheCommandRegisterIsMediated) {
    s.reg(Gpr::Rax) = 0xCAE0; // Device E0h at 176h, WRITE DMA at 177h
    run(io_exit(0x176, 2, true, code_at + 2));
    ASSERT_EQ(bus.log.size(), 1u);
    EXPECT_TRUE(bus.log[0].write);
    EXPECT_EQ(bus.log[0].port, 0x176);
    EXPECT_EQ(bus.log[0].size, 1);
    EXPECT_EQ(bus.log[0].value, 0xE0u);
    ASSERT_EQ(command.calls.size(), 1u);
    EXPECT_TRUE(command.calls[0].write);
    EXPECT_EQ(command.calls[0].port, 0x177);
    EXPECT_EQ(command.calls[0].size, 1);
    EXPECT_EQ(command.calls[0].value, 0xCAu);
    EXPECT_EQ(s.rip, code_at + 2);
    EXPECT_FALSE(s.inject.valid);
    EXPECT_GT(handler->counters().split_port_accesses, 0u);
}

TEST_F(CoreExitHandlerSplit, EveryDwordOffsetAroundAnOwnedPortIsByteExact) {
    for (uint32_t port = 0x174; port <= 0x177; ++port) {
        bus.log.clear();
        command.calls.clear();
        s.reg(Gpr::Rax) = 0x44332211;
        run(io_exit(static_cast<uint16_t>(port), 4, true, code_at + 1));
        const unsigned owned_byte = 0x177 - port;
        ASSERT_EQ(command.calls.size(), 1u) << std::hex << port;
        EXPECT_EQ(command.calls[0].value, (0x44332211u >> (8 * owned_byte)) & 0xFF);
        // Every other byte reached the bus exactly once, at its own port.
        unsigned bytes = 0;
        for (const RecordingPorts::Access& a : bus.log) {
            for (uint8_t b = 0; b < a.size; ++b) {
                const unsigned off = a.port + b - port;
                EXPECT_NE(off, owned_byte);
                EXPECT_EQ((a.value >> (8 * b)) & 0xFF, (0x44332211u >> (8 * off)) & 0xFF);
                ++bytes;
            }
        }
        EXPECT_EQ(bytes, 3u) << std::hex << port;
    }
}

TEST_F(CoreExitHandlerSplit, ReadsAreAssembledFromThePieces) {
    command.in_value = 0x50; // status: DRDY
    s.reg(Gpr::Rax) = 0xFFFFFFFF'00000000ull;
    run(io_exit(0x175, 4, false, code_at + 1));
    // 175h, 176h from the bus (0x55, 0x66), 177h from the mediator, 178h from the bus (0x88).
    EXPECT_EQ(s.reg(Gpr::Rax), 0x88506655ull); // zero-extended
    ASSERT_EQ(command.calls.size(), 1u);
    EXPECT_FALSE(command.calls[0].write);
    s.reg(Gpr::Rax) = 0x12345678;
    run(io_exit(0x176, 2, false, code_at + 1));
    EXPECT_EQ(s.reg(Gpr::Rax), 0x12345066u);
}

TEST_F(CoreExitHandlerSplit, WithoutPassThroughUnownedBytesReadAsAnEmptyBus) {
    handler->set_passthrough(nullptr);
    command.in_value = 0x50;
    s.reg(Gpr::Rax) = 0;
    run(io_exit(0x176, 2, false, code_at + 1));
    EXPECT_EQ(s.reg(Gpr::Rax), 0x50FFu);
}

TEST_F(CoreExitHandlerSplit, StringIoStraddlingOwnersIsRefused) {
    code({0xF3, 0x66, 0x6F}); // rep outsw
    s.reg(Gpr::Rcx) = 4;
    s.reg(Gpr::Rsi) = 0x20000;
    s.reg(Gpr::Rdx) = 0x176;
    run(io_exit(0x176, 2, true, code_at + 3, true, true));
    EXPECT_TRUE(s.inject.valid);
    EXPECT_EQ(s.inject.vector, exception_vector::gp);
    EXPECT_TRUE(command.calls.empty());
    EXPECT_TRUE(bus.log.empty());
    EXPECT_EQ(s.reg(Gpr::Rcx), 4u);
    EXPECT_GT(handler->counters().refused_port_accesses, 0u);
}

TEST_F(CoreExitHandlerSplit, StringIoWhollyInsideOneOwnerStillWorks) {
    code({0xF3, 0x66, 0x6D}); // rep insw at the (fixture's) data port
    s.reg(Gpr::Rcx) = 2;
    s.reg(Gpr::Rdi) = 0x20000;
    s.reg(Gpr::Rdx) = 0x1f0;
    run(io_exit(0x1f0, 2, false, code_at + 3, true, true));
    EXPECT_FALSE(s.inject.valid);
    ASSERT_EQ(ide.calls.size(), 1u);
    EXPECT_EQ(ide.calls[0].bytes, 4u);
}

// --- MMIO writes that straddle a trapped range (issue 7 class 2, MMIO) ---

class RecordingMmio final : public MmioWriteHandler {
  public:
    struct Write {
        uint64_t gpa;
        uint8_t size;
        uint64_t value;
    };
    std::vector<Write> writes;
    void mmio_write(uint64_t gpa, uint8_t size, uint64_t value) override { writes.push_back({gpa, size, value}); }
};

class CoreExitHandlerMmioStraddle : public CoreExitHandler {
  protected:
    RecordingMmio apic;
    MmioDispatcher mmio;
    MmioRange apic_range;
    void SetUp() override {
        CoreExitHandler::SetUp();
        ASSERT_TRUE(mmio.add(apic_range, 0xfee00000, 0x1000, apic).ok());
        handler->set_mmio(&mmio);
        code({0x89, 0x03}); // mov [ebx], eax
        s.reg(Gpr::Rax) = 0xC4500;
    }
    VmExit write_fault(uint64_t gpa) {
        VmExit e = exit(ExitReason::NestedPageFault);
        e.fault = NestedFault{gpa, true, false, true};
        return e;
    }
};

TEST_F(CoreExitHandlerMmioStraddle, WriteInsideTheRangeIsHandedOverAtItsAddress) {
    s.reg(Gpr::Rbx) = 0xfee00300;
    run(write_fault(0xfee00300));
    ASSERT_EQ(apic.writes.size(), 1u);
    EXPECT_EQ(apic.writes[0].gpa, 0xfee00300u);
    EXPECT_EQ(apic.writes[0].size, 4);
    EXPECT_EQ(apic.writes[0].value, 0xC4500u);
    EXPECT_EQ(s.rip, code_at + 2);
    EXPECT_FALSE(s.inject.valid);
}

TEST_F(CoreExitHandlerMmioStraddle, WriteFromThePageBelowIntoTheRangeIsRefused) {
    s.reg(Gpr::Rbx) = 0xfedffffe; // bytes 2-3 land at FEE00000h
    run(write_fault(0xfee00000));   // the fault names the trapped page
    EXPECT_TRUE(apic.writes.empty());
    EXPECT_TRUE(s.inject.valid);
    EXPECT_EQ(s.inject.vector, exception_vector::gp);
    EXPECT_EQ(s.rip, code_at);
    EXPECT_GT(handler->counters().refused_mmio_writes, 0u);
}

TEST_F(CoreExitHandlerMmioStraddle, WriteOutOfTheRangesEndIsRefused) {
    s.reg(Gpr::Rbx) = 0xfee00ffe;
    run(write_fault(0xfee00ffe));
    EXPECT_TRUE(apic.writes.empty());
    EXPECT_TRUE(s.inject.valid);
    EXPECT_GT(handler->counters().refused_mmio_writes, 0u);
}

TEST_F(CoreExitHandlerMmioStraddle, LastWholeRegisterOfTheRangeIsFine) {
    s.reg(Gpr::Rbx) = 0xfee00ffc;
    run(write_fault(0xfee00ffc));
    ASSERT_EQ(apic.writes.size(), 1u);
    EXPECT_EQ(apic.writes[0].gpa, 0xfee00ffcu);
}

} // namespace
} // namespace sv

namespace sv {
namespace {

// MMIO through the shared dispatcher: writes reach the range's handler, and
// a range with a read handler gets reads, merged into the register as the
// CPU would (MOV r32 zero-extends, MOV r8/AH merge, MOVZX/MOVSX extend).
struct MmioRecorder final : MmioWriteHandler, MmioReadHandler {
    std::vector<std::tuple<uint64_t, uint8_t, uint64_t>> writes;
    uint64_t next = 0;
    void mmio_write(uint64_t gpa, uint8_t size, uint64_t value) override { writes.emplace_back(gpa, size, value); }
    uint64_t mmio_read(uint64_t, uint8_t) override { return next; }
};

class CoreExitHandlerMmio : public CoreExitHandler {
  protected:
    MmioDispatcher mmio;
    MmioRecorder dev;
    MmioRange dev_range;
    void SetUp() override {
        CoreExitHandler::SetUp();
        ASSERT_TRUE(mmio.add(dev_range, 0xFEB00000, 0x1000, dev, &dev).ok());
        handler->set_mmio(&mmio);
        s.reg(Gpr::Rbx) = 0xFEB00010;
    }
    void fault(bool write) {
        VmExit e = exit(ExitReason::NestedPageFault);
        e.fault = NestedFault{0xFEB00010, write, false, write};
        run(e);
    }
};

TEST_F(CoreExitHandlerMmio, WritesGoToTheRangeHandler) {
    code({0x89, 0x03}); // mov [ebx], eax
    s.reg(Gpr::Rax) = 0x1122334455667788ull;
    fault(true);
    ASSERT_EQ(dev.writes.size(), 1u);
    EXPECT_EQ(dev.writes[0], std::make_tuple(uint64_t{0xFEB00010}, uint8_t{4}, uint64_t{0x55667788}));
    EXPECT_EQ(s.rip, code_at + 2);
}

TEST_F(CoreExitHandlerMmio, ReadsAreEmulatedWithTheCpusRegisterRules) {
    s.reg(Gpr::Rax) = 0xFFFFFFFFFFFFFFFFull;
    dev.next = 0x80;
    code({0x8B, 0x03}); // mov eax, [ebx]: zero-extends
    fault(false);
    EXPECT_EQ(s.reg(Gpr::Rax), 0x80u);
    EXPECT_EQ(s.rip, code_at + 2);
    s.rip = code_at;
    s.reg(Gpr::Rax) = 0xFFFFFFFFFFFFFFFFull;
    code({0x8A, 0x23}); // mov ah, [ebx]
    fault(false);
    EXPECT_EQ(s.reg(Gpr::Rax), 0xFFFFFFFFFFFF80FFull);
    s.rip = code_at;
    code({0x0F, 0xBE, 0x0B}); // movsx ecx, byte [ebx]
    fault(false);
    EXPECT_EQ(s.reg(Gpr::Rcx), 0xFFFFFF80u);
    s.rip = code_at;
    s.reg(Gpr::Rdx) = 0xAAAA0000;
    code({0x66, 0x0F, 0xB6, 0x13}); // movzx dx, byte [ebx]
    fault(false);
    EXPECT_EQ(s.reg(Gpr::Rdx), 0xAAAA0080u);
    EXPECT_FALSE(s.inject.valid);
}

TEST_F(CoreExitHandlerMmio, ReadModifyWriteFormsAreEmulatedWhole) {
    dev.next = 0x0F;
    s.reg(Gpr::Rax) = 0xF0;
    code({0xF0, 0x09, 0x03}); // lock or [ebx], eax: read, then write the OR
    fault(true);
    ASSERT_EQ(dev.writes.size(), 1u);
    EXPECT_EQ(dev.writes[0], std::make_tuple(uint64_t{0xFEB00010}, uint8_t{4}, uint64_t{0xFF}));
    EXPECT_EQ(s.rip, code_at + 3);
    EXPECT_FALSE(s.inject.valid);
}

TEST_F(CoreExitHandlerMmio, ReadStraddlingTheRangeEdgeIsRefused) {
    s.reg(Gpr::Rbx) = 0xFEB00FFE;
    code({0x8B, 0x03}); // mov eax, [ebx]: 2 bytes past the range's end
    VmExit e = exit(ExitReason::NestedPageFault);
    e.fault = NestedFault{0xFEB00FFE, false, false, false};
    run(e);
    EXPECT_TRUE(s.inject.valid);
    EXPECT_EQ(s.inject.vector, exception_vector::gp);
    EXPECT_EQ(s.rip, code_at);
    EXPECT_GT(handler->counters().refused_mmio_reads, 0u);
}

TEST_F(CoreExitHandlerMmio, UnsupportedReadInstructionRaisesGp) {
    code({0x0F, 0x10, 0x03}); // movups xmm0, [ebx]: SSE is not emulated on MMIO
    fault(false);
    EXPECT_TRUE(s.inject.valid);
    EXPECT_EQ(s.inject.vector, exception_vector::gp);
    EXPECT_EQ(s.rip, code_at);
}

} // namespace
} // namespace sv

namespace sv {
namespace {

// A fault where no range is (any more): after the trap layout changed (a
// range moved away while this vCPU waited for the lock) the access is
// retried once; a fault that repeats with the layout unchanged goes on to
// the usual handling (#GP here).
class CoreExitHandlerMmioRetry : public CoreExitHandler {
  protected:
    struct Sink final : MmioWriteHandler {
        void mmio_write(uint64_t, uint8_t, uint64_t) override {}
    } sink;
    MmioDispatcher mmio;
    MmioRange range;
    void SetUp() override {
        CoreExitHandler::SetUp();
        ASSERT_TRUE(mmio.add(range, 0xFEB00000, 0x1000, sink).ok());
        handler->set_mmio(&mmio);
    }
    void fault_at(uint64_t gpa) {
        VmExit e = exit(ExitReason::NestedPageFault);
        e.fault = NestedFault{gpa, false, false, false};
        run(e);
    }
};

TEST_F(CoreExitHandlerMmioRetry, AFaultAfterARangeMovedAwayIsRetriedOnce) {
    ASSERT_TRUE(mmio.move(range, 0xFEC00000, 0x1000).ok());
    fault_at(0xFEB00010); // the access predates the move
    EXPECT_FALSE(s.inject.valid);
    EXPECT_EQ(s.rip, code_at);
    fault_at(0xFEB00010); // it faults again: not a stale translation
    EXPECT_TRUE(s.inject.valid);
    EXPECT_EQ(s.inject.vector, exception_vector::gp);
}

} // namespace
} // namespace sv
