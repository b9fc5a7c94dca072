// How long the mediator's per-command state lives (issue #7 class 3).
//
// Some state enables something a guest could abuse if it outlived its
// command: PioMode::Packet lets raw data-port writes through, packet_pending_
// makes the next START an unencrypted ATAPI DMA, DmaState::Armed (Lean/Full)
// makes it an ATA DMA. The rule:
//   - PACKET is forwarded only to a device that answered IDENTIFY PACKET
//     DEVICE with packet-device identify data (ATA8-ACS §7.17: a non-packet
//     device aborts that command; word 0 bits 15:14 = 10b identify an ATAPI
//     device, §7.17.7.1). "The guest said PACKET" is not enough: an ATA disk
//     aborts PACKET (ATA8-ACS §7.18 is not in its feature set) and would
//     otherwise leave the channel in pass-through.
//   - Raw data-out passes only while that device is selected and shows
//     BSY=0, DRQ=1 (ATA8-APT §11.8 PACKET protocol: the host transfers data
//     only with DRQ set), checked at every write through Alternate Status
//     (which does not clear INTRQ, ATA8-APT §6.2.2).
//   - The command's state ends when its device shows BSY=0 and DRQ=0, or ERR
//     (ATA8-APT §6.1.9: the command is complete), at any trapped status read
//     or data write; when another device is selected while the phase runs;
//     at a new command, SRST (ATA8-APT §11.2) and when the guest moves the
//     channel's ports. A refused command is replaced by NOP (the device
//     aborts it, ATA8-ACS §7.19) and leaves no such state behind.
// State that only restricts (aborted_pending_, write_outstanding_,
// fake_ata_error_) may outlive its command: that can fail a guest command,
// never leak one.
#include "devices/storage/ide/ide_channel.hpp"

namespace sv::ide {

uint8_t IdeChannel::selected_device() {
    return (io_.in(cmd_port(CmdReg::Device), 1) & device::kDev) ? 1 : 0;
}

bool IdeChannel::tracking_a_command() const {
    return pio_mode_ != PioMode::None || packet_pending_ || dma_state_ == DmaState::Armed;
}

bool IdeChannel::packet_allowed() {
    // Alternate Status is how the phase is followed without stealing the
    // guest's interrupt: no control port, no PACKET.
    if (ports_.control == 0) {
        reject(Reject::PortsUnassigned);
        return false;
    }
    if (!packet_device_seen_[cmd_device_]) {
        reject(Reject::PacketNotAtapi);
        return false;
    }
    return true;
}

void IdeChannel::note_status(uint8_t s) {
    // BSY: every other bit is invalid (ATA8-APT §6.1.9); the phase goes on.
    if (!tracking_a_command() || (s & status::kBsy)) return;
    const bool over = !(s & status::kDrq) || (s & (status::kErr | status::kDf));
    if (over || selected_device() != cmd_device_) end_command_phase();
}

void IdeChannel::end_command_phase() {
    ++stats_.phases_ended;
    pio_mode_ = PioMode::None;
    pio_sectors_left_ = 0;
    pio_pos_ = pio_len_ = 0;
    packet_pending_ = false;
    if (dma_state_ == DmaState::Armed) { // Lean/Full: the device gave up before START
        dma_state_ = DmaState::Idle;
        aborted_pending_ = true; // the guest's START is swallowed, as after a NOP
    }
}

void IdeChannel::abandon_commands(bool stop_bus_master) {
    // SRST or new ports: no command survives (ATA8-APT §11.2). The real bus
    // master is stopped (Lean/Full own it; not when the ports just moved:
    // the old port may be another device's now); in Minimal mode the guest
    // owns START, so the shadow table goes back to the zeroed scratch
    // descriptor and any ATAPI bytes are scrubbed.
    if (direct_bus_master()) {
        scrub_packet_data();
        point_at_scratch();
    } else if (stop_bus_master) {
        stop_real_bus_master();
    }
    dma_state_ = DmaState::Idle;
    reset_command_state();
}

} // namespace sv::ide
