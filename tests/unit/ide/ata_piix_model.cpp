// Linux ata_piix register sequences for the mediator tests (see ata_piix_model.hpp).
// Sequence per DMA command (drivers/ata/libata-sff.c):
//   ata_bmdma_qc_issue: ata_dev_select(wait): status; device write; altstatus; status
//     sff_tf_load: [ctl if changed] task file writes; ata_wait_idle: status
//     ata_bmdma_setup: PRD pointer write; bm cmd read; bm cmd write; command write;
//       ata_sff_pause: altstatus
//     ata_bmdma_start: bm cmd read; bm cmd write START
//   interrupt, ata_bmdma_port_intr: bm status read; ata_bmdma_stop: bm cmd read,
//     bm cmd write, altstatus; __ata_sff_port_intr: altstatus, status;
//     ata_bmdma_irq_clear: bm status read + write.
#include "ide/ata_piix_model.hpp"

#include <algorithm>

namespace svtest {
namespace {
constexpr uint8_t kBsy = 0x80, kDrq = 0x08, kErr = 0x01, kDf = 0x20;
constexpr uint8_t kBmIntr = 0x04, kBmErr = 0x02;
} // namespace

bool TrappedBus::trapped(uint16_t port, uint8_t size) const {
    for (uint8_t i = 0; i < size; ++i)
        if (trapped_.count(uint16_t(port + i))) return true;
    return false;
}

uint32_t TrappedBus::in(uint16_t port, uint8_t size) {
    if (!trapped(port, size)) return dev_.in(port, size);
    ++exits;
    return med_.io_in(port, size);
}

void TrappedBus::out(uint16_t port, uint8_t size, uint32_t value) {
    if (!trapped(port, size)) return dev_.out(port, size, value);
    ++exits;
    med_.io_out(port, size, value);
}

void TrappedBus::ins(uint16_t port, uint8_t size, uint8_t* buf, size_t bytes) {
    if (!trapped(port, size)) {
        for (size_t i = 0; i < bytes; i += size) {
            uint32_t v = dev_.in(port, size);
            for (uint8_t b = 0; b < size; ++b) buf[i + b] = uint8_t(v >> (8 * b));
        }
        return;
    }
    ++exits; // a rep ins exits once, the core emulates the count (docs/design.md §5)
    med_.io_in_string(port, size, std::span<uint8_t>(buf, bytes));
}

void TrappedBus::outs(uint16_t port, uint8_t size, const uint8_t* buf, size_t bytes) {
    if (!trapped(port, size)) {
        for (size_t i = 0; i < bytes; i += size) {
            uint32_t v = 0;
            for (uint8_t b = 0; b < size; ++b) v |= uint32_t{buf[i + b]} << (8 * b);
            dev_.out(port, size, v);
        }
        return;
    }
    ++exits;
    med_.io_out_string(port, size, std::span<const uint8_t>(buf, bytes));
}

void LinuxAtaPiix::init() {
    out8(p_.ctl, 0x08);
    last_ctl_ = 0x08;
    wait_idle();
}

void LinuxAtaPiix::wait_idle() {
    for (int i = 0; i < 1000; ++i) // ata_sff_busy_wait
        if (!(in8(uint16_t(p_.cmd + 7)) & (kBsy | kDrq))) return;
}

void LinuxAtaPiix::dev_select() {
    wait_idle();
    dev_.out(uint16_t(p_.cmd + 6), 1, 0xa0); // untrapped Device register
    in8(p_.ctl);                             // ata_sff_pause
    wait_idle();
}

void LinuxAtaPiix::tf_load(uint64_t lba, uint32_t sectors, bool lba48) {
    const uint8_t ctl = 0x08;
    if (ctl != last_ctl_) {
        out8(p_.ctl, ctl);
        last_ctl_ = ctl;
        wait_idle();
    }
    auto w = [&](unsigned reg, uint8_t v) { dev_.out(uint16_t(p_.cmd + reg), 1, v); };
    if (lba48) {
        w(1, 0);
        w(2, uint8_t(sectors >> 8));
        w(3, uint8_t(lba >> 24));
        w(4, uint8_t(lba >> 32));
        w(5, uint8_t(lba >> 40));
    }
    w(1, 0);
    w(2, uint8_t(sectors));
    w(3, uint8_t(lba));
    w(4, uint8_t(lba >> 8));
    w(5, uint8_t(lba >> 16));
    w(6, uint8_t(device_bits | (lba48 ? 0 : (lba >> 24) & 0x0f)));
    wait_idle();
}

void LinuxAtaPiix::interrupt_dma(Outcome& o) {
    o.irq = dev_.intrq;
    if (!o.irq) return; // libata would time out and run EH
    const uint16_t bm = p_.bm;
    o.bm_status = in8(uint16_t(bm + 2));
    if (!(o.bm_status & kBmIntr)) return; // "not our irq"
    out8(bm, uint8_t(in8(bm) & ~1));        // ata_bmdma_stop
    in8(p_.ctl);                            // ata_sff_dma_pause
    uint8_t st = in8(p_.ctl);               // ata_sff_irq_status: altstatus
    if (!(st & kBsy)) st = in8(uint16_t(p_.cmd + 7));
    o.status = st;
    out8(uint16_t(bm + 2), in8(uint16_t(bm + 2))); // ata_bmdma_irq_clear
    o.ok = !(o.bm_status & kBmErr) && !(st & (kErr | kDf | kBsy | kDrq));
}

Outcome LinuxAtaPiix::dma(bool write, uint64_t lba, uint32_t sectors, bool lba48, uint32_t prd) {
    const unsigned start = bus_.exits;
    Outcome o;
    dev_select();
    tf_load(lba, sectors, lba48);
    // ata_bmdma_setup
    bus_.out(uint16_t(p_.bm + 4), 4, prd);
    uint8_t dmactl = in8(p_.bm);
    dmactl = uint8_t(dmactl & ~(0x08 | 0x01));
    if (!write) dmactl |= 0x08;
    out8(p_.bm, dmactl);
    uint8_t op = lba48 ? (write ? 0x35 : 0x25) : (write ? 0xca : 0xc8);
    if (dma_opcode_override) op = dma_opcode_override;
    out8(uint16_t(p_.cmd + 7), op);
    in8(p_.ctl);
    if (before_start) before_start();
    // ata_bmdma_start
    out8(p_.bm, uint8_t(in8(p_.bm) | 0x01));
    interrupt_dma(o);
    o.exits = bus_.exits - start;
    if (o.status & kErr) o.error = uint8_t(dev_.in(uint16_t(p_.cmd + 1), 1));
    return o;
}

Outcome LinuxAtaPiix::pio(bool write, uint64_t lba, uint32_t sectors, bool lba48, bool multiple,
                          uint8_t* buf, size_t chunk, uint8_t elem) {
    const unsigned start = bus_.exits;
    Outcome o;
    dev_select();
    tf_load(lba, sectors, lba48);
    uint8_t op;
    if (multiple) op = write ? (lba48 ? 0x39 : 0xc5) : (lba48 ? 0x29 : 0xc4);
    else op = write ? (lba48 ? 0x34 : 0x30) : (lba48 ? 0x24 : 0x20);
    out8(uint16_t(p_.cmd + 7), op);
    in8(p_.ctl);
    const size_t total = size_t{sectors} * 512;
    size_t done = 0;
    for (int guard = 0; guard < 1 << 20; ++guard) {
        uint8_t st = in8(p_.ctl);
        if (!(st & kBsy)) st = in8(uint16_t(p_.cmd + 7)); // clears INTRQ
        o.status = st;
        if (st & kErr) break;
        if (!(st & kDrq)) { o.ok = done == total; break; }
        if (done >= total) break; // device wants more than we have: HSM violation
        o.irq = true;
        // One DRQ block: libata moves it sector by sector; the core may split
        // a rep ins anywhere, so feed `chunk`-sized pieces until the device
        // drops DRQ or a block (multiple count) is done.
        const size_t block = (multiple ? dev_.multiple : 1) * size_t{512};
        size_t block_end = std::min(total, (done / block + 1) * block);
        while (done < block_end) {
            size_t n = std::min(chunk, block_end - done);
            n -= n % elem;
            if (write) bus_.outs(p_.cmd, elem, buf + done, n);
            else bus_.ins(p_.cmd, elem, buf + done, n);
            done += n;
        }
    }
    o.exits = bus_.exits - start;
    if (o.status & kErr) o.error = uint8_t(dev_.in(uint16_t(p_.cmd + 1), 1));
    return o;
}

Outcome LinuxAtaPiix::nondata(uint8_t op, uint8_t nsect) {
    Outcome o;
    dev_select();
    dev_.out(uint16_t(p_.cmd + 2), 1, nsect);
    dev_.out(uint16_t(p_.cmd + 6), 1, 0xa0 | device_bits);
    out8(uint16_t(p_.cmd + 7), op);
    in8(p_.ctl);
    o.irq = dev_.intrq;
    o.status = in8(uint16_t(p_.cmd + 7));
    o.ok = !(o.status & (kErr | kBsy | kDrq));
    if (o.status & kErr) o.error = uint8_t(dev_.in(uint16_t(p_.cmd + 1), 1));
    return o;
}

Outcome LinuxAtaPiix::identify(uint8_t* buf, uint8_t op) {
    Outcome o;
    dev_select();
    out8(uint16_t(p_.cmd + 7), op);
    in8(p_.ctl);
    o.status = in8(uint16_t(p_.cmd + 7));
    if (!(o.status & kDrq)) return o;
    bus_.ins(p_.cmd, 2, buf, 512);
    o.status = in8(uint16_t(p_.cmd + 7));
    o.ok = !(o.status & (kErr | kDrq | kBsy));
    return o;
}

} // namespace svtest
