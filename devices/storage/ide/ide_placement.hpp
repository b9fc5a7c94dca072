// Where a guest may put a mediated PCI IDE function's register blocks
// (issue 7 class 1). The mediator must trap every register it needs wherever
// the function decodes them; a guest config write that would make the
// function decode a block the hypervisor cannot fully trap for this mediator
// is refused before it reaches the device: the BAR / ProgIf bytes keep their
// old value, and if even the old placement cannot be trapped (e.g. the write
// turns I/O decode on over such BARs) I/O Space Enable stays off.
//
// A placement is refused when, with I/O decode on (PCI 3.0 §6.2.2 command
// bit 0: without it the function decodes no I/O BAR, so a guest may size and
// move BARs freely, e.g. Linux's pci_read_bases() with decode off), a block
//  - lies in 0000h-00FFh: the PC's fixed ISA devices (8237 DMA, PIC, PIT,
//    8042, RTC, ...; PIIX4 datasheet §4.1 "ISA-compatible I/O space": the
//    south bridge decodes them positively) - this includes BAR = 0,
//    "unassigned", which a device may still decode;
//  - uses BAR bits 31:16 (x86 I/O addresses are 16 bits; a PIIX4 ignores
//    those bits, QEMU does not: the mediator could not tell where it is);
//  - overlaps another block of the same function (both channels, BAR4);
//  - overlaps ports owned by another mediator (PCI config 0CF8h-0CFFh, reset
//    control, ACPI PM, the other IDE function, ...).
// PCI IDE Controller Specification 1.0 §2: ProgIf bit 0/2 selects native
// mode for channel 0/1 (BAR0/1, BAR2/3; the control port is BAR1/3 + 2),
// compatibility mode uses 1F0h-1F7h/3F6h and 170h-177h/376h; SFF-8038i §2:
// BAR4 is the 16-byte bus-master block, channel 1 at +8.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/io_dispatch.hpp"

namespace sv::ide {

constexpr uint16_t kCommandIoEnable = 1u << 0;  // PCI 3.0 §6.2.2
constexpr uint16_t kLowestPlaceablePort = 0x100; // above the fixed ISA range
constexpr unsigned kIdeBars = 5;

// The config registers that decide a function's ports, as the device holds
// them. bar_writable: the bits of each BAR the device implements (found by
// sizing at boot, PCI 3.0 §6.2.5.1); 0 for a BAR it does not have.
struct FunctionImage {
    uint16_t command = 0;
    uint8_t prog_if = 0;
    uint32_t bars[kIdeBars] = {};
    uint32_t bar_writable[kIdeBars] = {};
};

enum class Placement : uint8_t { Ok, FixedPlatformPorts, HighAddressBits, PastTop, SelfOverlap, Taken };
const char* to_string(Placement p);

struct PortBlock {
    uint32_t first = 0;
    uint32_t count = 0;
    int8_t bar = -1; // BAR index it comes from, -1 for legacy ports
};
constexpr size_t kMaxBlocks = 5; // 2 command + 2 control + bus master

// Does a write of `size` bytes at `offset` touch command, ProgIf or BAR0-4?
bool touches_placement(uint16_t offset, uint8_t size);
// The function's config after the write (bits a BAR does not implement
// keep their value, as in the device).
void apply_config_write(FunctionImage& f, uint16_t offset, uint8_t size, uint32_t value);
// The blocks the function decodes (none with I/O decode off).
size_t decoded_blocks(const FunctionImage& f, PortBlock (&out)[kMaxBlocks]);
// own0/own1: this function's channel mediators (their ports may move).
Placement check_placement(const FunctionImage& f, const IoDispatcher& io, const IoHandler* own0,
                          const IoHandler* own1);

struct FilteredWrite {
    uint32_t value = 0;              // what to forward to the device
    Placement refused = Placement::Ok; // why the guest's value was changed
    bool decode_forced_off = false;  // I/O Space Enable cleared in `value`
};
// The veto: the guest's write as it may reach the device.
FilteredWrite filter_placement_write(const FunctionImage& current, uint16_t offset, uint8_t size,
                                     uint32_t value, const IoDispatcher& io, const IoHandler* own0,
                                     const IoHandler* own1);

} // namespace sv::ide
