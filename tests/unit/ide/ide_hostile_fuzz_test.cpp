// IdeHostileFuzz: seeded random episodes against the IDE mediator, in every
// trap mode, for an ATA disk and an ATAPI device. Each episode is a complete
// libata-style bus-master sequence (select, task file, PRD table in guest
// RAM, PRD pointer, direction, command [+ CDB], START, status, STOP, clear)
// that is either left clean or mutated the way a hostile guest root would:
// PRDs into hypervisor memory or the shadow itself, absurd lengths, no EOT,
// steps reordered or dropped, SRST mid-transfer, START twice, direction
// flipped, command, task file, table or data changed after the command,
// random register noise. Invariants checked after every episode:
//   - every bus-master run walked the shadow table over the shadow buffer;
//   - the real PRD register still points at the shadow table;
//   - no known plaintext is on the platter (keyed ATA disk) or left in the
//     shadow buffer;
//   - after a libata-style reset (SRST + IDENTIFY) a clean command works:
//     a write puts exactly XTS(plaintext) on the platter, a read gives the
//     guest exactly the decrypted platter (ATAPI: the raw bytes).
// The fuzzer counts real bus-master runs, writes that reached the platter and
// reads that reached guest RAM, and fails unless each count is above zero, so
// the invariants above are known to have met real transfers.
// Only IdeChannel's public interface and the simulator are used.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_set>

#include "ide/ide_fixture.hpp"

namespace {
using namespace svtest;

// Guest RAM layout of the fuzzer (all below kRamBytes = 72 MiB).
constexpr uint32_t kSecret = 0x200000;  // ATA write sources: the known plaintext
constexpr uint32_t kReadBuf = 0x400000; // read destinations
constexpr uint32_t kDisc = 0x600000;    // ATAPI write sources (unencrypted by design)
constexpr uint32_t kRegion = 256 * 1024;
constexpr uint32_t kPrdTable = 0x10000;
constexpr uint64_t kAtaLbas = 4000;     // clean ATA commands stay in [0, kAtaLbas)
constexpr uint32_t kAtapiBlocks = 2000; // ... ATAPI ones in [0, kAtapiBlocks) x 2048
constexpr uint64_t kShadowScan = 96 * 1024; // shadow bytes checked after each episode
constexpr int kEpisodes = 260;

// 16-byte windows of a plaintext at every even offset: a leak shows up however
// the guest buffer was aligned to the sector (PRD bases are only 2-aligned).
class Needles {
  public:
    explicit Needles(std::vector<uint8_t> plain) : plain_(std::move(plain)) {
        for (size_t p = 0; p + 16 <= plain_.size(); p += 2)
            set_.emplace(reinterpret_cast<const char*>(plain_.data() + p), 16);
    }
    // Any 16-byte-aligned block of [hay, hay + bytes) that is a needle?
    bool found_in(const uint8_t* hay, size_t bytes) const {
        for (size_t h = 0; h + 16 <= bytes; h += 16)
            if (set_.count(std::string_view(reinterpret_cast<const char*>(hay + h), 16))) return true;
        return false;
    }
    const std::vector<uint8_t>& plain() const { return plain_; }

  private:
    std::vector<uint8_t> plain_;
    std::unordered_set<std::string_view> set_;
};

enum class Kind { AtaWrite, AtaRead, PacketWrite, PacketRead, PioWrite, PioRead };

struct Counts {
    uint64_t runs = 0;          // bus-master runs seen by the simulated device
    uint64_t platter_writes = 0; // clean writes verified on the platter
    uint64_t guest_reads = 0;    // clean reads verified in guest RAM
    uint64_t hostile = 0;        // mutated episodes
    uint64_t hostile_runs = 0;   // bus-master runs during mutated episodes
};

class Fuzzer {
  public:
    Fuzzer(TrapMode mode, bool atapi, uint32_t seed)
        : r_(true, mode), atapi_(atapi), rng_(seed), secret_(pattern(kRegion, 11)),
          disc_(pattern(kRegion, 12)) {
        p_ = r_.dev.ports;
        std::memcpy(r_.ram(kSecret), secret_.plain().data(), kRegion);
        std::memcpy(r_.ram(kDisc), disc_.plain().data(), kRegion);
        if (atapi_) r_.make_atapi();
    }

