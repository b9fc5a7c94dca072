// Hostile guests against the AHCI command slot engine (issue #9 item 6,
// devices/storage/ahci/README.md §6): every CommandFault from a command a
// guest can build, each checked for the NOP the device aborts (ERR/ABRT,
// PxIS.TFES), the count, no data copied, and, with the simulated HBA's
// access log, that the HBA only ever touched the hypervisor's shadows; then a
// random fuzz over headers, tables and PRDTs.
#include <random>

#include "ahci/ahci_command_rig.hpp"

namespace svtest {
namespace {
using namespace sv::ahci;

constexpr uint8_t kAbrt = 0x04;

struct HostileSlot : SlotRig {
    const std::vector<uint8_t> secret = pattern(16 * 512, 77);
    void SetUp() override {
        SlotRig::SetUp();
        std::memcpy(ram(kBuf), secret.data(), secret.size());
    }
    // The command in `s` must be refused for `why`, fail on the device as a
    // NOP abort, change nothing on the platter, copy nothing to the guest.
    void expect_refused(unsigned port, unsigned s, CommandFault why, bool sact = false,
                        uint64_t clb = 0) {
        const auto before = hba.device(kDisk).platter;
        const uint64_t refused = counters.refused_total();
        const uint32_t prdbc = 0xdeadbeef;
        if (!clb) std::memcpy(ram(guest_clb(port) + 32 * s + 4), &prdbc, 4);
        std::memset(ram(kBuf + 0x100000), 0x5a, 8192);
        const Prepared r = clb ? slot(port, s).prepare(clb, s, port == kCd, sact, &waiter)
                               : prepare(port, s, sact);
        ASSERT_EQ(r, Prepared::Refused) << to_string(why);
        EXPECT_EQ(slot(port, s).fault(), why) << to_string(slot(port, s).fault());
        EXPECT_TRUE(slot(port, s).active());
        EXPECT_FALSE(slot(port, s).queued());
        EXPECT_EQ(counters.refused_total(), refused + 1);
        EXPECT_EQ(counters.refused_count(refusal_of(why)) > 0, true);
        EXPECT_TRUE(shadow_only(port));
        const auto* h = reinterpret_cast<const CommandHeader*>(cl[idx(port)].host) + s;
        EXPECT_EQ(hdr::prdtl(h->dw0), 0u);
        EXPECT_EQ(client.held_chunks(), 0u);
        const size_t cmds = hba.device(port).commands.size();
        issue(port, s);
        const Done d = finish(port, s);
        EXPECT_FALSE(d.ok);
        EXPECT_TRUE(d.pis & pis::kTfes);
        EXPECT_EQ((d.tfd >> 8) & kAbrt, kAbrt);
        ASSERT_EQ(hba.device(port).commands.size(), cmds + 1);
        EXPECT_EQ(hba.device(port).commands.back(), 0x00); // the NOP
        EXPECT_FALSE(slot(port, s).active());
        EXPECT_TRUE(hba_touched_only_shadows());
        EXPECT_TRUE(hba.device(kDisk).platter == before);
        if (!clb) {
            uint32_t v;
            std::memcpy(&v, ram(guest_clb(port) + 32 * s + 4), 4);
            EXPECT_EQ(v, prdbc); // nothing written back
        }
        EXPECT_EQ(ram(kBuf + 0x100000)[0], 0x5a);
        EXPECT_STRNE(to_string(why), "?");
    }
    void write_cmd(unsigned s, uint64_t lba, uint32_t n, const Prdt& prdt, uint32_t extra = 0) {
        uint8_t f[20];
        fis_rw_ext(f, true, lba, n);
        put_command(kDisk, s, f, prdt, true, extra);
    }
};

TEST_F(HostileSlot, HeaderInOrStraddlingHypervisorMemoryOrHoles) {
    expect_refused(kDisk, 0, CommandFault::HeaderNotRam, false, kHv);
    expect_refused(kDisk, 1, CommandFault::HeaderNotRam, false, kRam - 32 * 1 - 16); // straddles RAM's end
    expect_refused(kDisk, 2, CommandFault::HeaderNotRam, false, ~uint64_t{0} - 1023); // wraps
}

TEST_F(HostileSlot, TableInOrStraddlingHypervisorMemory) {
    uint8_t f[20];
    fis_rw_ext(f, true, 0, 8);
    put_header(kDisk, 0, 5u | hdr::kW | 1u << 16, kHv);
    expect_refused(kDisk, 0, CommandFault::TableNotRam);
    put_header(kDisk, 1, 5u | hdr::kW | 1u << 16, kRam); // the hole after RAM
    expect_refused(kDisk, 1, CommandFault::TableNotRam);
    put_header(kDisk, 3, 5u | hdr::kW | 1u << 16, ~uint64_t{0} & ~uint64_t{0x7f}); // wraps
    expect_refused(kDisk, 3, CommandFault::TableNotRam);
    put_header(kDisk, 2, 5u | hdr::kW | 1u << 16, pool.phys(0));
    expect_refused(kDisk, 2, CommandFault::TableNotRam);
}

TEST_F(HostileSlot, CommandFisLengthTypeBistAndPortMultiplier) {
    uint8_t f[20];
    fis_rw_ext(f, true, 0, 8);
    put_command(kDisk, 0, f, {{kBuf, 4096}}, true);
    put_header(kDisk, 0, 4u | hdr::kW | 1u << 16, guest_table(kDisk, 0));
    expect_refused(kDisk, 0, CommandFault::BadCfl);
    f[0] = 0x34;
    put_command(kDisk, 1, f, {{kBuf, 4096}}, true);
    expect_refused(kDisk, 1, CommandFault::MalformedFis);
    fis_rw_ext(f, true, 0, 8);
    put_command(kDisk, 2, f, {{kBuf, 4096}}, true, hdr::kB);
    expect_refused(kDisk, 2, CommandFault::Bist);
    put_command(kDisk, 3, f, {{kBuf, 4096}}, true, 1u << hdr::kPmpShift);
    expect_refused(kDisk, 3, CommandFault::PmPort);
    f[1] |= 2; // the FIS's PM port
    put_command(kDisk, 4, f, {{kBuf, 4096}}, true);
    expect_refused(kDisk, 4, CommandFault::PmPort);
}

TEST_F(HostileSlot, OpcodesNotAllowedOrNotMediated) {
    uint8_t f[20];
    unsigned s = 0;
    for (uint8_t op : {0x06, 0xe8, 0x92, 0x93, 0x63, 0x64, 0x65, 0xf2, 0xf4, 0x5e, 0x5c, 0x2f, 0xb0}) {
        fis_command(f, op);
        put_command(kDisk, s, f, {{kBuf, 4096}}, true);
        expect_refused(kDisk, s++, CommandFault::NotMediated);
    }
    for (uint8_t op : {0x7a, 0xff, 0x01, 0xd0}) {
        fis_command(f, op);
        put_command(kDisk, s, f, {{kBuf, 4096}}, false);
        expect_refused(kDisk, s++, CommandFault::NotAllowed);
    }
    // READ DMA in CHS mode: no LBA for the tweak.
    fis_command(f, 0xc8);
    f[7] = 0; // device bit 6 clear: CHS
    f[12] = 8;
    put_command(kDisk, s, f, {{kBuf, 4096}}, false);
    expect_refused(kDisk, s++, CommandFault::ChsUserData);
}

TEST_F(HostileSlot, DirectionAndDeviceTypeMismatches) {
    write_cmd(0, 0, 8, {{kBuf, 4096}});
    put_header(kDisk, 0, 5u | 1u << 16, guest_table(kDisk, 0)); // W clear on a write
    expect_refused(kDisk, 0, CommandFault::Direction);
    uint8_t f[20];
    fis_rw_ext(f, false, 0, 8);
    put_command(kDisk, 1, f, {{kBuf + 0x100000, 4096}}, true); // W set on a read
    expect_refused(kDisk, 1, CommandFault::Direction);
    fis_command(f, 0xa0, 1);
    put_command(kDisk, 2, f, {{kBuf, 4096}}, false, hdr::kA);
    expect_refused(kDisk, 2, CommandFault::PacketNotAtapi);
    fis_rw_ext(f, false, 0, 8);
    put_command(kCd, 3, f, {{kBuf + 0x100000, 4096}}, false);
    expect_refused(kCd, 3, CommandFault::AtaOnAtapi);
    fis_command(f, 0xec);
    put_command(kCd, 4, f, {{kBuf + 0x100000, 512}}, false);
    expect_refused(kCd, 4, CommandFault::AtaOnAtapi);
}

TEST_F(HostileSlot, NcqTagGames) {
    uint8_t f[20];
    fis_fpdma(f, true, 0, 8, 3);
    put_command(kDisk, 5, f, {{kBuf, 4096}}, true);
    expect_refused(kDisk, 5, CommandFault::TagNotSlot, true);
    fis_fpdma(f, true, 0, 8, 6);
    put_command(kDisk, 6, f, {{kBuf, 4096}}, true);
    expect_refused(kDisk, 6, CommandFault::FpdmaWithoutSact, false);
    write_cmd(7, 0, 8, {{kBuf, 4096}});
    expect_refused(kDisk, 7, CommandFault::SactWithoutFpdma, true);
    // The port's own refusal (a non-queued command while queued ones run).
    slot(kDisk, 8).refuse(CommandFault::NonQueuedWhileQueued);
    EXPECT_EQ(slot(kDisk, 8).fault(), CommandFault::NonQueuedWhileQueued);
    EXPECT_TRUE(slot(kDisk, 8).active());
    issue(kDisk, 8);
    EXPECT_FALSE(finish(kDisk, 8).ok);
    EXPECT_EQ(hba.device(kDisk).commands.back(), 0x00);
}

TEST_F(HostileSlot, PrdtRules) {
    write_cmd(0, 0, 8, {});
    expect_refused(kDisk, 0, CommandFault::PrdtlZero);
    write_cmd(1, 0, 8, {{kBuf + 1, 4096}});
    expect_refused(kDisk, 1, CommandFault::OddDba);
    write_cmd(2, 0, 8, {{kBuf, 4096}});
    put_entry(guest_table(kDisk, 2), 0, kBuf, 4094); // 4095 bytes
    expect_refused(kDisk, 2, CommandFault::OddDbc);
    write_cmd(3, 0, 16, {{kBuf, 4096}}); // 16 sectors over 4 KiB
    expect_refused(kDisk, 3, CommandFault::PrdtShort);
    // Data regions in hypervisor memory (a pool chunk, the shadow list),
    // straddling RAM's end, in the hole, wrapping.
    unsigned s = 4;
    for (uint64_t dba : {kHv, pool.phys(0), cl[0].phys, kRam - 512, uint64_t{0x6000000}, ~uint64_t{0} - 4095}) {
        write_cmd(s, 0, 8, {{kBuf, 1024}, {dba, 3072}});
        expect_refused(kDisk, s++, CommandFault::DataNotRam);
    }
    // Reads too: the guest's regions are checked before the device moves anything.
    uint8_t f[20];
    fis_rw_ext(f, false, 0, 8);
    put_command(kDisk, s, f, {{kHv + 0x1000, 4096}}, false);
    expect_refused(kDisk, s++, CommandFault::DataNotRam);
    // The PRDT itself runs out of RAM: the table (128-byte aligned) ends
    // RAM with 8 entries of 2 bytes; the 9th, still needed, lies beyond.
    const uint64_t t = kRam - 2 * kPrdtOffset;
    fis_rw_ext(f, true, 0, 8);
    std::memcpy(ram(t), f, 20);
    for (uint32_t i = 0; i < 8; ++i) put_entry(t, i, kBuf + 4 * i, 1);
    put_header(kDisk, s, 5u | hdr::kW | 9u << 16, t);
    expect_refused(kDisk, s++, CommandFault::PrdtNotRam);
}

TEST_F(HostileSlot, PoolThatCanNeverHoldTheRequest) {
    sv::storage::ShadowPool small;
    sv::storage::ShadowPool::Client c;
    ASSERT_TRUE(small.init(alloc, 1 << 20).ok());
    SlotEnv env{&guest, &small, &c, &keyed_cipher, bounce, &counters};
    slot(kDisk, 0).bind(env, reinterpret_cast<CommandHeader*>(cl[0].host), tables[0][0]);
    write_cmd(0, 0, 65536, LinuxAhci::split(kBuf, kMaxCommandBytes, 0x400000));
    expect_refused(kDisk, 0, CommandFault::TooLarge);
}

TEST_F(HostileSlot, CryptoFailureFailsClosed) {
    SlotEnv env{&guest, &pool, &client, &keyed_cipher, std::span<uint8_t>(), &counters};
    slot(kDisk, 0).bind(env, reinterpret_cast<CommandHeader*>(cl[0].host), tables[0][0]);
    write_cmd(0, 0, 8, {{kBuf, 4096}});
    expect_refused(kDisk, 0, CommandFault::CryptoFailed);
    EXPECT_FALSE(contains_plaintext_run(hba.device(kDisk).platter, secret.data(), secret.size()));
}

TEST_F(HostileSlot, EveryFaultHasANameAndAClass) {
    for (unsigned i = 0; i < kCommandFaultCount; ++i) {
        const auto f = static_cast<CommandFault>(i);
        EXPECT_STRNE(to_string(f), "?");
        EXPECT_LT(static_cast<unsigned>(refusal_of(f)), sv::storage::kRefusalCount);
    }
}

TEST_F(HostileSlot, RandomHeadersTablesAndPrdts) {
    std::mt19937 rng(20260901);
    auto pick = [&](auto&&... v) {
        const uint64_t a[] = {static_cast<uint64_t>(v)...};
        return a[rng() % sizeof...(v)];
    };
    unsigned issued = 0, refused = 0, waited = 0, queued = 0;
    const uint64_t wild[] = {kHv, kHv + 0x123456, pool.phys(0), cl[0].phys, tables[0][0].phys,
                             kRam - 8, 0x6000000, ~uint64_t{0} - 15, 0x100000000ull};
    for (unsigned iter = 0; iter < 1500; ++iter) {
        const unsigned port = rng() % 5 ? kDisk : kCd;
        const unsigned s = rng() % 32;
        uint8_t f[20];
        const uint8_t op = static_cast<uint8_t>(
            pick(0x25, 0x35, 0x60, 0x61, 0xc8, 0xca, 0x20, 0x30, 0xec, 0xa1, 0xa0, 0xe7, 0xef, 0x06, 0x64,
                 0x00, rng() & 0xff));
        const uint32_t n = rng() % 4 ? 1 + rng() % 16 : rng() % 300;
        const uint64_t lba = rng() % 4 ? rng() % 60000 : rng();
        if (op == 0x60 || op == 0x61) fis_fpdma(f, op == 0x61, lba, n, rng() % 8 ? s : rng() % 32);
        else if (op == 0x25 || op == 0x35) fis_rw_ext(f, op == 0x35, lba, n);
        else {
            fis_command(f, op, static_cast<uint8_t>(rng()));
            f[4] = static_cast<uint8_t>(lba);
            f[7] = rng() % 2 ? kDeviceLba : 0;
            f[12] = static_cast<uint8_t>(n);
        }
        if (rng() % 8 == 0) f[rng() % 20] = static_cast<uint8_t>(rng());
        Prdt prdt;
        const unsigned entries = rng() % 6 ? rng() % 6 : rng() % 40;
        for (unsigned i = 0; i < entries; ++i) {
            uint64_t a = kBuf + (rng() % 0x200000) * 2;
            if (rng() % 10 == 0) a = wild[rng() % std::size(wild)];
            if (rng() % 20 == 0) a |= 1;
            uint32_t len = rng() % 3 ? 512u * (1 + rng() % 16) : 2u * (1 + rng() % 4096);
            if (rng() % 20 == 0) len = 1 + rng() % 100;
            prdt.push_back({a, len});
        }
        const bool w = rng() % 2;
        uint32_t extra = 0;
        if (rng() % 10 == 0) extra |= static_cast<uint32_t>(rng()) & (hdr::kA | hdr::kB | hdr::kR | hdr::kC | hdr::kP | hdr::kPmpMask);
        uint64_t table = guest_table(port, s);
        if (rng() % 15 == 0) table = wild[rng() % std::size(wild)] & ~uint64_t{0x7f};
        if (table == guest_table(port, s)) put_command(port, s, f, prdt, w, extra);
        else put_header(port, s, 5u | (w ? hdr::kW : 0) | extra | uint32_t(entries) << 16, table);
        if (rng() % 10 == 0) { // CFL and PRDTL garbage
            uint32_t dw0;
            std::memcpy(&dw0, ram(guest_clb(port) + 32 * s), 4);
            dw0 = (dw0 & ~hdr::kCflMask) | (rng() & hdr::kCflMask);
            if (rng() % 2) dw0 = (dw0 & 0xffff) | (rng() & 0xffff0000u);
            std::memcpy(ram(guest_clb(port) + 32 * s), &dw0, 4);
        }
        const bool sact = rng() % 3 == 0 || op == 0x60 || op == 0x61;
        const uint64_t clb = rng() % 50 ? guest_clb(port) : wild[rng() % std::size(wild)];
        const Prepared r = slot(port, s).prepare(clb, s, port == kCd, sact, &waiter);
        ASSERT_TRUE(shadow_only(port)) << "iteration " << iter;
        if (r == Prepared::Wait) {
            ++waited;
            continue;
        }
        (r == Prepared::Issue ? issued : refused)++;
        if (r == Prepared::Refused) {
            EXPECT_NE(slot(port, s).fault(), CommandFault::None);
        }
        issue(port, s);
        if (slot(port, s).queued()) {
            ++queued;
            hba.complete_all_ncq(port, SimAhci::Order::InOrder);
            const bool ok = !(preg_read(port, preg::kIs) & pis::kFatalMask) &&
                            !(preg_read(port, preg::kSact) & (1u << s));
            slot(port, s).complete(ok);
            preg_write(port, preg::kIs, 0xffffffff);
            if (!ok) recover(port);
        } else if (preg_read(port, preg::kCi) & (1u << s) &&
                   !(preg_read(port, preg::kIs) & pis::kFatalMask)) {
            // Never completed by the device (e.g. a held or odd command):
            // the port would reset it; the slot is dropped.
            recover(port);
            slot(port, s).abandon();
        } else {
            finish(port, s);
        }
        ASSERT_FALSE(slot(port, s).active());
        ASSERT_TRUE(hba_touched_only_shadows()) << "iteration " << iter;
    }
    EXPECT_GT(issued, 0u);
    EXPECT_GT(refused, 0u);
    EXPECT_GT(queued, 0u);
    EXPECT_EQ(waited, 0u); // one command at a time always fits the reservation
    EXPECT_EQ(hba.bus_errors, 0u);
    EXPECT_EQ(pool.free_chunks(), pool.total_chunks());
    // Guest buffers held the secret pattern at kBuf: never on the platter in
    // plaintext (every write was encrypted, refused ones never reached it).
    EXPECT_FALSE(contains_plaintext_run(hba.device(kDisk).platter, secret.data(), secret.size()));
}

} // namespace
} // namespace svtest
