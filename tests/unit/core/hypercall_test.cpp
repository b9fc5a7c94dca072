// Unit tests for core/hypercall: the VMMCALL ABI.
#include <gtest/gtest.h>

#include "core/hypercall.hpp"

namespace sv {
namespace {

TEST(CoreHypercall, VersionReturnsVersionAndMagic) {
    VcpuState s;
    ExitCounters c;
    s.reg(Gpr::Rax) = hypercall::version;
    s.reg(Gpr::Rdx) = 0x1234;
    handle_hypercall(s, c, (1u << 16) | (2u << 8) | 3u);
    EXPECT_EQ(s.reg(Gpr::Rax), hypercall::status_ok);
    EXPECT_EQ(s.reg(Gpr::Rbx), 0x010203u);
    EXPECT_EQ(s.reg(Gpr::Rcx), 0x52535653u); // "SVSR" as bytes 'S','V','S','R'
    EXPECT_EQ(s.reg(Gpr::Rdx), 0x1234u);     // untouched
}

TEST(CoreHypercall, ExitCountPerReason) {
    VcpuState s;
    ExitCounters c;
    for (int i = 0; i < 5; ++i) c.count(ExitReason::Io);
    c.count(ExitReason::Cpuid);
    c.count(ExitReason::Cpuid);
    s.reg(Gpr::Rax) = hypercall::exit_count;
    s.reg(Gpr::Rbx) = static_cast<uint64_t>(ExitReason::Io);
    handle_hypercall(s, c, 0);
    EXPECT_EQ(s.reg(Gpr::Rax), hypercall::status_ok);
    EXPECT_EQ(s.reg(Gpr::Rbx), 5u);
    s.reg(Gpr::Rax) = hypercall::exit_count;
    s.reg(Gpr::Rbx) = static_cast<uint64_t>(ExitReason::Cpuid);
    handle_hypercall(s, c, 0);
    EXPECT_EQ(s.reg(Gpr::Rbx), 2u);
    s.reg(Gpr::Rax) = hypercall::exit_count;
    s.reg(Gpr::Rbx) = static_cast<uint64_t>(ExitReason::Shutdown);
    handle_hypercall(s, c, 0);
    EXPECT_EQ(s.reg(Gpr::Rax), hypercall::status_ok);
    EXPECT_EQ(s.reg(Gpr::Rbx), 0u);
    EXPECT_EQ(c.total(), 7u);
}

TEST(CoreHypercall, ExitCountInvalidIndex) {
    VcpuState s;
    ExitCounters c;
    for (uint64_t index : {uint64_t{static_cast<uint64_t>(ExitReason::Count)}, uint64_t{1000}, ~uint64_t{0}}) {
        s.reg(Gpr::Rax) = hypercall::exit_count;
        s.reg(Gpr::Rbx) = index;
        handle_hypercall(s, c, 0);
        EXPECT_EQ(s.reg(Gpr::Rax), hypercall::status_invalid);
        EXPECT_EQ(s.reg(Gpr::Rbx), index); // not clobbered
    }
}

TEST(CoreHypercall, ExitReasonCount) {
    VcpuState s;
    ExitCounters c;
    s.reg(Gpr::Rax) = hypercall::exit_reason_count;
    handle_hypercall(s, c, 0);
    EXPECT_EQ(s.reg(Gpr::Rax), hypercall::status_ok);
    EXPECT_EQ(s.reg(Gpr::Rbx), static_cast<uint64_t>(ExitReason::Count));
}

TEST(CoreHypercall, UnknownFunction) {
    VcpuState s;
    ExitCounters c;
    for (uint64_t fn : {uint64_t{3}, uint64_t{0x100}, uint64_t{0x80000000}, ~uint64_t{0}}) {
        s.reg(Gpr::Rax) = fn;
        s.reg(Gpr::Rbx) = 0x55;
        s.reg(Gpr::Rcx) = 0x66;
        handle_hypercall(s, c, 0x010000);
        EXPECT_EQ(s.reg(Gpr::Rax), hypercall::status_invalid) << fn;
        EXPECT_EQ(s.reg(Gpr::Rbx), 0x55u);
        EXPECT_EQ(s.reg(Gpr::Rcx), 0x66u);
    }
}

} // namespace
} // namespace sv
