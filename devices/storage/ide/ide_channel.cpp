// IDE channel mediator: port dispatch, command classification and abort
// (see ide_channel.hpp). The bus-master/DMA half is in ide_dma.cpp, the PIO
// data port in ide_pio.cpp.
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
    }
    return "?";
}

IdeChannel::IdeChannel(const Config& config, PortIo& io, GuestMemory& memory, DmaAllocator& dma,
                       const crypto::Xts* xts)
    : config_(config), io_(io), memory_(memory), dma_alloc_(dma), xts_(xts) {}

Result<void> IdeChannel::init() {
    if (shadow_ready_) return {};
    // A key must be loaded before the guest runs; without one we would have
    // to choose between plaintext and refusing everything: refuse (fail closed).
    if (xts_ && !xts_->has_key()) return fail(Error::Unsupported);
    // 512 descriptors * 8 bytes = 4 KiB, page aligned: never crosses 64 KiB.
    shadow_table_ = TRY(dma_alloc_.allocate(kShadowPrdEntries * sizeof(PrdEntry), 4096));
    // 64 KiB aligned so every 64 KiB shadow region stays inside one boundary.
    shadow_buffer_ = TRY(dma_alloc_.allocate(kShadowBufferBytes, kPrdBoundary));
    constexpr uint64_t k4G = uint64_t{1} << 32;
    if (shadow_table_.phys + shadow_table_.size > k4G ||
        shadow_buffer_.phys + shadow_buffer_.size > k4G || shadow_buffer_.size < kShadowBufferBytes)
        return fail(Error::OutOfRange); // SFF-8038i bus masters take 32-bit addresses
    shadow_ready_ = true;
    if (has_bus_master())
        io_.out(bm_port(BmReg::PrdTable), 4, static_cast<uint32_t>(shadow_table_.phys));
    return {};
}

size_t IdeChannel::trapped_ports(uint16_t (&out)[kMaxTrappedPorts]) const {
    size_t n = 0;
    out[n++] = cmd_port(CmdReg::Data);
    out[n++] = cmd_port(CmdReg::StatusCommand);
    if (has_bus_master()) {
        out[n++] = bm_port(BmReg::Command);
        for (uint16_t i = 0; i < 4; ++i)
            out[n++] = static_cast<uint16_t>(bm_port(BmReg::PrdTable) + i);
    }
    if (config_.trap_control_and_bm_status) {
        if (ports_.control) out[n++] = ports_.control;
        if (has_bus_master()) out[n++] = bm_port(BmReg::Status);
    }
    return n;
}

bool IdeChannel::owns_port(uint16_t port) const {
    if (port == cmd_port(CmdReg::Data) || port == cmd_port(CmdReg::StatusCommand)) return true;
    if (has_bus_master() && port >= ports_.bus_master_base &&
        port < ports_.bus_master_base + kBusMasterBlockSize)
        return true;
    return ports_.control != 0 && port == ports_.control;
}

void IdeChannel::set_ports(const Ports& ports) {
    ports_ = ports;
    if (shadow_ready_ && has_bus_master())
        io_.out(bm_port(BmReg::PrdTable), 4, static_cast<uint32_t>(shadow_table_.phys));
}

uint32_t IdeChannel::io_in(uint16_t port, uint8_t size) {
    if (size != 1 && size != 2 && size != 4) return 0xffffffffu;
    if (port == cmd_port(CmdReg::Data)) {
        if (pio_mode_ == PioMode::None || pio_mode_ == PioMode::Packet) return io_.in(port, size);
        uint8_t b[4] = {};
        pio_read(b, size);
        return uint32_t{b[0]} | uint32_t{b[1]} << 8 | uint32_t{b[2]} << 16 | uint32_t{b[3]} << 24;
    }
    uint32_t v = 0;
    for (uint8_t i = 0; i < size; ++i)
        v |= uint32_t{read_byte(static_cast<uint16_t>(port + i))} << (8 * i);
    return v;
}

void IdeChannel::io_out(uint16_t port, uint8_t size, uint32_t value) {
    if (size != 1 && size != 2 && size != 4) return;
    if (port == cmd_port(CmdReg::Data)) {
        if (pio_mode_ == PioMode::None || pio_mode_ == PioMode::Packet) {
            if (raw_data_out_allowed()) return io_.out(port, size, value);
            stats_.pio_bytes_dropped += size;
            return;
        }
        const uint8_t b[4] = {static_cast<uint8_t>(value), static_cast<uint8_t>(value >> 8),
                              static_cast<uint8_t>(value >> 16), static_cast<uint8_t>(value >> 24)};
        return pio_write(b, size);
    }
    for (uint8_t i = 0; i < size; ++i)
        write_byte(static_cast<uint16_t>(port + i), static_cast<uint8_t>(value >> (8 * i)));
}

