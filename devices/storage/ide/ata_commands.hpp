// Classification of ATA command opcodes for the IDE mediator: which commands
// move user data (and how: DMA or PIO, 28- or 48-bit addressing), which are
// known to carry no user data and may pass through, and which are refused.
// Fail closed: anything not listed here is aborted (ATA8-ACS §7 command set;
// opcodes from ATA8-ACS table B.2 "Command codes (sorted by command code)").
#pragma once

#include <cstdint>

namespace sv::ide {

enum class CommandKind : uint8_t {
    DmaRead,          // READ DMA (EXT): user data, device -> memory
    DmaWrite,         // WRITE DMA (EXT, FUA EXT): user data, memory -> device
    PioRead,          // READ SECTOR(S)/MULTIPLE (EXT): user data via data port
    PioWrite,         // WRITE SECTOR(S)/MULTIPLE (EXT, FUA EXT)
    Identify,         // IDENTIFY DEVICE: one PIO data-in block, patched (TRIM bit)
    NonUserData,      // no user data: passes through (PIO data, if any, untouched)
    SetMultipleMode,  // SET MULTIPLE MODE: passes through, block size tracked
    Packet,           // ATAPI PACKET: unencrypted, DMA still through shadow PRDs
    Refused,          // unknown or could move user data in a way we do not mediate
};
constexpr unsigned kCommandKindCount = 9;

struct AtaCommand {
    CommandKind kind = CommandKind::Refused;
    bool lba48 = false;    // 48-bit (EXT) addressing: HOB registers hold the high bytes
    bool multiple = false; // READ/WRITE MULTIPLE: DRQ blocks of the multiple-mode size
};

// ATA8-ACS opcodes used by the mediator and the tests.
namespace opcode {
constexpr uint8_t kNop = 0x00;
constexpr uint8_t kDeviceReset = 0x08;
constexpr uint8_t kDataSetManagement = 0x06; // TRIM: refused
constexpr uint8_t kRecalibrate = 0x10;
constexpr uint8_t kReadSectors = 0x20;
constexpr uint8_t kReadSectorsExt = 0x24;
constexpr uint8_t kReadDmaExt = 0x25;
constexpr uint8_t kReadNativeMaxExt = 0x27;
constexpr uint8_t kReadMultipleExt = 0x29;
constexpr uint8_t kWriteSectors = 0x30;
constexpr uint8_t kWriteSectorsExt = 0x34;
constexpr uint8_t kWriteDmaExt = 0x35;
constexpr uint8_t kWriteMultipleExt = 0x39;
constexpr uint8_t kWriteDmaFuaExt = 0x3d;
constexpr uint8_t kReadVerifySectors = 0x40;
constexpr uint8_t kReadVerifySectorsExt = 0x42;
constexpr uint8_t kExecuteDeviceDiagnostic = 0x90;
constexpr uint8_t kInitializeDeviceParameters = 0x91;
constexpr uint8_t kPacket = 0xa0;
constexpr uint8_t kIdentifyPacketDevice = 0xa1;
constexpr uint8_t kReadMultiple = 0xc4;
constexpr uint8_t kWriteMultiple = 0xc5;
constexpr uint8_t kSetMultipleMode = 0xc6;
constexpr uint8_t kReadDma = 0xc8;
constexpr uint8_t kWriteDma = 0xca;
constexpr uint8_t kWriteMultipleFuaExt = 0xce;
constexpr uint8_t kStandbyImmediate = 0xe0;
constexpr uint8_t kIdleImmediate = 0xe1;
constexpr uint8_t kStandby = 0xe2;
constexpr uint8_t kIdle = 0xe3;
constexpr uint8_t kCheckPowerMode = 0xe5;
constexpr uint8_t kFlushCache = 0xe7;
constexpr uint8_t kFlushCacheExt = 0xea;
constexpr uint8_t kIdentifyDevice = 0xec;
constexpr uint8_t kSetFeatures = 0xef;
constexpr uint8_t kReadNativeMax = 0xf8;
} // namespace opcode

AtaCommand classify_ata_command(uint8_t op);

constexpr bool is_dma(CommandKind k) { return k == CommandKind::DmaRead || k == CommandKind::DmaWrite; }
constexpr bool is_pio_user_data(CommandKind k) {
    return k == CommandKind::PioRead || k == CommandKind::PioWrite;
}

const char* to_string(CommandKind k);

// IDENTIFY DEVICE data, ATA8-ACS §7.16.7: word 169 bit 0 = DATA SET
// MANAGEMENT (TRIM) supported; word 255 = integrity word (signature A5h in
// bits 7:0, checksum in bits 15:8 so that all 512 bytes sum to zero).
constexpr unsigned kIdentifyWordDsm = 169;
constexpr uint16_t kIdentifyDsmTrimBit = 1u << 0;
constexpr unsigned kIdentifyWordIntegrity = 255;
constexpr uint8_t kIdentifyIntegritySignature = 0xa5;

// Clears the TRIM-supported bit in a 512-byte IDENTIFY DEVICE block and keeps
// the integrity checksum valid when the device provides one.
void hide_trim_support(uint8_t (&identify)[512]);

} // namespace sv::ide
