// Issue #7 class 3: state a refused or aborted command leaves behind. Raw
// data-port pass-through (and an unencrypted ATAPI DMA) only during an ATAPI
// phase the mediator saw start, to a device it saw identify as ATAPI, ending
// with that phase. The attacks reach the device with a command the mediator
// never saw (registers written straight to the simulated device, as an
// untrapped path would): nothing the guest writes afterwards may reach the
// platter in plaintext.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "ide/ide_fixture.hpp"

namespace {
using namespace svtest;
using sv::ide::Reject;

constexpr uint32_t kBuf = 0x100000;

class IdePhase : public ::testing::TestWithParam<TrapMode> {};
INSTANTIATE_TEST_SUITE_P(AllTrapModes, IdePhase, ::testing::ValuesIn(kAllTrapModes),
                         [](const auto& i) { return std::string(to_string(i.param)); });

// A command written to the device behind the mediator's back.
void unseen_command(IdeRig& r, uint8_t op, uint64_t lba, uint8_t count) {
    const uint16_t c = r.dev.ports.cmd;
    r.dev.out(c + 2, 1, count);
    r.dev.out(c + 3, 1, uint8_t(lba));
    r.dev.out(c + 4, 1, uint8_t(lba >> 8));
    r.dev.out(c + 5, 1, uint8_t(lba >> 16));
    r.dev.out(c + 6, 1, 0xe0);
    r.dev.out(c + 7, 1, op);
}

void packet(IdeRig& r, uint8_t device = 0xa0) {
    r.dev.out(r.dev.ports.cmd + 6, 1, device);
    r.bus->out(r.dev.ports.cmd + 7, 1, 0xa0);
}

uint8_t status(IdeRig& r) { return uint8_t(r.bus->in(r.dev.ports.cmd + 7, 1)); }

TEST_P(IdePhase, PacketToAtaDiskIsRefusedAndLeavesNoPassThrough) {
    IdeRig r(true, GetParam());
    auto plain = pattern(512, 31);
    packet(r, 0xe0);
    EXPECT_EQ(r.dev.commands.back(), 0x00); // NOP instead: the disk aborts as it would
    EXPECT_EQ(r.channel->stats().reject_count(Reject::PacketNotAtapi), 1u);
    EXPECT_TRUE(status(r) & 0x01);
    unseen_command(r, 0x30, 70, 1); // WRITE SECTORS the mediator never saw
    ASSERT_TRUE(r.dev.status() & 0x08);
    r.bus->outs(r.dev.ports.cmd, 2, plain.data(), plain.size());
    EXPECT_FALSE(contains_plaintext_run(r.dev.platter, plain.data(), plain.size()));
    EXPECT_GE(r.channel->stats().pio_bytes_dropped, 512u);
}

TEST_P(IdePhase, PacketDmaToAtaDiskNeverCarriesPlaintext) {
    IdeRig r(true, GetParam());
    auto plain = pattern(4096, 32);
    std::memcpy(r.ram(kBuf), plain.data(), plain.size());
    r.write_prd(r.prd_table, {{kBuf, 4096}});
    const uint16_t bm = r.dev.ports.bm;
    r.bus->out(bm + 4, 4, r.prd_table); // libata bmdma_setup: PRD pointer, direction
    r.bus->out(bm, 1, 0x00);            // memory -> device
    packet(r, 0xe0);
    EXPECT_EQ(r.channel->stats().reject_count(Reject::PacketNotAtapi), 1u);
    unseen_command(r, 0xca, 80, 8); // WRITE DMA the mediator never saw
    r.bus->out(bm, 1, 0x01);        // START
    r.bus->out(bm, 1, 0x00);
    status(r);
    EXPECT_FALSE(contains_plaintext_run(r.dev.platter, plain.data(), plain.size()));
    EXPECT_TRUE(r.dma_only_in_shadow());
}

TEST_P(IdePhase, IdentifyPacketToAtaDiskTeachesNothing) {
    IdeRig r(true, GetParam());
    uint8_t id[512];
    EXPECT_FALSE(r.driver->identify(id, 0xa1).ok); // ATA disk aborts it
    packet(r, 0xe0);
    EXPECT_EQ(r.channel->stats().reject_count(Reject::PacketNotAtapi), 1u);
    EXPECT_EQ(r.dev.commands.back(), 0x00);
}

TEST_P(IdePhase, PacketAbortedByAtapiDeviceEndsPassThrough) {
    IdeRig r(true, GetParam());
    r.make_atapi();
    packet(r);
    EXPECT_EQ(r.dev.commands.back(), 0xa0); // a real ATAPI device gets it
    uint8_t cdb[12] = {0x00}; // TEST UNIT READY: this device aborts it
    r.bus->outs(r.dev.ports.cmd, 2, cdb, sizeof cdb);
    ASSERT_TRUE(r.dev.error() & 0x04);
    // No status read in between: the write itself sees the phase is over.
    const uint64_t stray = r.dev.stray_data_writes;
    const uint64_t dropped = r.channel->stats().pio_bytes_dropped;
    auto plain = pattern(512, 33);
    r.bus->outs(r.dev.ports.cmd, 2, plain.data(), plain.size());
    EXPECT_EQ(r.dev.stray_data_writes, stray);
    EXPECT_EQ(r.channel->stats().pio_bytes_dropped, dropped + 512);
    EXPECT_GT(r.channel->stats().phases_ended, 0u);
    // And after a status read too.
    EXPECT_TRUE(status(r) & 0x01);
    r.bus->outs(r.dev.ports.cmd, 2, plain.data(), plain.size());
    EXPECT_EQ(r.dev.stray_data_writes, stray);
}

TEST_P(IdePhase, SoftwareResetMidPacketEndsPassThrough) {
    IdeRig r(true, GetParam());
    r.make_atapi();
    packet(r); // device waits for the CDB
    ASSERT_TRUE(r.dev.status() & 0x08);
    // SRST (seen by the mediator only where the control port is trapped).
    r.bus->out(r.dev.ports.ctl, 1, 0x0c);
    r.bus->out(r.dev.ports.ctl, 1, 0x08);
    const uint64_t stray = r.dev.stray_data_writes;
    uint8_t cdb[12] = {0x28, 0, 0, 0, 0, 1, 0, 0, 1};
    r.bus->outs(r.dev.ports.cmd, 2, cdb, sizeof cdb);
    EXPECT_EQ(r.dev.stray_data_writes, stray);
    EXPECT_GE(r.channel->stats().pio_bytes_dropped, sizeof cdb);
}

TEST_P(IdePhase, DeviceSwitchMidPacketEndsPassThrough) {
    IdeRig r(true, GetParam());
    r.make_atapi();
    packet(r);
    ASSERT_TRUE(r.dev.status() & 0x08);
    r.dev.out(r.dev.ports.cmd + 6, 1, 0xb0); // device 1 (untrapped register)
    uint8_t cdb[12] = {0x28, 0, 0, 0, 0, 1, 0, 0, 1};
    r.bus->outs(r.dev.ports.cmd, 2, cdb, sizeof cdb);
    r.dev.out(r.dev.ports.cmd + 6, 1, 0xa0); // back: the phase is over for us
    const uint64_t stray = r.dev.stray_data_writes;
    r.bus->outs(r.dev.ports.cmd, 2, cdb, sizeof cdb);
    EXPECT_EQ(r.dev.stray_data_writes, stray);
    EXPECT_EQ(r.dev.commands.back(), 0xa0);
    EXPECT_GE(r.channel->stats().pio_bytes_dropped, 2 * sizeof cdb);
    EXPECT_GT(r.channel->stats().phases_ended, 0u);
}

TEST_P(IdePhase, PortMoveMidPacketEndsPassThrough) {
    IdeRig r(true, GetParam());
    r.make_atapi();
    packet(r);
    ASSERT_TRUE(r.dev.status() & 0x08);
    const SimPorts p = r.dev.ports;
    r.channel->set_ports({p.cmd, p.ctl, p.bm}); // a BAR write (same place)
    const uint64_t stray = r.dev.stray_data_writes;
    uint8_t cdb[12] = {0x28, 0, 0, 0, 0, 1, 0, 0, 1};
    r.bus->outs(r.dev.ports.cmd, 2, cdb, sizeof cdb);
    EXPECT_EQ(r.dev.stray_data_writes, stray);
    EXPECT_GE(r.channel->stats().pio_bytes_dropped, sizeof cdb);
}

TEST_P(IdePhase, AtapiDmaStillWorksAfterRefusals) {
    IdeRig r(true, GetParam());
    packet(r, 0xe0); // refused: not identified yet
    r.make_atapi();
    auto disc = pattern(2048, 34);
    std::memcpy(r.dev.platter.data() + 5 * 2048, disc.data(), disc.size());
    r.write_prd(r.prd_table, {{kBuf, 2048}});
    const uint16_t c = r.dev.ports.cmd, bm = r.dev.ports.bm;
    r.dev.out(c + 1, 1, 0x01);
    r.bus->out(bm + 4, 4, r.prd_table);
    r.bus->out(bm, 1, 0x08);
    packet(r);
    uint8_t cdb[12] = {0x28, 0, 0, 0, 0, 5, 0, 0, 1};
    r.bus->outs(c, 2, cdb, sizeof cdb);
    r.bus->out(bm, 1, 0x09);
    r.bus->out(bm, 1, 0x08);
    EXPECT_FALSE(status(r) & 0x89);
    EXPECT_EQ(0, std::memcmp(r.ram(kBuf), disc.data(), disc.size()));
    EXPECT_TRUE(r.dma_only_in_shadow());
}

// Lean/Full: an ATA DMA command the device fails before START (IDNF) is over:
// the guest's later START moves nothing.
TEST(IdePhaseLean, DmaCommandFailedBeforeStartIsForgotten) {
    for (TrapMode m : {TrapMode::Lean, TrapMode::Full}) {
        SCOPED_TRACE(to_string(m));
        IdeRig r(true, m);
        r.write_prd(r.prd_table, {{kBuf, 4096}});
        const uint16_t c = r.dev.ports.cmd, bm = r.dev.ports.bm;
        r.bus->out(bm + 4, 4, r.prd_table);
        r.dev.out(c + 2, 1, 8);
        r.dev.out(c + 3, 1, 0xff);
        r.dev.out(c + 4, 1, 0xff);
        r.dev.out(c + 5, 1, 0xff);
        r.dev.out(c + 6, 1, 0xe0); // LBA far beyond the disk: IDNF
        r.bus->out(c + 7, 1, 0xca);
        EXPECT_TRUE(status(r) & 0x01);
        r.bus->out(bm, 1, 0x01);
        r.bus->out(bm, 1, 0x00);
        EXPECT_TRUE(r.dev.dma_runs.empty());
        EXPECT_GT(r.channel->stats().phases_ended, 0u);
    }
}

} // namespace
