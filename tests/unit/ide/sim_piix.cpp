// Simulated PIIX IDE channel + ATA disk for the mediator tests (see sim_piix.hpp).
// Behaviour follows ATA8-ACS / ATA8-APT (task file FIFOs with HOB, BSY/DRQ/ERR,
// NOP -> ABRT, PIO DRQ blocks, INTRQ) and SFF-8038i (bus master START/ACTIVE/
// INTERRUPT/ERROR, PRD walk at the PRD register).
#include "ide/sim_piix.hpp"

#include <algorithm>
#include <cstring>

namespace svtest {
namespace {
constexpr uint8_t kBsy = 0x80, kDrdy = 0x40, kDrq = 0x08, kErr = 0x01;
constexpr uint8_t kAbrt = 0x04, kIdnf = 0x10;
constexpr uint8_t kNien = 0x02, kSrst = 0x04, kHob = 0x80;
constexpr uint8_t kBmStart = 0x01, kBmToMem = 0x08;
constexpr uint8_t kBmActive = 0x01, kBmError = 0x02, kBmIntr = 0x04;
} // namespace

uint8_t* SimPhysMemory::phys(uint64_t addr, uint64_t len) {
    if (addr + len < addr) return nullptr;
    if (addr + len <= ram_.size()) return ram_.data() + addr;
    if (in_dma_region(addr, len)) return dma_.data() + (addr - dma_base_);
    return nullptr;
}

uint8_t* SimGuestMemory::map(uint64_t gpa, uint64_t len) {
    ++maps;
    if (len == 0 || gpa + len < gpa || gpa + len > m_.ram_size()) return nullptr;
    return m_.ram(gpa);
}

sv::Result<sv::DmaBuffer> SimDmaAllocator::allocate(size_t bytes, size_t align) {
    if (fail) return sv::fail(sv::Error::OutOfMemory);
    uint64_t at = (next_ + align - 1) & ~uint64_t(align - 1);
    if (at + bytes > m_.dma_base() + m_.dma_size()) return sv::fail(sv::Error::OutOfMemory);
    next_ = at + bytes;
    ++allocations;
    uint8_t* host = m_.phys(at, bytes);
    std::memset(host, 0, bytes);
    return sv::DmaBuffer{host, at, bytes};
}

SimPiix::SimPiix(SimPhysMemory& mem, uint64_t sectors, Ports p)
    : platter(sectors * 512), ports(p), mem_(mem), sectors_(sectors) {}

uint32_t SimPiix::in(uint16_t port, uint8_t size) {
    if (port == ports.cmd) { // data port: 16- or 32-bit
        uint16_t lo = 0xffff, hi = 0xffff;
        data_word_in(lo);
        if (size == 4) data_word_in(hi);
        return size == 4 ? (uint32_t{hi} << 16 | lo) : lo;
    }
    uint32_t v = 0;
    for (uint8_t i = 0; i < size; ++i) {
        const uint16_t p = static_cast<uint16_t>(port + i);
        uint8_t b = 0xff;
        if (p > ports.cmd && p < ports.cmd + 8) b = reg_read(static_cast<uint8_t>(p - ports.cmd));
        else if (p == ports.ctl) b = status_;
        else if (p == ports.bm) b = bm_cmd_;
        else if (p == ports.bm + 2) b = bm_status_;
        else if (p >= ports.bm + 4 && p < ports.bm + 8) b = static_cast<uint8_t>(prd_ >> (8 * (p - ports.bm - 4)));
        v |= uint32_t{b} << (8 * i);
    }
    return v;
}

void SimPiix::out(uint16_t port, uint8_t size, uint32_t value) {
    if (port == ports.cmd) {
        data_word_out(static_cast<uint16_t>(value));
        if (size == 4) data_word_out(static_cast<uint16_t>(value >> 16));
        return;
    }
    for (uint8_t i = 0; i < size; ++i) {
        const uint16_t p = static_cast<uint16_t>(port + i);
        const uint8_t b = static_cast<uint8_t>(value >> (8 * i));
        if (p > ports.cmd && p < ports.cmd + 8) {
            reg_write(static_cast<uint8_t>(p - ports.cmd), b);
        } else if (p == ports.ctl) {
            const bool was_reset = devctl_ & kSrst;
            devctl_ = b;
            if (b & kSrst) status_ = kBsy;
            if (was_reset && !(b & kSrst)) { // ATA8-APT §11.2: signature, ready
                status_ = kDrdy;
                error_ = 1;
                phase_ = Phase::Idle;
                fifo_[2][0] = fifo_[3][0] = 1;
                fifo_[4][0] = fifo_[5][0] = 0;
            }
        } else if (p == ports.bm) {
            const bool was = bm_cmd_ & kBmStart;
            bm_cmd_ = b & (kBmStart | kBmToMem);
            if (!was && (b & kBmStart)) {
                bm_status_ |= kBmActive;
                if (phase_ == Phase::Dma) run_dma();
                else ++idle_starts;
            } else if (was && !(b & kBmStart)) {
                bm_status_ &= static_cast<uint8_t>(~kBmActive);
            }
        } else if (p == ports.bm + 2) {
            bm_status_ = static_cast<uint8_t>((bm_status_ & ~(b & (kBmError | kBmIntr)) & ~0x60) | (b & 0x60));
        } else if (p >= ports.bm + 4 && p < ports.bm + 8) {
            const unsigned sh = 8 * (p - ports.bm - 4);
            prd_ = ((prd_ & ~(0xffu << sh)) | uint32_t{b} << sh) & ~3u;
        }
    }
}

uint8_t SimPiix::reg_read(uint8_t off) {
    switch (off) {
    case 1: return error_;
    case 2: case 3: case 4: case 5: return fifo_[off][(devctl_ & kHob) ? 1 : 0];
    case 6: return device_;
    case 7: intrq = false; return status_;
    }
    return 0xff;
}

void SimPiix::reg_write(uint8_t off, uint8_t v) {
    devctl_ &= static_cast<uint8_t>(~kHob); // ATA8-APT: any command block write clears HOB
    if (off >= 1 && off <= 5) {
        fifo_[off][1] = fifo_[off][0];
        fifo_[off][0] = v;
    } else if (off == 6) {
        device_ = v;
    } else if (off == 7) {
        execute(v);
    }
}

uint64_t SimPiix::lba(bool lba48) const {
    uint64_t l = uint64_t{fifo_[5][0]} << 16 | uint64_t{fifo_[4][0]} << 8 | fifo_[3][0];
    if (!lba48) return l | uint64_t(device_ & 0x0f) << 24;
    return l | uint64_t{fifo_[5][1]} << 40 | uint64_t{fifo_[4][1]} << 32 | uint64_t{fifo_[3][1]} << 24;
}

uint32_t SimPiix::count(bool lba48) const {
    uint32_t c = fifo_[2][0];
    if (!lba48) return c ? c : 256;
    c |= uint32_t{fifo_[2][1]} << 8;
    return c ? c : 65536;
}

void SimPiix::raise_irq() {
    if (!(devctl_ & kNien)) {
        intrq = true;
        bm_status_ |= kBmIntr; // SFF-8038i §2.1.2: set by the INTRQ rising edge
    }
}

void SimPiix::complete(uint8_t err) {
    phase_ = Phase::Idle;
    error_ = err;
    status_ = static_cast<uint8_t>(kDrdy | (err ? kErr : 0));
    raise_irq();
}

void SimPiix::execute(uint8_t op) {
    if (status_ & kBsy) return;
    commands.push_back(op);
    identify_ = false;
    const bool ext = op == 0x24 || op == 0x25 || op == 0x29 || op == 0x34 || op == 0x35 ||
                     op == 0x39 || op == 0x3d || op == 0xce;
    const bool rd = op == 0x20 || op == 0x24 || op == 0xc4 || op == 0x29 || op == 0xc8 || op == 0x25;
    const bool wr = op == 0x30 || op == 0x34 || op == 0xc5 || op == 0x39 || op == 0xce ||
                    op == 0xca || op == 0x35 || op == 0x3d;
    const bool dma = op == 0xc8 || op == 0x25 || op == 0xca || op == 0x35 || op == 0x3d;
    const bool mult = op == 0xc4 || op == 0x29 || op == 0xc5 || op == 0x39 || op == 0xce;
    if ((rd || wr) && atapi) return complete(kAbrt); // packet devices abort ATA data commands
    if (rd || wr) {
        xfer_lba_ = lba(ext);
        xfer_left_ = count(ext);
        if (!(device_ & 0x40) || xfer_lba_ + xfer_left_ > sectors_) return complete(kIdnf | kAbrt);
        if (mult && multiple == 0) return complete(kAbrt);
        if (dma) {
            dma_to_mem_ = rd;
            dma_pos_ = xfer_lba_ * 512;
            dma_bytes_ = uint64_t{xfer_left_} * 512;
            phase_ = Phase::Dma;
            status_ = kDrdy | kDrq;
            if (bm_cmd_ & kBmStart) run_dma();
            return;
        }
        block_ = mult ? multiple : 1;
        return start_pio(rd, block_);
    }
    if (op == 0xa0 && atapi) { // PACKET: DRQ for the 12-byte CDB
        packet_cdb_ = true;
        phase_ = Phase::PioOut;
        buf_.assign(12, 0);
        buf_pos_ = 0;
        status_ = kDrdy | kDrq;
        return;
    }
    switch (op) {
    case 0xec: identify_ = true; xfer_left_ = 1; return start_pio(true, 1);
    case 0xa1: // IDENTIFY PACKET DEVICE: ATA8-ACS §7.17, aborted by non-packet devices
        if (!atapi) return complete(kAbrt);
        identify_ = true;
        xfer_left_ = 1;
        return start_pio(true, 1);
    case 0xc6: {
        const uint8_t n = fifo_[2][0];
        if (n > 16 || (n & (n - 1))) return complete(kAbrt);
        multiple = n;
        return complete();
    }
    case 0xef: case 0xe7: case 0xea: case 0xe0: case 0xe1: case 0xe2: case 0xe3: case 0xe5:
    case 0xf8: case 0x27: case 0x40: case 0x42: case 0x91: case 0x10: case 0x90: case 0x08:
        return complete();
    default: return complete(kAbrt); // NOP (00h) included: ATA8-ACS §7.19
    }
}

void SimPiix::start_pio(bool in, uint32_t block) {
    block_ = block;
    phase_ = in ? Phase::PioIn : Phase::PioOut;
    load_block();
    status_ = kDrdy | kDrq;
    if (in) raise_irq(); // data-in: INTRQ per block; data-out: none before the first
}

void SimPiix::load_block() {
    const uint32_t n = std::min(block_, xfer_left_);
    buf_pos_ = 0;
    if (identify_) {
        buf_.assign(512, 0);
        auto w = [&](unsigned i, uint16_t v) { buf_[2 * i] = uint8_t(v); buf_[2 * i + 1] = uint8_t(v >> 8); };
        w(0, atapi ? 0x85c0 : 0x0040); // ATAPI: word 0 bits 15:14 = 10b (§7.17.7.1)
        w(47, 0x8010);
        w(49, 0x0300);
        w(60, uint16_t(std::min<uint64_t>(sectors_, 0x0fffffff)));
        w(61, uint16_t(std::min<uint64_t>(sectors_, 0x0fffffff) >> 16));
        w(83, 0x4400);
        w(86, 0x0400);
        for (unsigned i = 0; i < 4; ++i) w(100 + i, uint16_t(sectors_ >> (16 * i)));
        w(169, trim_supported ? 1 : 0);
        buf_[510] = 0xa5;
        uint8_t sum = 0;
        for (unsigned i = 0; i < 511; ++i) sum = uint8_t(sum + buf_[i]);
        buf_[511] = uint8_t(-sum);
    } else if (phase_ == Phase::PioIn) {
        buf_.assign(platter.begin() + xfer_lba_ * 512, platter.begin() + (xfer_lba_ + n) * 512);
    } else {
        buf_.assign(n * 512, 0);
    }
}

void SimPiix::data_word_in(uint16_t& w) {
    if (phase_ != Phase::PioIn || !(status_ & kDrq)) return;
    w = uint16_t(buf_[buf_pos_] | buf_[buf_pos_ + 1] << 8);
    buf_pos_ += 2;
    if (buf_pos_ < buf_.size()) return;
    const uint32_t n = std::min(block_, xfer_left_);
    xfer_left_ -= n;
    xfer_lba_ += n;
    if (xfer_left_) {
        load_block();
        raise_irq();
    } else {
        phase_ = Phase::Idle;
        status_ = kDrdy;
    }
}

void SimPiix::data_word_out(uint16_t w) {
    if (phase_ != Phase::PioOut || !(status_ & kDrq)) {
        ++stray_data_writes;
        return;
    }
    buf_[buf_pos_] = uint8_t(w);
    buf_[buf_pos_ + 1] = uint8_t(w >> 8);
    buf_pos_ += 2;
    if (buf_pos_ < buf_.size()) return;
    if (packet_cdb_) {
        packet_cdb_ = false;
        const bool dma = fifo_[1][0] & 1;
        if ((buf_[0] != 0x28 && buf_[0] != 0x2a) || !dma) return complete(kAbrt);
        const uint64_t blk = uint64_t{buf_[2]} << 24 | buf_[3] << 16 | buf_[4] << 8 | buf_[5];
        const uint64_t n = uint64_t{buf_[7]} << 8 | buf_[8];
        if ((blk + n) * 2048 > platter.size()) return complete(kAbrt);
        dma_to_mem_ = buf_[0] == 0x28;
        dma_pos_ = blk * 2048;
        dma_bytes_ = n * 2048;
        phase_ = Phase::Dma;
        if (bm_cmd_ & kBmStart) run_dma();
        return;
    }
    std::copy(buf_.begin(), buf_.end(), platter.begin() + xfer_lba_ * 512);
    const uint32_t n = std::min(block_, xfer_left_);
    xfer_left_ -= n;
    xfer_lba_ += n;
    if (xfer_left_) {
        load_block();
        raise_irq();
    } else {
        complete();
    }
}

void SimPiix::run_dma() {
    const bool to_mem = dma_to_mem_;
    SimDmaRun run{prd_, to_mem, 0, true};
    if (bool(bm_cmd_ & kBmToMem) != to_mem) { // direction mismatch: the transfer cannot happen
        bm_status_ = uint8_t((bm_status_ & ~kBmActive) | kBmError);
        dma_runs.push_back(run);
        return complete(kAbrt);
    }
    uint64_t left = dma_bytes_, pos = dma_pos_;
    bool exact = false, fault = false;
    for (uint32_t i = 0; i < 8192 && !fault; ++i) {
        const uint8_t* e = mem_.phys(uint64_t{prd_} + 8ull * i, 8);
        if (!e) { fault = true; break; }
        uint32_t base, flags;
        std::memcpy(&base, e, 4);
        std::memcpy(&flags, e + 4, 4);
        const uint64_t cnt = (flags & 0xffff) ? (flags & 0xffff) : 0x10000;
        uint8_t* region = mem_.phys(base, cnt);
        if (!region) { fault = true; break; }
        run.all_in_dma_region &= mem_.in_dma_region(base, cnt);
        const uint64_t take = std::min(cnt, left);
        if (take) {
            run.touched_lo = std::min<uint64_t>(run.touched_lo, base);
            run.touched_hi = std::max<uint64_t>(run.touched_hi, uint64_t{base} + take);
        }
        if (to_mem) std::memcpy(region, platter.data() + pos, take);
        else std::memcpy(platter.data() + pos, region, take);
        pos += take;
        left -= take;
        run.bytes += take;
        if (flags & 0x80000000u) { exact = take == cnt; break; }
        if (!left) break;
    }
    dma_runs.push_back(run);
    if (fault || left) { // master abort or PRD shorter than the transfer
        bm_status_ = uint8_t((bm_status_ & ~kBmActive) | kBmError);
        return complete(kAbrt);
    }
    if (exact) bm_status_ &= uint8_t(~kBmActive); // else: PRD longer, ACTIVE stays
    complete();
}

} // namespace svtest
