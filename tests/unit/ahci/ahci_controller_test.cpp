// The AHCI mediator's register side (AhciController / AhciPort): virtual
// PxCLB/PxFB, hidden capabilities, access splitting, resets mid-command
// (HBA reset, COMRESET, ST 1 -> 0: in-flight commands fail, nothing is copied,
// the port re-syncs and the next command works), the shadow pool running dry,
// refused commands, and the HBA's access log showing only shadows.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "ahci/ahci_controller_rig.hpp"
#include "devices/storage/ahci/ahci_registers.hpp"

namespace svtest {
namespace {
using namespace sv::ahci;

struct AhciRegs : AhciMediatorRig {
    void SetUp() override {
        AhciMediatorRig::SetUp();
        build();
        boot_linux();
    }
    uint32_t vreg(unsigned p, uint32_t r) { return static_cast<uint32_t>(ctl->read(port_base(p) + r, 4)); }
    void vwrite(unsigned p, uint32_t r, uint32_t v) { ctl->write(port_base(p) + r, 4, v); }
    // Writes `sectors` of a pattern at `lba` (through the mediator) and checks it.
    void write_ok(unsigned p, uint64_t lba, uint32_t sectors, uint32_t seed) {
        const auto plain = pattern(sectors * 512, seed);
        put(kBuf, plain);
        drv.rw(p, 0, true, lba, sectors, kBuf);
        const AhciCompletion c = drv.interrupt(p);
        ASSERT_FALSE(c.error);
        ASSERT_EQ(c.completed, 1u);
        EXPECT_EQ(platter(p, lba, plain.size()), oracle_xts(key, plain.data(), plain.size(), lba, true));
    }
    void read_ok(unsigned p, uint64_t lba, uint32_t sectors, uint32_t seed) {
        std::memset(ram(kBuf), 0, sectors * 512);
        drv.rw(p, 0, false, lba, sectors, kBuf);
        const AhciCompletion c = drv.interrupt(p);
        ASSERT_FALSE(c.error);
        EXPECT_EQ(get(kBuf, sectors * 512), pattern(sectors * 512, seed));
    }
};

TEST_F(AhciRegs, CapHidesPortMultiplierFbsEnclosureAndCoalescing) {
    const uint32_t real_cap = hba.read32(reg::kCap);
    hba.cap |= cap::kSpm | cap::kFbss | cap::kEms | cap::kCccs;
    const uint32_t v = static_cast<uint32_t>(ctl->read(reg::kCap, 4));
    EXPECT_EQ(v & (cap::kSpm | cap::kFbss | cap::kEms | cap::kCccs), 0u);
    EXPECT_EQ(v & cap::kS64a, real_cap & cap::kS64a);
    EXPECT_EQ(ctl->read(reg::kPi, 4), 0x3fu);
    EXPECT_EQ(ctl->read(reg::kVs, 4), 0x00010300u);
    for (uint32_t off : {reg::kCccCtl, reg::kCccPorts, reg::kEmLoc, reg::kEmCtl, 0xa0u, 0xfcu})
        EXPECT_EQ(ctl->read(off, 4), 0u) << off;
    ctl->write(reg::kCap, 4, 0xffffffff); // HwInit: dropped
    ctl->write(reg::kPi, 4, 0xffffffff);
    EXPECT_EQ(ctl->read(reg::kPi, 4), 0x3fu);
    // Ports beyond PI: read 0, writes go nowhere.
    EXPECT_EQ(ctl->read(port_base(7) + preg::kCmd, 4), 0u);
    ctl->write(port_base(7) + preg::kCi, 4, 1);
    // PxFBS reads 0 and its writes are dropped; PxCMD.PMA cannot be set.
    vwrite(kDisk, preg::kFbs, fbs::kEn);
    EXPECT_EQ(vreg(kDisk, preg::kFbs), 0u);
    vwrite(kDisk, preg::kCmd, vreg(kDisk, preg::kCmd) | pcmd::kPma);
    EXPECT_EQ(real(kDisk, preg::kCmd) & pcmd::kPma, 0u);
    EXPECT_GT(ctl->stats().guest_reads, 0u);
    EXPECT_GT(ctl->stats().guest_writes, 0u);
}

TEST_F(AhciRegs, ClbAndFbAreVirtualAndIgnoredWhileRunning) {
    const AhciPort* port = ctl->port(kDisk);
    // Running (CR, FR set): the write is ignored, as by the hardware.
    vwrite(kDisk, preg::kClb, 0x8000400);
    vwrite(kDisk, preg::kFb, 0x8000000);
    EXPECT_EQ(vreg(kDisk, preg::kClb), drv.cl(kDisk));
    EXPECT_EQ(vreg(kDisk, preg::kFb), drv.rx_fis(kDisk));
    EXPECT_EQ(real(kDisk, preg::kClb), static_cast<uint32_t>(port->shadow_list_phys()));
    write_ok(kDisk, 100, 8, 1); // commands still come from the guest's list at drv.cl()

    // Stopped: kept with the reserved low bits cleared (§3.3.1, §3.3.3);
    // the real registers keep naming the shadows.
    drv.stop_engine(kDisk);
    vwrite(kDisk, preg::kCmd, vreg(kDisk, preg::kCmd) & ~pcmd::kFre);
    vwrite(kDisk, preg::kClb, 0x123457ff);
    vwrite(kDisk, preg::kClbu, 0x1);
    vwrite(kDisk, preg::kFb, 0x123456ff);
    EXPECT_EQ(vreg(kDisk, preg::kClb), 0x12345400u);
    EXPECT_EQ(vreg(kDisk, preg::kClbu), 0x1u);
    EXPECT_EQ(vreg(kDisk, preg::kFb), 0x12345600u);
    EXPECT_EQ(real(kDisk, preg::kClb), static_cast<uint32_t>(port->shadow_list_phys()));
    EXPECT_EQ(real(kDisk, preg::kClbu), static_cast<uint32_t>(port->shadow_list_phys() >> 32));
    EXPECT_EQ(real(kDisk, preg::kFb), static_cast<uint32_t>(port->shadow_fis_phys()));
    ASSERT_TRUE(drv.start_port(kDisk));
    read_ok(kDisk, 100, 8, 1);
}

TEST_F(AhciRegs, ByteWordAndStraddlingAccesses) {
    const uint32_t cap_v = static_cast<uint32_t>(ctl->read(reg::kCap, 4));
    uint32_t bytes = 0;
    for (unsigned b = 0; b < 4; ++b) bytes |= static_cast<uint32_t>(ctl->read(reg::kCap + b, 1)) << (8 * b);
    EXPECT_EQ(bytes, cap_v);
    EXPECT_EQ(ctl->read(reg::kCap + 2, 2), cap_v >> 16);
    // 4 bytes at CAP+2: CAP 31:16 and GHC 15:0, one register read each.
    const uint32_t ghc_v = static_cast<uint32_t>(ctl->read(reg::kGhc, 4));
    const uint64_t before = ctl->stats().split_accesses;
    EXPECT_EQ(ctl->read(reg::kCap + 2, 4), (cap_v >> 16) | ((ghc_v & 0xffff) << 16));
    EXPECT_EQ(ctl->stats().split_accesses, before + 1);
    // 8 bytes at PxCLB: CLB and CLBU of the guest.
    EXPECT_EQ(ctl->read(port_base(kDisk) + preg::kClb, 8), drv.cl(kDisk));
    // Sizes the hardware cannot produce read 0 and write nothing.
    EXPECT_EQ(ctl->read(reg::kCap, 3), 0u);

    // A byte write to PxIE merges with the current value.
    const uint32_t ie = vreg(kDisk, preg::kIe);
    ctl->write(port_base(kDisk) + preg::kIe + 3, 1, 0);
    EXPECT_EQ(vreg(kDisk, preg::kIe), ie & 0x00ffffffu);
    ctl->write(port_base(kDisk) + preg::kIe + 3, 1, ie >> 24);
    EXPECT_EQ(vreg(kDisk, preg::kIe), ie);
    // A byte write to PxIS (RWC) clears only the bits of its byte.
    put(kBuf, pattern(512, 3));
    drv.rw(kDisk, 0, true, 1, 1, kBuf);
    const uint32_t pis_v = vreg(kDisk, preg::kIs);
    ASSERT_NE(pis_v & pis::kDhrs, 0u);
    ctl->write(port_base(kDisk) + preg::kIs + 1, 1, 0xff); // bits 15:8: none of ours
    EXPECT_EQ(vreg(kDisk, preg::kIs), pis_v);
    ctl->write(port_base(kDisk) + preg::kIs, 1, pis::kDhrs);
    EXPECT_EQ(vreg(kDisk, preg::kIs), pis_v & ~pis::kDhrs);
    EXPECT_EQ(drv.interrupt(kDisk).completed, 1u);
    // A byte write to PxCI issues only the slots of its byte: slot 8 here,
    // re-issued from the header and table the model left in guest memory.
    auto plain = pattern(512, 4);
    put(kBuf, plain);
    drv.rw(kDisk, 8, true, 2, 1, kBuf);
    EXPECT_EQ(drv.interrupt(kDisk).completed, 1u << 8);
    plain = pattern(512, 5);
    put(kBuf, plain);
    drv.active[kDisk] |= 1u << 8;
    ctl->write(port_base(kDisk) + preg::kCi + 1, 1, 0x01);
    EXPECT_EQ(drv.interrupt(kDisk).completed, 1u << 8);
    EXPECT_EQ(platter(kDisk, 2, 512), oracle_xts(key, plain.data(), 512, 2, true));
}

TEST_F(AhciRegs, HbaResetMidCommandFailsItCopiesNothingAndResyncs) {
    write_ok(kDisk, 300, 16, 5);
    hba.hold_commands = true;
    std::memset(ram(kBuf), 0xee, 16 * 512);
    drv.rw(kDisk, 0, false, 300, 16, kBuf);
    hba.complete_held(kDisk); // the data reached the shadow; the guest has not looked
    hba.hold_commands = false;
    const uint64_t dropped = ctl->stats().dropped_in_flight;
    ASSERT_TRUE(drv.init_controller()); // GHC.HR
    EXPECT_EQ(ctl->stats().hba_resets, 2u); // boot + this one
    EXPECT_EQ(ctl->stats().dropped_in_flight, dropped + 1);
    EXPECT_TRUE(std::all_of(ram(kBuf), ram(kBuf) + 16 * 512, [](uint8_t b) { return b == 0xee; }));
    // The guest's registers read their reset values, the real ones the shadows.
    EXPECT_EQ(vreg(kDisk, preg::kClb), 0u);
    EXPECT_EQ(vreg(kDisk, preg::kCi), 0u);
    EXPECT_EQ(real(kDisk, preg::kClb), static_cast<uint32_t>(ctl->port(kDisk)->shadow_list_phys()));
    EXPECT_EQ(pool.free_chunks(), pool.total_chunks()); // every chunk came back
    ASSERT_TRUE(drv.start_port(kDisk));
    read_ok(kDisk, 300, 16, 5);
    EXPECT_TRUE(hba_only_touched_shadows());
}

TEST_F(AhciRegs, ComresetMidCommandFailsIt) {
    write_ok(kDisk, 400, 8, 6);
    hba.hold_commands = true;
    std::memset(ram(kBuf), 0xee, 8 * 512);
    drv.rw(kDisk, 0, false, 400, 8, kBuf);
    hba.hold_commands = false;
    EXPECT_EQ(vreg(kDisk, preg::kCi), 1u);
    const uint64_t resets = ctl->stats().port_resets;
    // libata's hardreset without stopping the engine first (a hostile order).
    const uint32_t sctl = vreg(kDisk, preg::kSctl) & ~scr::kDetMask;
    vwrite(kDisk, preg::kSctl, sctl | scr::kSctlDetComreset);
    vwrite(kDisk, preg::kSctl, sctl);
    EXPECT_EQ(ctl->stats().port_resets, resets + 1);
    hba.complete_held(kDisk); // nothing held any more
    EXPECT_EQ(vreg(kDisk, preg::kCi), 0u);
    EXPECT_TRUE(std::all_of(ram(kBuf), ram(kBuf) + 8 * 512, [](uint8_t b) { return b == 0xee; }));
    ASSERT_TRUE(drv.start_port(kDisk));
    read_ok(kDisk, 400, 8, 6);
    EXPECT_EQ(pool.free_chunks(), pool.total_chunks());
}

TEST_F(AhciRegs, StopEngineMidNcqDropsEveryTagAndCopiesNothing) {
    for (unsigned t = 0; t < 4; ++t) write_ok(kDisk, 500 + 8 * t, 8, 10 + t);
    std::memset(ram(kBuf), 0xee, 4 * 0x10000);
    for (unsigned t = 0; t < 4; ++t) drv.rw(kDisk, t, false, 500 + 8 * t, 8, kBuf + t * 0x10000, true);
    EXPECT_EQ(vreg(kDisk, preg::kSact), 0xfu);
    const uint64_t dropped = ctl->stats().dropped_in_flight;
    drv.stop_engine(kDisk); // ST 1 -> 0: PxCI and PxSACT clear
    EXPECT_EQ(ctl->stats().dropped_in_flight, dropped + 4);
    EXPECT_EQ(vreg(kDisk, preg::kSact), 0u);
    EXPECT_EQ(vreg(kDisk, preg::kCi), 0u);
    hba.complete_all_ncq(kDisk, SimAhci::Order::InOrder); // the device forgot them
    EXPECT_TRUE(std::all_of(ram(kBuf), ram(kBuf) + 4 * 0x10000, [](uint8_t b) { return b == 0xee; }));
    EXPECT_EQ(pool.free_chunks(), pool.total_chunks());
    drv.start_engine(kDisk);
    read_ok(kDisk, 508, 8, 11);
}

TEST_F(AhciRegs, DeviceErrorFailsTheSlotUntilTheGuestRecovers) {
    // READ DMA EXT past the end of the disk: the device aborts (TFES).
    std::memset(ram(kBuf), 0xee, 512);
    drv.rw(kDisk, 0, false, kSectors + 10, 1, kBuf);
    const AhciCompletion c = drv.interrupt(kDisk);
    EXPECT_TRUE(c.error);
    EXPECT_NE(c.port_is & pis::kTfes, 0u);
    EXPECT_EQ(vreg(kDisk, preg::kCi), 1u); // failed: still set for the guest's EH
    EXPECT_EQ(ram(kBuf)[0], 0xee);
    drv.stop_engine(kDisk); // libahci's error handler restarts the engine
    EXPECT_EQ(vreg(kDisk, preg::kCi), 0u);
    drv.start_engine(kDisk);
    write_ok(kDisk, 20, 4, 2);
    read_ok(kDisk, 20, 4, 2);
}

TEST_F(AhciRegs, ErrorWithPxciClearedLikeQemuStillFailsAndCopiesNothing) {
    // The shadow chunks still hold the last read's data: a failed read that
    // were taken as good would decrypt them into the guest's buffer.
    write_ok(kDisk, 60, 8, 3);
    read_ok(kDisk, 60, 8, 3);
    hba.clear_ci_on_error = true;
    std::memset(ram(kBuf), 0xee, 8 * 512);
    drv.rw(kDisk, 0, false, kSectors - 4, 8, kBuf); // past the end: aborted
    EXPECT_EQ(real(kDisk, preg::kCi), 0u);          // the HBA let go of it
    const AhciCompletion c = drv.interrupt(kDisk);
    EXPECT_TRUE(c.error);
    EXPECT_EQ(c.completed, 0u);
    EXPECT_EQ(vreg(kDisk, preg::kCi), 1u); // failed: the guest does not see it done
    EXPECT_TRUE(std::all_of(ram(kBuf), ram(kBuf) + 8 * 512, [](uint8_t b) { return b == 0xee; }));
    drv.stop_engine(kDisk);
    drv.start_engine(kDisk);
    read_ok(kDisk, 60, 8, 3);
}

TEST_F(AhciRegs, RefusedCommandsFailWithTaskFileErrorAndAreCounted) {
    // WRITE BUFFER (E8h) moves data the mediator does not understand.
    uint8_t f[20];
    fis_command(f, 0xe8);
    put(kBuf, pattern(512, 1));
    drv.issue(kDisk, 0, f, {{kBuf, 512}}, true, false);
    AhciCompletion c = drv.interrupt(kDisk);
    EXPECT_TRUE(c.error);
    EXPECT_NE(c.tfd & 1, 0u); // ERR
    EXPECT_EQ(ctl->stats().refused_commands, 1u);
    EXPECT_EQ(std::find(hba.device(kDisk).commands.begin(), hba.device(kDisk).commands.end(), 0xe8),
              hba.device(kDisk).commands.end());
    drv.stop_engine(kDisk);
    drv.start_engine(kDisk);
    // A command list in hypervisor memory: the HBA never reads there.
    drv.stop_engine(kDisk);
    vwrite(kDisk, preg::kCmd, vreg(kDisk, preg::kCmd) & ~pcmd::kFre);
    vwrite(kDisk, preg::kClb, static_cast<uint32_t>(kHvBase + 0x400));
    vwrite(kDisk, preg::kCmd, vreg(kDisk, preg::kCmd) | pcmd::kFre);
    vwrite(kDisk, preg::kCmd, vreg(kDisk, preg::kCmd) | pcmd::kSt);
    vwrite(kDisk, preg::kCi, 1);
    c = drv.interrupt(kDisk);
    EXPECT_TRUE(c.error);
    EXPECT_EQ(ctl->stats().refused_commands, 2u);
    uint64_t faults = 0;
    for (uint64_t n : ctl->stats().faults) faults += n;
    EXPECT_EQ(faults, 2u);
    EXPECT_TRUE(hba_only_touched_shadows());
}

TEST_F(AhciMediatorRig, PoolExhaustionMakesCommandsWaitAndTheyCompleteLater) {
    // The smallest pool the controller accepts: one largest command and a
    // little; 32 queued writes of 4 MiB do not fit at once.
    build(true, AhciController::pool_bytes(6));
    boot_linux();
    const uint32_t sectors = 8192; // 4 MiB
    // Eight 4 MiB guest buffers, each written by two tags.
    std::vector<std::vector<uint8_t>> plain;
    for (unsigned b = 0; b < 8; ++b) {
        plain.push_back(pattern(sectors * 512, 50 + b));
        put(kBuf + b * 0x400000ull, plain[b]);
    }
    for (unsigned t = 0; t < 16; ++t) drv.rw(kDisk, t, true, uint64_t{t} * sectors, sectors, kBuf + (t % 8) * 0x400000ull, true);
    EXPECT_GT(ctl->stats().waits, 0u);
    EXPECT_EQ(abar.read32(port_base(kDisk) + preg::kSact), 0xffffu);
    const uint32_t issued = hba.outstanding_ncq(kDisk);
    EXPECT_NE(issued, 0u);
    EXPECT_NE(issued, 0xffffu);
    uint32_t done = 0;
    for (unsigned round = 0; round < 40 && done != 0xffffu; ++round) {
        hba.complete_all_ncq(kDisk, SimAhci::Order::Reversed);
        const AhciCompletion c = drv.interrupt(kDisk);
        ASSERT_FALSE(c.error);
        done |= c.completed;
    }
    EXPECT_EQ(done, 0xffffu);
    for (unsigned t = 0; t < 16; ++t)
        EXPECT_EQ(platter(kDisk, uint64_t{t} * sectors, 4096),
                  oracle_xts(key, plain[t % 8].data(), 4096, uint64_t{t} * sectors, true))
            << t;
    EXPECT_EQ(pool.free_chunks(), pool.total_chunks());
    EXPECT_TRUE(hba_only_touched_shadows());
}

TEST_F(AhciMediatorRig, StopWhileCommandsWaitForThePoolForgetsThem) {
    build(true, AhciController::pool_bytes(6));
    boot_linux();
    const uint32_t sectors = 8192;
    for (unsigned t = 0; t < 16; ++t) drv.rw(kDisk, t, true, uint64_t{t} * sectors, sectors, kBuf, true);
    ASSERT_GT(ctl->stats().waits, 0u);
    drv.stop_engine(kDisk);
    EXPECT_EQ(abar.read32(port_base(kDisk) + preg::kSact), 0u);
    EXPECT_EQ(abar.read32(port_base(kDisk) + preg::kCi), 0u);
    EXPECT_EQ(pool.free_chunks(), pool.total_chunks());
    drv.start_engine(kDisk);
    drv.rw(kDisk, 0, true, 9, 8, kBuf);
    EXPECT_EQ(drv.interrupt(kDisk).completed, 1u);
    EXPECT_EQ(hba.outstanding_ncq(kDisk), 0u);
}

TEST_F(AhciMediatorRig, InitStopsWhatTheFirmwareLeftRunning) {
    // Firmware state: port 0 running on its own command list.
    hba.write32(port_base(kDisk) + preg::kClb, 0x10000);
    hba.write32(port_base(kDisk) + preg::kFb, 0x11000);
    hba.write32(port_base(kDisk) + preg::kCmd, pcmd::kFre | pcmd::kSt);
    build();
    EXPECT_EQ(real(kDisk, preg::kCmd) & (pcmd::kSt | pcmd::kCr | pcmd::kFre | pcmd::kFr), 0u);
    EXPECT_EQ(ctl->read(port_base(kDisk) + preg::kClb, 4), 0x10000u);
    EXPECT_EQ(real(kDisk, preg::kClb), static_cast<uint32_t>(ctl->port(kDisk)->shadow_list_phys()));
    EXPECT_GT(AhciController::heap_bytes(6), 6 * kPortDmaBytes);
    EXPECT_GE(AhciController::pool_bytes(6), kMaxPoolBytesPerCommand);
}

TEST_F(AhciMediatorRig, ResyncAfterResumeRepointsTheShadows) {
    build();
    boot_linux();
    hba.write32(reg::kGhc, ghc::kHr); // S3: the HBA lost its state behind our back
    EXPECT_EQ(real(kDisk, preg::kClb), 0u);
    ctl->resync();
    EXPECT_EQ(real(kDisk, preg::kClb), static_cast<uint32_t>(ctl->port(kDisk)->shadow_list_phys()));
    ASSERT_TRUE(drv.init_controller());
    ASSERT_TRUE(drv.start_port(kDisk));
    const auto plain = pattern(4096, 8);
    put(kBuf, plain);
    drv.rw(kDisk, 0, true, 33, 8, kBuf);
    EXPECT_EQ(drv.interrupt(kDisk).completed, 1u);
    EXPECT_EQ(platter(kDisk, 33, 4096), oracle_xts(key, plain.data(), 4096, 33, true));
}

} // namespace
} // namespace svtest
