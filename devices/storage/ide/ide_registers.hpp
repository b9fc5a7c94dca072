// Register map of one PCI IDE channel: the ATA command block and control block
// (ATA/ATAPI-8 ACS-2 / ATA8-APT "parallel transport" register set, §7 of
// ATA8-ACS for the command semantics) and the bus-master IDE block of
// SFF-8038i rev 1.0 §2 (as implemented by the Intel PIIX3/PIIX4, datasheet
// §2.7 "Bus Master IDE I/O registers").
#pragma once

#include <cstdint>

namespace sv::ide {

// Command block, offsets from the command block base (0x1F0 / 0x170 legacy).
// ATA8-APT §6.1 table 12 ("Command block registers").
enum class CmdReg : uint8_t {
    Data = 0,        // 16-bit PIO data port
    ErrorFeatures = 1, // read: Error, write: Features
    SectorCount = 2,
    LbaLow = 3,
    LbaMid = 4,
    LbaHigh = 5,
    Device = 6,
    StatusCommand = 7, // read: Status (clears INTRQ), write: Command
};
constexpr uint16_t kCommandBlockSize = 8;

// Control block: a single port (0x3F6 / 0x376 legacy; BAR1/BAR3 + 2 native).
// Read: Alternate Status (does not clear INTRQ). Write: Device Control.

// Status register bits, ATA8-ACS §6.2 / ATA8-APT §6.1.9.
namespace status {
constexpr uint8_t kErr = 1u << 0;  // ERR: error, see Error register
constexpr uint8_t kDrq = 1u << 3;  // DRQ: data request (PIO block ready)
constexpr uint8_t kDf = 1u << 5;   // DF: device fault
constexpr uint8_t kDrdy = 1u << 6; // DRDY: device ready
constexpr uint8_t kBsy = 1u << 7;  // BSY: busy, all other bits invalid
} // namespace status

// Error register bits, ATA8-ACS §6.3.
namespace error {
constexpr uint8_t kAbrt = 1u << 2; // ABRT: command aborted
constexpr uint8_t kIdnf = 1u << 4; // IDNF: address not found
} // namespace error

// Device register bits, ATA8-ACS §6.2 (Device field) / ATA8-APT §6.1.4.
namespace device {
constexpr uint8_t kHeadMask = 0x0f; // LBA28 bits 27:24
constexpr uint8_t kDev = 1u << 4;   // DEV: 0 = device 0 (master), 1 = device 1
constexpr uint8_t kLba = 1u << 6;   // LBA addressing (clear: CHS)
} // namespace device

// Device Control register bits, ATA8-APT §6.2.3.
namespace devctl {
constexpr uint8_t kNien = 1u << 1; // nIEN: mask INTRQ
constexpr uint8_t kSrst = 1u << 2; // SRST: software reset
constexpr uint8_t kHob = 1u << 7;  // HOB: read the "previous content" of the FIFOs
// Linux libata writes ATA_DEVCTL_OBS (bit 3, obsolete "always one") with nIEN
// clear; used until the guest's own write is seen.
constexpr uint8_t kDefault = 0x08;
} // namespace devctl

// Bus-master IDE block, offsets from the channel's bus-master base
// (BAR4 + 0 primary, BAR4 + 8 secondary). SFF-8038i §2.1 table 2.
enum class BmReg : uint8_t {
    Command = 0,    // 8-bit Bus Master IDE Command register
    DeviceSpecific1 = 1,
    Status = 2,     // 8-bit Bus Master IDE Status register
    DeviceSpecific3 = 3,
    PrdTable = 4,   // 32-bit Descriptor Table Pointer register (4..7)
};
constexpr uint16_t kBusMasterBlockSize = 8;

// Bus Master IDE Command register, SFF-8038i §2.1.1.
namespace bmcmd {
constexpr uint8_t kStart = 1u << 0; // Start/Stop Bus Master
// Read/Write Control: 1 = bus master writes memory (a device READ command).
constexpr uint8_t kWriteToMemory = 1u << 3;
constexpr uint8_t kValidMask = kStart | kWriteToMemory;
} // namespace bmcmd

// Bus Master IDE Status register, SFF-8038i §2.1.2.
namespace bmstatus {
constexpr uint8_t kActive = 1u << 0;    // Bus Master IDE Active (RO)
constexpr uint8_t kError = 1u << 1;     // transfer error (R/WC)
constexpr uint8_t kInterrupt = 1u << 2; // device asserted INTRQ (R/WC)
constexpr uint8_t kDrive0Dma = 1u << 5; // Drive 0 DMA capable (RW)
constexpr uint8_t kDrive1Dma = 1u << 6; // Drive 1 DMA capable (RW)
constexpr uint8_t kSimplex = 1u << 7;   // Simplex only (RO)
constexpr uint8_t kWriteClearMask = kError | kInterrupt;
} // namespace bmstatus

// Descriptor Table Pointer register, SFF-8038i §2.1.3: bits 31:2 hold the
// dword-aligned physical address, bits 1:0 are reserved.
constexpr uint32_t kPrdPointerReservedMask = 0x3;

constexpr uint32_t kSectorSize = 512;

} // namespace sv::ide
