// End to end for issue 7 class 2: the real IDE mediator behind the core's
// exit handling, over the simulated PIIX. A hostile guest puts the WRITE DMA
// opcode in the high byte of a 16-bit OUT at Device (1F6h); the command must
// reach the device only through the mediator (encrypted, via the shadow
// table), never straight from the guest's PRD table.
#include <gtest/gtest.h>

#include <cstring>

#include "core/exit_handler.hpp"
#include "ide/ide_fixture.hpp"

namespace svtest {
namespace {

sv::CpuidValues no_cpuid(uint32_t, uint32_t) { return {}; }

struct StraddleRig {
    IdeRig r{true, TrapMode::Minimal};
    sv::IoDispatcher io;
    sv::ExitHandler handler{io, r.guest, &no_cpuid, 0};
    sv::VcpuState s;
    StraddleRig() {
        uint16_t ports[sv::ide::kMaxTrappedPorts];
        const size_t n = r.channel->trapped_ports(ports);
        for (size_t i = 0; i < n; ++i)
            EXPECT_TRUE(io.add(ports[i], 1, *r.channel, i == 0 ? sv::io_whole::any : sv::io_whole::none).ok());
        handler.set_passthrough(&r.dev);
    }
    // IN/OUT the way the guest's CPU does it: an exit only if a covered port
    // is trapped (APM vol. 2 §15.10.1), else straight to the device.
    bool trapped(uint16_t port, uint8_t size) const {
        for (uint8_t b = 0; b < size; ++b)
            if (io.find(static_cast<uint16_t>(port + b))) return true;
        return false;
    }
    void out(uint16_t port, uint8_t size, uint32_t value) {
        if (!trapped(port, size)) return r.dev.out(port, size, value);
        sv::VmExit e;
        e.reason = sv::ExitReason::Io;
        e.next_rip = s.rip + 1;
        e.io = sv::IoAccess{port, size, true, false, false, 4};
        s.reg(sv::Gpr::Rax) = value;
        handler.handle(s, e);
    }
    uint32_t in(uint16_t port, uint8_t size) {
        if (!trapped(port, size)) return r.dev.in(port, size);
        sv::VmExit e;
        e.reason = sv::ExitReason::Io;
        e.next_rip = s.rip + 1;
        e.io = sv::IoAccess{port, size, false, false, false, 4};
        handler.handle(s, e);
        return static_cast<uint32_t>(s.reg(sv::Gpr::Rax));
    }
};

TEST(IdeStraddle, WriteDmaOpcodeInTheHighByteOfAWordAtDeviceIsMediated) {
    StraddleRig t;
    const uint16_t cmd = t.r.dev.ports.cmd, bm = t.r.dev.ports.bm;
    const uint64_t lba = 321;
    const uint32_t buf = 0x200000;
    auto plain = pattern(512, 9);
    std::memcpy(t.r.ram(buf), plain.data(), plain.size());
    t.r.write_prd(t.r.prd_table, {{buf, 512}});
    t.out(bm + 0, 1, 0);                 // direction: memory -> device
    t.out(bm + 4, 4, t.r.prd_table);     // the mediator's (virtual) PRD pointer
    t.out(cmd + 2, 1, 1);                // one sector
    t.out(cmd + 3, 1, lba & 0xff);
    t.out(cmd + 4, 1, (lba >> 8) & 0xff);
    t.out(cmd + 5, 1, (lba >> 16) & 0xff);
    t.out(cmd + 6, 2, 0xCA00 | 0xE0);    // Device E0h + WRITE DMA at 1F7h
    t.out(bm + 0, 1, 0x01);              // START (the guest owns bm+0 in Minimal mode)
    for (int i = 0; i < 100 && (t.in(cmd + 7, 1) & 0x80); ++i) {
    }
    t.out(bm + 0, 1, 0);
    ASSERT_FALSE(t.r.dev.commands.empty());
    EXPECT_EQ(t.r.dev.commands.back(), 0xca);
    EXPECT_EQ(t.r.channel->stats().dma_transfers, 1u) << "the mediator saw the command";
    const auto disk = t.r.platter(lba, 1);
    EXPECT_EQ(disk, oracle_xts(t.r.key, plain.data(), plain.size(), lba, true));
    EXPECT_FALSE(contains_plaintext_run(disk, plain.data(), plain.size()));
    EXPECT_TRUE(t.r.dma_only_in_shadow());
    EXPECT_GT(t.handler.counters().split_port_accesses, 0u);
}

TEST(IdeStraddle, DwordAtLbaMidCarryingTheCommandIsMediatedToo) {
    StraddleRig t;
    const uint16_t cmd = t.r.dev.ports.cmd, bm = t.r.dev.ports.bm;
    const uint32_t buf = 0x200000;
    auto plain = pattern(512, 10);
    std::memcpy(t.r.ram(buf), plain.data(), plain.size());
    t.r.write_prd(t.r.prd_table, {{buf, 512}});
    t.out(bm + 0, 1, 0);
    t.out(bm + 4, 4, t.r.prd_table);
    t.out(cmd + 2, 1, 1);
    t.out(cmd + 3, 1, 7);
    t.out(cmd + 4, 4, 0xCAE00000); // LBA mid 0, LBA high 0, Device E0h, WRITE DMA
    t.out(bm + 0, 1, 0x01);
    for (int i = 0; i < 100 && (t.in(cmd + 7, 1) & 0x80); ++i) {
    }
    t.out(bm + 0, 1, 0);
    EXPECT_EQ(t.r.channel->stats().dma_transfers, 1u);
    EXPECT_EQ(t.r.platter(7, 1), oracle_xts(t.r.key, plain.data(), plain.size(), 7, true));
    EXPECT_TRUE(t.r.dma_only_in_shadow());
}

} // namespace
} // namespace svtest
