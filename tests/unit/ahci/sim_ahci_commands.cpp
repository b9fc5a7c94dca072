// Simulated AHCI HBA, command processing (AHCI 1.3.1 §5 "Data transfer
// operation"): fetch of header, table and CFIS, the PRDT walk (§4.2.3.3,
// PRDBC §4.2.2), received FISes (§4.2.1), NCQ (§9.3.1.1, SATA 3.x §13.6) and
// errors (§6.1: TFES, OFS, HBFS stop the port until PxCMD.ST is cleared).
// The device side follows ATA8-ACS (status DRDY|ERR 51h with ABRT 04h for a
// refused command, IDNF 10h for an LBA past the end).
#include <algorithm>
#include <cstring>
#include <numeric>
#include <random>

#include "ahci/sim_ahci.hpp"
#include "devices/storage/ahci/ahci_fis.hpp"
#include "devices/storage/ahci/ahci_registers.hpp"

namespace svtest {
using namespace sv::ahci;

namespace {
constexpr uint8_t kReady = 0x50, kErrStatus = 0x51;
constexpr uint8_t kAbrt = 0x04, kIdnf = 0x10;
constexpr uint32_t kAtapiBlock = 2048;

enum class Op : uint8_t { DmaIn, DmaOut, PioIn, PioOut, Ncq, Identify, IdentifyPacket, Packet,
                          SetMultiple, NonData, Unknown };
struct OpInfo {
    Op op;
    bool ext;
};

// The simulated device's own command table (ATA8-ACS), independent of the
// mediator's classification.
OpInfo op_info(uint8_t c) {
    switch (c) {
    case 0xc8: return {Op::DmaIn, false};
    case 0x25: return {Op::DmaIn, true};
    case 0xca: return {Op::DmaOut, false};
    case 0x35: case 0x3d: return {Op::DmaOut, true};
    case 0x20: case 0xc4: return {Op::PioIn, false};
    case 0x24: case 0x29: return {Op::PioIn, true};
    case 0x30: case 0xc5: return {Op::PioOut, false};
    case 0x34: case 0x39: case 0xce: return {Op::PioOut, true};
    case 0x60: case 0x61: return {Op::Ncq, true};
    case 0xec: return {Op::Identify, false};
    case 0xa1: return {Op::IdentifyPacket, false};
    case 0xa0: return {Op::Packet, false};
    case 0xc6: return {Op::SetMultiple, false};
    case 0xe7: case 0xea: case 0xef: case 0xe5: case 0xe0: case 0xe1: case 0x40: case 0x42:
    case 0x90: case 0x08: case 0x10:
        return {Op::NonData, false};
    default: return {Op::Unknown, false};
    }
}

void put_string(uint8_t (&id)[512], unsigned word, unsigned words, const char* s) {
    // ATA strings: two characters per word, the first in bits 15:8.
    const size_t n = std::strlen(s);
    for (unsigned i = 0; i < 2 * words; ++i) {
        const char ch = i < n ? s[i] : ' ';
        id[2 * word + (i ^ 1u)] = static_cast<uint8_t>(ch);
    }
}

void put_word(uint8_t (&id)[512], unsigned word, uint16_t v) {
    id[2 * word] = static_cast<uint8_t>(v);
    id[2 * word + 1] = static_cast<uint8_t>(v >> 8);
}
} // namespace

uint8_t* SimAhci::bus(unsigned p, uint64_t addr, uint64_t len, bool to_memory,
                      SimAhciAccess::What w) {
    uint8_t* at = addr + len < addr ? nullptr : mem_.phys(addr, len);
    accesses.push_back({addr, len, to_memory, w, p, at != nullptr});
    if (!at) ++bus_errors;
    return at;
}

void SimAhci::write_fis(unsigned p, uint32_t offset, const void* fis, uint32_t len) {
    Port& q = ports_[p];
    if (!(q.cmd & pcmd::kFre)) return; // §3.3.7 FRE: FISes are not posted
    uint8_t* at = bus(p, fb64(q) + offset, len, true, SimAhciAccess::What::ReceivedFis);
    if (!at) {
        fatal(p, pis::kHbfs);
        return;
    }
    std::memcpy(at, fis, len);
}

void SimAhci::fatal(unsigned p, uint32_t bit) {
    Port& q = ports_[p];
    q.stalled = true;
    q.ncq_pending = 0; // the device is reset by error recovery
    raise(p, bit);
}

void SimAhci::d2h(unsigned p, uint8_t status, uint8_t error, bool interrupt, bool signature) {
    Port& q = ports_[p];
    RegisterD2hFis f{};
    f.type = fis_type::kRegisterD2h;
    f.flags = interrupt ? fis_flag::kInterrupt : 0;
    f.status = status;
    f.error = error;
    if (signature) { // PxSIG bytes: count, LBA low, LBA mid, LBA high
        f.count = static_cast<uint8_t>(q.sig);
        f.lba0 = static_cast<uint8_t>(q.sig >> 8);
        f.lba1 = static_cast<uint8_t>(q.sig >> 16);
        f.lba2 = static_cast<uint8_t>(q.sig >> 24);
    }
    q.tfd = status | uint32_t{error} << tfd::kErrShift;
    write_fis(p, rfis::kRfis, &f, sizeof f);
    uint32_t bits = interrupt ? pis::kDhrs : 0;
    if (status & tfd::kStsErr && !signature) {
        bits |= pis::kTfes; // §6.1.4: the port stops; PxCI keeps the slot
        q.stalled = true;
        q.ncq_pending = 0;
    }
    if (bits) raise(p, bits);
}

void SimAhci::pio_setup(unsigned p, uint8_t e_status, uint16_t bytes) {
    PioSetupFis f{};
    f.type = fis_type::kPioSetup;
    f.flags = fis_flag::kInterrupt | fis_flag::kDirection;
    f.status = 0x58; // DRDY | DSC | DRQ during the data block
    f.e_status = e_status;
    f.transfer_count = bytes;
    write_fis(p, rfis::kPsfis, &f, sizeof f);
    ports_[p].tfd = e_status;
    raise(p, pis::kPss);
}

void SimAhci::abort_command(unsigned p, uint8_t error, uint8_t status) {
    if (clear_ci_on_error) finish(p, (ports_[p].cmd & pcmd::kCcsMask) >> pcmd::kCcsShift);
    d2h(p, status, error);
}

void SimAhci::finish(unsigned p, unsigned slot) {
    ports_[p].ci &= ~(1u << slot);
    ports_[p].started &= ~(1u << slot);
}

void SimAhci::sdb(unsigned p, uint32_t tags) {
    Port& q = ports_[p];
    SetDeviceBitsFis f{};
    f.type = fis_type::kSetDeviceBits;
    f.flags = fis_flag::kInterrupt;
    f.status = 0x40 & kSdbStatusMask;
    f.protocol = tags;
    write_fis(p, rfis::kSdbfis, &f, sizeof f);
    q.sact &= ~tags; // §3.3.13: the SDB FIS clears the completed tags
    q.tfd = (q.tfd & ~uint32_t{kSdbStatusMask}) | f.status;
    raise(p, pis::kSdbs);
}

void SimAhci::process(unsigned p) {
    Port& q = ports_[p];
    for (unsigned slot = 0; slot < 32 && !q.stalled; ++slot) {
        const uint32_t bit = 1u << slot;
        if ((q.ci & bit) && !(q.started & bit)) execute(p, slot);
    }
}

void SimAhci::complete_held(unsigned p) {
    Port& q = ports_[p];
    for (unsigned slot = 0; slot < 32 && !q.stalled; ++slot)
        if (q.held & (1u << slot)) {
            q.held &= ~(1u << slot);
            execute(p, slot, true);
        }
}

bool SimAhci::transfer(unsigned p, unsigned slot, const CommandHeader& h, uint8_t* data,
                       uint64_t bytes, bool to_memory) {
    Port& q = ports_[p];
    const uint64_t table = command_table_address(h);
    const uint32_t entries = hdr::prdtl(h.dw0);
    if (bool(h.dw0 & hdr::kW) == to_memory && bytes) ++w_bit_mismatches;
    uint64_t done = 0;
    bool dps = false;
    for (uint32_t i = 0; i < entries && done < bytes; ++i) {
        uint8_t* e = bus(p, table + kPrdtOffset + 16ull * i, 16, false, SimAhciAccess::What::Prdt);
        if (!e) {
            fatal(p, pis::kHbfs);
            return false;
        }
        PrdtEntry pe;
        std::memcpy(&pe, e, sizeof pe);
        const uint64_t n = std::min<uint64_t>(prd::byte_count(pe.dw3), bytes - done);
        uint8_t* buf = bus(p, data_address(pe), n, to_memory, SimAhciAccess::What::Data);
        if (!buf) {
            fatal(p, pis::kHbfs);
            return false;
        }
        if (to_memory) std::memcpy(buf, data + done, n);
        else std::memcpy(data + done, buf, n);
        done += n;
        if ((pe.dw3 & prd::kInterrupt) && n == prd::byte_count(pe.dw3)) dps = true;
    }
    // §4.2.2: PRDBC counts the bytes moved; written back to the header.
    if (uint8_t* bc = bus(p, clb64(q) + 32ull * slot + 4, 4, true, SimAhciAccess::What::Prdbc)) {
        const uint32_t v = static_cast<uint32_t>(done);
        std::memcpy(bc, &v, 4);
    }
    if (dps) raise(p, pis::kDps);
    if (done < bytes) { // §6.1.3: the PRDT ran out before the data did
        fatal(p, pis::kOfs);
        return false;
    }
    return true;
}

void SimAhci::execute(unsigned p, unsigned slot, bool release) {
    Port& q = ports_[p];
    const uint32_t bit = 1u << slot;
    q.started |= bit;
    q.cmd = (q.cmd & ~pcmd::kCcsMask) | (slot << pcmd::kCcsShift);
    uint8_t* hp = bus(p, clb64(q) + 32ull * slot, 32, false, SimAhciAccess::What::CommandHeader);
    if (!hp) return fatal(p, pis::kHbfs);
    CommandHeader h;
    std::memcpy(&h, hp, sizeof h);
    const uint32_t cfl = hdr::cfl(h.dw0);
    uint8_t* tp = bus(p, command_table_address(h), kPrdtOffset, false,
                      SimAhciAccess::What::CommandTable);
    if (!tp) return fatal(p, pis::kHbfs);
    CommandTableHeader t{};
    std::memcpy(t.cfis, tp, std::min<uint32_t>(cfl, hdr::kCflMax) * 4);
    std::memcpy(t.acmd, tp + 0x40, sizeof t.acmd);
    if (cfl < 5 || cfl > hdr::kCflMax || t.cfis[0] != fis_type::kRegisterH2d) {
        ++bad_command_fis; // as QEMU: never completed, PxCI keeps the slot
        return;
    }
    const uint8_t* f = t.cfis;
    SimSataDevice& dev = q.dev;
    if (!(f[1] & fis_flag::kH2dCommand)) { // device control (SRST, §10.4.1)
        const bool srst = f[15] & kControlSrst;
        finish(p, slot);
        if (!srst && q.srst) d2h(p, dev.kind == SimSataKind::Atapi ? 0x00 : kReady, 0x01, false, true);
        q.srst = srst;
        return;
    }
    if (dev.kind == SimSataKind::None) return fatal(p, pis::kIfs);
    const uint8_t op = f[2];
    const OpInfo info = op_info(op);
    if (hold_commands && !release && info.op != Op::Ncq) {
        q.held |= bit;
        return;
    }
    dev.commands.push_back(op);
    const bool atapi = dev.kind == SimSataKind::Atapi;
    const uint64_t lba = info.ext ? (uint64_t{f[4]} | uint64_t{f[5]} << 8 | uint64_t{f[6]} << 16 |
                                     uint64_t{f[8]} << 24 | uint64_t{f[9]} << 32 |
                                     uint64_t{f[10]} << 40)
                                  : (uint64_t{f[4]} | uint64_t{f[5]} << 8 | uint64_t{f[6]} << 16 |
                                     uint64_t{f[7] & 0xfu} << 24);
    uint32_t count = info.ext ? (uint32_t{f[12]} | uint32_t{f[13]} << 8) : f[12];
    if (count == 0) count = info.ext ? 65536 : 256;

    switch (info.op) {
    case Op::DmaIn: case Op::DmaOut: case Op::PioIn: case Op::PioOut: {
        if (atapi) return abort_command(p, kAbrt);
        if (lba + count > dev.sectors()) return abort_command(p, kIdnf | kAbrt);
        const bool in = info.op == Op::DmaIn || info.op == Op::PioIn;
        const bool pio = info.op == Op::PioIn || info.op == Op::PioOut;
        if (pio) pio_setup(p, kReady, static_cast<uint16_t>(std::min<uint32_t>(count * 512, 0xfe00)));
        if (!transfer(p, slot, h, dev.platter.data() + lba * 512, uint64_t{count} * 512, in)) return;
        finish(p, slot);
        return d2h(p, kReady, 0);
    }
    case Op::Ncq: {
        if (atapi || !dev.ncq_supported) return abort_command(p, kAbrt);
        const uint8_t tag = f[12] >> 3;
        uint32_t n = uint32_t{f[3]} | uint32_t{f[11]} << 8;
        if (n == 0) n = 65536;
        if (q.ncq_pending & (1u << tag)) return abort_command(p, kAbrt); // tag in use
        if (lba + n > dev.sectors()) return abort_command(p, kIdnf | kAbrt);
        q.ncq[tag] = {lba, n, op == 0x61};
        q.ncq_pending |= 1u << tag;
        finish(p, slot);
        return d2h(p, 0x40, 0, false); // BSY clear: the command is queued
    }
    case Op::Identify: case Op::IdentifyPacket: {
        if (atapi != (info.op == Op::IdentifyPacket)) {
            // ATA8-ACS §7.16: IDENTIFY DEVICE to a PACKET device aborts (and
            // vice versa for IDENTIFY PACKET DEVICE).
            return abort_command(p, kAbrt);
        }
        uint8_t id[512] = {};
        if (atapi) {
            put_word(id, 0, 0x85c0); // ATAPI, CD-ROM, 12-byte packets
            put_string(id, 27, 20, "SHADOWVISOR SIM ATAPI");
        } else {
            identify_disk(p, id);
        }
        pio_setup(p, kReady, 512);
        if (!transfer(p, slot, h, id, sizeof id, true)) return;
        finish(p, slot);
        return d2h(p, atapi ? 0x00 : kReady, 0);
    }
    case Op::Packet: {
        if (!atapi) return abort_command(p, kAbrt);
        const uint8_t* cdb = t.acmd;
        if (cdb[0] == 0x28) { // READ(10): big-endian LBA 2..5, blocks 7..8
            const uint64_t b = uint64_t{cdb[2]} << 24 | uint64_t{cdb[3]} << 16 |
                               uint64_t{cdb[4]} << 8 | cdb[5];
            const uint32_t n = uint32_t{cdb[7]} << 8 | cdb[8];
            if ((b + n) * kAtapiBlock > dev.platter.size()) return abort_command(p, 0x54);
            if (!transfer(p, slot, h, dev.platter.data() + b * kAtapiBlock,
                          uint64_t{n} * kAtapiBlock, true))
                return;
        } else if (cdb[0] != 0x00) { // TEST UNIT READY passes, the rest: ILLEGAL REQUEST
            return abort_command(p, 0x54);
        }
        finish(p, slot);
        return d2h(p, 0x40, 0);
    }
    case Op::SetMultiple:
        q.multiple = f[12];
        finish(p, slot);
        return d2h(p, kReady, 0);
    case Op::NonData:
        if (atapi && op != 0x08 && op != 0x90 && op != 0xef) return abort_command(p, kAbrt);
        finish(p, slot);
        return d2h(p, atapi ? 0x00 : kReady, 0);
    case Op::Unknown: break;
    }
    abort_command(p, kAbrt);
}

void SimAhci::complete_ncq(unsigned p, const std::vector<unsigned>& tags, bool one_sdb) {
    Port& q = ports_[p];
    uint32_t done = 0;
    for (unsigned tag : tags) {
        const uint32_t bit = 1u << tag;
        if (tag >= 32 || !(q.ncq_pending & bit) || q.stalled) continue;
        const Port::Queued c = q.ncq[tag];
        // SATA 3.x §13.6.4.2: DMA Setup FIS names the tag; the HBA indexes
        // its command list with it (AHCI 1.3.1 §9.3.1.1.2).
        DmaSetupFis ds{};
        ds.type = fis_type::kDmaSetup;
        ds.flags = static_cast<uint8_t>(fis_flag::kAutoActivate | (c.write ? 0 : fis_flag::kDirection));
        ds.buffer_id_low = tag;
        ds.transfer_count = c.sectors * 512;
        write_fis(p, rfis::kDsfis, &ds, sizeof ds);
        uint8_t* hp = bus(p, clb64(q) + 32ull * tag, 32, false, SimAhciAccess::What::CommandHeader);
        if (!hp) return fatal(p, pis::kHbfs);
        CommandHeader h;
        std::memcpy(&h, hp, sizeof h);
        if (!transfer(p, tag, h, q.dev.platter.data() + c.lba * 512, uint64_t{c.sectors} * 512,
                      !c.write))
            return;
        q.ncq_pending &= ~bit;
        if (one_sdb) done |= bit;
        else sdb(p, bit);
    }
    if (done) sdb(p, done);
}

void SimAhci::complete_all_ncq(unsigned p, Order order, uint32_t seed) {
    std::vector<unsigned> tags;
    for (unsigned t = 0; t < 32; ++t)
        if (ports_[p].ncq_pending & (1u << t)) tags.push_back(t);
    if (order == Order::Reversed) std::reverse(tags.begin(), tags.end());
    if (order == Order::Random) std::shuffle(tags.begin(), tags.end(), std::mt19937(seed));
    complete_ncq(p, tags);
}

void SimAhci::identify_disk(unsigned p, uint8_t (&id)[512]) const {
    const SimSataDevice& d = ports_[p].dev;
    const uint64_t n = d.sectors();
    put_word(id, 0, 0x0040);
    put_string(id, 10, 10, "SVSIM0001");
    put_string(id, 23, 4, "1.0");
    put_string(id, 27, 20, "SHADOWVISOR SIM AHCI DISK");
    put_word(id, 47, 0x8010);           // READ/WRITE MULTIPLE: up to 16 sectors
    put_word(id, 49, 0x0300);           // LBA, DMA
    put_word(id, 53, 0x0006);
    put_word(id, 60, static_cast<uint16_t>(std::min<uint64_t>(n, 0x0fffffff)));
    put_word(id, 61, static_cast<uint16_t>(std::min<uint64_t>(n, 0x0fffffff) >> 16));
    put_word(id, 75, 31);               // queue depth - 1
    put_word(id, 76, static_cast<uint16_t>((d.ncq_supported ? 1u << 8 : 0) | 0x2)); // Gen 1
    put_word(id, 80, 0x00f0);           // ATA8-ACS
    put_word(id, 83, (1u << 14) | (1u << 10)); // LBA48 supported
    put_word(id, 86, 1u << 10);         // LBA48 enabled
    put_word(id, 88, 0x203f);           // UDMA 5 selected
    for (unsigned i = 0; i < 4; ++i) put_word(id, 100 + i, static_cast<uint16_t>(n >> (16 * i)));
    put_word(id, 169, d.trim_supported ? 1 : 0);
    // Integrity word (ATA8-ACS §7.16.7.91): A5h, checksum making the sum zero.
    id[510] = 0xa5;
    uint8_t sum = 0;
    for (unsigned i = 0; i < 511; ++i) sum = static_cast<uint8_t>(sum + id[i]);
    id[511] = static_cast<uint8_t>(-sum);
}

} // namespace svtest