    void run(int episodes) {
        for (int i = 0; i < episodes && !failed_; ++i) {
            episode_ = i;
            const bool hostile = (rng_() % 100) < 55;
            const Kind kind = pick_kind();
            const size_t runs_before = r_.dev.dma_runs.size();
            if (hostile) {
                ++counts_.hostile;
                hostile_episode(kind);
                counts_.hostile_runs += r_.dev.dma_runs.size() - runs_before;
                recover(true);
            } else {
                clean_episode(kind);
                recover(false);
            }
            check_invariants();
        }
        counts_.runs = r_.dev.dma_runs.size();
        final_checks();
    }

    const Counts& counts() const { return counts_; }

  private:
    using Step = std::function<void()>;
    struct Prd {
        std::vector<std::pair<uint32_t, uint32_t>> regions;
        bool eot = true;
    };
    struct Plan {
        Kind kind;
        bool write;
        uint64_t lba;     // ATA: sectors; ATAPI: 2048-byte blocks
        uint32_t count;   // sectors / blocks
        bool lba48;
        uint32_t buf;     // guest buffer
        uint64_t bytes;
        Prd prd;
        uint32_t pointer = kPrdTable; // PRD register value (the table is always at kPrdTable)
        std::vector<std::pair<std::string, Step>> steps;
    };

    uint32_t below(uint32_t n) { return n ? uint32_t(rng_() % n) : 0; }
    bool chance(unsigned percent) { return below(100) < percent; }

    Kind pick_kind() {
        const uint32_t k = below(100);
        if (atapi_) { // mostly packet DMA; ATA commands are aborted by the device
            if (k < 40) return Kind::PacketWrite;
            if (k < 80) return Kind::PacketRead;
            return k < 90 ? Kind::AtaWrite : Kind::AtaRead;
        }
        if (k < 40) return Kind::AtaWrite;
        if (k < 80) return Kind::AtaRead;
        if (k < 90) return Kind::PioWrite;
        return Kind::PioRead;
    }
    bool packet(Kind k) const { return k == Kind::PacketWrite || k == Kind::PacketRead; }

    // Where a clean command's guest buffer lives. On an ATAPI device no PRD
    // ever points at kSecret, so the secret can reach the disc only by a bug.
    uint32_t source_region(bool write) const {
        if (!write) return kReadBuf;
        return atapi_ ? kDisc : kSecret;
    }

    Plan make_plan(Kind kind) {
        Plan pl;
        pl.kind = kind;
        pl.write = kind == Kind::AtaWrite || kind == Kind::PacketWrite || kind == Kind::PioWrite;
        if (packet(kind)) {
            pl.count = 1 + below(8);
            pl.lba = below(kAtapiBlocks - 8);
            pl.bytes = uint64_t{pl.count} * 2048;
            pl.lba48 = false;
        } else {
            pl.count = 1 + below(64);
            pl.lba = below(uint32_t(kAtaLbas - 64));
            pl.bytes = uint64_t{pl.count} * 512;
            pl.lba48 = chance(40);
        }
        pl.buf = source_region(pl.write) + 2 * below(uint32_t((kRegion - pl.bytes) / 2));
        static constexpr uint32_t kSplits[] = {64, 510, 1000, 2048, 3000, 4096, 0x8000, 0x10000};
        pl.prd.regions = r_.regions_for(pl.buf, pl.bytes, kSplits[below(8)]);
        plan_at_ = pl.lba * (packet(kind) ? 2048 : 512);
        plan_bytes_ = pl.bytes;
        return pl; // steps are built where the plan lives (they refer to it)
    }

    void out8(uint16_t port, uint8_t v) { r_.bus->out(port, 1, v); }
    uint8_t in8(uint16_t port) { return uint8_t(r_.bus->in(port, 1)); }
    uint16_t cmd(unsigned reg) const { return uint16_t(p_.cmd + reg); }
    uint16_t bm(unsigned reg) const { return uint16_t(p_.bm + reg); }
    uint8_t dir(const Plan& pl) const { return pl.write ? 0x00 : 0x08; }

