// Counters of one IDE channel mediator: the shared storage counters (bytes
// moved, refusals by common reason, devices/storage/common/storage_counters.hpp)
// plus commands by kind and refusals by IDE reason. Read by the hypervisor's
// status command and by the unit tests.
#pragma once

#include <cstdint>

#include "devices/storage/common/storage_counters.hpp"
#include "devices/storage/ide/ata_commands.hpp"
#include "devices/storage/ide/prd_table.hpp"

namespace sv::ide {

// Why a command (or a bus-master start) was refused, besides PRD faults.
enum class Reject : uint8_t {
    RefusedOpcode,        // opcode not on the allowlist (aborted with NOP)
    ChsAddressing,        // data command without the LBA bit (aborted)
    NoShadowMemory,       // init() failed: every DMA data command is aborted
    StartWithoutCommand,  // START with no DMA command armed (not started)
    PrdChangedAtStart,    // table valid at command time, invalid at START
    PacketPrdInvalid,     // ATAPI DMA with a bad PRD table (not started)
    CryptoFailed,         // the XTS engine refused a request (fail closed)
    PortsUnassigned,      // BAR4 (bus master) or the control port is not assigned yet
    DeviceBusy,           // command written while BSY/DRQ: dropped (ATA8-APT forbids it)
    PacketDuringAtaWrite, // ATAPI data-out while an ATA WRITE DMA may still run (keyed)
    DmaBufferChanged,     // Minimal mode: read data not delivered (table broken meanwhile)
    PacketNotAtapi,       // PACKET to a device not seen answering IDENTIFY PACKET DEVICE (aborted)
};
constexpr unsigned kRejectCount = 12;
const char* to_string(Reject r);

// The shared class of each IDE reason (counted in StorageCounters::refused too).
storage::Refusal refusal_of(Reject r);
storage::Refusal refusal_of(PrdFault f);

struct IdeStats : storage::StorageCounters {
    uint64_t commands[kCommandKindCount] = {}; // indexed by CommandKind
    uint64_t aborted = 0;                      // commands replaced by NOP
    uint64_t rejects[kRejectCount] = {};       // indexed by Reject
    uint64_t prd_faults[kPrdFaultCount] = {};  // indexed by PrdFault
    uint64_t dma_transfers = 0;                // bus-master runs started on shadow PRDs
    uint64_t scratch_transfers = 0;            // runs against scratch data (error reported)
    uint64_t pio_bytes_dropped = 0;            // data-port writes past the transfer
    uint64_t phases_ended = 0;                 // command state dropped: device idle, error or switched

    uint64_t command_count(CommandKind k) const { return commands[static_cast<unsigned>(k)]; }
    uint64_t reject_count(Reject r) const { return rejects[static_cast<unsigned>(r)]; }
    uint64_t prd_fault_count(PrdFault f) const { return prd_faults[static_cast<unsigned>(f)]; }
};

} // namespace sv::ide
