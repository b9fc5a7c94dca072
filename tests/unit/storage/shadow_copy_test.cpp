// Guest scatter list <-> shadow chunk copies with XTS (devices/storage/common/
// shadow_copy.hpp, sector_cipher.hpp, guest_regions.hpp), against OpenSSL
// (aes-xts-plain64 as dm-crypt drives it) and a straight XTS of the same bytes.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "crypto/xts_test_support.hpp"
#include "devices/storage/common/shadow_copy.hpp"
#include "ide/sim_piix.hpp"

namespace sv::storage {
namespace {

using crypto::test::Bytes;
using crypto::test::openssl_xts;

constexpr uint64_t kRam = 8ull << 20;
constexpr uint64_t kHv = 0x8000000; // hypervisor region (refused by the guest view)

struct CopyRig {
    explicit CopyRig(uint64_t chunk = kDefaultChunkBytes, uint64_t pool_bytes = 1ull << 20)
        : mem(kRam, kHv, 4ull << 20), guest(mem), alloc(mem) {
        std::mt19937_64 rng(7);
        key = crypto::test::random_key(rng, 64);
        EXPECT_TRUE(xts.set_key(key).ok());
        EXPECT_TRUE(pool.init(alloc, pool_bytes, chunk).ok());
    }
    // Borrows `bytes` of shadow into `list`.
    void borrow(uint64_t bytes) { ASSERT_EQ(pool.try_borrow(client, bytes, list), Borrow::Ok); }
    Bytes shadow_bytes(uint64_t n) const {
        Bytes out(n);
        const ShadowView v(pool, list);
        for (uint64_t off = 0; off < n;) {
            uint64_t c;
            const uint8_t* p = v.at(off, c);
            const uint64_t run = std::min(c, n - off);
            std::memcpy(out.data() + off, p, run);
            off += run;
        }
        return out;
    }
    // Puts `data` into guest RAM as pieces of the given sizes, each at its
    // own scattered address; returns the regions.
    std::vector<GuestRegion> scatter_into_guest(const Bytes& data, const std::vector<uint64_t>& sizes,
                                                uint64_t at = 0x100000) {
        std::vector<GuestRegion> regions;
        uint64_t off = 0;
        for (uint64_t n : sizes) {
            std::memcpy(mem.ram(at), data.data() + off, n);
            regions.push_back({at, n});
            off += n;
            at += n + 0x1235; // odd gaps: nothing relies on alignment
        }
        return regions;
    }
    Bytes gather_from_guest(const std::vector<GuestRegion>& regions) {
        Bytes out;
        for (const GuestRegion& r : regions) out.insert(out.end(), mem.ram(r.gpa), mem.ram(r.gpa) + r.bytes);
        return out;
    }