    uint8_t opcode(const Plan& pl) const {
        if (packet(pl.kind)) return 0xa0;
        return pl.lba48 ? (pl.write ? 0x35 : 0x25) : (pl.write ? 0xca : 0xc8);
    }

    // The ata_bmdma_qc_issue / ata_bmdma_start / interrupt order (see
    // ata_piix_model.cpp), as named steps that mutations can move or drop.
    void build_steps(Plan& pl) {
        auto& s = pl.steps;
        s.push_back({"status", [this] { in8(cmd(7)); }});
        s.push_back({"select", [this] { out8(cmd(6), 0xa0); in8(p_.ctl); }});
        s.push_back({"taskfile", [this, &pl] {
                         if (packet(pl.kind)) {
                             out8(cmd(1), 0x01); // Features: DMA
                             out8(cmd(4), 0x00);
                             out8(cmd(5), 0x80);
                             out8(cmd(6), 0xa0);
                             return;
                         }
                         if (pl.lba48) {
                             out8(cmd(1), 0);
                             out8(cmd(2), uint8_t(pl.count >> 8));
                             out8(cmd(3), uint8_t(pl.lba >> 24));
                             out8(cmd(4), uint8_t(pl.lba >> 32));
                             out8(cmd(5), uint8_t(pl.lba >> 40));
                         }
                         out8(cmd(1), 0);
                         out8(cmd(2), uint8_t(pl.count));
                         out8(cmd(3), uint8_t(pl.lba));
                         out8(cmd(4), uint8_t(pl.lba >> 8));
                         out8(cmd(5), uint8_t(pl.lba >> 16));
                         out8(cmd(6), uint8_t(0x40 | (pl.lba48 ? 0 : (pl.lba >> 24) & 0x0f)));
                     }});
        s.push_back({"prd-table", [this, &pl] { r_.write_prd(kPrdTable, pl.prd.regions, pl.prd.eot); }});
        s.push_back({"prd-pointer", [this, &pl] { r_.bus->out(bm(4), 4, pl.pointer); }});
        s.push_back({"direction", [this, &pl] { out8(bm(0), uint8_t((in8(bm(0)) & ~0x09) | dir(pl))); }});
        s.push_back({"command", [this, &pl] { out8(cmd(7), opcode(pl)); in8(p_.ctl); }});
        if (packet(pl.kind))
            s.push_back({"cdb", [this, &pl] {
                             const uint8_t c[12] = {uint8_t(pl.write ? 0x2a : 0x28), 0,
                                                    uint8_t(pl.lba >> 24), uint8_t(pl.lba >> 16),
                                                    uint8_t(pl.lba >> 8), uint8_t(pl.lba), 0,
                                                    uint8_t(pl.count >> 8), uint8_t(pl.count)};
                             r_.bus->outs(cmd(0), 2, c, sizeof c);
                         }});
        s.push_back({"start", [this] { out8(bm(0), uint8_t(in8(bm(0)) | 0x01)); }});
        s.push_back({"bm-status", [this] { last_bm_status_ = in8(bm(2)); }});
        s.push_back({"stop", [this] { out8(bm(0), uint8_t(in8(bm(0)) & ~0x01)); in8(p_.ctl); }});
        s.push_back({"ata-status", [this] {
                         uint8_t st = in8(p_.ctl);
                         if (!(st & 0x80)) st = in8(cmd(7));
                         last_status_ = st;
                     }});
        s.push_back({"irq-clear", [this] { out8(bm(2), in8(bm(2))); }});
    }

    void execute(Plan& pl) {
        for (auto& [name, fn] : pl.steps) fn();
    }

    // A PIO transfer through the driver model (the mediator encrypts the
    // data-port stream sector by sector).
    void pio(Plan& pl, bool clean) {
        const size_t chunk = 2 * (1 + below(300));
        Outcome o = r_.driver->pio(pl.write, pl.lba, pl.count, pl.lba48, false, r_.ram(pl.buf), chunk);
        if (!clean) return;
        if (!o.ok) return fail("clean PIO " + std::string(pl.write ? "write" : "read") + " failed");
        if (pl.write) verify_ata_write(pl);
        else verify_ata_read(pl);
    }

