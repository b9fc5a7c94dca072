// IDE channel mediator: set-up, trapped ports and port dispatch (see
// ide_channel.hpp). Commands are in ide_commands.cpp, the bus-master/DMA half
// in ide_dma.cpp, the PIO data port in ide_pio.cpp.
#include "devices/storage/ide/ide_channel.hpp"


namespace sv::ide {

IdeChannel::IdeChannel(const Config& config, PortIo& io, GuestMemory& memory, DmaAllocator& dma,
                       storage::ShadowPool& pool, const crypto::Xts* xts)
    : config_(config), io_(io), memory_(memory), dma_alloc_(dma), pool_(pool), xts_(xts),
      cipher_(xts, kSectorSize) {}

Result<void> IdeChannel::init() {
    if (shadow_ready_) return {};
    // A key must be loaded before the guest runs; without one we would have
    // to choose between plaintext and refusing everything: refuse (fail closed).
    if (xts_ && !xts_->has_key()) return fail(Error::Unsupported);
    // 512 descriptors * 8 bytes = 4 KiB, page aligned: never crosses 64 KiB.
    if (shadow_table_.host == nullptr)
        shadow_table_ = TRY(dma_alloc_.allocate(kShadowPrdEntries * sizeof(PrdEntry), 4096));
    if (shadow_table_.phys + shadow_table_.size > storage::kBelow4G)
        return fail(Error::OutOfRange); // SFF-8038i bus masters take 32-bit addresses
    // One pool chunk per shadow descriptor: 64 KiB, 64 KiB aligned (a PRD
    // region may not cross 64 KiB, SFF-8038i §1.2), below 4 GiB (the pool's
    // limit). Reserved first, so the channel always gets its largest request.
    if (!pool_.ready() || pool_.chunk_bytes() != kPrdBoundary) return fail(Error::Unsupported);
    TRY(pool_.reserve(pool_client_, kShadowBufferBytes));
    if (pool_.try_borrow(pool_client_, kShadowBufferBytes, shadow_list_) != storage::Borrow::Ok)
        return fail(Error::OutOfMemory); // cannot happen after the reservation
    for (uint32_t i = 0; i < shadow_list_.count(); ++i)
        if (pool_.phys(shadow_list_.chunk(i)) + kPrdBoundary > storage::kBelow4G) return fail(Error::OutOfRange);
    shadow_ready_ = true;
    init_shadow_table();
    if (config_.trap_mode == TrapMode::Minimal) point_at_scratch();
    if (has_bus_master())
        io_.out(bm_port(BmReg::PrdTable), 4, static_cast<uint32_t>(shadow_table_.phys));
    return {};
}

uint64_t IdeChannel::shadow_buffer_phys() const {
    if (!shadow_ready_) return 0;
    uint64_t lo = ~0ull;
    for (uint32_t i = 0; i < shadow_list_.count(); ++i)
        if (pool_.phys(shadow_list_.chunk(i)) < lo) lo = pool_.phys(shadow_list_.chunk(i));
    return lo;
}

uint64_t IdeChannel::shadow_buffer_bytes() const {
    if (!shadow_ready_) return 0;
    uint64_t hi = 0;
    for (uint32_t i = 0; i < shadow_list_.count(); ++i)
        if (pool_.phys(shadow_list_.chunk(i)) + kPrdBoundary > hi) hi = pool_.phys(shadow_list_.chunk(i)) + kPrdBoundary;
    return hi - shadow_buffer_phys();
}

bool IdeChannel::shadow_contains(uint64_t phys, uint64_t len) const {
    if (!shadow_ready_ || phys + len < phys) return false;
    for (uint32_t i = 0; i < shadow_list_.count(); ++i) {
        const uint64_t base = pool_.phys(shadow_list_.chunk(i));
        if (phys >= base && phys + len <= base + kPrdBoundary) return true;
    }
    return false;
}

IdeChannel::TrapMode IdeChannel::trap_mode() const {
    // Without shadow memory the real PRD register was never pointed at a
    // shadow table: the guest must not own START then (fail closed).
    if (config_.trap_mode == TrapMode::Minimal && !shadow_ready_) return TrapMode::Lean;
    return config_.trap_mode;
}

size_t IdeChannel::trapped_ports_at(const Ports& ports, uint16_t (&out)[kMaxTrappedPorts]) const {
    const TrapMode mode = trap_mode();
    const bool bus_master = ports.bus_master_base != 0;
    const auto bm = [&](BmReg r) { return static_cast<uint16_t>(ports.bus_master_base + static_cast<uint16_t>(r)); };
    size_t n = 0;
    out[n++] = static_cast<uint16_t>(ports.command_base + static_cast<uint16_t>(CmdReg::Data));
    out[n++] = static_cast<uint16_t>(ports.command_base + static_cast<uint16_t>(CmdReg::StatusCommand));
    if (bus_master) {
        if (mode != TrapMode::Minimal) out[n++] = bm(BmReg::Command);
        for (uint16_t i = 0; i < 4; ++i) out[n++] = static_cast<uint16_t>(bm(BmReg::PrdTable) + i);
    }
    if (mode == TrapMode::Full) {
        if (ports.control) out[n++] = ports.control;
        if (bus_master) out[n++] = bm(BmReg::Status);
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
    // Moved ports: whatever the old decode was doing, no command state may
    // carry over to the new one (issue #7 class 3).
    abandon_commands(false);
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
        uint8_t s;
        if (status && direct_bus_master() && dma_state_ == DmaState::Running && has_bus_master()) {
            // BM status first (INTERRUPT is set once the data is in memory,
            // SFF-8038i §2.1.2), then the status the guest gets, read once.
            const uint8_t bm = static_cast<uint8_t>(io_.in(bm_port(BmReg::Status), 1));
            s = static_cast<uint8_t>(io_.in(port, 1));
            if (direct_done(bm, s)) finish_direct_dma(bm, s);
        } else {
            poll_dma_completion();
            s = static_cast<uint8_t>(io_.in(port, 1));
        }
        note_status(s); // the real status: a finished or failed command ends its state
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
        if (value & devctl::kSrst) abandon_commands(true); // ATA8-APT §11.2: commands are gone
        return;
    }
    if (has_bus_master() && port >= ports_.bus_master_base &&
        port < ports_.bus_master_base + kBusMasterBlockSize) {
        poll_dma_completion();
        return bm_write(static_cast<uint8_t>(port - ports_.bus_master_base), value);
    }
    io_.out(port, 1, value);
}

void IdeChannel::platform_reset() {
    dma_state_ = DmaState::Idle;
    dma_ = DmaRequest{};
    reset_command_state();
    devctl_ = devctl::kDefault;
    guest_bm_cmd_ = 0;
    bm_error_ = false;
    write_outstanding_ = kNoDevice;
    multiple_count_[0] = multiple_count_[1] = 0; // SET MULTIPLE is gone with the reset
    if (packet_scrub_bytes_) scrub_packet_data();
    if (shadow_ready_) {
        init_shadow_table();
        if (config_.trap_mode == TrapMode::Minimal) point_at_scratch();
    }
}

void IdeChannel::reset_command_state() {
    prd_written_ = false;
    pio_mode_ = PioMode::None;
    pio_sectors_left_ = 0;
    pio_pos_ = pio_len_ = 0;
    packet_pending_ = false;
    aborted_pending_ = false;
    fake_ata_error_ = false;
}

} // namespace sv::ide
