// Command FIS decoder (see command_fis.hpp). Opcode classification reuses the
// ATA allowlist of the IDE mediator (devices/storage/ide/ata_commands.*,
// ATA-generic despite its place), so both buses refuse the same commands;
// only the NCQ opcodes, which exist on SATA alone, are classified here.
#include "devices/storage/ahci/command_fis.hpp"

#include "devices/storage/ahci/ahci_fis.hpp"
#include "devices/storage/ide/ata_commands.hpp"

namespace sv::ahci {
namespace {

uint64_t lba28(const uint8_t* f) {
    return uint64_t{f[4]} | uint64_t{f[5]} << 8 | uint64_t{f[6]} << 16 |
           uint64_t{f[7] & 0x0fu} << 24;
}

uint64_t lba48(const uint8_t* f) {
    return uint64_t{f[4]} | uint64_t{f[5]} << 8 | uint64_t{f[6]} << 16 |
           uint64_t{f[8]} << 24 | uint64_t{f[9]} << 32 | uint64_t{f[10]} << 40;
}

FisCommandKind from_ata(ide::CommandKind k, uint8_t op) {
    using I = ide::CommandKind;
    switch (k) {
    case I::DmaRead: return FisCommandKind::DmaRead;
    case I::DmaWrite: return FisCommandKind::DmaWrite;
    case I::PioRead: return FisCommandKind::PioRead;
    case I::PioWrite: return FisCommandKind::PioWrite;
    case I::Identify: return FisCommandKind::Identify;
    case I::SetMultipleMode: return FisCommandKind::SetMultiple;
    case I::Packet: return FisCommandKind::Packet;
    case I::NonUserData:
        // IDENTIFY PACKET DEVICE has a 512-byte data-in phase (ATA8-ACS §7.17):
        // on AHCI it still moves by DMA through the PRDT.
        return op == ide::opcode::kIdentifyPacketDevice ? FisCommandKind::IdentifyPacket
                                                        : FisCommandKind::NonData;
    case I::Refused: return FisCommandKind::Refused;
    }
    return FisCommandKind::Refused;
}

} // namespace

uint32_t FisCommand::data_bytes() const {
    if (is_user_data(kind)) return sectors * kSectorBytes;
    if (kind == FisCommandKind::Identify || kind == FisCommandKind::IdentifyPacket)
        return kIdentifyBytes;
    return 0;
}

Result<FisCommand> decode_command_fis(std::span<const uint8_t> cfis) {
    if (cfis.size() < kRegisterH2dBytes || cfis[0] != fis_type::kRegisterH2d)
        return fail(Error::Malformed);
    const uint8_t* f = cfis.data();
    FisCommand c;
    c.pm_port = f[1] & fis_flag::kPmPortMask;
    c.control = f[15];
    if (!(f[1] & fis_flag::kH2dCommand)) {
        // SATA 3.x §10.5.5: C = 0 updates the device control register only.
        c.kind = FisCommandKind::DeviceControl;
        return c;
    }
    c.command = f[2];
    c.features = f[3];
    const bool lba_mode = f[7] & kDeviceLba;

    if (c.command == ncq_opcode::kReadFpdmaQueued || c.command == ncq_opcode::kWriteFpdmaQueued) {
        // ATA8-ACS §7.21/§7.22: count in FEATURES 15:0 (0 = 65536), tag in
        // COUNT 7:3, LBA 47:0, FUA in DEVICE bit 7; DEVICE bit 6 shall be 1.
        if (!lba_mode) return c; // Refused
        c.kind = c.command == ncq_opcode::kReadFpdmaQueued ? FisCommandKind::NcqRead
                                                           : FisCommandKind::NcqWrite;
        c.lba48 = true;
        c.lba = lba48(f);
        const uint32_t n = uint32_t{f[3]} | uint32_t{f[11]} << 8;
        c.sectors = n ? n : kMaxSectors48;
        c.tag = static_cast<uint8_t>(f[12] >> 3);
        c.fua = f[7] & kDeviceFua;
        return c;
    }

    const ide::AtaCommand ata = ide::classify_ata_command(c.command);
    c.kind = from_ata(ata.kind, c.command);
    c.lba48 = ata.lba48;
    if (!is_user_data(c.kind)) return c;
    if (!lba_mode) {
        c.kind = FisCommandKind::Refused;
        return c;
    }
    if (ata.lba48) {
        c.lba = lba48(f);
        const uint32_t n = uint32_t{f[12]} | uint32_t{f[13]} << 8;
        c.sectors = n ? n : kMaxSectors48;
    } else {
        c.lba = lba28(f);
        c.sectors = f[12] ? f[12] : kMaxSectors28;
    }
    return c;
}

const char* to_string(FisCommandKind k) {
    switch (k) {
    case FisCommandKind::DmaRead: return "dma-read";
    case FisCommandKind::DmaWrite: return "dma-write";
    case FisCommandKind::NcqRead: return "ncq-read";
    case FisCommandKind::NcqWrite: return "ncq-write";
    case FisCommandKind::PioRead: return "pio-read";
    case FisCommandKind::PioWrite: return "pio-write";
    case FisCommandKind::Identify: return "identify";
    case FisCommandKind::IdentifyPacket: return "identify-packet";
    case FisCommandKind::NonData: return "non-data";
    case FisCommandKind::SetMultiple: return "set-multiple";
    case FisCommandKind::Packet: return "packet";
    case FisCommandKind::DeviceControl: return "device-control";
    case FisCommandKind::Refused: return "refused";
    }
    return "?";
}

} // namespace sv::ahci
