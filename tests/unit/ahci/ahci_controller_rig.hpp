// Test rig for the AHCI mediator: the Linux driver model (linux_ahci_model)
// drives an AhciController, which drives the simulated HBA (sim_ahci) with
// its SATA disks; guest RAM and the hypervisor's DMA memory are one
// SimPhysMemory. Every access of the model is one trapped ABAR access (one VM
// exit once the ABAR page is not-present), counted by MediatedAbar.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "ahci/linux_ahci_model.hpp"
#include "ahci/sim_ahci.hpp"
#include "crypto/xts.hpp"
#include "devices/storage/ahci/ahci_controller.hpp"
#include "devices/storage/ahci/ahci_port.hpp"
#include "devices/storage/common/shadow_pool.hpp"
#include "ide/ide_fixture.hpp"

namespace svtest {

// The guest's view of the ABAR: every access goes through the mediator.
class MediatedAbar final : public sv::MmioRegisters {
  public:
    explicit MediatedAbar(sv::ahci::AhciController*& c) : c_(c) {}
    uint32_t read32(uint32_t off) override {
        ++reads;
        return static_cast<uint32_t>(c_->read(off, 4));
    }
    void write32(uint32_t off, uint32_t v) override {
        ++writes;
        c_->write(off, 4, v);
    }
    uint64_t reads = 0, writes = 0;
    uint64_t exits() const { return reads + writes; }

  private:
    sv::ahci::AhciController*& c_;
};

struct AhciMediatorRig : ::testing::Test {
    static constexpr uint64_t kRam = 96ull << 20;
    static constexpr uint64_t kHvBase = 0x8000000; // 128 MiB: hypervisor memory, not guest RAM
    static constexpr uint64_t kHvBytes = 64ull << 20;
    static constexpr uint64_t kSectors = 140000; // > 65536 sectors: the largest request fits
    static constexpr uint64_t kBuf = 0x2000000;  // 32 MiB: guest data buffers (up to 64 MiB)
    static constexpr unsigned kDisk = 0, kDisk2 = 1, kCd = 2, kEmpty = 3;

    SimPhysMemory mem{kRam, kHvBase, kHvBytes};
    SimGuestMemory guest{mem};
    SimDmaAllocator alloc{mem};
    sv::storage::ShadowPool pool;
    sv::crypto::Xts xts;
    uint8_t key[64] = {};
    SimAhci hba{mem};
    std::unique_ptr<sv::ahci::AhciController> owner;
    sv::ahci::AhciController* ctl = nullptr;
    MediatedAbar abar{ctl};
    LinuxAhci drv{abar, mem};

    // pool_extra: pool bytes beyond the controller's reservation.
    void build(bool keyed = true, uint64_t pool_bytes = 0) {
        for (int i = 0; i < 64; ++i) key[i] = static_cast<uint8_t>(i * 11 + 5);
        if (keyed) {
            ASSERT_TRUE(xts.set_key(key).ok());
        }
        const uint64_t bytes = pool_bytes ? pool_bytes : sv::ahci::AhciController::pool_bytes(6);
        ASSERT_TRUE(pool.init(alloc, bytes).ok());
        owner = std::make_unique<sv::ahci::AhciController>(guest, pool, keyed ? &xts : nullptr, hba);
        ctl = owner.get();
        ASSERT_TRUE(ctl->init(alloc).ok());
    }
    void boot_linux() {
        ASSERT_TRUE(drv.init_controller());
        ASSERT_TRUE(drv.start_port(kDisk));
        ASSERT_TRUE(drv.start_port(kDisk2));
        ASSERT_TRUE(drv.start_port(kCd));
        EXPECT_FALSE(drv.start_port(kEmpty));
        hba.accesses.clear();
    }
    void SetUp() override {
        hba.attach_disk(kDisk, kSectors);
        hba.attach_disk(kDisk2, 4096);
        hba.attach_atapi(kCd, 64);
    }

    uint32_t real(unsigned p, uint32_t r) { return hba.read32(sv::ahci::port_base(p) + r); }
    uint8_t* ram(uint64_t a) { return mem.ram(a); }
    void put(uint64_t gpa, const std::vector<uint8_t>& v) { std::memcpy(ram(gpa), v.data(), v.size()); }
    std::vector<uint8_t> get(uint64_t gpa, size_t n) { return {ram(gpa), ram(gpa) + n}; }
    std::vector<uint8_t> platter(unsigned p, uint64_t lba, size_t bytes) {
        auto& pl = hba.device(p).platter;
        return {pl.begin() + static_cast<long>(lba * 512), pl.begin() + static_cast<long>(lba * 512 + bytes)};
    }
    // Everything the HBA may touch: each port's shadow block and the pool.
    std::vector<std::pair<uint64_t, uint64_t>> shadow_regions() const {
        std::vector<std::pair<uint64_t, uint64_t>> r;
        for (unsigned p = 0; p < 32; ++p)
            if (auto* port = ctl->port(p)) r.push_back({port->dma_block().phys, port->dma_block().size});
        r.push_back({pool.phys(0), pool.total_bytes()});
        return r;
    }
    bool hba_only_touched_shadows() const { return hba.only_touched(shadow_regions()); }
};

} // namespace svtest
