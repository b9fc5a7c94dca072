// ATA opcode classification (see ata_commands.hpp). The table is an allowlist:
// every opcode not named below is Refused, so a new or vendor command can
// never move user data past the encryption layer.
#include "devices/storage/ide/ata_commands.hpp"

namespace sv::ide {

AtaCommand classify_ata_command(uint8_t op) {
    using K = CommandKind;
    namespace o = opcode;
    switch (op) {
    // DMA data transfer, ATA8-ACS §7.24 READ DMA, §7.25 READ DMA EXT,
    // §7.58 WRITE DMA, §7.59 WRITE DMA EXT, §7.60 WRITE DMA FUA EXT.
    case o::kReadDma: return {K::DmaRead, false, false};
    case o::kReadDmaExt: return {K::DmaRead, true, false};
    case o::kWriteDma: return {K::DmaWrite, false, false};
    case o::kWriteDmaExt:
    case o::kWriteDmaFuaExt: return {K::DmaWrite, true, false};

    // PIO data transfer, ATA8-ACS §7.35/§7.36 READ SECTOR(S) (EXT),
    // §7.27/§7.28 READ MULTIPLE (EXT), §7.64/§7.65 WRITE SECTOR(S) (EXT),
    // §7.61-§7.63 WRITE MULTIPLE (EXT, FUA EXT).
    case o::kReadSectors: return {K::PioRead, false, false};
    case o::kReadSectorsExt: return {K::PioRead, true, false};
    case o::kReadMultiple: return {K::PioRead, false, true};
    case o::kReadMultipleExt: return {K::PioRead, true, true};
    case o::kWriteSectors: return {K::PioWrite, false, false};
    case o::kWriteSectorsExt: return {K::PioWrite, true, false};
    case o::kWriteMultiple: return {K::PioWrite, false, true};
    case o::kWriteMultipleExt:
    case o::kWriteMultipleFuaExt: return {K::PioWrite, true, true};

    // IDENTIFY DEVICE (§7.16): PIO data-in of identify data, not user data.
    case o::kIdentifyDevice: return {K::Identify, false, false};
    case o::kSetMultipleMode: return {K::SetMultipleMode, false, false};
    case o::kPacket: return {K::Packet, false, false};

    // No user data moves: pass through unchanged.
    case o::kIdentifyPacketDevice: // §7.17, PIO data-in of identify data
    case o::kSetFeatures:          // §7.48
    case o::kFlushCache:           // §7.10
    case o::kFlushCacheExt:        // §7.11
    case o::kCheckPowerMode:       // §7.5
    case o::kStandbyImmediate:     // §7.55
    case o::kIdleImmediate:        // §7.15
    case o::kStandby:              // §7.54
    case o::kIdle:                 // §7.14
    case o::kReadNativeMax:        // §7.29 (HPA feature set)
    case o::kReadVerifySectors:    // §7.37: verifies on the medium, no transfer
    case o::kInitializeDeviceParameters: // ATA/ATAPI-5 §8.16 (obsolete, CHS)
    case o::kRecalibrate:          // ATA/ATAPI-4 (obsolete)
    case o::kExecuteDeviceDiagnostic: // §7.9
    case o::kDeviceReset:          // §7.6
        return {K::NonUserData, false, false};
    case o::kReadNativeMaxExt:     // §7.30
    case o::kReadVerifySectorsExt: // §7.38
        return {K::NonUserData, true, false};

    default: return {K::Refused, false, false};
    }
}

const char* to_string(CommandKind k) {
    switch (k) {
    case CommandKind::DmaRead: return "dma-read";
    case CommandKind::DmaWrite: return "dma-write";
    case CommandKind::PioRead: return "pio-read";
    case CommandKind::PioWrite: return "pio-write";
    case CommandKind::Identify: return "identify";
    case CommandKind::NonUserData: return "non-data";
    case CommandKind::SetMultipleMode: return "set-multiple";
    case CommandKind::Packet: return "packet";
    case CommandKind::Refused: return "refused";
    }
    return "?";
}

void hide_trim_support(uint8_t (&id)[512]) {
    constexpr unsigned dsm_lo = 2 * kIdentifyWordDsm;
    if (!(id[dsm_lo] & kIdentifyDsmTrimBit)) return;
    id[dsm_lo] = static_cast<uint8_t>(id[dsm_lo] & ~kIdentifyDsmTrimBit);
    // Integrity word (§7.16.7.91): checksum = two's complement of the sum of
    // bytes 0..510. Clearing one bit lowered that sum by one.
    constexpr unsigned integ = 2 * kIdentifyWordIntegrity;
    if (id[integ] == kIdentifyIntegritySignature)
        id[integ + 1] = static_cast<uint8_t>(id[integ + 1] + 1);
}

} // namespace sv::ide
