// Hostile guest input against the IDE mediator: every bad PRD table or
// command sequence must fail the command the way libata expects, leave no
// plaintext on the platter, never aim the bus master outside the shadow, and
// leave the mediator working for the next valid command.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "ide/ide_fixture.hpp"

namespace {
using namespace svtest;
using sv::ide::PrdFault;
using sv::ide::Reject;

constexpr uint32_t kBuf = 0x100000;
constexpr uint64_t kLba = 500;
constexpr uint32_t kSectors = 64; // 32 KiB: 8192 two-byte regions stay below it

// A valid write after the hostile one must still work (mediator not wedged).
void expect_next_command_works(IdeRig& r) {
    auto plain = pattern(kSectors * 512, 99);
    std::memcpy(r.ram(kBuf), plain.data(), plain.size());
    Outcome ok = r.dma(true, kLba + 100, kSectors, kBuf);
    EXPECT_TRUE(ok.ok);
    EXPECT_EQ(r.platter(kLba + 100, kSectors),
              oracle_xts(r.key, plain.data(), plain.size(), kLba + 100, true));
    for (const SimDmaRun& run : r.dev.dma_runs) EXPECT_TRUE(run.all_in_dma_region);
}

struct BadTable {
    const char* name;
    std::function<void(IdeRig&)> build; // writes the guest table at r.prd_table
    uint32_t table_offset;              // added to the PRD pointer
    PrdFault fault;
};

class IdeHostilePrd : public ::testing::TestWithParam<TrapMode> {};

TEST_P(IdeHostilePrd, BadTablesAbortWithNopAndNoPlaintext) {
    const std::vector<BadTable> cases = {
        {"into hypervisor", [](IdeRig& r) { r.write_prd(r.prd_table, {{uint32_t(kDmaBase), 4096}}); }, 0,
         PrdFault::EntryNotRam},
        {"past RAM", [](IdeRig& r) { r.write_prd(r.prd_table, {{uint32_t(kRamBytes + 0x1000), 4096}}); }, 0,
         PrdFault::EntryNotRam},
        {"odd base", [](IdeRig& r) { r.write_prd(r.prd_table, {{kBuf + 1, 4096}}); }, 0,
         PrdFault::EntryOddAddress},
        {"odd count", [](IdeRig& r) { r.write_prd(r.prd_table, {{kBuf, 4095}, {kBuf + 4096, 1}}); }, 0,
         PrdFault::EntryOddLength},
        {"crosses 64K", [](IdeRig& r) { r.write_prd(r.prd_table, {{kBuf + 0xff00, 4096}}); }, 0,
         PrdFault::EntryCrosses64K},
        {"short", [](IdeRig& r) { r.write_prd(r.prd_table, {{kBuf, 2048}}); }, 0,
         PrdFault::LengthMismatch},
        {"long", [](IdeRig& r) { r.write_prd(r.prd_table, {{kBuf, 0}}); }, 0, PrdFault::TooLong},
        {"no EOT", [](IdeRig& r) {
             std::vector<std::pair<uint32_t, uint32_t>> v(8192, {kBuf, 2});
             r.write_prd(r.prd_table, v, false);
         }, 0, PrdFault::NoEot},
        {"misaligned table", [](IdeRig& r) { r.write_prd(r.prd_table, {{kBuf, 4096}}); }, 2,
         PrdFault::TableMisaligned},
        {"table in hypervisor", [](IdeRig&) {}, uint32_t(kDmaBase) - 0x10000, PrdFault::TableNotRam},
        {"table beyond 4G-ish", [](IdeRig&) {}, 0xfff00000u - 0x10000, PrdFault::TableNotRam},
    };
    for (const BadTable& c : cases) {
        SCOPED_TRACE(c.name);
        IdeRig r(true, GetParam());
        auto plain = pattern(kSectors * 512, 7);
        std::memcpy(r.ram(kBuf), plain.data(), plain.size());
        c.build(r);
        const uint32_t shadow_prd = r.dev.prd_register();
        Outcome o = r.driver->dma(true, kLba, kSectors, false, r.prd_table + c.table_offset);
        // libata: interrupt, BM INTR, ATA status ERR, Error ABRT -> AC_ERR_DEV.
        EXPECT_TRUE(o.irq);
        EXPECT_FALSE(o.ok);
        EXPECT_TRUE(o.status & 0x01);
        EXPECT_EQ(o.error & 0x04, 0x04);
        EXPECT_EQ(r.dev.commands.back(), 0x00); // NOP went to the device, not WRITE DMA
        EXPECT_TRUE(r.dev.dma_runs.empty());
        EXPECT_EQ(r.dev.prd_register(), shadow_prd);
        EXPECT_EQ(r.channel->stats().prd_fault_count(c.fault), 1u);
        EXPECT_EQ(r.platter(kLba, kSectors), std::vector<uint8_t>(kSectors * 512, 0));
        expect_next_command_works(r);
    }
}
INSTANTIATE_TEST_SUITE_P(AllTrapModes, IdeHostilePrd, ::testing::ValuesIn(kAllTrapModes),
                         [](const auto& i) { return std::string(to_string(i.param)); });

// Lean/Full: START is trapped and the table is walked again there.
TEST(IdeHostile, TableChangedBeforeStartWritesEncryptedZerosAndFails) {
    for (TrapMode mode : {TrapMode::Lean, TrapMode::Full}) {
        const bool full = mode == TrapMode::Full;
        IdeRig r(true, mode);
        auto plain = pattern(kSectors * 512, 8);
        std::memcpy(r.ram(kBuf), plain.data(), plain.size());
        r.write_prd(r.prd_table, {{kBuf, kSectors * 512}});
        r.driver->before_start = [&] { r.write_prd(r.prd_table, {{uint32_t(kDmaBase), kSectors * 512}}); };
        Outcome o = r.driver->dma(true, kLba, kSectors, false, r.prd_table);
        r.driver->before_start = nullptr;
        EXPECT_TRUE(o.irq);
        EXPECT_FALSE(o.ok);
        if (full) EXPECT_TRUE(o.bm_status & 0x02); // BM ERROR -> AC_ERR_HOST_BUS
        else EXPECT_TRUE(o.status & 0x01);         // ATA ERR -> AC_ERR_DEV
        std::vector<uint8_t> zeros(kSectors * 512, 0);
        auto disk = r.platter(kLba, kSectors);
        EXPECT_EQ(disk, oracle_xts(r.key, zeros.data(), zeros.size(), kLba, true));
        EXPECT_FALSE(contains_plaintext_run(disk, plain.data(), plain.size()));
        EXPECT_EQ(r.channel->stats().reject_count(Reject::PrdChangedAtStart), 1u);
        expect_next_command_works(r);
    }
}

TEST(IdeHostile, ReadTableChangedBeforeStartLeavesGuestBufferAlone) {
    for (TrapMode mode : kAllTrapModes) {
    SCOPED_TRACE(to_string(mode));
    IdeRig r(true, mode);
    auto plain = pattern(kSectors * 512, 9);
    std::memcpy(r.ram(kBuf), plain.data(), plain.size());
    ASSERT_TRUE(r.dma(true, kLba, kSectors, kBuf).ok);
    std::memset(r.ram(kBuf), 0xee, plain.size());
    r.write_prd(r.prd_table, {{kBuf, kSectors * 512}});
    r.driver->before_start = [&] { r.write_prd(r.prd_table, {{kBuf + 1, kSectors * 512}}); };
    Outcome o = r.driver->dma(false, kLba, kSectors, false, r.prd_table);
    EXPECT_FALSE(o.ok);
    EXPECT_EQ(r.ram(kBuf)[0], 0xee);
    EXPECT_EQ(r.ram(kBuf)[kSectors * 512 - 1], 0xee);
    EXPECT_TRUE(r.dma_only_in_shadow());
    }
}

TEST(IdeHostile, StartWithoutCommandAndDoubleStart) {
    IdeRig r(true, TrapMode::Full); // virtual START (see IdeDirect for Minimal)
    r.bus->out(r.dev.ports.bm + 4, 4, 0x40000000);
    r.bus->out(r.dev.ports.bm, 1, 0x01); // START, no command
    EXPECT_TRUE(r.dev.dma_runs.empty());
    EXPECT_TRUE(r.bus->in(r.dev.ports.bm + 2, 1) & 0x02); // ERROR shown
    EXPECT_EQ(r.channel->stats().reject_count(Reject::StartWithoutCommand), 1u);
    r.bus->out(r.dev.ports.bm, 1, 0x00);
    r.bus->out(r.dev.ports.bm + 2, 1, 0x06); // guest clears ERROR/INTR
    EXPECT_FALSE(r.bus->in(r.dev.ports.bm + 2, 1) & 0x02);
    // Valid command, then START written twice: one transfer only.
    auto plain = pattern(kSectors * 512, 10);
    std::memcpy(r.ram(kBuf), plain.data(), plain.size());
    r.driver->before_start = [&] { r.bus->out(r.dev.ports.bm, 1, 0x01); };
    Outcome o = r.dma(true, kLba, kSectors, kBuf);
    r.driver->before_start = nullptr;
    EXPECT_TRUE(o.ok);
    EXPECT_EQ(r.dev.dma_runs.size(), 1u);
    EXPECT_EQ(r.platter(kLba, kSectors), oracle_xts(r.key, plain.data(), plain.size(), kLba, true));
    expect_next_command_works(r);
}

TEST(IdeHostile, RefusedOpcodesAndChsAreAbortedWithNop) {
    for (uint8_t op : {0x06, 0xc9, 0xcb, 0xf2, 0x92, 0x61, 0xff}) {
        IdeRig r;
        r.driver->dma_opcode_override = op;
        Outcome o = r.dma(true, kLba, kSectors, kBuf);
        EXPECT_FALSE(o.ok);
        EXPECT_EQ(o.error & 0x04, 0x04);
        EXPECT_EQ(r.dev.commands.back(), 0x00) << std::hex << int(op);
        EXPECT_EQ(r.channel->stats().reject_count(Reject::RefusedOpcode), 1u);
        r.driver->dma_opcode_override = 0;
        expect_next_command_works(r);
    }
    IdeRig r;
    r.driver->device_bits = 0x00; // CHS
    Outcome o = r.dma(true, kLba, kSectors, kBuf);
    EXPECT_FALSE(o.ok);
    EXPECT_EQ(r.channel->stats().reject_count(Reject::ChsAddressing), 1u);
    r.driver->device_bits = 0x40;
    expect_next_command_works(r);
}

TEST(IdeHostile, DataPortWithoutCommandReadsPassWritesDrop) {
    IdeRig r;
    uint8_t buf[64] = {};
    r.bus->ins(r.dev.ports.cmd, 2, buf, sizeof buf);
    r.bus->outs(r.dev.ports.cmd, 2, buf, sizeof buf);
    r.bus->out(r.dev.ports.cmd, 4, 0x41414141);
    EXPECT_EQ(r.dev.stray_data_writes, 0u); // no data-out phase: dropped, not forwarded
    EXPECT_EQ(r.channel->stats().pio_bytes_dropped, 68u);
    expect_next_command_works(r);
}

} // namespace