    void clean_episode(Kind kind) {
        Plan pl = make_plan(kind);
        build_steps(pl);
        describe_ = std::string("clean ") + kind_name(kind);
        if (kind == Kind::PioWrite || kind == Kind::PioRead) return pio(pl, true);
        const size_t runs = r_.dev.dma_runs.size();
        if (!pl.write) std::memset(r_.ram(pl.buf), 0xe5, pl.bytes);
        execute(pl);
        const bool ok = (last_bm_status_ & 0x04) && !(last_bm_status_ & 0x02) && !(last_status_ & 0x89);
        // ATA commands to a packet device are aborted by the device itself.
        if (atapi_ && !packet(kind)) {
            if (ok) fail("ATA command to a packet device succeeded");
            return;
        }
        if (!ok) return fail("clean command failed: bm " + hex(last_bm_status_) + " status " + hex(last_status_));
        if (r_.dev.dma_runs.size() != runs + 1) return fail("clean command: not exactly one bus-master run");
        const SimDmaRun& run = r_.dev.dma_runs.back();
        if (run.to_memory == pl.write || run.bytes != pl.bytes) return fail("clean run: wrong direction or size");
        if (packet(kind)) {
            const uint8_t* disc = r_.dev.platter.data() + pl.lba * 2048;
            if (std::memcmp(disc, r_.ram(pl.buf), pl.bytes) != 0)
                return fail(pl.write ? "ATAPI write: disc differs from guest data"
                                     : "ATAPI read: guest buffer differs from the disc");
            ++(pl.write ? counts_.platter_writes : counts_.guest_reads);
            return;
        }
        if (pl.write) verify_ata_write(pl);
        else verify_ata_read(pl);
    }

    void verify_ata_write(const Plan& pl) {
        if (r_.platter(pl.lba, pl.count) != oracle_xts(r_.key, r_.ram(pl.buf), pl.bytes, pl.lba, true))
            return fail("ATA write: platter is not XTS(guest data)");
        ++counts_.platter_writes;
    }
    void verify_ata_read(const Plan& pl) {
        const auto disk = r_.platter(pl.lba, pl.count);
        if (oracle_xts(r_.key, disk.data(), disk.size(), pl.lba, false) !=
            std::vector<uint8_t>(r_.ram(pl.buf), r_.ram(pl.buf) + pl.bytes))
            return fail("ATA read: guest buffer is not XTS^-1(platter)");
        ++counts_.guest_reads;
    }

