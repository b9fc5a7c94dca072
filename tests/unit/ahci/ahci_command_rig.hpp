// Test rig for the AHCI command slot engine (devices/storage/ahci/
// ahci_command.*): the slots of two ports (a SATA disk on port 0, an ATAPI
// device on port 2) bound to shadow command lists and tables in the
// simulated hypervisor region, in front of the simulated HBA (sim_ahci.*).
// The real PxCLB of each port points at the slots' shadow command list (as
// the port mediator will arrange); the test writes guest command lists,
// tables and PRDTs into guest RAM, prepares a slot, issues it on the real
// HBA and completes it as the port would. The simulated HBA's access log
// tells which memory it touched.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "ahci/linux_ahci_model.hpp"
#include "ahci/sim_ahci.hpp"
#include "crypto/xts.hpp"
#include "devices/storage/ahci/ahci_command.hpp"
#include "devices/storage/ahci/ahci_fis.hpp"
#include "devices/storage/ahci/ahci_registers.hpp"
#include "ide/ide_fixture.hpp"

namespace svtest {

struct CountingWaiter final : sv::storage::ShadowPool::Waiter {
    void shadow_space_available() override { ++calls; }
    unsigned calls = 0;
};

struct SlotRig : ::testing::Test {
    static constexpr uint64_t kRam = 72ull << 20;
    static constexpr uint64_t kHv = 0x8000000; // hypervisor region at 128 MiB
    static constexpr uint64_t kHvBytes = 48ull << 20;
    static constexpr uint64_t kPoolBytes = 40ull << 20;
    static constexpr unsigned kDisk = 0, kCd = 2;
    static constexpr uint64_t kSectors = 70000;
    static constexpr uint64_t kGuestTables = 0x600000; // 64 KiB per slot and port
    static constexpr uint64_t kBuf = 0x1000000;        // data buffers: 16 MiB .. 50 MiB
    static constexpr uint64_t kBigTable = 0x3400000;   // a table with 65535 entries (1 MiB)

    SimPhysMemory mem{kRam, kHv, kHvBytes};
    SimGuestMemory guest{mem};
    SimDmaAllocator alloc{mem};
    sv::storage::ShadowPool pool;
    sv::storage::ShadowPool::Client client;
    uint8_t key[64];
    sv::crypto::Xts xts;
    sv::storage::SectorCipher keyed_cipher{&xts, 512};
    sv::storage::SectorCipher no_key{nullptr, 512};
    std::vector<uint8_t> bounce = std::vector<uint8_t>(512);
    sv::storage::StorageCounters counters;
    sv::DmaBuffer cl[2];
    sv::DmaBuffer tables[2][32];
    std::unique_ptr<sv::ahci::CommandSlot[]> slots[2];
    SimAhci hba{mem};
    LinuxAhci drv{hba, mem};
    CountingWaiter waiter;

    static unsigned idx(unsigned port) { return port == kCd ? 1 : 0; }
    uint64_t guest_clb(unsigned port) const { return drv.cl(port); }
    uint64_t guest_table(unsigned port, unsigned slot) const {
        return kGuestTables + (uint64_t{idx(port)} * 32 + slot) * 0x10000;
    }
    sv::ahci::CommandSlot& slot(unsigned port, unsigned s) { return slots[idx(port)][s]; }
    uint8_t* ram(uint64_t a) { return mem.ram(a); }

