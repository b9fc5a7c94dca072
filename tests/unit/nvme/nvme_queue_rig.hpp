// Test rig for the NVMe queue engine: the engine between a guest driver
// (LinuxNvme, or raw entries written by a hostile test) and SimNvme.
//
// EngineControllerStub stands in for the controller side (nvmectl's
// NvmeController) only as far as the engine's contract needs: CAP with the
// engine's MQES, CC.EN 0->1 through QueueEngine::enable() into the real
// AQA/ASQ/ACQ (real CC.MPS always 4 KiB), CC.EN 1->0 as reset(), doorbells
// decoded into sq_tail_written / cq_head_written followed by harvest(), and
// harvest() at every CSTS read. The ControllerPort rings SimNvme's doorbells
// and records guest_interrupt calls. `nmi()` is the device's NMI.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <random>
#include <utility>
#include <vector>

#include "crypto/xts.hpp"
#include "crypto/xts_test_support.hpp"
#include "devices/storage/nvme/nvme_queue_engine.hpp"
#include "devices/storage/nvme/nvme_registers.hpp"
#include "ide/sim_piix.hpp"
#include "nvme/linux_nvme_model.hpp"
#include "nvme/sim_nvme.hpp"

namespace svtest {

class SimPort final : public sv::nvme::ControllerPort {
  public:
    explicit SimPort(SimNvme& sim) : sim_(sim) {}
    void ring_sq_tail(uint16_t qid, uint16_t tail) override {
        ++sq_rings;
        sim_.write32(sv::nvme::sq_tail_doorbell(qid, 4), tail);
    }
    void ring_cq_head(uint16_t qid, uint16_t head) override {
        ++cq_rings;
        sim_.write32(sv::nvme::cq_head_doorbell(qid, 4), head);
    }
    void guest_interrupt(uint16_t cqid, uint16_t vector) override { interrupts.push_back({cqid, vector}); }
    std::vector<std::pair<uint16_t, uint16_t>> interrupts;
    uint64_t sq_rings = 0, cq_rings = 0;

  private:
    SimNvme& sim_;
};

class EngineControllerStub final : public sv::MmioRegisters {
  public:
    EngineControllerStub(SimNvme& sim, sv::nvme::QueueEngine& engine) : sim_(sim), engine_(engine) {}
    uint32_t read32(uint32_t off) override {
        using namespace sv::nvme;
        switch (off) {
        case reg::kCap: {
            const uint32_t real = sim_.read32(reg::kCap);
            return (real & ~static_cast<uint32_t>(cap::kMqesMask)) | engine_.guest_mqes();
        }
        case reg::kCsts: {
            engine_.harvest();
            return sim_.read32(reg::kCsts) | (fatal ? csts::kCfs : 0);
        }
        case reg::kCc: return cc_;
        case reg::kAqa: return aqa_;
        case reg::kAsq: return static_cast<uint32_t>(asq_);
        case reg::kAsq + 4: return static_cast<uint32_t>(asq_ >> 32);
        case reg::kAcq: return static_cast<uint32_t>(acq_);
        case reg::kAcq + 4: return static_cast<uint32_t>(acq_ >> 32);
        case reg::kCmbsz:
        case reg::kCmbloc: return 0;
        default: return off < reg::kDoorbellBase ? sim_.read32(off) : 0;
        }
    }
    void write32(uint32_t off, uint32_t v) override {
        using namespace sv::nvme;
        if (off >= reg::kDoorbellBase) {
            const DoorbellTarget t = decode_doorbell(off, 4);
            if (!t.valid) return;
            if (t.completion) engine_.cq_head_written(static_cast<uint16_t>(t.qid), v);
            else engine_.sq_tail_written(static_cast<uint16_t>(t.qid), v);
            engine_.harvest();
            return;
        }
        switch (off) {
        case reg::kCc: {
            const uint32_t old = cc_;
            cc_ = v;
            const uint32_t real = v & ~cc::kMpsMask; // the real CC.MPS is 4 KiB
            if ((old & cc::kEn) && !(v & cc::kEn)) {
                sim_.write32(reg::kCc, real);
                engine_.reset(); // the real controller is disabled now
                fatal = false;
            } else if (!(old & cc::kEn) && (v & cc::kEn)) {
                QueueEngine::RealAdminQueues q;
                if (!engine_.enable(aqa_, asq_, acq_, cc::page_bytes(v), q)) {
                    fatal = true;
                    return;
                }
                sim_.write32(reg::kAqa, q.aqa);
                sim_.write32(reg::kAsq, static_cast<uint32_t>(q.asq));
                sim_.write32(reg::kAsq + 4, static_cast<uint32_t>(q.asq >> 32));
                sim_.write32(reg::kAcq, static_cast<uint32_t>(q.acq));
                sim_.write32(reg::kAcq + 4, static_cast<uint32_t>(q.acq >> 32));
                sim_.write32(reg::kCc, real);
            } else {
                sim_.write32(reg::kCc, real);
            }
            return;
        }
        case reg::kAqa: aqa_ = v; return;
        case reg::kAsq: asq_ = (asq_ & ~0xffffffffull) | v; return;
        case reg::kAsq + 4: asq_ = (asq_ & 0xffffffffull) | uint64_t{v} << 32; return;
        case reg::kAcq: acq_ = (acq_ & ~0xffffffffull) | v; return;
        case reg::kAcq + 4: acq_ = (acq_ & 0xffffffffull) | uint64_t{v} << 32; return;
        default: return;
        }
    }
    bool fatal = false;