    svtest::SimPhysMemory mem;
    svtest::SimGuestMemory guest;
    svtest::SimDmaAllocator alloc;
    Bytes key;
    crypto::Xts xts;
    ShadowPool pool;
    ShadowPool::Client client;
    uint32_t chunks[64] = {};
    ShadowList list{chunks, 64};
    alignas(16) uint8_t bounce[kSector4K] = {};
};

std::vector<uint64_t> split3(uint64_t total, uint64_t k) {
    if (k + 3 < total) return {k, 3, total - k - 3};
    return {k, total - k};
}

TEST(ShadowCopy, EncryptsAcrossGuestRegionsSplitAtEveryOffset) {
    CopyRig r;
    r.borrow(2048);
    std::mt19937_64 rng(1);
    const Bytes plain = crypto::test::random_bytes(rng, 2048);
    const uint64_t lba = 1000;
    const Bytes expect = openssl_xts(true, r.key, plain, 512, lba);
    const SectorCipher cipher(&r.xts, kSector512);
    for (uint64_t k = 1; k < 2048; ++k) {
        auto regions = r.scatter_into_guest(plain, split3(2048, k));
        RegionFault fault;
        auto n = copy_guest_to_shadow(r.guest, regions, 2048, ShadowView(r.pool, r.list), &cipher, lba, r.bounce,
                                      fault);
        ASSERT_TRUE(n.ok()) << k;
        EXPECT_EQ(n.value(), 2048u);
        ASSERT_EQ(r.shadow_bytes(2048), expect) << "split at " << k;
        // And back, split somewhere else, into other guest memory.
        const uint64_t m = (k * 7) % 2047 + 1;
        auto back = r.scatter_into_guest(Bytes(2048, 0), split3(2048, m), 0x300000);
        auto d = copy_shadow_to_guest(r.guest, back, 2048, ShadowView(r.pool, r.list), &cipher, lba, r.bounce,
                                      fault);
        ASSERT_TRUE(d.ok()) << k;
        ASSERT_EQ(r.gather_from_guest(back), plain) << "split at " << m;
    }
}

TEST(ShadowCopy, MatchesAStraightXtsOfTheSameBytes) {
    CopyRig r;
    r.borrow(64 * 1024);
    std::mt19937_64 rng(2);
    const Bytes plain = crypto::test::random_bytes(rng, 64 * 1024);
    Bytes straight(plain.size());
    ASSERT_TRUE(r.xts.encrypt(straight.data(), plain.data(), plain.size(), 5, 512).ok());
    const SectorCipher cipher(&r.xts, kSector512);
    auto regions = r.scatter_into_guest(plain, {100, 4096, 7000, 511, 1, 20000, 64 * 1024 - 31708});
    RegionFault fault;
    ASSERT_TRUE(copy_guest_to_shadow(r.guest, regions, plain.size(), ShadowView(r.pool, r.list), &cipher, 5,
                                     r.bounce, fault)
                    .ok());
    EXPECT_EQ(r.shadow_bytes(plain.size()), straight);
}

TEST(ShadowCopy, FourKiBSectorsUseTheFourKiBSectorNumberAsTweak) {
    CopyRig r;
    r.borrow(3 * 4096);
    std::mt19937_64 rng(3);
    const Bytes plain = crypto::test::random_bytes(rng, 3 * 4096);
    const uint64_t sector = 77; // 4096-byte sector number (dm-crypt iv_large_sectors)
    const Bytes expect = openssl_xts(true, r.key, plain, 4096, sector);
    EXPECT_NE(expect, openssl_xts(true, r.key, plain, 512, sector * 8)); // a different format indeed
    const SectorCipher cipher(&r.xts, kSector4K);
    for (uint64_t k = 1; k < 3 * 4096; k += 257) {
        auto regions = r.scatter_into_guest(plain, split3(3 * 4096, k));
        RegionFault fault;
        ASSERT_TRUE(copy_guest_to_shadow(r.guest, regions, plain.size(), ShadowView(r.pool, r.list), &cipher,
                                         sector, r.bounce, fault)
                        .ok());
        ASSERT_EQ(r.shadow_bytes(plain.size()), expect) << k;
        auto back = r.scatter_into_guest(Bytes(plain.size(), 0), split3(3 * 4096, 3 * 4096 - k), 0x300000);
        ASSERT_TRUE(copy_shadow_to_guest(r.guest, back, plain.size(), ShadowView(r.pool, r.list), &cipher, sector,
                                         r.bounce, fault)
                        .ok());
        ASSERT_EQ(r.gather_from_guest(back), plain) << k;
    }
}

TEST(ShadowCopy, CrossesNonContiguousChunks) {
    CopyRig r(4096, 16 * 4096);
    uint32_t sa[2], sb[2];
    ShadowList a(sa, 2), b(sb, 2);
    ASSERT_EQ(r.pool.try_borrow(r.client, 8192, a), Borrow::Ok);
    ASSERT_EQ(r.pool.try_borrow(r.client, 8192, b), Borrow::Ok);
    r.pool.give_back(r.client, a);
    r.borrow(4 * 4096); // chunks 0, 1, then 4, 5: a gap in the middle
    EXPECT_NE(r.pool.phys(r.list.chunk(2)), r.pool.phys(r.list.chunk(1)) + 4096);
    std::mt19937_64 rng(4);
    const Bytes plain = crypto::test::random_bytes(rng, 4 * 4096);
    const SectorCipher cipher(&r.xts, kSector512);
    auto regions = r.scatter_into_guest(plain, {8000, 500, 16384 - 8500});
    RegionFault fault;
    ASSERT_TRUE(copy_guest_to_shadow(r.guest, regions, plain.size(), ShadowView(r.pool, r.list), &cipher, 9,
                                     r.bounce, fault)
                    .ok());
    const Bytes expect = openssl_xts(true, r.key, plain, 512, 9);
    for (uint32_t i = 0; i < 4; ++i)
        EXPECT_EQ(0, std::memcmp(r.pool.host(r.list.chunk(i)), expect.data() + i * 4096, 4096)) << i;
    // The borrowed-by-someone-else chunks in the gap are untouched.
    EXPECT_EQ(Bytes(r.pool.host(b.chunk(0)), r.pool.host(b.chunk(0)) + 4096), Bytes(4096, 0));
}

TEST(ShadowCopy, RegionsOutsideGuestRamAreRefused) {
    CopyRig r;
    r.borrow(4096);
    const SectorCipher cipher(&r.xts, kSector512);
    const Bytes canary(512, 0xA5);
    std::memcpy(r.mem.phys(kHv + (3ull << 20), 512), canary.data(), 512);
    struct Case {
        GuestRegion bad;
        RegionFault fault;
    };
    const Case cases[] = {
        {{kHv + (3ull << 20), 512}, RegionFault::NotRam}, // hypervisor memory
        {{kRam - 256, 512}, RegionFault::NotRam},         // runs past guest RAM
        {{~0ull - 255, 512}, RegionFault::NotRam},        // wraps
        {{0x2000, 0}, RegionFault::Empty},
    };
    for (const Case& c : cases) {
        std::vector<GuestRegion> regions = {{0x1000, 512}, c.bad};
        RegionFault fault;
        auto w = copy_guest_to_shadow(r.guest, regions, 1024, ShadowView(r.pool, r.list), &cipher, 0, r.bounce,
                                      fault);
        EXPECT_FALSE(w.ok());
        EXPECT_EQ(fault, c.fault);
        auto rd = copy_shadow_to_guest(r.guest, regions, 1024, ShadowView(r.pool, r.list), &cipher, 0, r.bounce,
                                       fault);
        EXPECT_FALSE(rd.ok());
        EXPECT_EQ(fault, c.fault);
    }
    // Nothing was read from or written to hypervisor memory.
    EXPECT_EQ(Bytes(r.mem.phys(kHv + (3ull << 20), 512), r.mem.phys(kHv + (3ull << 20), 512) + 512), canary);
    std::vector<GuestRegion> too_long = {{0x1000, 1024}};
    RegionFault fault;
    EXPECT_FALSE(copy_guest_to_shadow(r.guest, too_long, 512, ShadowView(r.pool, r.list), &cipher, 0, r.bounce,
                                      fault)
                     .ok());
    EXPECT_EQ(fault, RegionFault::TooLong);
    std::vector<GuestRegion> too_short = {{0x1000, 512}};
    auto s = copy_guest_to_shadow(r.guest, too_short, 1024, ShadowView(r.pool, r.list), &cipher, 0, r.bounce, fault);
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(s.error(), Error::OutOfRange);
}

TEST(ShadowCopy, NoPlaintextReachesTheShadowWhenSomethingFails) {
    CopyRig r;
    r.borrow(4096);
    std::mt19937_64 rng(5);
    const Bytes plain = crypto::test::random_bytes(rng, 1024);
    // The engine refuses (no key): the shadow keeps its zeros.
    crypto::Xts keyless;
    const SectorCipher broken(&keyless, kSector512);
    auto regions = r.scatter_into_guest(plain, {300, 724});
    RegionFault fault;
    auto w = copy_guest_to_shadow(r.guest, regions, 1024, ShadowView(r.pool, r.list), &broken, 0, r.bounce, fault);
    EXPECT_FALSE(w.ok());
    EXPECT_EQ(w.error(), Error::DeviceError);
    EXPECT_EQ(r.shadow_bytes(4096), Bytes(4096, 0));
    // A guest list that ends mid-sector: the partial sector never reaches the shadow.
    const SectorCipher cipher(&r.xts, kSector512);
    auto partial = r.scatter_into_guest(plain, {700});
    ShadowTransfer t(ShadowView(r.pool, r.list), &cipher, 0, nullptr, r.bounce);
    t.from_guest(r.mem.ram(partial[0].gpa), 700);
    EXPECT_TRUE(t.mid_sector());
    EXPECT_FALSE(t.failed());
    EXPECT_EQ(t.guest_bytes(), 700u);
    EXPECT_EQ(t.shadow_bytes(), 512u);
    const Bytes shadow = r.shadow_bytes(1024);
    EXPECT_EQ(Bytes(shadow.begin() + 512, shadow.end()), Bytes(512, 0));
    EXPECT_EQ(Bytes(shadow.begin(), shadow.begin() + 512),
              openssl_xts(true, r.key, Bytes(plain.begin(), plain.begin() + 512), 512, 0));
    // More guest bytes than the shadow holds: refused, not written past it.
    ShadowTransfer over(ShadowView(r.pool, r.list), &cipher, 0, nullptr, r.bounce);
    Bytes big(r.pool.chunk_bytes() + 512, 1);
    over.from_guest(big.data(), big.size());
    EXPECT_TRUE(over.failed());
}

TEST(ShadowCopy, WithoutACipherBytesAreCopiedAsTheyCome) {
    CopyRig r(4096, 16 * 4096);
    r.borrow(3 * 4096);
    std::mt19937_64 rng(6);
    const Bytes data = crypto::test::random_bytes(rng, 9001); // not a sector multiple (ATAPI)
    auto regions = r.scatter_into_guest(data, {1, 4999, 4001});
    RegionFault fault;
    ASSERT_TRUE(copy_guest_to_shadow(r.guest, regions, data.size(), ShadowView(r.pool, r.list), nullptr, 0,
                                     r.bounce, fault)
                    .ok());
    EXPECT_EQ(r.shadow_bytes(data.size()), data);
    auto back = r.scatter_into_guest(Bytes(data.size(), 0), {4097, 4904}, 0x300000);
    ASSERT_TRUE(copy_shadow_to_guest(r.guest, back, data.size(), ShadowView(r.pool, r.list), nullptr, 0, r.bounce,
                                     fault)
                    .ok());
    EXPECT_EQ(r.gather_from_guest(back), data);
}

TEST(ShadowCopy, TheSimdGuardIsTakenOncePerRequestOnlyWhenEncrypting) {
    int with = 0, without = 0;
    with_request_simd(true, [&](const crypto::SimdGuard* g) { with += g != nullptr; });
    with_request_simd(false, [&](const crypto::SimdGuard* g) { without += g == nullptr; });
    EXPECT_EQ(with, 1);
    EXPECT_EQ(without, 1);
    CopyRig r;
    const SectorCipher cipher(&r.xts, kSector512);
    Bytes a(1024, 3), b(1024), c(1024);
    EXPECT_FALSE(cipher.crypt(nullptr, b.data(), a.data(), 1000, 0, true)); // not whole sectors
    ASSERT_TRUE(with_request_simd(true, [&](const crypto::SimdGuard* g) {
        return cipher.crypt(g, b.data(), a.data(), 1024, 4, true);
    }));
    ASSERT_TRUE(cipher.crypt(nullptr, c.data(), b.data(), 1024, 4, false));
    EXPECT_EQ(c, a);
    EXPECT_EQ(b, openssl_xts(true, r.key, a, 512, 4));
    const SectorCipher plain(nullptr, kSector512);
    ASSERT_TRUE(plain.crypt(nullptr, c.data(), b.data(), 1024, 0, true));
    EXPECT_EQ(c, b);
}

} // namespace
} // namespace sv::storage
