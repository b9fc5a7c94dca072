// Decoder of the command FIS at the start of an AHCI command table (a SATA
// Register H2D FIS, SATA 3.x §10.5.5) into what the mediator must know: the
// ATA command, whether and how it moves user data, the starting LBA (the XTS
// tweak), the sector count and the NCQ tag. Pure function over a copy the
// mediator already took: the guest may rewrite its own table at any time.
#pragma once

#include <cstdint>
#include <span>

#include "lib/result.hpp"

namespace sv::ahci {

// ATA8-ACS §7.21/§7.22 READ/WRITE FPDMA QUEUED and the other NCQ opcodes
// (ACS-3 §7.18 NCQ NON-DATA, §7.43 RECEIVE / §7.45 SEND FPDMA QUEUED).
namespace ncq_opcode {
constexpr uint8_t kReadFpdmaQueued = 0x60;
constexpr uint8_t kWriteFpdmaQueued = 0x61;
constexpr uint8_t kNcqNonData = 0x63;
constexpr uint8_t kSendFpdmaQueued = 0x64;    // carries DSM TRIM: refused
constexpr uint8_t kReceiveFpdmaQueued = 0x65; // refused
} // namespace ncq_opcode

enum class FisCommandKind : uint8_t {
    DmaRead,        // READ DMA (EXT): user data, device -> memory
    DmaWrite,       // WRITE DMA (EXT, FUA EXT): user data, memory -> device
    NcqRead,        // READ FPDMA QUEUED
    NcqWrite,       // WRITE FPDMA QUEUED
    PioRead,        // READ SECTOR(S)/MULTIPLE (EXT): on AHCI the HBA moves PIO data by PRDT too
    PioWrite,       // WRITE SECTOR(S)/MULTIPLE (EXT, FUA EXT)
    Identify,       // IDENTIFY DEVICE: 512 bytes in, patched (TRIM hidden)
    IdentifyPacket, // IDENTIFY PACKET DEVICE: 512 bytes in, passed unchanged
    NonData,        // SET FEATURES, FLUSH, ...: no data phase
    SetMultiple,    // SET MULTIPLE MODE: no data, DRQ block size for PIO MULTIPLE
    Packet,         // ATAPI PACKET: CDB in ACMD, data unencrypted
    DeviceControl,  // C bit clear: a device control update (SRST), no command
    Refused,        // unknown, or moves user data in a way that is not mediated
};

const char* to_string(FisCommandKind k);

constexpr bool is_user_data(FisCommandKind k) {
    return k == FisCommandKind::DmaRead || k == FisCommandKind::DmaWrite ||
           k == FisCommandKind::NcqRead || k == FisCommandKind::NcqWrite ||
           k == FisCommandKind::PioRead || k == FisCommandKind::PioWrite;
}
constexpr bool is_ncq(FisCommandKind k) {
    return k == FisCommandKind::NcqRead || k == FisCommandKind::NcqWrite;
}
// Data flows memory -> device (the header's W bit must agree).
constexpr bool is_write(FisCommandKind k) {
    return k == FisCommandKind::DmaWrite || k == FisCommandKind::NcqWrite ||
           k == FisCommandKind::PioWrite;
}

constexpr uint32_t kSectorBytes = 512;
constexpr uint32_t kIdentifyBytes = 512;
constexpr uint32_t kMaxSectors28 = 256;   // count 0 means 256 (ATA8-ACS §4.1)
constexpr uint32_t kMaxSectors48 = 65536; // count 0 means 65536
constexpr uint32_t kRegisterH2dBytes = 20;

struct FisCommand {
    FisCommandKind kind = FisCommandKind::Refused;
    uint8_t command = 0;   // ATA opcode (0 for DeviceControl)
    uint8_t features = 0;  // FEATURES 7:0 (SET FEATURES subcommand, ...)
    uint8_t pm_port = 0;   // PM port field of the FIS (non-zero only behind a port multiplier)
    uint8_t control = 0;   // device control byte (SRST for DeviceControl)
    bool lba48 = false;
    bool fua = false;      // FPDMA QUEUED: force unit access (device bit 7)
    uint8_t tag = 0;       // FPDMA QUEUED: NCQ tag, COUNT bits 7:3
    uint64_t lba = 0;      // first sector (the XTS tweak)
    uint32_t sectors = 0;  // sectors of user data (1..65536), 0 if none
    // Bytes the command moves through the PRDT: sectors * 512 for user data,
    // 512 for IDENTIFY (PACKET) DEVICE, 0 for non-data and device control.
    // Unknown (0) for PACKET: the ATAPI CDB says.
    uint32_t data_bytes() const;
};

// Decodes a command FIS of `cfis.size()` bytes (CFL * 4 of the header, at
// least the 20 bytes of a Register H2D FIS). Malformed: shorter than 20
// bytes or not type 27h. A user-data command in CHS mode (device bit 6
// clear) decodes as Refused: its LBA, and so the XTS tweak, is not defined
// by the FIS alone.
Result<FisCommand> decode_command_fis(std::span<const uint8_t> cfis);

} // namespace sv::ahci
