// SATA frame information structures (SATA 3.x §10.5) as the AHCI HBA moves
// them: the command FIS the guest puts at the start of a command table, and
// the FISes the HBA writes into the received FIS area (AHCI 1.3.1 §4.2.1).
// Packed byte layouts with compile-time size/offset checks; multi-byte
// register values are spread over single bytes exactly as on the wire.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sv::ahci {

// SATA 3.x §10.5.1 FIS type codes.
namespace fis_type {
constexpr uint8_t kRegisterH2d = 0x27;  // §10.5.5
constexpr uint8_t kRegisterD2h = 0x34;  // §10.5.6
constexpr uint8_t kDmaActivate = 0x39;  // §10.5.8
constexpr uint8_t kDmaSetup = 0x41;     // §10.5.9
constexpr uint8_t kData = 0x46;         // §10.5.12
constexpr uint8_t kBistActivate = 0x58; // §10.5.10
constexpr uint8_t kPioSetup = 0x5f;     // §10.5.11
constexpr uint8_t kSetDeviceBits = 0xa1; // §10.5.7
} // namespace fis_type

// Byte 1 flag bits shared by several FIS types (low nibble: PM port).
namespace fis_flag {
constexpr uint8_t kPmPortMask = 0x0f;
constexpr uint8_t kH2dCommand = 1u << 7; // H2D: C, 1 = command register update
constexpr uint8_t kDirection = 1u << 5;  // PIO/DMA Setup: D, 1 = device -> host
constexpr uint8_t kInterrupt = 1u << 6;  // D2H / SDB / PIO / DMA Setup: I
constexpr uint8_t kNotification = 1u << 7; // SDB: N
constexpr uint8_t kAutoActivate = 1u << 7; // DMA Setup: A
} // namespace fis_flag

// §10.5.5 Register - Host to Device (20 bytes).
struct [[gnu::packed]] RegisterH2dFis {
    uint8_t type;     // 27h
    uint8_t flags;    // C 7, PM port 3:0
    uint8_t command;
    uint8_t features; // 7:0
    uint8_t lba0, lba1, lba2;
    uint8_t device;
    uint8_t lba3, lba4, lba5;
    uint8_t features_exp; // 15:8
    uint8_t count;        // 7:0
    uint8_t count_exp;    // 15:8
    uint8_t icc;
    uint8_t control;
    uint8_t auxiliary[4];
};
static_assert(sizeof(RegisterH2dFis) == 20);
static_assert(offsetof(RegisterH2dFis, device) == 7);
static_assert(offsetof(RegisterH2dFis, features_exp) == 11);
static_assert(offsetof(RegisterH2dFis, control) == 15);

// §10.5.6 Register - Device to Host (20 bytes).
struct [[gnu::packed]] RegisterD2hFis {
    uint8_t type;  // 34h
    uint8_t flags; // I 6, PM port 3:0
    uint8_t status;
    uint8_t error;
    uint8_t lba0, lba1, lba2;
    uint8_t device;
    uint8_t lba3, lba4, lba5;
    uint8_t reserved0;
    uint8_t count;
    uint8_t count_exp;
    uint8_t reserved1[6];
};
static_assert(sizeof(RegisterD2hFis) == 20);
static_assert(offsetof(RegisterD2hFis, count) == 12);

// §10.5.7 Set Device Bits - Device to Host (8 bytes). For NCQ (SATA 3.x
// §13.6.4) `protocol` is SActive: bit n set = tag n completed.
struct [[gnu::packed]] SetDeviceBitsFis {
    uint8_t type;   // A1h
    uint8_t flags;  // N 7, I 6, PM port 3:0
    uint8_t status; // Status-Hi 6:4, Status-Lo 2:0 (bits 7 and 3 reserved)
    uint8_t error;
    uint32_t protocol;
};
static_assert(sizeof(SetDeviceBitsFis) == 8);
static_assert(offsetof(SetDeviceBitsFis, protocol) == 4);
constexpr uint8_t kSdbStatusMask = 0x77; // the status bits an SDB FIS can change

// §10.5.9 DMA Setup - Device to Host or Host to Device, bidirectional (28 bytes).
// For first-party DMA (NCQ) the buffer identifier low holds the tag
// (AHCI 1.3.1 §9.3.1.1.2 / SATA 3.x §13.6.4.2).
struct [[gnu::packed]] DmaSetupFis {
    uint8_t type;  // 41h
    uint8_t flags; // A 7, I 6, D 5, PM port 3:0
    uint8_t reserved0[2];
    uint32_t buffer_id_low;
    uint32_t buffer_id_high;
    uint32_t reserved1;
    uint32_t buffer_offset;
    uint32_t transfer_count;
    uint32_t reserved2;
};
static_assert(sizeof(DmaSetupFis) == 28);
static_assert(offsetof(DmaSetupFis, buffer_offset) == 16);
static_assert(offsetof(DmaSetupFis, transfer_count) == 20);

// §10.5.11 PIO Setup - Device to Host (20 bytes).
struct [[gnu::packed]] PioSetupFis {
    uint8_t type;  // 5Fh
    uint8_t flags; // I 6, D 5, PM port 3:0
    uint8_t status;
    uint8_t error;
    uint8_t lba0, lba1, lba2;
    uint8_t device;
    uint8_t lba3, lba4, lba5;
    uint8_t reserved0;
    uint8_t count;
    uint8_t count_exp;
    uint8_t reserved1;
    uint8_t e_status;        // status at the end of the data transfer
    uint16_t transfer_count; // bytes in this DRQ data block
    uint8_t reserved2[2];
};
static_assert(sizeof(PioSetupFis) == 20);
static_assert(offsetof(PioSetupFis, e_status) == 15);
static_assert(offsetof(PioSetupFis, transfer_count) == 16);

// §10.5.12 Data FIS: a 4-byte header followed by up to 8 KiB of data.
struct [[gnu::packed]] DataFisHeader {
    uint8_t type;  // 46h
    uint8_t flags; // PM port 3:0
    uint8_t reserved[2];
};
static_assert(sizeof(DataFisHeader) == 4);

// §10.5.8 DMA Activate (4 bytes) and §10.5.10 BIST Activate (12 bytes).
struct [[gnu::packed]] DmaActivateFis {
    uint8_t type;
    uint8_t flags;
    uint8_t reserved[2];
};
static_assert(sizeof(DmaActivateFis) == 4);
struct [[gnu::packed]] BistActivateFis {
    uint8_t type;
    uint8_t flags;
    uint8_t pattern;
    uint8_t reserved;
    uint32_t data[2];
};
static_assert(sizeof(BistActivateFis) == 12);

// ATA device register bits (ATA8-ACS §6.2): LBA mode (bit 6) and, in FPDMA
// QUEUED commands, FUA (bit 7). Device control: SRST (bit 2), HOB (bit 7).
constexpr uint8_t kDeviceLba = 1u << 6;
constexpr uint8_t kDeviceFua = 1u << 7;
constexpr uint8_t kControlSrst = 1u << 2;

} // namespace sv::ahci