    // --- hostile mutations -------------------------------------------------
    uint32_t hostile_base(const Plan& pl) {
        switch (below(9)) {
        case 0: return uint32_t(kDmaBase);
        case 1: return uint32_t(r_.channel->shadow_buffer_phys());
        case 2: return uint32_t(r_.channel->shadow_table_phys());
        case 3: return uint32_t(kRamBytes - 0x800); // runs off the end of RAM
        case 4: return uint32_t(kRamBytes + 0x1000);
        case 5: return 0xfffff000u;
        case 6: return pl.buf | 1;                    // odd
        case 7: return (pl.buf & ~0xffffu) + 0xff00;  // crosses 64 KiB with a long count
        default: return pl.buf + 2 * below(0x800);
        }
    }
    uint32_t hostile_length() {
        switch (below(6)) {
        case 0: return 0; // 64 KiB
        case 1: return 1 + 2 * below(0x8000);
        case 2: return 2;
        case 3: return 0x1000;
        default: return 2 * below(0x8000);
        }
    }
    Step noise() {
        const uint32_t k = rng_();
        return [this, k] {
            static constexpr uint8_t kOps[] = {0xc8, 0xca, 0x25, 0x35, 0x30, 0x20, 0xc6, 0xec,
                                               0xa0, 0x00, 0x06, 0xa1, 0x24, 0x34, 0xc4, 0xc5};
            const uint16_t ports[] = {cmd(7), p_.ctl, bm(0), bm(2), bm(4), bm(6)};
            const uint32_t src = atapi_ ? kDisc : kSecret;
            switch (k % 8) {
            case 0: out8(cmd(7), kOps[(k >> 8) % sizeof kOps]); break;
            case 1: out8(cmd(1 + (k >> 8) % 6), uint8_t(k >> 16)); break;
            case 2: r_.bus->out(bm(4), 4, (k & 1) ? src + ((k >> 4) & 0xfffe) : kPrdTable + (k & 6)); break;
            case 3: r_.write_prd(kPrdTable, {{uint32_t((k >> 3) % 3 == 0 ? kDmaBase : src + ((k >> 8) & 0x1fe)),
                                             (k >> 12) & 0x1ffe}}); break;
            case 4: out8(bm(0), uint8_t((k >> 8) & 0x09)); break;
            case 5: r_.bus->in(ports[(k >> 8) % 6], uint8_t(1 << ((k >> 12) % 3))); break;
            case 6: r_.bus->outs(cmd(0), 2, r_.ram(kSecret + (k >> 8) % 1024 * 64), 96); break;
            case 7: { uint8_t b[96]; r_.bus->ins(cmd(0), 2, b, sizeof b); break; }
            }
        };
    }
    size_t step_index(const Plan& pl, const char* name) const {
        for (size_t i = 0; i < pl.steps.size(); ++i)
            if (pl.steps[i].first == name) return i;
        return pl.steps.size();
    }
    void insert_at(Plan& pl, size_t at, std::string name, Step fn) {
        at = std::min(at, pl.steps.size());
        pl.steps.insert(pl.steps.begin() + long(at), {std::move(name), std::move(fn)});
    }
    // Somewhere after the command was written (the time-of-check/use window).
    size_t after_command(const Plan& pl) {
        const size_t c = step_index(pl, "command") + 1;
        return c + below(uint32_t(pl.steps.size() - std::min(c, pl.steps.size()) + 1));
    }

