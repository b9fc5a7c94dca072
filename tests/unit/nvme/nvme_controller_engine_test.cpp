// The shipped NVMe controller (register side + the real queue engine)
// between the Linux driver model and the simulated controller: Linux's
// bring-up through the mediator, encrypted I/O, completions announced by the
// device's (NMI-programmed) MSI-X and delivered as the guest's vector, the
// trapped accesses per command, and a controller reset mid-run.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <random>

#include "crypto/xts.hpp"
#include "crypto/xts_test_support.hpp"
#include "devices/storage/common/shadow_pool.hpp"
#include "devices/storage/nvme/nvme_controller.hpp"
#include "devices/storage/nvme/nvme_queues.hpp"
#include "devices/storage/nvme/nvme_registers.hpp"
#include "nvme/linux_nvme_model.hpp"
#include "nvme/nvme_fakes.hpp"
#include "nvme/sim_nvme.hpp"

namespace svtest {
namespace {
using namespace sv::nvme;
namespace msi = sv::msi;

constexpr uint64_t kRam = 64ull << 20, kHvBase = 0x8000000, kHvBytes = 96ull << 20;
constexpr uint64_t kBuf = 0x3000000;
constexpr unsigned kVectors = 9;

// The guest's view of BAR0 through the mediator (what the MMIO trap hands
// the controller), counting the trapped accesses = VM exits.
struct TrappedBar final : sv::MmioRegisters {
    NvmeController& c;
    uint64_t exits = 0;
    explicit TrappedBar(NvmeController& ctl) : c(ctl) {}
    uint32_t read32(uint32_t off) override {
        ++exits;
        return static_cast<uint32_t>(c.read(off, 4));
    }
    void write32(uint32_t off, uint32_t v) override {
        ++exits;
        c.write(off, 4, v);
    }
};

MsixPlacement placement() {
    MsixPlacement p;
    p.capability = 0x40;
    p.vectors = kVectors;
    p.table_offset = SimNvme::kMsixTable;
    p.pba_offset = SimNvme::kMsixPba;
    return p;
}

std::vector<uint8_t> pattern(size_t n, uint32_t seed) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>((i * 131 + seed * 7 + (i >> 9)) ^ seed);
    return v;
}

struct ControllerEngineTest : ::testing::Test {
    SimPhysMemory mem{kRam, kHvBase, kHvBytes};
    SimGuestMemory gmem{mem};
    SimDmaAllocator dma{mem};
    SimNvme dev{mem, 8, kVectors};
    sv::storage::ShadowPool pool;
    sv::crypto::test::Bytes key;
    sv::crypto::Xts xts;
    RecordedInterrupts out;
    std::unique_ptr<NvmeController> c;
    std::unique_ptr<TrappedBar> bar;
    std::unique_ptr<LinuxNvme> drv;
    size_t signalled_seen = 0;

