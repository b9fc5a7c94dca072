// IDE channel mediator, Command register: classification against the
// allowlist, task-file read-back, PRD validation at command time, and the
// NOP abort that fails a refused command the way the guest driver expects.
#include "devices/storage/ide/ide_channel.hpp"
#include "devices/storage/ide/task_file.hpp"
#include "lib/log.hpp"

namespace sv::ide {

const char* to_string(Reject r) {
    switch (r) {
    case Reject::RefusedOpcode: return "opcode not allowed";
    case Reject::ChsAddressing: return "CHS addressing";
    case Reject::NoShadowMemory: return "no shadow memory";
    case Reject::StartWithoutCommand: return "bus-master START without DMA command";
    case Reject::PrdChangedAtStart: return "PRD table changed before START";
    case Reject::PacketPrdInvalid: return "ATAPI DMA with invalid PRD table";
    case Reject::CryptoFailed: return "XTS engine error";
    case Reject::PortsUnassigned: return "bus-master or control port unassigned";
    case Reject::DeviceBusy: return "command written while device busy";
    case Reject::PacketDuringAtaWrite: return "ATAPI data-out while an ATA WRITE DMA may run";
    case Reject::DmaBufferChanged: return "PRD table broken before read completion";
    case Reject::PacketNotAtapi: return "PACKET to a device not identified as ATAPI";
    }
    return "?";
}

storage::Refusal refusal_of(Reject r) {
    using storage::Refusal;
    switch (r) {
    case Reject::RefusedOpcode:
    case Reject::ChsAddressing:
    case Reject::PacketNotAtapi: return Refusal::CommandNotAllowed;
    case Reject::NoShadowMemory: return Refusal::NoShadowMemory;
    case Reject::CryptoFailed: return Refusal::CryptoFailed;
    case Reject::PrdChangedAtStart:
    case Reject::PacketPrdInvalid:
    case Reject::DmaBufferChanged: return Refusal::MalformedDescriptor;
    case Reject::StartWithoutCommand:
    case Reject::PortsUnassigned:
    case Reject::DeviceBusy:
    case Reject::PacketDuringAtaWrite: return Refusal::ProtocolViolation;
    }
    return Refusal::ProtocolViolation;
}

storage::Refusal refusal_of(PrdFault f) {
    using storage::Refusal;
    switch (f) {
    case PrdFault::TableNotRam:
    case PrdFault::EntryNotRam: return Refusal::GuestMemory;
    case PrdFault::TooLong:
    case PrdFault::LengthMismatch: return Refusal::LengthMismatch;
    default: return Refusal::MalformedDescriptor;
    }
}

bool IdeChannel::raw_data_out_allowed() {
    // Only an ATAPI PACKET takes data-out that is not user data, and only in
    // its own data phase (ide_phase.cpp). Checked at each write: the guest
    // could select the other device, one still waiting in a WRITE SECTORS
    // data-out phase (ATA8-APT §11.6), or the PACKET could be over while a
    // command we never saw put the device in a new data-out phase.
    if (pio_mode_ != PioMode::Packet || ports_.control == 0) return false;
    if (selected_device() != packet_device_) {
        end_command_phase();
        return false;
    }
    const uint8_t alt = static_cast<uint8_t>(io_.in(ports_.control, 1));
    if (alt & status::kBsy) return false; // not ready: the device ignores data (ATA8-APT §11.8)
    if (!(alt & status::kDrq) || (alt & (status::kErr | status::kDf))) {
        end_command_phase();
        return false;
    }
    return true;
}

void IdeChannel::command_written(uint8_t op) {
    // ATA8-APT §6.1.9 / §11: the host shall not write Command while BSY or
    // DRQ is set. A device may ignore such a write and stay in its current
    // data phase, so forwarding it (and forgetting that phase) could let
    // later data-port writes reach the device raw: drop it instead. Alternate
    // Status is read so a pending INTRQ stays pending for the guest.
    if (ports_.control != 0) {
        const uint8_t alt = static_cast<uint8_t>(io_.in(ports_.control, 1));
        if (alt & (status::kBsy | status::kDrq)) return reject(Reject::DeviceBusy);
    }
    // Linux wrote the PRD pointer (bmdma_setup) only if this is a DMA command.
    const bool prd_setup = prd_written_;
    // A completed read still owed to the guest is delivered first; anything
    // still armed or running belongs to a command the guest gave up on.
    poll_dma_completion();
    if (direct_bus_master()) {
        // The guest owns the real bus-master Command register (it already set
        // the direction for this command): leave it alone. ATAPI bytes left
        // in the shadow go now, before anything else can reach the device.
        scrub_packet_data();
        // The selected device passed the BSY/DRQ check above: a WRITE DMA it
        // was given is no longer in its data phase.
        if (ports_.control != 0 && write_outstanding_ != kNoDevice &&
            ((io_.in(cmd_port(CmdReg::Device), 1) & device::kDev) ? 1 : 0) == write_outstanding_)
            write_outstanding_ = kNoDevice;
    } else if (dma_state_ == DmaState::Armed || dma_state_ == DmaState::Running) {
        stop_real_bus_master();
    }
    dma_state_ = DmaState::Idle;
    reset_command_state();
    cmd_device_ = selected_device();

    const AtaCommand cmd = classify_ata_command(op);
    ++stats_.commands[static_cast<unsigned>(cmd.kind)];
    switch (cmd.kind) {
    case CommandKind::DmaRead:
    case CommandKind::DmaWrite: return start_dma_command(cmd, op);
    case CommandKind::PioRead:
    case CommandKind::PioWrite:
    case CommandKind::Identify: return start_pio_command(cmd, op);
    case CommandKind::SetMultipleMode: {
        const TaskFileRequest tf = read_task_file(io_, {ports_.command_base, ports_.control},
                                                  false, devctl_);
        multiple_count_[tf.device] = static_cast<uint8_t>(tf.sectors == 256 ? 0 : tf.sectors);
        break;
    }
    case CommandKind::Packet: {
        // Only to a device we saw identify as ATAPI; a refused PACKET (or a
        // refused ATAPI DMA set-up) is a NOP and leaves the channel idle.
        if (!packet_allowed()) return abort_with_nop();
        packet_device_ = cmd_device_;
        if (direct_bus_master() && prd_setup && !setup_direct_packet_dma()) return abort_with_nop();
        packet_pending_ = true;
        pio_mode_ = PioMode::Packet;
        break;
    }
    case CommandKind::NonUserData:
        if (op == opcode::kIdentifyPacketDevice) { // its data tells us who is ATAPI
            pio_mode_ = PioMode::IdentifyPacket;
            pio_sectors_left_ = 1;
        }
        break;
    case CommandKind::Refused:
        reject(Reject::RefusedOpcode);
        return abort_with_nop();
    }
    io_.out(cmd_port(CmdReg::StatusCommand), 1, op);
}

void IdeChannel::start_dma_command(const AtaCommand& cmd, uint8_t op) {
    if (cmd.lba48 && ports_.control == 0) { // no way to read the HOB bytes
        reject(Reject::PortsUnassigned);
        return abort_with_nop();
    }
    const TaskFileRequest tf =
        read_task_file(io_, {ports_.command_base, ports_.control}, cmd.lba48, devctl_);
    if (!tf.lba_mode) {
        reject(Reject::ChsAddressing);
        return abort_with_nop();
    }
    if (!has_bus_master()) {
        reject(Reject::PortsUnassigned);
        return abort_with_nop();
    }
    if (!shadow_ready_) {
        reject(Reject::NoShadowMemory);
        return abort_with_nop();
    }
    if (direct_bus_master()) return start_direct_ata_dma(cmd, op, tf.lba, tf.sectors, tf.device);
    const uint64_t bytes = uint64_t{tf.sectors} * kSectorSize;
    // Validate now so a bad table fails as a clean device abort. Linux always
    // makes the PRD total equal to the transfer; a larger total is refused
    // too (the bus master would stay ACTIVE waiting for data that never comes,
    // and no correct driver needs it).
    PrdFault fault = PrdFault::None;
    auto total = walk_guest_prd_table(memory_, guest_prd_, bytes, fault, [](const PrdSegment&) {});
    if (total.ok() && total.value() != bytes) fault = PrdFault::LengthMismatch;
    if (fault != PrdFault::None) {
        reject_prd(fault);
        return abort_with_nop();
    }
    dma_ = DmaRequest{};
    dma_.lba = tf.lba;
    dma_.bytes = bytes;
    dma_.to_memory = cmd.kind == CommandKind::DmaRead;
    dma_.crypt = xts_ != nullptr;
    dma_state_ = DmaState::Armed;
    io_.out(cmd_port(CmdReg::StatusCommand), 1, op);
}

void IdeChannel::start_pio_command(const AtaCommand& cmd, uint8_t op) {
    if (cmd.kind == CommandKind::Identify) {
        pio_mode_ = PioMode::Identify;
        pio_sectors_left_ = 1;
    } else {
        if (cmd.lba48 && ports_.control == 0) {
            reject(Reject::PortsUnassigned);
            return abort_with_nop();
        }
        const TaskFileRequest tf =
            read_task_file(io_, {ports_.command_base, ports_.control}, cmd.lba48, devctl_);
        if (!tf.lba_mode) {
            reject(Reject::ChsAddressing);
            return abort_with_nop();
        }
        // The data stream is contiguous sectors whatever the DRQ block size
        // (1, or the multiple count for READ/WRITE MULTIPLE), so the LBA
        // simply advances per 512-byte sector.
        pio_mode_ = cmd.kind == CommandKind::PioRead ? PioMode::ReadUserData : PioMode::WriteUserData;
        ++stats_.data_commands;
        pio_lba_ = tf.lba;
        pio_sectors_left_ = tf.sectors;
    }
    pio_pos_ = pio_len_ = 0;
    io_.out(cmd_port(CmdReg::StatusCommand), 1, op);
}

void IdeChannel::abort_with_nop() {
    // ATA8-ACS §7.19 NOP: "the device shall return command aborted" and
    // assert INTRQ, so the guest sees a normal completion with ERR/ABRT.
    ++stats_.aborted;
    aborted_pending_ = true;
    // Minimal mode: the guest will START the real bus master anyway; leave
    // it a harmless zeroed scratch descriptor in the shadow buffer.
    if (direct_bus_master()) point_at_scratch();
    io_.out(cmd_port(CmdReg::StatusCommand), 1, opcode::kNop);
}

void IdeChannel::reject(Reject why) {
    const unsigned i = static_cast<unsigned>(why);
    ++stats_.rejects[i];
    stats_.refuse(refusal_of(why));
    if (!(logged_ & (1u << i))) {
        logged_ |= 1u << i;
        log::warn("ide {:x}: refused: {} (logged once)", ports_.command_base, to_string(why));
    }
}

void IdeChannel::reject_prd(PrdFault why) {
    const unsigned i = static_cast<unsigned>(why);
    ++stats_.prd_faults[i];
    stats_.refuse(refusal_of(why));
    const unsigned bit = 16 + i;
    if (!(logged_ & (1u << bit))) {
        logged_ |= 1u << bit;
        log::warn("ide {:x}: refused DMA: {} (logged once)", ports_.command_base, to_string(why));
    }
}

} // namespace sv::ide