    void SetUp() override {
        for (int i = 0; i < 64; ++i) key[i] = uint8_t(i * 11 + 5);
        ASSERT_TRUE(xts.set_key(key).ok());
        ASSERT_TRUE(pool.init(alloc, kPoolBytes).ok());
        ASSERT_TRUE(pool.reserve(client, sv::ahci::kMaxPoolBytesPerCommand).ok());
        for (unsigned p = 0; p < 2; ++p) {
            auto c = alloc.allocate(sv::ahci::kCommandListSize, sv::ahci::kCommandListAlign);
            ASSERT_TRUE(c.ok());
            cl[p] = c.value();
            slots[p] = std::make_unique<sv::ahci::CommandSlot[]>(32);
            for (unsigned s = 0; s < 32; ++s) {
                auto t = alloc.allocate(sv::ahci::kShadowTableBytes, sv::ahci::kCommandTableAlign);
                ASSERT_TRUE(t.ok());
                tables[p][s] = t.value();
            }
        }
        bind(true);
        hba.attach_disk(kDisk, kSectors);
        hba.attach_atapi(kCd, 64);
        ASSERT_TRUE(drv.init_controller());
        for (unsigned port : {kDisk, kCd}) {
            ASSERT_TRUE(drv.start_port(port));
            // The port mediator's job: the real PxCLB names the shadow list.
            drv.stop_engine(port);
            preg_write(port, sv::ahci::preg::kClb, static_cast<uint32_t>(cl[idx(port)].phys));
            preg_write(port, sv::ahci::preg::kClbu, static_cast<uint32_t>(cl[idx(port)].phys >> 32));
            drv.start_engine(port);
        }
        hba.accesses.clear();
    }

    void bind(bool keyed) {
        sv::ahci::SlotEnv env;
        env.memory = &guest;
        env.pool = &pool;
        env.client = &client;
        env.cipher = keyed ? &keyed_cipher : &no_key;
        env.bounce = bounce;
        env.counters = &counters;
        for (unsigned p = 0; p < 2; ++p)
            for (unsigned s = 0; s < 32; ++s)
                slots[p][s].bind(env, reinterpret_cast<sv::ahci::CommandHeader*>(cl[p].host) + s,
                                 tables[p][s]);
    }

    uint32_t preg_read(unsigned port, uint32_t r) { return hba.read32(sv::ahci::port_base(port) + r); }
    void preg_write(unsigned port, uint32_t r, uint32_t v) { hba.write32(sv::ahci::port_base(port) + r, v); }

    // --- the guest's side: header, table and PRDT in guest RAM -----------------
    using Prdt = std::vector<std::pair<uint64_t, uint32_t>>; // {gpa, bytes}
    void put_header(unsigned port, unsigned s, uint32_t dw0, uint64_t table) {
        sv::ahci::CommandHeader h{};
        h.dw0 = dw0;
        h.ctba = static_cast<uint32_t>(table);
        h.ctbau = static_cast<uint32_t>(table >> 32);
        std::memcpy(ram(guest_clb(port) + 32 * s), &h, sizeof h);
    }
    void put_entry(uint64_t table, uint32_t i, uint64_t dba, uint32_t dw3) {
        sv::ahci::PrdtEntry e{static_cast<uint32_t>(dba), static_cast<uint32_t>(dba >> 32), 0, dw3};
        std::memcpy(ram(table + sv::ahci::kPrdtOffset + 16ull * i), &e, sizeof e);
    }
    // A command: CFIS (20 bytes, CFL 5), PRDT, header bits; the table at
    // guest_table() unless `table` is given.
    uint64_t put_command(unsigned port, unsigned s, const uint8_t (&cfis)[20], const Prdt& prdt, bool w,
                         uint32_t extra_dw0 = 0, uint64_t table = 0, const uint8_t* acmd = nullptr) {
        if (!table) table = guest_table(port, s);
        std::memset(ram(table), 0, sv::ahci::kPrdtOffset);
        std::memcpy(ram(table), cfis, 20);
        if (acmd) std::memcpy(ram(table + 0x40), acmd, 16);
        for (uint32_t i = 0; i < prdt.size(); ++i) put_entry(table, i, prdt[i].first, prdt[i].second - 1);
        const uint32_t dw0 = 5u | (w ? sv::ahci::hdr::kW : 0) | extra_dw0 |
                             static_cast<uint32_t>(prdt.size()) << sv::ahci::hdr::kPrdtlShift;
        put_header(port, s, dw0, table);
        return table;
    }
    uint32_t guest_prdbc(unsigned port, unsigned s) {
        uint32_t v;
        std::memcpy(&v, ram(guest_clb(port) + 32 * s + 4), 4);
        return v;
    }

