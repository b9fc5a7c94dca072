// PIO data port of the IDE mediator (ATA8-APT §11.6 PIO data-in/data-out
// protocols). The guest may read or write the data port in any chunking
// (16- or 32-bit IN/OUT, `rep insw/outsw` of part of a sector or of many
// sectors): the mediator keeps one 512-byte sector buffer. Reads pull a whole
// sector from the device, decrypt it (tweak = its LBA) and feed the guest;
// writes collect a whole sector, encrypt it and push it to the device. A
// partial sector is never sent, so no plaintext reaches the device.
#include "devices/storage/ide/ide_channel.hpp"

namespace sv::ide {

void IdeChannel::learn_packet_device(bool data_phase_seen) {
    // ATA8-ACS §7.17.7.1 IDENTIFY PACKET DEVICE word 0: bit 15 = 1, bit 14 = 0
    // for an ATAPI device. An ATA device aborts the command (no DRQ), so its
    // data port gives no such block: only a real packet device is learned.
    constexpr uint8_t kWord0HighMask = 0xc0, kWord0HighAtapi = 0x80;
    if (data_phase_seen && (pio_sector_[1] & kWord0HighMask) == kWord0HighAtapi)
        packet_device_seen_[cmd_device_] = true;
}

void IdeChannel::pio_pull_sector() {
    const uint16_t data = cmd_port(CmdReg::Data);
    // IDENTIFY PACKET DEVICE: the block must come from a data-in phase of the
    // device the command went to (Alternate Status: DRQ, no BSY/ERR).
    bool data_phase_seen = false;
    if (pio_mode_ == PioMode::IdentifyPacket && ports_.control != 0 && selected_device() == cmd_device_) {
        const uint8_t alt = static_cast<uint8_t>(io_.in(ports_.control, 1));
        data_phase_seen = (alt & (status::kBsy | status::kDrq | status::kErr | status::kDf)) == status::kDrq;
    }
    for (uint32_t i = 0; i < kSectorSize; i += 2) {
        const uint32_t w = io_.in(data, 2);
        pio_sector_[i] = static_cast<uint8_t>(w);
        pio_sector_[i + 1] = static_cast<uint8_t>(w >> 8);
    }
    if (pio_mode_ == PioMode::Identify) {
        hide_trim_support(pio_sector_);
    } else if (pio_mode_ == PioMode::IdentifyPacket) {
        learn_packet_device(data_phase_seen);
    } else if (xts_) {
        if (cipher_.crypt(nullptr, pio_sector_, pio_sector_, kSectorSize, pio_lba_, false)) {
            stats_.bytes_decrypted += kSectorSize;
        } else {
            reject(Reject::CryptoFailed);
            for (uint8_t& b : pio_sector_) b = 0;
        }
    } else {
        stats_.bytes_copied += kSectorSize;
    }
    ++pio_lba_;
    --pio_sectors_left_;
    pio_pos_ = 0;
    pio_len_ = kSectorSize;
}

void IdeChannel::pio_read(uint8_t* dst, size_t n) {
    while (n) {
        if (pio_mode_ == PioMode::WriteUserData || pio_pos_ == pio_len_) {
            if (pio_mode_ == PioMode::WriteUserData || pio_sectors_left_ == 0) {
                // Past the transfer (or reading during a data-out command):
                // the device has no data-in block, its answer is no user data.
                for (; n; --n) *dst++ = static_cast<uint8_t>(io_.in(cmd_port(CmdReg::Data), 1));
                return;
            }
            pio_pull_sector();
        }
        const uint32_t avail = pio_len_ - pio_pos_;
        const uint32_t take = n < avail ? static_cast<uint32_t>(n) : avail;
        for (uint32_t i = 0; i < take; ++i) dst[i] = pio_sector_[pio_pos_ + i];
        pio_pos_ += take;
        dst += take;
        n -= take;
    }
}

void IdeChannel::pio_push_sector() {
    if (xts_) {
        if (cipher_.crypt(nullptr, pio_sector_, pio_sector_, kSectorSize, pio_lba_, true)) {
            stats_.bytes_encrypted += kSectorSize;
        } else { // fail closed: zeros, never the plaintext
            reject(Reject::CryptoFailed);
            for (uint8_t& b : pio_sector_) b = 0;
            fake_ata_error_ = true;
        }
    } else {
        stats_.bytes_copied += kSectorSize;
    }
    const uint16_t data = cmd_port(CmdReg::Data);
    for (uint32_t i = 0; i < kSectorSize; i += 2)
        io_.out(data, 2, uint32_t{pio_sector_[i]} | uint32_t{pio_sector_[i + 1]} << 8);
    ++pio_lba_;
    --pio_sectors_left_;
    pio_pos_ = 0;
}

void IdeChannel::pio_write(const uint8_t* src, size_t n) {
    if (pio_mode_ != PioMode::WriteUserData) {
        // Data-out during a data-in command: a protocol error. Forwarding
        // could only hand the device guest bytes it does not expect; drop.
        stats_.pio_bytes_dropped += n;
        return;
    }
    while (n) {
        if (pio_sectors_left_ == 0) { // beyond the transfer: drop, never forward
            stats_.pio_bytes_dropped += n;
            return;
        }
        const uint32_t room = kSectorSize - pio_pos_;
        const uint32_t take = n < room ? static_cast<uint32_t>(n) : room;
        for (uint32_t i = 0; i < take; ++i) pio_sector_[pio_pos_ + i] = src[i];
        pio_pos_ += take;
        src += take;
        n -= take;
        if (pio_pos_ == kSectorSize) pio_push_sector();
    }
}

} // namespace sv::ide
