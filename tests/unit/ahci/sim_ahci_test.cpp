// The simulated AHCI HBA (sim_ahci.*) driven as Linux's ahci driver drives it
// (linux_ahci_model.*): the model the mediator tests will trust has to do
// what AHCI 1.3.1 says, so these check it against the specification: data on
// the platter and in memory, the PRDT walk and PRDBC, received FISes at PxFB,
// interrupt bits, NCQ with out-of-order completion, errors, resets, ATAPI.
#include <gtest/gtest.h>

#include <cstring>

#include "ahci/linux_ahci_model.hpp"
#include "ahci/sim_ahci.hpp"
#include "devices/storage/ahci/ahci_fis.hpp"
#include "devices/storage/ahci/ahci_memory.hpp"
#include "devices/storage/ahci/ahci_registers.hpp"

namespace svtest {
namespace {
using namespace sv::ahci;
using What = SimAhciAccess::What;

constexpr uint64_t kRam = 72ull << 20, kHvBase = 0x8000000, kHvBytes = 1 << 20;
constexpr uint64_t kSectors = 70000;
constexpr uint64_t kBuf = 0x1000000; // 16 MiB: data buffers
constexpr unsigned kDisk = 0, kDisk2 = 1, kCd = 2, kEmpty = 3;

std::vector<uint8_t> fill(size_t n, uint32_t seed) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>((i * 131 + seed * 7 + (i >> 9)) ^ seed);
    return v;
}

struct AhciSimRig : ::testing::Test {
    SimPhysMemory mem{kRam, kHvBase, kHvBytes};
    SimAhci hba{mem};
    LinuxAhci drv{hba, mem};