    void SetUp() override {
        dev.add_namespace(16384, 512);
        dev.add_namespace(4096, 4096);
        dev.set_msix(true); // the PCI binding's real MSI-X enable
        std::mt19937_64 rng(11);
        key = sv::crypto::test::random_key(rng, 64);
        ASSERT_TRUE(xts.set_key(key).ok());
        ASSERT_TRUE(pool.init(dma, NvmeController::pool_bytes()).ok());
        c = std::make_unique<NvmeController>(gmem, pool, &xts, dev, placement(), dev, out);
        ASSERT_TRUE(c->init(dma).ok());
        bar = std::make_unique<TrappedBar>(*c);
        drv = std::make_unique<LinuxNvme>(*bar, mem);
        // pci_alloc_irq_vectors + request_irq: vector v -> CPU v % 2, IDT vector 0x20 + v.
        c->msix().control_written(msix::kEnable);
        for (uint16_t v = 0; v < kVectors; ++v) {
            c->msix().write_table(v * 16 + msix::kEntryAddrLo, 4, msi::kAddressWindow | (v % 2u) << 12);
            c->msix().write_table(v * 16 + msix::kEntryData, 4, 0x20u + v);
            c->msix().write_table(v * 16 + msix::kEntryControl, 4, 0);
        }
    }
    // The device's MSI-X messages since the last call arrive as NMIs.
    unsigned deliver_nmis() {
        unsigned claimed = 0;
        for (; signalled_seen < dev.signalled.size(); ++signalled_seen) claimed += c->on_nmi(0) ? 1 : 0;
        return claimed;
    }
    uint32_t real_msix(uint16_t v, uint32_t field) { return dev.read32(SimNvme::kMsixTable + v * 16 + field); }
    // Bring-up's own completions were announced (and harvested) at once, as
    // on hardware: their NMIs are not left for the next command.
    bool bring_up() {
        const bool ok = drv->enable() && drv->identify() && drv->create_io_queues(4, 64);
        (void)deliver_nmis();
        return ok;
    }
};

TEST_F(ControllerEngineTest, LinuxBringsTheControllerUpThroughTheMediator) {
    ASSERT_TRUE(bring_up());
    EXPECT_TRUE(c->enabled());
    EXPECT_EQ(drv->lba_bytes.size(), 2u);
    // CAP as the guest saw it: MQES clamped by the engine, CMB etc. hidden.
    EXPECT_LE(drv->cap & cap::kMqesMask, 1023u);
    // Every shadow CQ's real entry is an NMI to the guest entry's CPU; the
    // guest's vectors never reached the device.
    for (uint16_t v = 0; v <= 4; ++v) {
        EXPECT_EQ(real_msix(v, msix::kEntryControl), 0u) << v;
        EXPECT_EQ(real_msix(v, msix::kEntryData), msi::kDeliveryNmi) << v;
        EXPECT_EQ(real_msix(v, msix::kEntryAddrLo), msi::kAddressWindow | (v % 2u) << 12) << v;
    }
    EXPECT_EQ(real_msix(5, msix::kEntryControl), 1u);
}

TEST_F(ControllerEngineTest, EncryptedIoWithTheGuestVectorDelivered) {
    ASSERT_TRUE(bring_up());
    const std::vector<uint8_t> plain = pattern(8 * 512, 3);
    std::memcpy(mem.ram(kBuf), plain.data(), plain.size());
    out.sent.clear();
    const uint16_t cid = drv->rw(2, true, 1, 100, 8, kBuf);
    (void)deliver_nmis();
    ASSERT_FALSE(out.sent.empty());
    EXPECT_EQ(out.sent.back().data, 0x22u); // queue 2's vector 2
    EXPECT_EQ(msi::destination(out.sent.back().address), 0);
    std::vector<NvmeDone> done = drv->interrupt(2);
    ASSERT_EQ(done.size(), 1u);
    EXPECT_EQ(done[0].cid, cid);
    EXPECT_EQ(done[0].status, 0u);
    // Ciphertext on the namespace: dm-crypt aes-xts-plain64, sector 512, tweak = LBA.
    const SimNvmeNamespace& ns = dev.ns(1);
    const std::vector<uint8_t> media(ns.media.begin() + 100 * 512, ns.media.begin() + 108 * 512);
    EXPECT_EQ(media, sv::crypto::test::openssl_xts(true, key, plain, 512, 100));
    // Read back into another buffer: plaintext again.
    std::memset(mem.ram(kBuf + 0x10000), 0, plain.size());
    (void)drv->rw(2, false, 1, 100, 8, kBuf + 0x10000);
    (void)deliver_nmis();
    done = drv->interrupt(2);
    ASSERT_EQ(done.size(), 1u);
    EXPECT_EQ(done[0].status, 0u);
    EXPECT_EQ(std::memcmp(mem.ram(kBuf + 0x10000), plain.data(), plain.size()), 0);
}

TEST_F(ControllerEngineTest, ThreeExitsPerCommandAtQueueDepthOne) {
    ASSERT_TRUE(bring_up());
    const uint64_t exits0 = bar->exits;
    const uint64_t nmis0 = c->stats().nmis;
    const uint64_t claimed0 = c->stats().nmis_with_work + c->stats().nmis_owed;
    constexpr unsigned kCommands = 16;
    for (unsigned i = 0; i < kCommands; ++i) {
        (void)drv->rw(1, i % 2 == 0, 2, i, 1, kBuf);
        (void)deliver_nmis();
        ASSERT_EQ(drv->interrupt(1).size(), 1u);
    }
    const uint64_t nmis = c->stats().nmis - nmis0;
    EXPECT_GT(nmis, 0u);
    const double per_command = double(bar->exits - exits0 + nmis) / kCommands;
    EXPECT_LE(per_command, 3.0);
    EXPECT_GE(per_command, 2.0);
    // Every device NMI was claimed (none re-injected into the guest).
    EXPECT_EQ(c->stats().nmis_with_work + c->stats().nmis_owed - claimed0, nmis);
}

TEST_F(ControllerEngineTest, ResetDropsTheShadowsAndLinuxComesBack) {
    ASSERT_TRUE(bring_up());
    bar->write32(reg::kCc, 0);
    EXPECT_FALSE(dev.ready());
    EXPECT_FALSE(c->enabled());
    for (uint16_t v = 0; v < kVectors; ++v) EXPECT_EQ(real_msix(v, msix::kEntryControl), 1u) << v;
    ASSERT_TRUE(bring_up());
    const std::vector<uint8_t> plain = pattern(4096, 9);
    std::memcpy(mem.ram(kBuf), plain.data(), plain.size());
    (void)drv->rw(3, true, 2, 7, 1, kBuf);
    (void)deliver_nmis();
    const std::vector<NvmeDone> done = drv->interrupt(3);
    ASSERT_EQ(done.size(), 1u);
    EXPECT_EQ(done[0].status, 0u);
    EXPECT_TRUE(drv->shutdown());
}

} // namespace
} // namespace svtest
