// The PRP walk feeding the shared storage layer, as the NVMe mediator will
// use them together: a Write over a chained PRP list of scattered guest pages
// (PRP1 with an offset) is walked, copied into shadow chunks encrypted with
// 4096-byte XTS sectors (tweak = LBA, dm-crypt --sector-size 4096
// --iv-large-sectors) and must equal OpenSSL's aes-xts-plain64 of the bytes
// in PRP order; the Read direction decrypts back into the same pages.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "crypto/xts_test_support.hpp"
#include "devices/storage/common/shadow_copy.hpp"
#include "devices/storage/nvme/prp_walk.hpp"
#include "ide/sim_piix.hpp"

namespace svtest {
namespace {
using sv::crypto::test::Bytes;

constexpr uint64_t kRam = 16ull << 20, kHv = 0x8000000;
constexpr uint64_t kPage = 4096;

TEST(PrpStorage, ChainedListWriteEncryptsInPrpOrderAndReadDecrypts) {
    SimPhysMemory phys(kRam, kHv, 8ull << 20);
    SimGuestMemory guest(phys);
    SimDmaAllocator alloc(phys);
    std::mt19937_64 rng(11);
    const Bytes key = sv::crypto::test::random_key(rng, 64);
    sv::crypto::Xts xts;
    ASSERT_TRUE(xts.set_key(key).ok());
    sv::storage::ShadowPool pool;
    ASSERT_TRUE(pool.init(alloc, 4ull << 20, 4096).ok()); // 4 KiB chunks: one PRP entry each
    sv::storage::ShadowPool::Client client;

    // 2400 KiB from a PRP1 that starts 3 KiB into its page: 1 KiB there, then
    // 600 list entries (the last page 3 KiB used), chained after 511, pages in
    // descending order (the transfer order is the PRP order, not addresses).
    const uint64_t bytes = 600 * kPage;
    std::vector<uint64_t> pages;
    for (uint64_t i = 0; i < 600; ++i) pages.push_back(0x900000 - i * 2 * kPage);
    const uint64_t lists[2] = {0x40000, 0x47000};
    for (int l = 0, next = 0; l < 2; ++l)
        for (int s = 0; s < 512 && next < 600; ++s) {
            uint64_t v = (l == 0 && s == 511) ? lists[1] : pages[next++];
            std::memcpy(phys.ram(lists[l] + 8 * s), &v, 8);
        }
    const Bytes plain = sv::crypto::test::random_bytes(rng, bytes);
    const uint64_t prp1 = 0x20c00;
    std::vector<sv::storage::GuestRegion> out(sv::nvme::max_prp_regions(bytes, kPage));
    std::vector<uint8_t> scratch(kPage);
    const sv::nvme::PrpWalk w =
        sv::nvme::walk_prps(guest, prp1, lists[0], bytes, {4096, 4ull << 20}, out, scratch);
    ASSERT_TRUE(w.ok()) << sv::nvme::to_string(w.fault);
    ASSERT_EQ(w.bytes, bytes);
    EXPECT_EQ(w.list_pages, 2u);
    std::span<const sv::storage::GuestRegion> regions(out.data(), w.regions);
    // Put the plaintext where the PRPs say, in their order.
    uint64_t off = 0;
    for (const auto& r : regions) {
        std::memcpy(phys.ram(r.gpa), plain.data() + off, r.bytes);
        off += r.bytes;
    }
    ASSERT_EQ(off, bytes);

    std::vector<uint32_t> chunks(1024);
    sv::storage::ShadowList list(chunks.data(), 1024);
    ASSERT_EQ(pool.try_borrow(client, bytes, list), sv::storage::Borrow::Ok);
    const sv::storage::SectorCipher cipher(&xts, 4096);
    alignas(16) uint8_t bounce[4096];
    sv::storage::RegionFault fault;
    const uint64_t lba = 123;
    ASSERT_TRUE(sv::storage::copy_guest_to_shadow(guest, regions, bytes, sv::storage::ShadowView(pool, list),
                                                  &cipher, lba, bounce, fault)
                    .ok());
    // The shadow holds exactly the dm-crypt ciphertext, sectors split across
    // guest pages included (PRP1's 1 KiB + 3 KiB of the next page).
    Bytes shadow(bytes);
    for (uint64_t o = 0; o < bytes; o += 4096) std::memcpy(shadow.data() + o, pool.host(list.chunk(o / 4096)), 4096);
    EXPECT_EQ(shadow, sv::crypto::test::openssl_xts(true, key, plain, 4096, lba));

    // Read back: wipe the guest pages, decrypt the shadow into them.
    for (const auto& r : regions) std::memset(phys.ram(r.gpa), 0, r.bytes);
    ASSERT_TRUE(sv::storage::copy_shadow_to_guest(guest, regions, bytes, sv::storage::ShadowView(pool, list),
                                                  &cipher, lba, bounce, fault)
                    .ok());
    Bytes back;
    for (const auto& r : regions) back.insert(back.end(), phys.ram(r.gpa), phys.ram(r.gpa) + r.bytes);
    EXPECT_EQ(back, plain);
    pool.give_back(client, list);
}

} // namespace
} // namespace svtest