    void mutate(Plan& pl) {
        const uint32_t m = below(15);
        std::string what;
        switch (m) {
        case 0: { // one descriptor aimed somewhere it must not go
            auto& e = pl.prd.regions[below(uint32_t(pl.prd.regions.size()))];
            e.first = hostile_base(pl);
            if (chance(50)) e.second = hostile_length();
            what = "prd-entry " + hex(e.first) + "+" + hex(e.second);
            break;
        }
        case 1: pl.prd.eot = false; what = "no-eot"; break;
        case 2: // absurd lengths: table shorter or longer than the transfer, many tiny entries
            if (chance(50)) pl.prd.regions = r_.regions_for(pl.buf, pl.bytes / 2 + 2 * below(64), 2 + 2 * below(64));
            else pl.prd.regions.push_back({pl.buf, hostile_length()});
            what = "prd-length";
            break;
        case 3: { // PRD pointer at hypervisor memory, the shadow table, misaligned
            const uint32_t t[] = {uint32_t(kDmaBase), uint32_t(r_.channel->shadow_table_phys()), kPrdTable + 2,
                                  uint32_t(kRamBytes - 4), 0xfffffff8u};
            pl.pointer = t[below(5)];
            what = "prd-pointer " + hex(pl.pointer);
            break;
        }
        case 4: // SRST somewhere in the sequence (Full traps Device Control)
            insert_at(pl, below(uint32_t(pl.steps.size() + 1)), "srst", [this] {
                out8(p_.ctl, 0x0c);
                out8(p_.ctl, 0x08);
            });
            what = "srst";
            break;
        case 5: insert_at(pl, after_command(pl), "start-again", [this] { out8(bm(0), uint8_t(in8(bm(0)) | 1)); });
            what = "start-twice";
            break;
        case 6: insert_at(pl, below(uint32_t(pl.steps.size() + 1)), "flip", [this] { out8(bm(0), uint8_t(in8(bm(0)) ^ 0x08)); });
            what = "direction-flip";
            break;
        case 7: { // another opcode after the command
            static constexpr uint8_t kOps[] = {0xca, 0xc8, 0x35, 0x25, 0x30, 0x20, 0xa0, 0x00, 0xec, 0xe7};
            const uint8_t op = kOps[below(sizeof kOps)];
            insert_at(pl, after_command(pl), "recommand", [this, op] { out8(cmd(7), op); });
            what = "command-changed " + hex(op);
            break;
        }
        case 8: { // task file rewritten after the command (count/LBA)
            const uint8_t reg = uint8_t(2 + below(5)), v = uint8_t(rng_());
            insert_at(pl, after_command(pl), "retaskfile", [this, reg, v] { out8(cmd(reg), v); });
            what = "taskfile-changed";
            break;
        }
        case 9: { // guest table rewritten after the command
            const uint32_t base = hostile_base(pl), len = hostile_length();
            insert_at(pl, after_command(pl), "retable", [this, base, len] {
                r_.write_prd(kPrdTable, {{base, len}});
            });
            what = "table-changed " + hex(base);
            break;
        }
        case 10: { // guest data changed after the command (other known plaintext)
            const uint32_t from = source_region(true) + 2 * below((kRegion - 0x10000) / 2);
            insert_at(pl, after_command(pl), "redata", [this, &pl, from] {
                std::memmove(r_.ram(pl.buf), r_.ram(from), std::min<uint64_t>(pl.bytes, 0x10000));
            });
            what = "data-changed";
            break;
        }
        case 11: if (pl.steps.size() > 2) { // two neighbours swapped
                const size_t i = below(uint32_t(pl.steps.size() - 1));
                what = "swap " + pl.steps[i].first + "/" + pl.steps[i + 1].first;
                std::swap(pl.steps[i], pl.steps[i + 1]);
            }
            break;
        case 12: { // a step left out
            const size_t i = below(uint32_t(pl.steps.size()));
            what = "drop " + pl.steps[i].first;
            pl.steps.erase(pl.steps.begin() + long(i));
            break;
        }
        case 13: { // absurd task file: past the end of the disk, or count 0
            pl.lba = chance(50) ? kDiskSectors - 1 - below(8) : pl.lba;
            pl.count = chance(50) ? 0 : pl.count + 1 + below(300);
            what = "absurd-count";
            break;
        }
        default: { // register noise
            const unsigned n = 1 + below(6);
            for (unsigned i = 0; i < n; ++i) insert_at(pl, below(uint32_t(pl.steps.size() + 1)), "noise", noise());
            what = "noise";
            break;
        }
        }
        describe_ += " " + what;
    }

    void hostile_episode(Kind kind) {
        describe_ = std::string("hostile ") + kind_name(kind) + ":";
        if (kind == Kind::PioWrite || kind == Kind::PioRead) {
            Plan pl = make_plan(kind);
            if (chance(50)) insert_noise_then(pl);
            return pio(pl, false);
        }
        Plan pl = make_plan(kind);
        build_steps(pl);
        const unsigned n = 1 + (chance(30) ? 1 : 0);
        for (unsigned i = 0; i < n; ++i) mutate(pl);
        execute(pl);
    }
    void insert_noise_then(Plan&) {
        for (unsigned i = 0, n = 1 + below(4); i < n; ++i) noise()();
        describe_ += " noise";
    }

    // libata error handling after a failed command: stop the bus master,
    // clear its status, SRST, then revalidate with IDENTIFY (which also lets
    // the mediator learn the device class again).
    void recover(bool reset) {
        out8(bm(0), 0x00);
        out8(bm(2), 0x06);
        if (!reset) return;
        out8(p_.ctl, 0x0c);
        out8(p_.ctl, 0x08);
        in8(cmd(7));
        uint8_t id[512];
        if (!r_.driver->identify(id, atapi_ ? 0xa1 : 0xec).ok) fail("IDENTIFY after reset failed");
        out8(bm(2), 0x06);
    }