    void SetUp() override {
        hba.attach_disk(kDisk, kSectors);
        hba.attach_disk(kDisk2, 4096);
        hba.attach_atapi(kCd, 64);
        ASSERT_TRUE(drv.init_controller());
        ASSERT_TRUE(drv.start_port(kDisk));
        ASSERT_TRUE(drv.start_port(kDisk2));
        ASSERT_TRUE(drv.start_port(kCd));
        EXPECT_FALSE(drv.start_port(kEmpty));
        hba.accesses.clear();
    }
    uint32_t preg(unsigned p, uint32_t r) { return hba.read32(port_base(p) + r); }
    void pwrite(unsigned p, uint32_t r, uint32_t v) { hba.write32(port_base(p) + r, v); }
    uint8_t* ram(uint64_t a) { return mem.ram(a); }
    // The driver's own memory for port p: command list, FIS area, tables.
    std::pair<uint64_t, uint64_t> port_area(unsigned p) {
        return {drv.cl(p), 0x1000 + 32 * LinuxAhci::kTableBytes};
    }
    RegisterD2hFis d2h_fis(unsigned p) {
        RegisterD2hFis f;
        std::memcpy(&f, ram(drv.rx_fis(p) + rfis::kRfis), sizeof f);
        return f;
    }
    uint32_t prdbc(unsigned p, unsigned slot) {
        uint32_t v;
        std::memcpy(&v, ram(drv.cl(p) + 32 * slot + 4), 4);
        return v;
    }
};

TEST_F(AhciSimRig, ControllerAndPortsComeUpLikeQemuIch9) {
    EXPECT_EQ(drv.cap & (cap::kS64a | cap::kSncq), cap::kS64a | cap::kSncq);
    EXPECT_EQ(drv.pi, 0x3fu);
    EXPECT_EQ(preg(kDisk, preg::kSig), sig::kAta);
    EXPECT_EQ(preg(kCd, preg::kSig), sig::kAtapi);
    EXPECT_EQ(preg(kEmpty, preg::kSsts) & scr::kDetMask, scr::kSstsDetNone);
    EXPECT_EQ(preg(kDisk, preg::kSsts) & scr::kDetMask, scr::kSstsDetPresentPhy);
    const uint32_t cmd = preg(kDisk, preg::kCmd);
    EXPECT_TRUE(cmd & pcmd::kCr);
    EXPECT_TRUE(cmd & pcmd::kFr);
    EXPECT_EQ(preg(kDisk, preg::kClb), drv.cl(kDisk));
    EXPECT_EQ(preg(kDisk, preg::kFb), drv.rx_fis(kDisk));
    EXPECT_FALSE(hba.irq()); // the driver cleared everything it was told about
    // The signature FIS of the COMRESET landed in the driver's FIS area (FRE on).
    EXPECT_EQ(d2h_fis(kDisk).type, fis_type::kRegisterD2h);
    EXPECT_EQ(d2h_fis(kDisk).count, 1);
}

TEST_F(AhciSimRig, DmaWriteThenReadRoundTrip) {
    const auto data = fill(64 * 512, 3);
    std::memcpy(ram(kBuf), data.data(), data.size());
    drv.rw(kDisk, 0, true, 1000, 64, kBuf, false, 4096);
    EXPECT_TRUE(hba.irq());
    AhciCompletion c = drv.interrupt(kDisk);
    EXPECT_EQ(c.completed, 1u);
    EXPECT_TRUE(c.port_is & pis::kDhrs);
    EXPECT_FALSE(c.error);
    EXPECT_FALSE(hba.irq());
    EXPECT_EQ(0, std::memcmp(hba.device(kDisk).platter.data() + 1000 * 512, data.data(), data.size()));
    EXPECT_EQ(prdbc(kDisk, 0), data.size());
    EXPECT_EQ(hba.count(What::Data), 8u); // 8 PRDT entries of 4 KiB

    std::memset(ram(kBuf + 0x100000), 0, data.size());
    drv.rw(kDisk, 3, false, 1000, 64, kBuf + 0x100000);
    c = drv.interrupt(kDisk);
    EXPECT_EQ(c.completed, 1u << 3);
    EXPECT_EQ(0, std::memcmp(ram(kBuf + 0x100000), data.data(), data.size()));
    EXPECT_EQ(d2h_fis(kDisk).status, 0x50);
    EXPECT_EQ(preg(kDisk, preg::kTfd), 0x50u);
    EXPECT_EQ(hba.w_bit_mismatches, 0u);
    // Everything the HBA touched: the driver's structures and the buffers.
    EXPECT_TRUE(hba.only_touched({port_area(kDisk), {kBuf, 0x100000 + data.size()}}));
    EXPECT_FALSE(hba.only_touched({port_area(kDisk)}));
}

TEST_F(AhciSimRig, LargestAtaRequestWithFewAndManyPrdtEntries) {
    // 65536 sectors (32 MiB), count field 0; first as 8 entries of 4 MiB,
    // then as 8192 entries of 4 KiB in a command table big enough for them.
    constexpr uint32_t n = 65536;
    const auto data = fill(uint64_t{n} * 512, 9);
    std::memcpy(ram(kBuf), data.data(), data.size());
    drv.rw(kDisk, 1, true, 100, n, kBuf);
    EXPECT_EQ(drv.interrupt(kDisk).completed, 2u);
    EXPECT_EQ(prdbc(kDisk, 1), 32u << 20);
    EXPECT_EQ(0, std::memcmp(hba.device(kDisk).platter.data() + 100 * 512, data.data(), data.size()));

    std::memset(ram(kBuf), 0, data.size());
    uint8_t f[20];
    fis_rw_ext(f, false, 100, n);
    constexpr uint64_t big_table = 0x3000000; // 48 MiB, past the buffer
    drv.issue(kDisk, 2, f, LinuxAhci::split(kBuf, data.size(), 4096), false, false, nullptr, big_table);
    EXPECT_EQ(drv.interrupt(kDisk).completed, 4u);
    EXPECT_EQ(hba.count(What::Prdt), 8u + 8192u);
    EXPECT_EQ(0, std::memcmp(ram(kBuf), data.data(), data.size()));
}

TEST_F(AhciSimRig, PrdtInterruptBitRaisesDescriptorProcessed) {
    drv.rw(kDisk, 0, false, 0, 8, kBuf);
    EXPECT_FALSE(drv.interrupt(kDisk).port_is & pis::kDps);
    // The same command again with I set on its (only) PRDT entry.
    uint32_t dw3;
    std::memcpy(&dw3, ram(drv.table(kDisk, 0) + kPrdtOffset + 12), 4);
    dw3 |= prd::kInterrupt;
    std::memcpy(ram(drv.table(kDisk, 0) + kPrdtOffset + 12), &dw3, 4);
    drv.active[kDisk] |= 1;
    pwrite(kDisk, preg::kCi, 1);
    const AhciCompletion c = drv.interrupt(kDisk);
    EXPECT_EQ(c.completed, 1u);
    EXPECT_TRUE(c.port_is & pis::kDps);
}

TEST_F(AhciSimRig, NcqAll32TagsInEveryCompletionOrder) {
    for (SimAhci::Order order : {SimAhci::Order::InOrder, SimAhci::Order::Reversed, SimAhci::Order::Random}) {
        for (unsigned tag = 0; tag < 32; ++tag) {
            const auto d = fill(8 * 512, tag + 100 * unsigned(order));
            std::memcpy(ram(kBuf + tag * 0x10000), d.data(), d.size());
            drv.rw(kDisk, tag, true, 5000 + tag * 8, 8, kBuf + tag * 0x10000, true);
        }
        EXPECT_EQ(preg(kDisk, preg::kSact), 0xffffffffu);
        EXPECT_EQ(preg(kDisk, preg::kCi), 0u); // every command accepted (D2H, BSY clear)
        EXPECT_EQ(hba.outstanding_ncq(kDisk), 0xffffffffu);
        EXPECT_EQ(hba.count(What::Data), 0u); // no data phase yet
        hba.complete_all_ncq(kDisk, order, 42);
        EXPECT_EQ(preg(kDisk, preg::kSact), 0u);
        const AhciCompletion c = drv.interrupt(kDisk);
        EXPECT_EQ(c.completed, 0xffffffffu);
        EXPECT_TRUE(c.port_is & pis::kSdbs);
        for (unsigned tag = 0; tag < 32; ++tag) {
            const auto d = fill(8 * 512, tag + 100 * unsigned(order));
            EXPECT_EQ(0, std::memcmp(hba.device(kDisk).platter.data() + (5000 + tag * 8) * 512,
                                     d.data(), d.size()))
                << "tag " << tag;
        }
        hba.accesses.clear();
    }
}

TEST_F(AhciSimRig, NcqCompletionsAreSeenTagByTag) {
    for (unsigned tag : {4u, 9u, 30u}) drv.rw(kDisk, tag, false, tag, 1, kBuf + tag * 512, true);
    hba.complete_ncq(kDisk, {30});
    SetDeviceBitsFis sdb;
    std::memcpy(&sdb, ram(drv.rx_fis(kDisk) + rfis::kSdbfis), sizeof sdb);
    EXPECT_EQ(sdb.type, fis_type::kSetDeviceBits);
    EXPECT_EQ(sdb.protocol, 1u << 30);
    DmaSetupFis ds;
    std::memcpy(&ds, ram(drv.rx_fis(kDisk) + rfis::kDsfis), sizeof ds);
    EXPECT_EQ(ds.buffer_id_low, 30u);
    EXPECT_EQ(preg(kDisk, preg::kSact), (1u << 4) | (1u << 9));
    EXPECT_EQ(drv.interrupt(kDisk).completed, 1u << 30);
    hba.complete_ncq(kDisk, {9, 4}, true); // one SDB FIS for both
    std::memcpy(&sdb, ram(drv.rx_fis(kDisk) + rfis::kSdbfis), sizeof sdb);
    EXPECT_EQ(sdb.protocol, (1u << 4) | (1u << 9));
    EXPECT_EQ(drv.interrupt(kDisk).completed, (1u << 4) | (1u << 9));
}

TEST_F(AhciSimRig, NcqDataPhaseReadsThePrdtLate) {
    // Real HBAs walk a queued command's PRDT at its data phase: a PRDT the
    // guest rewrites after issue is the one used. (Why the mediator copies
    // once and gives the HBA only its own, stable shadow.)
    const auto d = fill(512, 77);
    std::memcpy(hba.device(kDisk).platter.data() + 600 * 512, d.data(), 512);
    drv.rw(kDisk, 5, false, 600, 1, kBuf, true);
    const uint32_t moved = static_cast<uint32_t>(kBuf + 0x8000);
    std::memcpy(ram(drv.table(kDisk, 5) + kPrdtOffset), &moved, 4);
    hba.complete_ncq(kDisk, {5});
    EXPECT_EQ(0, std::memcmp(ram(kBuf + 0x8000), d.data(), 512));
}

TEST_F(AhciSimRig, NcqTagIndexesTheCommandList) {
    // The tag in the FIS, not the slot it was issued from, picks the command
    // header at the data phase (AHCI 1.3.1 §9.3.1.1.2): a "tag game" a
    // mediator has to refuse.
    const auto d = fill(512, 31);
    std::memcpy(hba.device(kDisk).platter.data() + 700 * 512, d.data(), 512);
    uint8_t f[20];
    fis_fpdma(f, false, 700, 1, 7); // tag 7, issued from slot 2 over kBuf
    // Slot 7's header and table (never issued) describe kBuf + 0x8000.
    std::memcpy(ram(drv.table(kDisk, 7)), ram(drv.table(kDisk, 2)), 0x80);
    PrdtEntry e{static_cast<uint32_t>(kBuf + 0x8000), 0, 0, 511};
    std::memcpy(ram(drv.table(kDisk, 7) + kPrdtOffset), &e, sizeof e);
    CommandHeader h{(1u << hdr::kPrdtlShift) | 5u, 0, static_cast<uint32_t>(drv.table(kDisk, 7)), 0, {}};
    std::memcpy(ram(drv.cl(kDisk) + 32 * 7), &h, sizeof h);
    drv.issue(kDisk, 2, f, {{kBuf, 512}}, false, true);
    EXPECT_EQ(hba.outstanding_ncq(kDisk), 1u << 7);
    hba.complete_ncq(kDisk, {7});
    EXPECT_EQ(0, std::memcmp(ram(kBuf + 0x8000), d.data(), 512));
    SetDeviceBitsFis sdb;
    std::memcpy(&sdb, ram(drv.rx_fis(kDisk) + rfis::kSdbfis), sizeof sdb);
    EXPECT_EQ(sdb.protocol, 1u << 7);
    EXPECT_EQ(preg(kDisk, preg::kSact), 1u << 2); // the slot's own bit never clears
}

TEST_F(AhciSimRig, IdentifyDeviceThroughThePrdt) {
    drv.non_data(kDisk, 0, 0xec); // IDENTIFY moves 512 bytes: without a PRDT it overflows
    EXPECT_TRUE(drv.interrupt(kDisk).port_is & pis::kOfs);
    drv.stop_engine(kDisk);
    drv.start_engine(kDisk);
    uint8_t f[20];
    fis_command(f, 0xec);
    drv.issue(kDisk, 1, f, {{kBuf, 512}}, false, false);
    const AhciCompletion c = drv.interrupt(kDisk);
    EXPECT_EQ(c.completed, 2u);
    EXPECT_TRUE(c.port_is & pis::kPss);
    const uint8_t* id = ram(kBuf);
    EXPECT_EQ(id[169 * 2] & 1, 1);                // TRIM advertised
    EXPECT_EQ(id[76 * 2 + 1] & 1, 1);             // NCQ (word 76 bit 8)
    EXPECT_EQ(id[83 * 2 + 1] & 0x04, 0x04);       // LBA48 (word 83 bit 10)
    uint64_t cap48 = 0;
    for (int i = 0; i < 8; ++i) cap48 |= uint64_t{id[200 + i]} << (8 * i);
    EXPECT_EQ(cap48, kSectors);
    uint8_t sum = 0;
    for (int i = 0; i < 512; ++i) sum = static_cast<uint8_t>(sum + id[i]);
    EXPECT_EQ(id[510], 0xa5);
    EXPECT_EQ(sum, 0);
    PioSetupFis ps;
    std::memcpy(&ps, ram(drv.rx_fis(kDisk) + rfis::kPsfis), sizeof ps);
    EXPECT_EQ(ps.type, fis_type::kPioSetup);
    EXPECT_EQ(ps.transfer_count, 512);
}

TEST_F(AhciSimRig, PrdtShorterThanTheDataOverflows) {
    uint8_t f[20];
    fis_rw_ext(f, false, 0, 16); // 8 KiB into a 4 KiB PRDT
    drv.issue(kDisk, 0, f, {{kBuf, 4096}}, false, false);
    const AhciCompletion c = drv.interrupt(kDisk);
    EXPECT_TRUE(c.error);
    EXPECT_TRUE(c.port_is & pis::kOfs);
    EXPECT_EQ(c.completed, 0u);
    EXPECT_EQ(preg(kDisk, preg::kCi), 1u);
    EXPECT_EQ(prdbc(kDisk, 0), 4096u);
}

TEST_F(AhciSimRig, UnknownCommandAbortsAndStopsThePort) {
    drv.non_data(kDisk, 0, 0x06); // DATA SET MANAGEMENT: the sim does not know it
    AhciCompletion c = drv.interrupt(kDisk);
    EXPECT_TRUE(c.error);
    EXPECT_TRUE(c.port_is & pis::kTfes);
    EXPECT_EQ(c.tfd, 0x0451u); // ERR = ABRT, STS = DRDY | DSC | ERR
    EXPECT_EQ(preg(kDisk, preg::kCi), 1u); // as QEMU: PxCI keeps the slot
    // Stopped: a new command waits until the driver restarts the port.
    drv.non_data(kDisk, 1, 0xe7);
    EXPECT_EQ(preg(kDisk, preg::kCi), 3u);
    drv.stop_engine(kDisk);
    EXPECT_EQ(preg(kDisk, preg::kCi), 0u);
    drv.start_engine(kDisk);
    drv.non_data(kDisk, 1, 0xe7); // FLUSH CACHE
    c = drv.interrupt(kDisk);
    EXPECT_EQ(c.completed, 2u);
    EXPECT_FALSE(c.error);
    EXPECT_EQ(hba.device(kDisk).commands.back(), 0xe7);
}

TEST_F(AhciSimRig, NonDataCommandsPass) {
    for (uint8_t op : {uint8_t{0xef}, uint8_t{0xe7}, uint8_t{0xea}, uint8_t{0xe5}, uint8_t{0xc6}}) {
        drv.non_data(kDisk, 4, op, 0x03);
        const AhciCompletion c = drv.interrupt(kDisk);
        EXPECT_EQ(c.completed, 1u << 4) << int(op);
        EXPECT_FALSE(c.error);
    }
    EXPECT_EQ(hba.count(What::Data), 0u);
}

TEST_F(AhciSimRig, DmaToMissingMemoryIsAHostBusFatalError) {
    drv.rw(kDisk, 0, false, 0, 8, 0x7000000000ull); // far beyond RAM
    const AhciCompletion c = drv.interrupt(kDisk);
    EXPECT_TRUE(c.port_is & pis::kHbfs);
    EXPECT_GT(hba.bus_errors, 0u);
    EXPECT_FALSE(hba.accesses.back().ok);
    EXPECT_EQ(hba.accesses.back().addr, 0x7000000000ull);
}

TEST_F(AhciSimRig, TheSimulatorReachesHypervisorMemoryIfTold) {
    // The simulated HBA is as obedient as real hardware: a PRDT aimed at the
    // hypervisor region gets there. (The mediator must never let it.)
    drv.rw(kDisk, 0, false, 0, 1, kHvBase);
    EXPECT_EQ(drv.interrupt(kDisk).completed, 1u);
    EXPECT_TRUE(hba.only_touched({port_area(kDisk), {kHvBase, 512}}));
    EXPECT_FALSE(hba.only_touched({port_area(kDisk)}));
}

TEST_F(AhciSimRig, BadCommandFisIsNeverCompleted) {
    uint8_t f[20];
    fis_command(f, 0xe7);
    f[0] = 0x34; // not a Register H2D FIS
    drv.issue(kDisk, 0, f, {}, false, false);
    EXPECT_EQ(hba.bad_command_fis, 1u);
    EXPECT_EQ(preg(kDisk, preg::kCi), 1u);
    EXPECT_FALSE(hba.irq());
}

TEST_F(AhciSimRig, CommandIssueIgnoredWhileStopped) {
    drv.stop_engine(kDisk);
    EXPECT_FALSE(preg(kDisk, preg::kCmd) & pcmd::kCr);
    drv.non_data(kDisk, 0, 0xe7);
    EXPECT_EQ(hba.ignored_ci_writes, 1u);
    EXPECT_EQ(preg(kDisk, preg::kCi), 0u);
    // PxCLB cannot move while the list runs, only while stopped.
    drv.start_engine(kDisk);
    pwrite(kDisk, preg::kClb, 0x200000);
    EXPECT_EQ(preg(kDisk, preg::kClb), drv.cl(kDisk));
    drv.stop_engine(kDisk);
    pwrite(kDisk, preg::kClb, 0x200000 | 0x3ff);
    EXPECT_EQ(preg(kDisk, preg::kClb), 0x200000u); // reserved bits 9:0 read 0
}

TEST_F(AhciSimRig, HbaResetClearsEverythingAndDevicesResignal) {
    drv.rw(kDisk, 3, false, 0, 1, kBuf, true);
    ASSERT_EQ(hba.outstanding_ncq(kDisk), 1u << 3);
    hba.write32(reg::kGhc, ghc::kHr);
    EXPECT_EQ(hba.read32(reg::kGhc), ghc::kAe); // HR self-clears, IE off
    EXPECT_EQ(hba.outstanding_ncq(kDisk), 0u);
    EXPECT_EQ(preg(kDisk, preg::kSact), 0u);
    EXPECT_EQ(preg(kDisk, preg::kCmd) & (pcmd::kSt | pcmd::kCr | pcmd::kFre), 0u);
    EXPECT_EQ(preg(kDisk, preg::kClb), 0u);
    EXPECT_EQ(preg(kDisk, preg::kFb), 0u);
    EXPECT_EQ(preg(kDisk, preg::kSig), sig::kAta);
    EXPECT_EQ(preg(kDisk, preg::kSsts) & scr::kDetMask, scr::kSstsDetPresentPhy);
    hba.complete_ncq(kDisk, {3});
    EXPECT_EQ(hba.count(What::Data), 0u); // nothing left to move
    // The driver brings it back the same way as at probe.
    ASSERT_TRUE(drv.init_controller());
    ASSERT_TRUE(drv.start_port(kDisk));
    drv.rw(kDisk, 0, false, 0, 1, kBuf);
    EXPECT_EQ(drv.interrupt(kDisk).completed, 1u);
}

TEST_F(AhciSimRig, ComresetDropsQueuedCommandsAndRaisesConnectChange) {
    drv.rw(kDisk, 2, true, 10, 1, kBuf, true);
    pwrite(kDisk, preg::kSctl, scr::kSctlDetComreset);
    EXPECT_EQ(preg(kDisk, preg::kSsts) & scr::kDetMask, scr::kSstsDetPresentNoPhy);
    EXPECT_EQ(preg(kDisk, preg::kSig), sig::kNone);
    EXPECT_EQ(hba.outstanding_ncq(kDisk), 0u);
    pwrite(kDisk, preg::kSctl, 0);
    EXPECT_EQ(preg(kDisk, preg::kSsts) & scr::kDetMask, scr::kSstsDetPresentPhy);
    EXPECT_TRUE(preg(kDisk, preg::kSerr) & serr::kDiagX);
    EXPECT_TRUE(preg(kDisk, preg::kIs) & pis::kPcs);
    EXPECT_TRUE(hba.irq()); // PCS is enabled in the driver's PxIE
    pwrite(kDisk, preg::kSerr, serr::kDiagX | serr::kDiagN);
    EXPECT_FALSE(preg(kDisk, preg::kIs) & pis::kPcs);
}

TEST_F(AhciSimRig, InterruptLineNeedsGhcIe) {
    hba.write32(reg::kGhc, 0);
    drv.rw(kDisk, 0, false, 0, 1, kBuf);
    EXPECT_FALSE(hba.irq());
    EXPECT_TRUE(hba.read32(reg::kIs) & 1u);
    hba.write32(reg::kGhc, ghc::kIe);
    EXPECT_TRUE(hba.irq());
    // IS re-asserts while PxIS keeps an enabled bit.
    hba.write32(reg::kIs, 1);
    EXPECT_TRUE(hba.read32(reg::kIs) & 1u);
    pwrite(kDisk, preg::kIs, 0xffffffff);
    hba.write32(reg::kIs, 1);
    EXPECT_FALSE(hba.irq());
}

TEST_F(AhciSimRig, HeldCommandsCompleteWhenReleased) {
    hba.hold_commands = true;
    drv.rw(kDisk, 6, false, 0, 1, kBuf);
    EXPECT_EQ(preg(kDisk, preg::kCi), 1u << 6);
    EXPECT_FALSE(hba.irq());
    hba.complete_held(kDisk);
    EXPECT_EQ(drv.interrupt(kDisk).completed, 1u << 6);
}

TEST_F(AhciSimRig, AtapiIdentifyPacketAndRead10) {
    drv.non_data(kCd, 0, 0xec);
    EXPECT_TRUE(drv.interrupt(kCd).error); // IDENTIFY DEVICE aborts on ATAPI
    drv.stop_engine(kCd);
    drv.start_engine(kCd);
    uint8_t f[20];
    fis_command(f, 0xa1);
    drv.issue(kCd, 0, f, {{kBuf, 512}}, false, false);
    EXPECT_EQ(drv.interrupt(kCd).completed, 1u);
    EXPECT_EQ(ram(kBuf)[1], 0x85);

    auto& disc = hba.device(kCd).platter;
    const auto d = fill(2 * 2048, 5);
    std::copy(d.begin(), d.end(), disc.begin() + 10 * 2048);
    fis_command(f, 0xa0, 0x01); // PACKET, DMA
    uint8_t cdb[16] = {0x28, 0, 0, 0, 0, 10, 0, 0, 2};
    drv.issue(kCd, 1, f, {{kBuf + 0x10000, 4096}}, false, false, cdb);
    const AhciCompletion c = drv.interrupt(kCd);
    EXPECT_EQ(c.completed, 2u);
    EXPECT_EQ(0, std::memcmp(ram(kBuf + 0x10000), d.data(), d.size()));
    cdb[0] = 0x2a; // WRITE(10): a CD-ROM refuses
    drv.issue(kCd, 2, f, {{kBuf, 2048}}, true, false, cdb);
    EXPECT_TRUE(drv.interrupt(kCd).error);
}

TEST_F(AhciSimRig, PioDataCommandsMoveThroughThePrdtToo) {
    const auto d = fill(4 * 512, 8);
    std::memcpy(hba.device(kDisk2).platter.data() + 40 * 512, d.data(), d.size());
    uint8_t f[20];
    fis_rw_ext(f, false, 40, 4);
    f[2] = 0x24; // READ SECTORS EXT
    drv.issue(kDisk2, 0, f, {{kBuf, 2048}}, false, false);
    const AhciCompletion c = drv.interrupt(kDisk2);
    EXPECT_EQ(c.completed, 1u);
    EXPECT_TRUE(c.port_is & pis::kPss);
    EXPECT_EQ(0, std::memcmp(ram(kBuf), d.data(), d.size()));
}

TEST_F(AhciSimRig, LbaPastTheEndIsIdnf) {
    drv.rw(kDisk2, 0, false, 4095, 2, kBuf);
    const AhciCompletion c = drv.interrupt(kDisk2);
    EXPECT_TRUE(c.error);
    EXPECT_EQ(c.tfd >> 8, 0x14u); // IDNF | ABRT
}

TEST_F(AhciSimRig, AccessesPerCommandOfTheLinuxDriver) {
    // What each command costs in ABAR accesses (each one a VM exit once the
    // ABAR page is trapped): issue = PxCI write; completion = IS read, PxIS
    // read + write, PxCI read, IS write. NCQ adds the PxSACT write, and the
    // handler reads PxSACT instead of PxCI.
    drv.reads = drv.writes = 0;
    drv.rw(kDisk, 0, false, 0, 8, kBuf);
    drv.interrupt(kDisk);
    EXPECT_EQ(drv.accesses(), 6u);
    drv.reads = drv.writes = 0;
    drv.rw(kDisk, 0, false, 0, 8, kBuf, true);
    hba.complete_ncq(kDisk, {0});
    drv.interrupt(kDisk);
    EXPECT_EQ(drv.accesses(), 7u);
}

TEST_F(AhciSimRig, SoftResetByDeviceControlFises) {
    // ahci_softreset: a header with R and C and a FIS with C clear, SRST set;
    // then SRST clear, after which the device sends its signature.
    uint8_t f[20] = {fis_type::kRegisterH2d, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, kControlSrst};
    drv.issue(kDisk, 0, f, {}, false, false);
    EXPECT_EQ(preg(kDisk, preg::kCi), 0u); // C: busy cleared on R_OK
    std::memset(ram(drv.rx_fis(kDisk) + rfis::kRfis), 0, 20);
    f[15] = 0;
    drv.issue(kDisk, 0, f, {}, false, false);
    EXPECT_EQ(preg(kDisk, preg::kCi), 0u);
    EXPECT_EQ(d2h_fis(kDisk).type, fis_type::kRegisterD2h);
    EXPECT_EQ(d2h_fis(kDisk).count, 1); // ATA signature 00000101h
    EXPECT_EQ(preg(kDisk, preg::kTfd) & 0xff, 0x50u);
    EXPECT_TRUE(hba.device(kDisk).commands.empty()); // no ATA command reached the device
}

TEST(AhciSimHandoff, BiosOsHandoff) {
    SimPhysMemory mem{1 << 20, kHvBase, 4096};
    SimAhci hba{mem, 1};
    EXPECT_EQ(hba.read32(reg::kBohc), 0u); // CAP2.BOH clear: BOHC reads 0
    hba.cap2 = cap2::kBoh;
    hba.write32(reg::kGhc, ghc::kHr);
    EXPECT_EQ(hba.read32(reg::kCap2), cap2::kBoh);
    EXPECT_EQ(hba.read32(reg::kBohc), bohc::kBos); // the BIOS owns it after reset
    hba.write32(reg::kBohc, bohc::kOos);           // §10.6.3: the OS asks
    EXPECT_EQ(hba.read32(reg::kBohc), bohc::kOos);
}

} // namespace
} // namespace svtest
