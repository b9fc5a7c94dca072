// Task-file read-back for the IDE mediator (see task_file.hpp).
#include "devices/storage/ide/task_file.hpp"

#include "devices/storage/ide/ide_registers.hpp"

namespace sv::ide {
namespace {
uint8_t in8(PortIo& io, uint16_t base, CmdReg r) {
    return static_cast<uint8_t>(io.in(static_cast<uint16_t>(base + static_cast<uint16_t>(r)), 1));
}
} // namespace

TaskFileRequest read_task_file(PortIo& io, const TaskFilePorts& ports, bool lba48,
                               uint8_t guest_devctl) {
    const uint16_t b = ports.command_base;
    TaskFileRequest r;
    const uint8_t dev = in8(io, b, CmdReg::Device);
    r.device = (dev & device::kDev) ? 1 : 0;
    r.lba_mode = (dev & device::kLba) != 0;
    const uint8_t count = in8(io, b, CmdReg::SectorCount);
    const uint64_t low = in8(io, b, CmdReg::LbaLow);
    const uint64_t mid = in8(io, b, CmdReg::LbaMid);
    const uint64_t high = in8(io, b, CmdReg::LbaHigh);
    if (!lba48) {
        // ATA8-ACS §7.1.3.4: 28-bit LBA = Device[3:0] : High : Mid : Low.
        r.lba = static_cast<uint64_t>(dev & device::kHeadMask) << 24 | high << 16 | mid << 8 | low;
        r.sectors = count ? count : 256;
        return r;
    }
    // 48-bit: the previous content holds Count[15:8] and LBA[47:24].
    const uint8_t hob = static_cast<uint8_t>(guest_devctl | devctl::kHob);
    io.out(ports.control, 1, hob);
    const uint32_t count_hi = in8(io, b, CmdReg::SectorCount);
    const uint64_t low_hi = in8(io, b, CmdReg::LbaLow);
    const uint64_t mid_hi = in8(io, b, CmdReg::LbaMid);
    const uint64_t high_hi = in8(io, b, CmdReg::LbaHigh);
    io.out(ports.control, 1, static_cast<uint8_t>(guest_devctl & ~devctl::kHob));
    r.lba = high_hi << 40 | mid_hi << 32 | low_hi << 24 | high << 16 | mid << 8 | low;
    const uint32_t sectors = count_hi << 8 | count;
    r.sectors = sectors ? sectors : 65536;
    return r;
}

} // namespace sv::ide