    void check_invariants() {
        if (failed_) return; // the first failure is the one to read
        if (!r_.dma_only_in_shadow()) return fail("a bus-master run left the shadow table/buffer");
        if (r_.dev.prd_register() != r_.channel->shadow_table_phys())
            return fail("real PRD register no longer points at the shadow table: " + hex(r_.dev.prd_register()));
        const uint8_t* shadow = r_.mem.phys(r_.channel->shadow_buffer_phys(), kShadowScan);
        if (secret_.found_in(shadow, kShadowScan)) return fail("ATA plaintext left in the shadow buffer");
        if (disc_.found_in(shadow, kShadowScan)) return fail("ATAPI data left in the shadow buffer");
        // The sectors this episode's plan named (hostile ones may write
        // anywhere: the whole platter is scanned once at the end).
        const uint64_t bytes = std::min<uint64_t>(plan_bytes_ + 0x10000, r_.dev.platter.size() - plan_at_);
        if (secret_.found_in(r_.dev.platter.data() + plan_at_, bytes)) return fail("plaintext on the platter");
    }

    void final_checks() {
        if (failed_) return;
        if (secret_.found_in(r_.dev.platter.data(), r_.dev.platter.size())) fail("plaintext on the platter");
        const uint8_t* shadow = r_.mem.phys(r_.channel->shadow_buffer_phys(), r_.channel->shadow_buffer_bytes());
        if (secret_.found_in(shadow, r_.channel->shadow_buffer_bytes())) fail("plaintext in the shadow buffer");
        for (const SimDmaRun& run : r_.dev.dma_runs)
            if (!run.all_in_dma_region) return fail("bus-master run outside the hypervisor DMA region");
    }

    void fail(const std::string& why) {
        ADD_FAILURE() << "episode " << episode_ << " (" << describe_ << "): " << why;
        failed_ = true;
    }
    static std::string hex(uint64_t v) {
        char b[24];
        std::snprintf(b, sizeof b, "%#llx", static_cast<unsigned long long>(v));
        return b;
    }
    static const char* kind_name(Kind k) {
        switch (k) {
        case Kind::AtaWrite: return "ata-write";
        case Kind::AtaRead: return "ata-read";
        case Kind::PacketWrite: return "packet-write";
        case Kind::PacketRead: return "packet-read";
        case Kind::PioWrite: return "pio-write";
        case Kind::PioRead: return "pio-read";
        }
        return "?";
    }

    IdeRig r_;
    bool atapi_;
    std::mt19937 rng_;
    SimPorts p_;
    Needles secret_, disc_;
    Counts counts_;
    int episode_ = 0;
    bool failed_ = false;
    std::string describe_;
    uint8_t last_bm_status_ = 0, last_status_ = 0;
    uint64_t plan_at_ = 0, plan_bytes_ = 0; // platter bytes of the current plan
};

class IdeHostileFuzz : public ::testing::TestWithParam<std::tuple<TrapMode, bool>> {};

TEST_P(IdeHostileFuzz, CompleteSequencesWithMutationsNeverLeakOrEscapeShadow) {
    const TrapMode mode = std::get<0>(GetParam());
    const bool atapi = std::get<1>(GetParam());
    Fuzzer f(mode, atapi, 1234u + unsigned(mode) * 7 + (atapi ? 1 : 0));
    f.run(kEpisodes);
    const Counts& c = f.counts();
    std::printf("[ fuzz ] %s%s: %llu bus-master runs (%llu in %llu hostile episodes), %llu platter writes, "
                "%llu guest reads verified\n",
                to_string(mode), atapi ? " atapi" : "", static_cast<unsigned long long>(c.runs),
                static_cast<unsigned long long>(c.hostile_runs), static_cast<unsigned long long>(c.hostile),
                static_cast<unsigned long long>(c.platter_writes), static_cast<unsigned long long>(c.guest_reads));
    // The invariants above met real transfers, clean and hostile.
    EXPECT_GT(c.runs, 0u);
    EXPECT_GT(c.hostile_runs, 0u);
    EXPECT_GT(c.platter_writes, 0u);
    EXPECT_GT(c.guest_reads, 0u);
}
INSTANTIATE_TEST_SUITE_P(AllTrapModes, IdeHostileFuzz,
                         ::testing::Combine(::testing::ValuesIn(kAllTrapModes), ::testing::Bool()),
                         [](const auto& i) {
                             return std::string(to_string(std::get<0>(i.param))) +
                                    (std::get<1>(i.param) ? "Atapi" : "Ata");
                         });

} // namespace