    // --- the port's side ---------------------------------------------------------
    sv::ahci::Prepared prepare(unsigned port, unsigned s, bool sact = false) {
        return slot(port, s).prepare(guest_clb(port), s, port == kCd, sact, &waiter);
    }
    // Sets the real PxSACT (queued) and PxCI bits, as the port does after Issue/Refused.
    void issue(unsigned port, unsigned s) {
        if (slot(port, s).queued()) preg_write(port, sv::ahci::preg::kSact, 1u << s);
        preg_write(port, sv::ahci::preg::kCi, 1u << s);
    }
    struct Done {
        bool ok = false;
        uint32_t pis = 0, tfd = 0;
    };
    // A non-queued slot: the HBA ran it inside the PxCI write; complete it
    // as the port does (error: nothing copied) and recover the port.
    Done finish(unsigned port, unsigned s) {
        Done d;
        d.pis = preg_read(port, sv::ahci::preg::kIs);
        d.tfd = preg_read(port, sv::ahci::preg::kTfd);
        const bool still = preg_read(port, sv::ahci::preg::kCi) & (1u << s);
        d.ok = !(d.pis & sv::ahci::pis::kFatalMask) && !still;
        slot(port, s).complete(d.ok);
        preg_write(port, sv::ahci::preg::kIs, d.pis);
        if (d.pis & sv::ahci::pis::kFatalMask) recover(port);
        return d;
    }
    void recover(unsigned port) { // libahci error handling: stop, clear, start
        drv.stop_engine(port);
        preg_write(port, sv::ahci::preg::kSerr, 0xffffffff);
        preg_write(port, sv::ahci::preg::kIs, 0xffffffff);
        drv.start_engine(port);
    }
    // prepare + issue + finish.
    Done run(unsigned port, unsigned s) {
        const sv::ahci::Prepared r = prepare(port, s);
        EXPECT_NE(r, sv::ahci::Prepared::Wait);
        issue(port, s);
        return finish(port, s);
    }

    // Everything the HBA may fetch through the slots of `port` names only
    // the shadow list, the shadow tables and pool chunks.
    bool shadow_only(unsigned port) {
        const unsigned p = idx(port);
        const auto* h = reinterpret_cast<const sv::ahci::CommandHeader*>(cl[p].host);
        for (unsigned s = 0; s < 32; ++s) {
            const uint64_t t = sv::ahci::command_table_address(h[s]);
            if (t != tables[p][s].phys) return false;
            const uint32_t n = sv::ahci::hdr::prdtl(h[s].dw0);
            if (n > sv::ahci::kShadowPrdtEntries) return false;
            if (sv::ahci::hdr::pmp(h[s].dw0) != 0) return false;
            const auto* e = reinterpret_cast<const sv::ahci::PrdtEntry*>(tables[p][s].host + sv::ahci::kPrdtOffset);
            for (uint32_t i = 0; i < n; ++i) {
                const uint64_t a = sv::ahci::data_address(e[i]);
                const uint64_t len = sv::ahci::prd::byte_count(e[i].dw3);
                const uint64_t lo = pool.phys(0), hi = lo + pool.total_bytes();
                if (a < lo || a + len > hi) return false;
            }
        }
        return true;
    }
    // Every access of the HBA's log, except received FISes (the port
    // mediator's part: here PxFB is still the driver's), was inside the
    // hypervisor's shadows.
    bool hba_touched_only_shadows() {
        for (const SimAhciAccess& a : hba.accesses) {
            if (a.what == SimAhciAccess::What::ReceivedFis) continue;
            const bool in_cl = a.addr >= cl[0].phys && a.addr + a.len <= cl[0].phys + 1024;
            const bool in_cl2 = a.addr >= cl[1].phys && a.addr + a.len <= cl[1].phys + 1024;
            bool in_table = false;
            for (auto& tp : tables)
                for (auto& t : tp)
                    if (a.addr >= t.phys && a.addr + a.len <= t.phys + t.size) in_table = true;
            const bool in_pool = a.addr >= pool.phys(0) && a.addr + a.len <= pool.phys(0) + pool.total_bytes();
            if (!(in_cl || in_cl2 || in_table || in_pool)) return false;
        }
        return true;
    }
    std::vector<uint8_t> platter(uint64_t lba, uint64_t sectors) {
        auto& p = hba.device(kDisk).platter;
        return {p.begin() + lba * 512, p.begin() + (lba + sectors) * 512};
    }
};

} // namespace svtest
