// AHCI 1.3.1 §4.2 system memory structures: the received FIS area (PxFB), the
// command list (PxCLB) of 32-byte command headers, and the command table
// (CTBA) with its CFIS, ACMD and PRDT. Layouts are packed structs whose sizes
// and offsets are checked at compile time; flags are constexpr masks (no
// bitfields: their layout is implementation-defined). All fields are
// little-endian, as the HBA reads them (§4.2: "all data structures are
// little endian"); the hypervisor and the host tests run little-endian too.
// These are guest-controlled in guest memory: copy them once, then validate.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sv::ahci {

// --- §4.2.1 Received FIS structure (256 bytes, FBS off) ----------------------
namespace rfis {
constexpr uint32_t kDsfis = 0x00;  // DMA Setup FIS, 28 bytes
constexpr uint32_t kPsfis = 0x20;  // PIO Setup FIS, 20 bytes
constexpr uint32_t kRfis = 0x40;   // D2H Register FIS, 20 bytes
constexpr uint32_t kSdbfis = 0x58; // Set Device Bits FIS, 8 bytes
constexpr uint32_t kUfis = 0x60;   // unknown FIS, up to 64 bytes
constexpr uint32_t kSize = 0x100;  // A0h-FFh reserved
constexpr uint32_t kUfisSize = 64;
constexpr uint32_t kFbsSize = 0x1000; // §4.2.1.1: 16 x 256 B with FBS on
} // namespace rfis

// --- §4.2.2 Command header (one per slot; the list is 32 x 32 = 1 KiB) --------
struct [[gnu::packed]] CommandHeader {
    uint32_t dw0;   // PRDTL 31:16, PMP 15:12, C 10, B 9, R 8, P 7, W 6, A 5, CFL 4:0
    uint32_t prdbc; // PRD byte count: bytes transferred, written by the HBA
    uint32_t ctba;  // command table base, 128-byte aligned (bits 6:0 reserved)
    uint32_t ctbau; // upper 32 bits (CAP.S64A)
    uint32_t reserved[4];
};
static_assert(sizeof(CommandHeader) == 32);
static_assert(offsetof(CommandHeader, prdbc) == 0x04);
static_assert(offsetof(CommandHeader, ctba) == 0x08);
static_assert(offsetof(CommandHeader, ctbau) == 0x0c);
constexpr uint32_t kCommandListSize = 32 * sizeof(CommandHeader); // 1 KiB
constexpr uint32_t kCommandListAlign = 1024;                      // §3.3.1

namespace hdr {
constexpr uint32_t kCflMask = 0x1fu;       // command FIS length in DWORDs (2..16)
constexpr uint32_t kA = 1u << 5;           // ATAPI: ACMD holds a SCSI CDB
constexpr uint32_t kW = 1u << 6;           // write: data flows memory -> device
constexpr uint32_t kP = 1u << 7;           // prefetchable
constexpr uint32_t kR = 1u << 8;           // reset (SRST sequence)
constexpr uint32_t kB = 1u << 9;           // BIST
constexpr uint32_t kC = 1u << 10;          // clear busy upon R_OK
constexpr unsigned kPmpShift = 12;         // port multiplier port, 15:12
constexpr uint32_t kPmpMask = 0xfu << kPmpShift;
constexpr unsigned kPrdtlShift = 16;       // PRDT length in entries, 31:16
constexpr uint32_t kCflMin = 2, kCflMax = 16; // §4.2.2: 2 (8 bytes) .. 16 (64 bytes)
constexpr uint32_t kCtbaReservedMask = 0x7fu;
constexpr uint32_t cfl(uint32_t dw0) { return dw0 & kCflMask; }
constexpr uint32_t prdtl(uint32_t dw0) { return dw0 >> kPrdtlShift; }
constexpr uint32_t pmp(uint32_t dw0) { return (dw0 & kPmpMask) >> kPmpShift; }
} // namespace hdr

constexpr uint64_t command_table_address(const CommandHeader& h) {
    return (uint64_t{h.ctbau} << 32) | (h.ctba & ~hdr::kCtbaReservedMask);
}

// --- §4.2.3 Command table ------------------------------------------------------
// §4.2.3.3 PRDT entry (16 bytes).
struct [[gnu::packed]] PrdtEntry {
    uint32_t dba;  // data base address; bit 0 reserved (word aligned)
    uint32_t dbau; // upper 32 bits
    uint32_t reserved;
    uint32_t dw3;  // I 31 (interrupt on completion), DBC 21:0 (bytes - 1; bit 0 set)
};
static_assert(sizeof(PrdtEntry) == 16);
static_assert(offsetof(PrdtEntry, dbau) == 4);
static_assert(offsetof(PrdtEntry, dw3) == 12);

namespace prd {
constexpr uint32_t kDbcMask = 0x3fffffu; // 22 bits: up to 4 MiB per entry
constexpr uint32_t kInterrupt = 1u << 31;
constexpr uint32_t kDbaReservedMask = 0x1u;
constexpr uint32_t kMaxEntryBytes = kDbcMask + 1; // 4 MiB
constexpr uint32_t kMaxEntries = 0xffff;          // PRDTL is 16 bits
// §4.2.3.3: DBC is a 0-based byte count whose bit 0 shall be 1 (even count).
constexpr uint32_t byte_count(uint32_t dw3) { return (dw3 & kDbcMask) + 1; }
constexpr bool even_byte_count(uint32_t dw3) { return (dw3 & 1u) != 0; }
} // namespace prd

constexpr uint64_t data_address(const PrdtEntry& e) {
    return (uint64_t{e.dbau} << 32) | (e.dba & ~prd::kDbaReservedMask);
}

// The fixed part before the PRDT: CFIS 00h-3Fh, ACMD 40h-4Fh, reserved 50h-7Fh.
struct [[gnu::packed]] CommandTableHeader {
    uint8_t cfis[64]; // command FIS (CFL DWORDs of it are sent)
    uint8_t acmd[16]; // ATAPI command (12 or 16 bytes), when the header's A bit is set
    uint8_t reserved[48];
};
static_assert(sizeof(CommandTableHeader) == 0x80);
static_assert(offsetof(CommandTableHeader, acmd) == 0x40);
constexpr uint32_t kPrdtOffset = 0x80;
constexpr uint32_t kCommandTableAlign = 128; // §4.2.2 CTBA bits 6:0 reserved
constexpr uint64_t command_table_size(uint32_t prdtl) {
    return kPrdtOffset + uint64_t{prdtl} * sizeof(PrdtEntry);
}

} // namespace sv::ahci