void IdeChannel::io_in_string(uint16_t port, uint8_t size, std::span<uint8_t> data) {
    if (port != cmd_port(CmdReg::Data) || pio_mode_ == PioMode::None ||
        pio_mode_ == PioMode::Packet || size == 0)
        return IoHandler::io_in_string(port, size, data);
    pio_read(data.data(), data.size() - data.size() % size);
}

void IdeChannel::io_out_string(uint16_t port, uint8_t size, std::span<const uint8_t> data) {
    if (port != cmd_port(CmdReg::Data) || size == 0) return IoHandler::io_out_string(port, size, data);
    if (pio_mode_ == PioMode::None || pio_mode_ == PioMode::Packet) {
        if (!raw_data_out_allowed()) {
            stats_.pio_bytes_dropped += data.size();
            return;
        }
        return IoHandler::io_out_string(port, size, data); // element by element, raw
    }
    pio_write(data.data(), data.size() - data.size() % size);
}

uint8_t IdeChannel::read_byte(uint16_t port) {
    const bool status = port == cmd_port(CmdReg::StatusCommand);
    if (status || (ports_.control != 0 && port == ports_.control)) {
        // Completion point: decrypt before the guest can see BSY clear.
        poll_dma_completion();
        uint8_t s = static_cast<uint8_t>(io_.in(port, 1));
        if (fake_ata_error_ && !(s & status::kBsy)) s |= status::kErr;
        return s;
    }
    if (has_bus_master() && port >= ports_.bus_master_base &&
        port < ports_.bus_master_base + kBusMasterBlockSize) {
        poll_dma_completion();
        return bm_read(static_cast<uint8_t>(port - ports_.bus_master_base));
    }
    return static_cast<uint8_t>(io_.in(port, 1));
}

void IdeChannel::write_byte(uint16_t port, uint8_t value) {
    if (port == cmd_port(CmdReg::StatusCommand)) return command_written(value);
    if (ports_.control != 0 && port == ports_.control) {
        devctl_ = static_cast<uint8_t>(value & ~devctl::kHob);
        io_.out(port, 1, value);
        if (value & devctl::kSrst) { // ATA8-APT §11.2 software reset: commands are gone
            stop_real_bus_master();
            dma_state_ = DmaState::Idle;
            reset_command_state();
        }
        return;
    }
    if (has_bus_master() && port >= ports_.bus_master_base &&
        port < ports_.bus_master_base + kBusMasterBlockSize) {
        poll_dma_completion();
        return bm_write(static_cast<uint8_t>(port - ports_.bus_master_base), value);
    }
    io_.out(port, 1, value);
}

void IdeChannel::reset_command_state() {
    pio_mode_ = PioMode::None;
    pio_sectors_left_ = 0;
    pio_pos_ = pio_len_ = 0;
    packet_pending_ = false;
    aborted_pending_ = false;
    fake_ata_error_ = false;
}

bool IdeChannel::raw_data_out_allowed() {
    // Only an ATAPI PACKET takes data-out that is not user data. Check the
    // selected device each time: the guest could select the other device,
    // one still waiting in a WRITE SECTORS data-out phase (ATA8-APT §11.6).
    if (pio_mode_ != PioMode::Packet) return false;
    const uint8_t dev = static_cast<uint8_t>(io_.in(cmd_port(CmdReg::Device), 1));
    return ((dev & device::kDev) ? 1 : 0) == packet_device_;
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
    // A completed read still owed to the guest is delivered first; anything
    // still armed or running belongs to a command the guest gave up on.
    poll_dma_completion();
    if (dma_state_ == DmaState::Armed || dma_state_ == DmaState::Running) stop_real_bus_master();
    dma_state_ = DmaState::Idle;
    reset_command_state();

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
        packet_pending_ = true;
        pio_mode_ = PioMode::Packet;
        packet_device_ = (io_.in(cmd_port(CmdReg::Device), 1) & device::kDev) ? 1 : 0;
        break;
    }
    case CommandKind::NonUserData: break;
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
    io_.out(cmd_port(CmdReg::StatusCommand), 1, opcode::kNop);
}

void IdeChannel::reject(Reject why) {
    const unsigned i = static_cast<unsigned>(why);
    ++stats_.rejects[i];
    if (!(logged_ & (1u << i))) {
        logged_ |= 1u << i;
        log::warn("ide {:x}: refused: {} (logged once)", ports_.command_base, to_string(why));
    }
}

void IdeChannel::reject_prd(PrdFault why) {
    const unsigned i = static_cast<unsigned>(why);
    ++stats_.prd_faults[i];
    const unsigned bit = 16 + i;
    if (!(logged_ & (1u << bit))) {
        logged_ |= 1u << bit;
        log::warn("ide {:x}: refused DMA: {} (logged once)", ports_.command_base, to_string(why));
    }
}

} // namespace sv::ide
