// AHCI 1.3.1 HBA memory registers (the ABAR, PCI BAR5): generic host control
// (§3.1) and the per-port registers (§3.3), as offsets and constexpr masks
// with the specification's names. The mediator and the simulated HBA in the
// unit tests both use these; nothing here touches hardware.
#pragma once

#include <cstdint>

namespace sv::ahci {

// PCI identity of an AHCI function (AHCI 1.3.1 §2.1.2 CC: base class 01h mass
// storage, sub class 06h SATA, programming interface 01h AHCI) and its BAR.
constexpr uint8_t kPciClassMassStorage = 0x01;
constexpr uint8_t kPciSubclassSata = 0x06;
constexpr uint8_t kPciProgIfAhci = 0x01;
constexpr uint8_t kPciAbarOffset = 0x24; // §2.1.11 ABAR = BAR5

// --- §3.1 Generic Host Control ------------------------------------------------
namespace reg {
constexpr uint32_t kCap = 0x00;      // §3.1.1 HBA Capabilities
constexpr uint32_t kGhc = 0x04;      // §3.1.2 Global HBA Control
constexpr uint32_t kIs = 0x08;       // §3.1.3 Interrupt Status (one bit per port, RWC)
constexpr uint32_t kPi = 0x0c;       // §3.1.4 Ports Implemented
constexpr uint32_t kVs = 0x10;       // §3.1.5 Version
constexpr uint32_t kCccCtl = 0x14;   // §3.1.6 Command Completion Coalescing Control
constexpr uint32_t kCccPorts = 0x18; // §3.1.7 CCC Ports
constexpr uint32_t kEmLoc = 0x1c;    // §3.1.8 Enclosure Management Location
constexpr uint32_t kEmCtl = 0x20;    // §3.1.9 Enclosure Management Control
constexpr uint32_t kCap2 = 0x24;     // §3.1.10 HBA Capabilities Extended
constexpr uint32_t kBohc = 0x28;     // §3.1.11 BIOS/OS Handoff Control and Status
constexpr uint32_t kVendorBase = 0xa0; // §3.2: A0h-FFh vendor specific
} // namespace reg

// §3.1.1 CAP
namespace cap {
constexpr uint32_t kNpMask = 0x1fu;         // NP: number of ports - 1
constexpr uint32_t kSxs = 1u << 5;          // external SATA
constexpr uint32_t kEms = 1u << 6;          // enclosure management
constexpr uint32_t kCccs = 1u << 7;         // command completion coalescing
constexpr unsigned kNcsShift = 8;           // NCS: command slots - 1, bits 12:8
constexpr uint32_t kNcsMask = 0x1fu << kNcsShift;
constexpr uint32_t kPsc = 1u << 13;         // partial state capable
constexpr uint32_t kSsc = 1u << 14;         // slumber state capable
constexpr uint32_t kPmd = 1u << 15;         // PIO multiple DRQ block
constexpr uint32_t kFbss = 1u << 16;        // FIS-based switching
constexpr uint32_t kSpm = 1u << 17;         // port multiplier
constexpr uint32_t kSam = 1u << 18;         // AHCI mode only
constexpr unsigned kIssShift = 20;          // interface speed, bits 23:20
constexpr uint32_t kIssMask = 0xfu << kIssShift;
constexpr uint32_t kSclo = 1u << 24;        // command list override
constexpr uint32_t kSal = 1u << 25;         // activity LED
constexpr uint32_t kSalp = 1u << 26;        // aggressive link power management
constexpr uint32_t kSss = 1u << 27;         // staggered spin-up
constexpr uint32_t kSmps = 1u << 28;        // mechanical presence switch
constexpr uint32_t kSsntf = 1u << 29;       // SNotification register
constexpr uint32_t kSncq = 1u << 30;        // native command queuing
constexpr uint32_t kS64a = 1u << 31;        // 64-bit addressing
constexpr unsigned ports(uint32_t c) { return (c & kNpMask) + 1; }
constexpr unsigned command_slots(uint32_t c) { return ((c & kNcsMask) >> kNcsShift) + 1; }
} // namespace cap

// §3.1.2 GHC
namespace ghc {
constexpr uint32_t kHr = 1u << 0;   // HBA reset (self-clearing)
constexpr uint32_t kIe = 1u << 1;   // interrupt enable
constexpr uint32_t kMrsm = 1u << 2; // MSI revert to single message (RO)
constexpr uint32_t kAe = 1u << 31;  // AHCI enable
} // namespace ghc

// §3.1.10 CAP2
namespace cap2 {
constexpr uint32_t kBoh = 1u << 0;  // BIOS/OS handoff
constexpr uint32_t kNvmp = 1u << 1; // NVMHCI present
constexpr uint32_t kApst = 1u << 2; // automatic partial to slumber
constexpr uint32_t kSds = 1u << 3;  // device sleep
constexpr uint32_t kSadm = 1u << 4; // aggressive device sleep management
constexpr uint32_t kDeso = 1u << 5; // DevSleep entrance from slumber only
} // namespace cap2

// §3.1.11 BOHC
namespace bohc {
constexpr uint32_t kBos = 1u << 0;  // BIOS owned semaphore
constexpr uint32_t kOos = 1u << 1;  // OS owned semaphore
constexpr uint32_t kSooe = 1u << 2; // SMI on OS ownership change enable
constexpr uint32_t kOoc = 1u << 3;  // OS ownership change (RWC)
constexpr uint32_t kBb = 1u << 4;   // BIOS busy
} // namespace bohc

// --- §3.3 Port registers: 100h + 80h * port ----------------------------------
constexpr uint32_t kMaxPorts = 32;
constexpr uint32_t kMaxCommandSlots = 32;
constexpr uint32_t kPortBase = 0x100;
constexpr uint32_t kPortStride = 0x80;
constexpr uint32_t kAbarMinSize = kPortBase + kMaxPorts * kPortStride; // 1100h
constexpr uint32_t port_base(unsigned port) { return kPortBase + kPortStride * port; }

namespace preg {
constexpr uint32_t kClb = 0x00;    // §3.3.1 command list base (1 KiB aligned)
constexpr uint32_t kClbu = 0x04;   // §3.3.2 command list base, upper 32 bits
constexpr uint32_t kFb = 0x08;     // §3.3.3 FIS base (256 B aligned; 4 KiB with FBS)
constexpr uint32_t kFbu = 0x0c;    // §3.3.4 FIS base, upper 32 bits
constexpr uint32_t kIs = 0x10;     // §3.3.5 interrupt status (RWC)
constexpr uint32_t kIe = 0x14;     // §3.3.6 interrupt enable
constexpr uint32_t kCmd = 0x18;    // §3.3.7 command and status
constexpr uint32_t kTfd = 0x20;    // §3.3.8 task file data (RO)
constexpr uint32_t kSig = 0x24;    // §3.3.9 signature (RO)
constexpr uint32_t kSsts = 0x28;   // §3.3.10 SStatus (SCR0, RO)
constexpr uint32_t kSctl = 0x2c;   // §3.3.11 SControl (SCR2)
constexpr uint32_t kSerr = 0x30;   // §3.3.12 SError (SCR1, RWC)
constexpr uint32_t kSact = 0x34;   // §3.3.13 SActive (SCR3): software sets, device clears
constexpr uint32_t kCi = 0x38;     // §3.3.14 command issue: software sets, HBA clears
constexpr uint32_t kSntf = 0x3c;   // §3.3.15 SNotification (SCR4, RWC)
constexpr uint32_t kFbs = 0x40;    // §3.3.16 FIS-based switching control
constexpr uint32_t kDevslp = 0x44; // §3.3.17 device sleep
constexpr uint32_t kVendor = 0x70; // §3.3.18 70h-7Fh vendor specific
} // namespace preg

// Address alignment the HBA ignores (reserved low bits) in CLB, FB and CTBA.
constexpr uint32_t kClbReservedMask = 0x3ffu;   // §3.3.1: bits 9:0
constexpr uint32_t kFbReservedMask = 0xffu;     // §3.3.3: bits 7:0 (FBS off)
constexpr uint32_t kFbFbsReservedMask = 0xfffu; // §3.3.3: bits 11:0 (FBS on)

// §3.3.5 PxIS (and the same bit positions in §3.3.6 PxIE)
namespace pis {
constexpr uint32_t kDhrs = 1u << 0;  // device to host register FIS
constexpr uint32_t kPss = 1u << 1;   // PIO setup FIS
constexpr uint32_t kDss = 1u << 2;   // DMA setup FIS
constexpr uint32_t kSdbs = 1u << 3;  // set device bits FIS
constexpr uint32_t kUfs = 1u << 4;   // unknown FIS (RO, from SERR.DIAG.F)
constexpr uint32_t kDps = 1u << 5;   // descriptor processed (PRD with I bit)
constexpr uint32_t kPcs = 1u << 6;   // port connect change (RO, from SERR.DIAG.X)
constexpr uint32_t kDmps = 1u << 7;  // device mechanical presence
constexpr uint32_t kPrcs = 1u << 22; // PhyRdy change (RO, from SERR.DIAG.N)
constexpr uint32_t kIpms = 1u << 23; // incorrect port multiplier
constexpr uint32_t kOfs = 1u << 24;  // overflow: more data than the PRDT holds
constexpr uint32_t kInfs = 1u << 26; // interface non-fatal error
constexpr uint32_t kIfs = 1u << 27;  // interface fatal error
constexpr uint32_t kHbds = 1u << 28; // host bus data error
constexpr uint32_t kHbfs = 1u << 29; // host bus fatal error (bad address on the bus)
constexpr uint32_t kTfes = 1u << 30; // task file error (status ERR)
constexpr uint32_t kCpds = 1u << 31; // cold port detect
// Errors after which the port stops processing the command list until
// software clears PxCMD.ST (§6.1.2 fatal errors; TFES §6.1.4).
constexpr uint32_t kFatalMask = kTfes | kHbfs | kHbds | kIfs | kOfs;
} // namespace pis

// §3.3.7 PxCMD
namespace pcmd {
constexpr uint32_t kSt = 1u << 0;    // start: process the command list
constexpr uint32_t kSud = 1u << 1;   // spin-up device
constexpr uint32_t kPod = 1u << 2;   // power on device
constexpr uint32_t kClo = 1u << 3;   // command list override (self-clearing)
constexpr uint32_t kFre = 1u << 4;   // FIS receive enable
constexpr unsigned kCcsShift = 8;    // current command slot, bits 12:8 (RO)
constexpr uint32_t kCcsMask = 0x1fu << kCcsShift;
constexpr uint32_t kMpss = 1u << 13; // mechanical presence switch state
constexpr uint32_t kFr = 1u << 14;   // FIS receive running (RO)
constexpr uint32_t kCr = 1u << 15;   // command list running (RO)
constexpr uint32_t kCps = 1u << 16;  // cold presence state
constexpr uint32_t kPma = 1u << 17;  // port multiplier attached
constexpr uint32_t kHpcp = 1u << 18; // hot plug capable
constexpr uint32_t kMpsp = 1u << 19; // mechanical presence switch
constexpr uint32_t kCpd = 1u << 20;  // cold presence detection
constexpr uint32_t kEsp = 1u << 21;  // external SATA port
constexpr uint32_t kFbscp = 1u << 22; // FIS-based switching capable
constexpr uint32_t kApste = 1u << 23; // automatic partial to slumber
constexpr uint32_t kAtapi = 1u << 24; // device is ATAPI (drives the LED)
constexpr uint32_t kDlae = 1u << 25;  // drive LED on ATAPI enable
constexpr uint32_t kAlpe = 1u << 26;  // aggressive link PM enable
constexpr uint32_t kAsp = 1u << 27;   // aggressive slumber/partial
constexpr unsigned kIccShift = 28;    // interface communication control, 31:28
constexpr uint32_t kIccMask = 0xfu << kIccShift;
} // namespace pcmd

// §3.3.8 PxTFD: STS in 7:0 (ATA status), ERR in 15:8 (ATA error).
namespace tfd {
constexpr uint32_t kStsMask = 0xffu;
constexpr unsigned kErrShift = 8;
constexpr uint32_t kErrMask = 0xffu << kErrShift;
constexpr uint8_t kStsErr = 1u << 0;
constexpr uint8_t kStsDrq = 1u << 3;
constexpr uint8_t kStsBsy = 1u << 7;
} // namespace tfd

// §3.3.9 PxSIG values after the device's first D2H register FIS (ATA8-ACS
// signatures: sector count, LBA low, LBA mid, LBA high from low byte up).
namespace sig {
constexpr uint32_t kAta = 0x00000101;
constexpr uint32_t kAtapi = 0xeb140101;
constexpr uint32_t kPortMultiplier = 0x96690101;
constexpr uint32_t kSemb = 0xc33c0101;
constexpr uint32_t kNone = 0xffffffff; // no device has sent a signature yet
} // namespace sig

// §3.3.10 PxSSTS / §3.3.11 PxSCTL: DET in 3:0, SPD in 7:4, IPM in 11:8.
namespace scr {
constexpr uint32_t kDetMask = 0xfu;
constexpr uint32_t kSpdMask = 0xfu << 4;
constexpr uint32_t kIpmMask = 0xfu << 8;
constexpr uint32_t kSstsDetNone = 0x0;       // no device, no PHY communication
constexpr uint32_t kSstsDetPresentNoPhy = 0x1;
constexpr uint32_t kSstsDetPresentPhy = 0x3; // device present, communication up
constexpr uint32_t kSstsDetOffline = 0x4;
constexpr uint32_t kSstsIpmActive = 0x1u << 8;
constexpr uint32_t kSctlDetNone = 0x0;
constexpr uint32_t kSctlDetComreset = 0x1;   // hold COMRESET while DET = 1
constexpr uint32_t kSctlDetDisable = 0x4;
} // namespace scr

// §3.3.12 PxSERR: ERR in 15:0, DIAG in 31:16.
namespace serr {
constexpr uint32_t kDiagN = 1u << 16; // PhyRdy change
constexpr uint32_t kDiagF = 1u << 25; // unknown FIS type
constexpr uint32_t kDiagX = 1u << 26; // exchanged (COMINIT received)
} // namespace serr

// §3.3.16 PxFBS
namespace fbs {
constexpr uint32_t kEn = 1u << 0;
constexpr uint32_t kDec = 1u << 1;
constexpr uint32_t kSde = 1u << 2;
} // namespace fbs

} // namespace sv::ahci
