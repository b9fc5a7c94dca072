// Shared set-up for the IDE mediator tests: simulated memory (guest RAM +
// hypervisor DMA region), a PIIX channel with a RAM disk, the mediator under
// test with its trapped ports, a Linux ata_piix driver model, and OpenSSL's
// AES-256-XTS as an independent oracle for what must be on the platter.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "crypto/xts.hpp"
#include "devices/storage/ide/ide_channel.hpp"
#include "ide/ata_piix_model.hpp"
#include "ide/sim_piix.hpp"

namespace svtest {

constexpr uint64_t kRamBytes = 72ull << 20;       // guest RAM [0, 72 MiB)
constexpr uint64_t kDmaBase = 0x8000000;          // hypervisor region at 128 MiB
constexpr uint64_t kDmaBytes = 34ull << 20;
constexpr uint64_t kDiskSectors = 70000;          // > 65536 + a margin

// OpenSSL EVP aes-256-xts, one 512-byte sector, tweak = LBA (aes-xts-plain64).
std::vector<uint8_t> oracle_xts(const uint8_t (&key)[64], const uint8_t* data, size_t bytes,
                                uint64_t first_lba, bool encrypt);
// True if any 16-byte run of `plain` (at 16-byte granularity) occurs in `hay`.
bool contains_plaintext_run(const std::vector<uint8_t>& hay, const uint8_t* plain, size_t bytes);
std::vector<uint8_t> pattern(size_t bytes, uint32_t seed);

using TrapMode = sv::ide::IdeChannel::TrapMode;
constexpr TrapMode kAllTrapModes[] = {TrapMode::Minimal, TrapMode::Lean, TrapMode::Full};
const char* to_string(TrapMode m);

struct IdeRig {
    explicit IdeRig(bool keyed = true, TrapMode mode = TrapMode::Minimal, bool do_init = true);
    // True if every bus-master run so far only touched the channel's shadow
    // buffer (stricter than SimDmaRun::all_in_dma_region).
    bool dma_only_in_shadow() const;

    // Writes a guest PRD table at `table` describing `regions` {gpa, bytes}.
    void write_prd(uint32_t table, const std::vector<std::pair<uint32_t, uint32_t>>& regions,
                   bool eot = true);
    // Splits [buf, buf+bytes) into 64 KiB-safe regions of at most `max_region`.
    std::vector<std::pair<uint32_t, uint32_t>> regions_for(uint32_t buf, uint64_t bytes,
                                                           uint32_t max_region = 0x10000);
    uint8_t* ram(uint64_t gpa) { return mem.ram(gpa); }
    // The device becomes a packet (ATAPI) device and libata's probe sends it
    // IDENTIFY PACKET DEVICE through the mediator (which learns it is ATAPI).
    void make_atapi();
    std::vector<uint8_t> platter(uint64_t lba, uint64_t sectors) const {
        return {dev.platter.begin() + lba * 512, dev.platter.begin() + (lba + sectors) * 512};
    }
    // DMA command the ata_piix way through a PRD table covering [buf, +bytes).
    Outcome dma(bool write, uint64_t lba, uint32_t sectors, uint32_t buf, bool lba48 = false,
                uint32_t max_region = 0x10000);

    uint8_t key[64];
    sv::crypto::Xts xts;
    SimPhysMemory mem{kRamBytes, kDmaBase, kDmaBytes};
    SimGuestMemory guest{mem};
    SimDmaAllocator alloc{mem};
    // The shared shadow pool, sized like the hypervisor's for one channel
    // (platform/devices_setup_hw.cpp): exactly the channel's reservation.
    sv::storage::ShadowPool pool;
    unsigned allocations_at_init = 0; // alloc.allocations once the rig is set up
    SimPiix dev{mem, kDiskSectors};
    std::unique_ptr<sv::ide::IdeChannel> channel;
    std::unique_ptr<TrappedBus> bus;
    std::unique_ptr<LinuxAtaPiix> driver;
    uint32_t prd_table = 0x10000; // guest PRD table location
};

} // namespace svtest
