// Read-back of the ATA task file at the moment the guest writes the Command
// register. The hypervisor does not trap the Features/Count/LBA/Device ports
// (+1..+6) to keep exits low, so it reads what the guest left in the device:
// ATA8-APT §6.1: those registers are two-deep FIFOs for 48-bit commands; with
// Device Control HOB set a read returns the "previous content" (high bytes).
#pragma once

#include <cstdint>

#include "core/io.hpp"

namespace sv::ide {

struct TaskFileRequest {
    uint64_t lba = 0;     // first sector (ATA8-ACS §4.1 LBA)
    uint32_t sectors = 0; // already expanded: 0 means 256 (28-bit) / 65536 (48-bit)
    uint8_t device = 0;   // 0 = device 0 (master), 1 = device 1 (slave)
    bool lba_mode = false; // Device bit 6; clear = CHS addressing
};

struct TaskFilePorts {
    uint16_t command_base = 0;
    uint16_t control = 0;
};

// Reads Device, Count and LBA from the device. For 48-bit commands it sets HOB
// in Device Control, reads the previous content, and writes `guest_devctl`
// (the guest's last Device Control value) back with HOB clear.
TaskFileRequest read_task_file(PortIo& io, const TaskFilePorts& ports, bool lba48,
                               uint8_t guest_devctl);

} // namespace sv::ide