  private:
    SimNvme& sim_;
    sv::nvme::QueueEngine& engine_;
    uint32_t cc_ = 0, aqa_ = 0;
    uint64_t asq_ = 0, acq_ = 0;
};

struct EngineRigOptions {
    sv::nvme::EngineLimits limits{8, 256, 2 << 20};
    uint64_t pool_extra = 0;             // pool bytes beyond the engine's reservation
    uint64_t chunk = sv::storage::kDefaultChunkBytes;
    bool keyed = true;
    unsigned sim_pairs = 16, sim_vectors = 17;
    uint8_t sim_mdts = 0;                // 0: no limit in the controller
};

struct EngineRig {
    static constexpr uint64_t kRam = 64ull << 20, kHvBase = 0x8000000, kHvBytes = 24ull << 20;
    static constexpr uint64_t kBuf = 0x3000000; // data buffers (48 MiB)

    explicit EngineRig(const EngineRigOptions& o = {}, std::vector<std::pair<uint64_t, uint32_t>> namespaces = {
                                                          {16384, 512}, {4096, 4096}})
        : opts(o), sim(mem, o.sim_pairs, o.sim_vectors), port(sim) {
        sim.mdts = o.sim_mdts;
        for (auto& [blocks, lbs] : namespaces) sim.add_namespace(blocks, lbs);
        sim.set_msix(true);
        for (unsigned v = 0; v < o.sim_vectors; ++v) sim.write32(SimNvme::kMsixTable + 16 * v + sv::nvme::msix::kEntryControl, 0);
        facts.cap = uint64_t{sim.read32(sv::nvme::reg::kCap)} | uint64_t{sim.read32(sv::nvme::reg::kCap + 4)} << 32;
        facts.mdts = sim.mdts;
        facts.nn = static_cast<uint32_t>(namespaces.size());
        for (uint32_t i = 0; i < namespaces.size(); ++i) {
            facts.namespaces[i] = {i + 1, namespaces[i].first, namespaces[i].second, true};
        }
        facts.namespace_count = static_cast<uint32_t>(namespaces.size());
        std::mt19937_64 rng(7);
        key = sv::crypto::test::random_key(rng, 64);
        EXPECT_TRUE(xts.set_key(key).ok());
        EXPECT_TRUE(pool.init(dma, sv::nvme::QueueEngine::pool_bytes(o.limits) + o.pool_extra, o.chunk).ok());
        engine = std::make_unique<sv::nvme::QueueEngine>(gmem, pool, o.keyed ? &xts : nullptr, port, facts, o.limits);
        EXPECT_TRUE(engine->init(dma).ok());
        ctl = std::make_unique<EngineControllerStub>(sim, *engine);
        drv = std::make_unique<LinuxNvme>(*ctl, mem);
    }

    bool nmi() { return engine->harvest(); }
    uint8_t* ram(uint64_t a) { return mem.ram(a); }
    void put(uint64_t a, const std::vector<uint8_t>& d) { std::memcpy(ram(a), d.data(), d.size()); }
    std::vector<uint8_t> get(uint64_t a, size_t n) { return {ram(a), ram(a) + n}; }
    std::vector<uint8_t> media(uint32_t nsid, uint64_t lba, size_t bytes) {
        SimNvmeNamespace& n = sim.ns(nsid);
        return {n.media.begin() + static_cast<long>(lba * n.lba_bytes),
                n.media.begin() + static_cast<long>(lba * n.lba_bytes + bytes)};
    }
    std::vector<uint8_t> cipher(const std::vector<uint8_t>& plain, uint32_t lbs, uint64_t lba) {
        return sv::crypto::test::openssl_xts(true, key, plain, lbs, lba);
    }
    // Every controller access was to hypervisor DMA memory (the shadows).
    bool device_only_touched_shadows() const {
        for (const SimNvmeAccess& a : sim.accesses)
            if (!mem.in_dma_region(a.addr, a.len)) return false;
        return true;
    }
    bool bring_up(unsigned queues = 4, uint32_t depth = 64, unsigned polled = 0) {
        return drv->enable() && drv->identify() && drv->create_io_queues(queues, depth, polled);
    }

    EngineRigOptions opts;
    SimPhysMemory mem{kRam, kHvBase, kHvBytes};
    SimGuestMemory gmem{mem};
    SimDmaAllocator dma{mem};
    sv::storage::ShadowPool pool;
    SimNvme sim;
    SimPort port;
    sv::nvme::ControllerFacts facts;
    sv::crypto::test::Bytes key;
    sv::crypto::Xts xts;
    std::unique_ptr<sv::nvme::QueueEngine> engine;
    std::unique_ptr<EngineControllerStub> ctl;
    std::unique_ptr<LinuxNvme> drv;
};

inline std::vector<uint8_t> pattern(size_t n, uint32_t seed) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>((i * 131 + seed * 7 + (i >> 9)) ^ seed);
    return v;
}

} // namespace svtest
