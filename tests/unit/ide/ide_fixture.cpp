// IDE test rig and OpenSSL oracle (see ide_fixture.hpp).
#include "ide/ide_fixture.hpp"

#include <openssl/evp.h>

#include <cstring>
#include <string>
#include <unordered_set>

namespace svtest {

std::vector<uint8_t> oracle_xts(const uint8_t (&key)[64], const uint8_t* data, size_t bytes,
                                uint64_t first_lba, bool encrypt) {
    std::vector<uint8_t> out(bytes);
    EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
    for (size_t off = 0; off < bytes; off += 512) {
        uint8_t iv[16] = {};
        const uint64_t lba = first_lba + off / 512;
        for (int i = 0; i < 8; ++i) iv[i] = uint8_t(lba >> (8 * i));
        int len = 0;
        EVP_CipherInit_ex(ctx, EVP_aes_256_xts(), nullptr, key, iv, encrypt ? 1 : 0);
        EVP_CipherUpdate(ctx, out.data() + off, &len, data + off, 512);
    }
    EVP_CIPHER_CTX_free(ctx);
    return out;
}

bool contains_plaintext_run(const std::vector<uint8_t>& hay, const uint8_t* plain, size_t bytes) {
    // Sector data is 16-byte aligned on the platter: compare aligned blocks.
    std::unordered_set<std::string> needles;
    for (size_t p = 0; p + 16 <= bytes; p += 16) needles.emplace(reinterpret_cast<const char*>(plain + p), 16);
    for (size_t h = 0; h + 16 <= hay.size(); h += 16)
        if (needles.count(std::string(reinterpret_cast<const char*>(hay.data() + h), 16))) return true;
    return false;
}

std::vector<uint8_t> pattern(size_t bytes, uint32_t seed) {
    std::vector<uint8_t> v(bytes);
    uint32_t x = seed * 2654435761u + 1;
    for (auto& b : v) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        b = uint8_t(x);
    }
    return v;
}

const char* to_string(TrapMode m) {
    switch (m) {
    case TrapMode::Minimal: return "minimal";
    case TrapMode::Lean: return "lean";
    case TrapMode::Full: return "full";
    }
    return "?";
}

bool IdeRig::dma_only_in_shadow() const {
    // The rig's pool is fresh, so the channel's chunks are one contiguous span.
    if (channel->shadow_buffer_bytes() != sv::ide::kShadowBufferBytes) return false;
    const uint64_t lo = channel->shadow_buffer_phys(), hi = lo + channel->shadow_buffer_bytes();
    for (const SimDmaRun& run : dev.dma_runs) {
        if (run.prd_table != channel->shadow_table_phys()) return false;
        if (run.touched_lo < lo || run.touched_hi > hi) return false;
    }
    return true;
}

IdeRig::IdeRig(bool keyed, TrapMode mode, bool do_init) {
    for (int i = 0; i < 64; ++i) key[i] = uint8_t(i * 7 + 3);
    if (keyed) {
        EXPECT_TRUE(xts.set_key(key).ok());
    }
    sv::ide::IdeChannel::Config cfg;
    cfg.ports = {dev.ports.cmd, dev.ports.ctl, dev.ports.bm};
    cfg.trap_mode = mode;
    EXPECT_TRUE(pool.init(alloc, sv::ide::kShadowBufferBytes).ok());
    channel = std::make_unique<sv::ide::IdeChannel>(cfg, dev, guest, alloc, pool, keyed ? &xts : nullptr);
    if (do_init) {
        EXPECT_TRUE(channel->init().ok());
    }
    allocations_at_init = alloc.allocations;
    uint16_t ports[sv::ide::kMaxTrappedPorts];
    const size_t n = channel->trapped_ports(ports);
    bus = std::make_unique<TrappedBus>(*channel, dev, ports, n);
    driver = std::make_unique<LinuxAtaPiix>(*bus, dev, dev.ports);
    driver->init();
}

void IdeRig::make_atapi() {
    dev.atapi = true;
    uint8_t id[512];
    EXPECT_TRUE(driver->identify(id, 0xa1).ok);
}

void IdeRig::write_prd(uint32_t table, const std::vector<std::pair<uint32_t, uint32_t>>& regions,
                       bool eot) {
    for (size_t i = 0; i < regions.size(); ++i) {
        uint8_t* e = ram(table + 8 * i);
        const uint32_t base = regions[i].first;
        uint32_t flags = regions[i].second & 0xffff;
        if (eot && i + 1 == regions.size()) flags |= 0x80000000u;
        std::memcpy(e, &base, 4);
        std::memcpy(e + 4, &flags, 4);
    }
}

std::vector<std::pair<uint32_t, uint32_t>> IdeRig::regions_for(uint32_t buf, uint64_t bytes,
                                                               uint32_t max_region) {
    std::vector<std::pair<uint32_t, uint32_t>> r;
    uint64_t a = buf, left = bytes;
    while (left) {
        uint64_t n = std::min<uint64_t>({left, max_region, 0x10000 - (a & 0xffff)});
        r.emplace_back(uint32_t(a), uint32_t(n));
        a += n;
        left -= n;
    }
    return r;
}

Outcome IdeRig::dma(bool write, uint64_t lba, uint32_t sectors, uint32_t buf, bool lba48,
                    uint32_t max_region) {
    write_prd(prd_table, regions_for(buf, uint64_t{sectors ? sectors : (lba48 ? 65536u : 256u)} * 512,
                                     max_region));
    return driver->dma(write, lba, sectors, lba48, prd_table);
}

} // namespace svtest
