// Bus-master half of the IDE mediator: virtual PRD pointer and command
// register, shadow PRD runs, encryption into and decryption out of the shadow
// buffer (SFF-8038i §2.1, §3 "Theory of operation").
//
// Invariant: on a keyed channel the shadow buffer only ever holds ciphertext.
// Guest data is encrypted out of place straight into it (sectors split across
// PRD regions go through a one-sector bounce buffer in hypervisor memory,
// storage::ShadowTransfer), so no error path and no still-running bus master
// can carry plaintext to disk.
#include "devices/storage/ide/ide_channel.hpp"

namespace sv::ide {

uint8_t IdeChannel::bm_read(uint8_t offset) {
    switch (offset) {
    case static_cast<uint8_t>(BmReg::Command):
        // Minimal mode: not trapped; reached only through a wider access.
        if (direct_bus_master()) return static_cast<uint8_t>(io_.in(bm_port(BmReg::Command), 1));
        return guest_bm_cmd_;
    case static_cast<uint8_t>(BmReg::Status): {
        uint8_t s = static_cast<uint8_t>(io_.in(bm_port(BmReg::Status), 1));
        return bm_error_ ? static_cast<uint8_t>(s | bmstatus::kError) : s;
    }
    case 4:
    case 5:
    case 6:
    case 7: return static_cast<uint8_t>(guest_prd_ >> (8 * (offset - 4)));
    default: return static_cast<uint8_t>(io_.in(static_cast<uint16_t>(ports_.bus_master_base + offset), 1));
    }
}

void IdeChannel::bm_write(uint8_t offset, uint8_t value) {
    switch (offset) {
    case static_cast<uint8_t>(BmReg::Command):
        // Minimal mode: the guest owns it (see ide_channel.hpp for why that is safe).
        if (direct_bus_master()) return io_.out(bm_port(BmReg::Command), 1, value);
        return bm_command_written(value);
    case static_cast<uint8_t>(BmReg::Status):
        if (value & bmstatus::kError) bm_error_ = false; // R/WC, SFF-8038i §2.1.2
        return io_.out(bm_port(BmReg::Status), 1, value);
    case 4:
    case 5:
    case 6:
    case 7: { // virtual: the real register keeps pointing at the shadow table
        const unsigned shift = 8 * (offset - 4);
        guest_prd_ = (guest_prd_ & ~(0xffu << shift)) | uint32_t{value} << shift;
        prd_written_ = true;
        return;
    }
    default: return io_.out(static_cast<uint16_t>(ports_.bus_master_base + offset), 1, value);
    }
}

void IdeChannel::bm_command_written(uint8_t value) {
    const uint8_t old = guest_bm_cmd_;
    guest_bm_cmd_ = value & bmcmd::kValidMask;
    const bool was_started = old & bmcmd::kStart;
    const bool start = value & bmcmd::kStart;
    if (was_started && !start) { // Stop (SFF-8038i §2.1.1: the driver clears START when done)
        stop_real_bus_master();
        dma_state_ = DmaState::Idle;
        if (packet_scrub_bytes_) scrub_packet_data(); // a stopped PACKET transfer is over too
        return;
    }
    if (!start || was_started) return; // direction bit only, or a second START: nothing to do
    if (dma_state_ == DmaState::Armed) return start_armed_ata_dma();
    if (packet_pending_) return start_packet_dma();
    if (aborted_pending_) return; // the NOP already completes the command with ABRT
    // No DMA command is waiting: never point the controller anywhere.
    reject(Reject::StartWithoutCommand);
    bm_error_ = true;
    fake_ata_error_ = true;
}

void IdeChannel::start_armed_ata_dma() {
    dma_.guest_table = guest_prd_;
    stop_real_bus_master(); // the shadow buffer is about to be rewritten
    PrdFault fault = PrdFault::None;
    bool ok;
    if (dma_.to_memory) {
        auto total = walk_guest_prd_table(memory_, dma_.guest_table, dma_.bytes, fault,
                                          [](const PrdSegment&) {});
        ok = total.ok() && total.value() == dma_.bytes;
    } else {
        auto total = fill_shadow_from_guest(dma_.guest_table, dma_.bytes, fault);
        ok = total.ok() && total.value() == dma_.bytes && !crypto_failed_;
    }
    if (!ok) {
        // The table was valid when the command was written, so the device is
        // already waiting for DMA: run it against scratch data (reads are
        // discarded, writes store encrypted zeros) and report the error.
        if (fault == PrdFault::None && crypto_failed_) reject(Reject::CryptoFailed);
        else reject_prd(fault == PrdFault::None ? PrdFault::LengthMismatch : fault);
        reject(Reject::PrdChangedAtStart);
        dma_.scratch = true;
        ++stats_.scratch_transfers;
        if (!dma_.to_memory) fill_shadow_with_scratch(dma_.bytes);
        bm_error_ = true;
        fake_ata_error_ = true;
    } else if (!dma_.to_memory) {
        (dma_.crypt ? stats_.bytes_encrypted : stats_.bytes_copied) += dma_.bytes;
    }
    run_shadow_dma(dma_.bytes, dma_.to_memory);
}

void IdeChannel::start_packet_dma() {
    // ATAPI (ATA8-ACS §7.18 PACKET): the transfer length lives in the CDB,
    // so the PRD total is taken as is (up to the shadow size); data passes
    // unencrypted but only through the shadow buffer.
    packet_pending_ = false;
    if (!shadow_ready_) return reject(Reject::NoShadowMemory);
    if (!has_bus_master()) return reject(Reject::PortsUnassigned);
    stop_real_bus_master();
    dma_ = DmaRequest{};
    dma_.guest_table = guest_prd_;
    dma_.to_memory = guest_bm_cmd_ & bmcmd::kWriteToMemory;
    dma_.crypt = false;
    PrdFault fault = PrdFault::None;
    Result<uint64_t> total = dma_.to_memory
        ? walk_guest_prd_table(memory_, dma_.guest_table, kShadowBufferBytes, fault,
                               [](const PrdSegment&) {})
        : fill_shadow_from_guest(dma_.guest_table, kShadowBufferBytes, fault);
    // As in setup_direct_packet_dma: keyed, ATAPI bytes are scrubbed from the
    // shadow when their transfer ends (finish_dma, STOP), or now if refused.
    if (!dma_.to_memory && xts_) packet_scrub_bytes_ = xfer_offset_;
    if (!total.ok() || total.value() == 0) {
        scrub_packet_data();
        reject_prd(fault == PrdFault::None ? PrdFault::LengthMismatch : fault);
        reject(Reject::PacketPrdInvalid);
        bm_error_ = true;
        return;
    }
    dma_.bytes = total.value();
    if (dma_.to_memory) { // a short transfer must not hand the guest stale shadow data
        shadow().zero(dma_.bytes);
    } else {
        stats_.bytes_copied += dma_.bytes;
    }
    if (xts_) packet_scrub_bytes_ = dma_.bytes;
    run_shadow_dma(dma_.bytes, dma_.to_memory);
}

void IdeChannel::init_shadow_table() {
    // Every entry names its own 64 KiB slice of the shadow buffer, the last
    // one ends the table: whatever the bus master fetches, in any order and
    // however torn by a concurrent rewrite, stays in the shadow buffer
    // (builds below only change byte_count/flags, never a base).
    auto* table = reinterpret_cast<volatile PrdEntry*>(shadow_table_.host);
    for (uint32_t i = 0; i < kShadowPrdEntries; ++i) {
        table[i].base = static_cast<uint32_t>(pool_.phys(shadow_list_.chunk(i)));
        table[i].byte_count = 0; // 64 KiB
        table[i].flags = i + 1 == kShadowPrdEntries ? kPrdEot : 0;
    }
}

bool IdeChannel::build_shadow(uint64_t bytes) {
    auto* table = reinterpret_cast<volatile PrdEntry*>(shadow_table_.host);
    return size_shadow_prd_table(table, kShadowPrdEntries, bytes).ok();
}

void IdeChannel::point_at_scratch() {
    if (!shadow_ready_) return;
    shadow().zero(kScratchBytes); // the start of chunk 0, which descriptor 0 names
    auto* table = reinterpret_cast<volatile PrdEntry*>(shadow_table_.host);
    table[0].byte_count = static_cast<uint16_t>(kScratchBytes);
    table[0].flags = kPrdEot;
}

void IdeChannel::scrub_packet_data() {
    // Keyed channel: ATAPI bytes (unencrypted by design) never stay in the
    // shadow buffer beyond their own transfer.
    if (shadow_ready_) shadow().zero(packet_scrub_bytes_);
    packet_scrub_bytes_ = 0;
}

void IdeChannel::start_direct_ata_dma(const AtaCommand& cmd, uint8_t op, uint64_t lba,
                                      uint32_t sectors, uint8_t device) {
    // Minimal mode: the guest sets START itself, possibly right after this
    // write (or even before it), so the shadow must be complete now.
    dma_ = DmaRequest{};
    dma_.lba = lba;
    dma_.bytes = uint64_t{sectors} * kSectorSize;
    dma_.to_memory = cmd.kind == CommandKind::DmaRead;
    dma_.crypt = xts_ != nullptr;
    dma_.device = device;
    dma_.guest_table = guest_prd_; // the table the data goes back through
    PrdFault fault = PrdFault::None;
    bool ok;
    if (dma_.to_memory) {
        auto total = walk_guest_prd_table(memory_, dma_.guest_table, dma_.bytes, fault,
                                          [](const PrdSegment&) {});
        ok = total.ok() && total.value() == dma_.bytes;
    } else { // validation and encryption in one walk (each descriptor read once)
        auto total = fill_shadow_from_guest(dma_.guest_table, dma_.bytes, fault);
        ok = total.ok() && total.value() == dma_.bytes && !crypto_failed_;
    }
    if (ok && !build_shadow(dma_.bytes)) ok = false; // cannot happen: bytes <= shadow, even
    if (!ok) {
        if (fault == PrdFault::None && crypto_failed_) reject(Reject::CryptoFailed);
        else reject_prd(fault == PrdFault::None ? PrdFault::LengthMismatch : fault);
        return abort_with_nop(); // and the table goes to scratch
    }
    if (!dma_.to_memory) {
        (dma_.crypt ? stats_.bytes_encrypted : stats_.bytes_copied) += dma_.bytes;
        write_outstanding_ = device;
    }
    ++stats_.dma_transfers;
    ++stats_.data_commands;
    dma_state_ = DmaState::Running;
    io_.out(cmd_port(CmdReg::StatusCommand), 1, op);
}

bool IdeChannel::setup_direct_packet_dma() {
    // ATAPI DMA (ATA8-ACS §7.18): the length is in the CDB, so the guest's
    // PRD total is taken (up to the shadow size). libata's bmdma_setup wrote
    // the direction (and the PRD pointer) before the PACKET command.
    dma_ = DmaRequest{};
    dma_.packet = true;
    dma_.device = packet_device_;
    dma_.guest_table = guest_prd_;
    dma_.crypt = false;
    dma_.to_memory = io_.in(bm_port(BmReg::Command), 1) & bmcmd::kWriteToMemory;
    if (!dma_.to_memory && xts_ && write_outstanding_ != kNoDevice) {
        // The disk may still be in the data-out phase of a WRITE DMA (other
        // device selected meanwhile): it must never pull guest plaintext.
        reject(Reject::PacketDuringAtaWrite);
        return false; // aborted with NOP: the table goes to scratch
    }
    PrdFault fault = PrdFault::None;
    Result<uint64_t> total = dma_.to_memory
        ? walk_guest_prd_table(memory_, dma_.guest_table, kShadowBufferBytes, fault,
                               [](const PrdSegment&) {})
        : fill_shadow_from_guest(dma_.guest_table, kShadowBufferBytes, fault);
    if (!dma_.to_memory && xts_) packet_scrub_bytes_ = xfer_offset_; // even on failure
    if (!total.ok() || total.value() == 0 || !build_shadow(total.value())) {
        scrub_packet_data();
        reject_prd(fault == PrdFault::None ? PrdFault::LengthMismatch : fault);
        reject(Reject::PacketPrdInvalid);
        return false;
    }
    dma_.bytes = total.value();
    if (dma_.to_memory) { // a short transfer must not hand the guest stale shadow data
        shadow().zero(dma_.bytes);
    } else {
        stats_.bytes_copied += dma_.bytes;
    }
    if (xts_) packet_scrub_bytes_ = dma_.bytes;
    ++stats_.dma_transfers;
    ++stats_.data_commands;
    dma_state_ = DmaState::Running;
    return true;
}

bool IdeChannel::direct_done(uint8_t real_bm_status, uint8_t ata_status) {
    // SFF-8038i §2.1.2: ACTIVE clears when the last PRD region is done (or
    // when the driver clears START, §2.1.1); INTERRUPT is set by INTRQ. The
    // device finished its command when BSY and DRQ are clear (ATA8-APT
    // §6.1.9). Before START ACTIVE is clear too, but the device then shows
    // BSY or DRQ for its pending data phase.
    if ((real_bm_status & bmstatus::kActive) && !(real_bm_status & bmstatus::kInterrupt)) return false;
    if (ata_status & (status::kBsy | status::kDrq)) return false;
    // The status is the selected device's: the command's device must be it.
    const uint8_t dev = static_cast<uint8_t>(io_.in(cmd_port(CmdReg::Device), 1));
    return ((dev & device::kDev) ? 1 : 0) == dma_.device;
}

void IdeChannel::poll_direct_completion() {
    if (dma_state_ != DmaState::Running || !has_bus_master()) return;
    const uint8_t bm = static_cast<uint8_t>(io_.in(bm_port(BmReg::Status), 1));
    if ((bm & bmstatus::kActive) && !(bm & bmstatus::kInterrupt)) return;
    // Alternate Status does not clear a pending INTRQ (ATA8-APT §6.2.2).
    const uint16_t port = ports_.control ? ports_.control : cmd_port(CmdReg::StatusCommand);
    const uint8_t ata = static_cast<uint8_t>(io_.in(port, 1));
    if (direct_done(bm, ata)) finish_direct_dma(bm, ata);
}

void IdeChannel::finish_direct_dma(uint8_t real_bm_status, uint8_t ata_status) {
    dma_state_ = DmaState::Done; // never twice
    if (!dma_.to_memory) {
        if (!dma_.packet && write_outstanding_ == dma_.device) write_outstanding_ = kNoDevice;
        return scrub_packet_data();
    }
    bool deliver = !(ata_status & (status::kErr | status::kDf)) && !(real_bm_status & bmstatus::kError);
    // PACKET: the direction is the guest's R/W bit, at set-up and now.
    if (dma_.packet && !(io_.in(bm_port(BmReg::Command), 1) & bmcmd::kWriteToMemory)) deliver = false;
    if (deliver) {
        PrdFault fault = PrdFault::None;
        auto done = drain_shadow_to_guest(dma_.guest_table, dma_.bytes, fault);
        if (!done.ok() || crypto_failed_) {
            if (!done.ok()) reject_prd(fault);
            reject(crypto_failed_ ? Reject::CryptoFailed : Reject::DmaBufferChanged);
            fake_ata_error_ = true; // the guest sees this status with ERR
        }
        if (done.ok()) (dma_.crypt ? stats_.bytes_decrypted : stats_.bytes_copied) += done.value();
    }
    scrub_packet_data();
}

void IdeChannel::run_shadow_dma(uint64_t bytes, bool to_memory) {
    if (!build_shadow(bytes)) { // cannot happen: bytes <= kShadowBufferBytes and even, checked by callers
        bm_error_ = true;
        return;
    }
    io_.out(bm_port(BmReg::PrdTable), 4, static_cast<uint32_t>(shadow_table_.phys));
    const uint8_t dir = to_memory ? bmcmd::kWriteToMemory : 0;
    io_.out(bm_port(BmReg::Command), 1, dir);
    io_.out(bm_port(BmReg::Command), 1, dir | bmcmd::kStart);
    ++stats_.dma_transfers;
    ++stats_.data_commands;
    dma_state_ = DmaState::Running;
}

void IdeChannel::stop_real_bus_master() {
    if (!has_bus_master()) return;
    io_.out(bm_port(BmReg::Command), 1, guest_bm_cmd_ & bmcmd::kWriteToMemory);
}

void IdeChannel::poll_dma_completion() {
    if (direct_bus_master()) return poll_direct_completion();
    if (dma_state_ != DmaState::Running || !has_bus_master()) return;
    const uint8_t s = static_cast<uint8_t>(io_.in(bm_port(BmReg::Status), 1));
    // SFF-8038i §2.1.2: ACTIVE clears when the last PRD region is done;
    // INTERRUPT with ACTIVE still set means the device ended early.
    if ((s & bmstatus::kActive) && !(s & bmstatus::kInterrupt)) return;
    finish_dma(s);
}

void IdeChannel::finish_dma(uint8_t real_bm_status) {
    dma_state_ = DmaState::Done;
    if (dma_.to_memory && !dma_.scratch && !(real_bm_status & bmstatus::kError)) {
        PrdFault fault = PrdFault::None;
        auto done = drain_shadow_to_guest(dma_.guest_table, dma_.bytes, fault);
        if (!done.ok()) reject_prd(fault); // guest changed its table mid-flight: its loss
        if (crypto_failed_) reject(Reject::CryptoFailed);
        if (done.ok()) (dma_.crypt ? stats_.bytes_decrypted : stats_.bytes_copied) += done.value();
    }
    // Lean/Full like Minimal (finish_direct_dma): ATAPI bytes leave the
    // shadow with the end of their transfer (found by IdeHostileFuzz).
    if (packet_scrub_bytes_) scrub_packet_data();
}

Result<uint64_t> IdeChannel::fill_shadow_from_guest(uint32_t table, uint64_t max_bytes,
                                                    PrdFault& fault) {
    // One walk validates the table and moves the data (each descriptor read
    // once); the SIMD guard is held for the whole request. ATAPI totals
    // (no cipher) need not be sector multiples: those are copied bytewise.
    const storage::SectorCipher* cipher = request_cipher();
    return storage::with_request_simd(cipher != nullptr, [&](const crypto::SimdGuard* guard) {
        storage::ShadowTransfer t(shadow(), cipher, dma_.lba, guard, bounce_);
        auto total = walk_guest_prd_table(memory_, table, max_bytes, fault,
                                          [&t](const PrdSegment& seg) { t.from_guest(seg.host, seg.bytes); });
        xfer_offset_ = t.shadow_bytes();
        crypto_failed_ = t.failed();
        return total;
    });
}

Result<uint64_t> IdeChannel::drain_shadow_to_guest(uint32_t table, uint64_t max_bytes,
                                                   PrdFault& fault) {
    const storage::SectorCipher* cipher = request_cipher();
    return storage::with_request_simd(cipher != nullptr, [&](const crypto::SimdGuard* guard) {
        storage::ShadowTransfer t(shadow(), cipher, dma_.lba, guard, bounce_);
        auto total = walk_guest_prd_table(memory_, table, max_bytes, fault,
                                          [&t](const PrdSegment& seg) { t.to_guest(seg.host, seg.bytes); });
        xfer_offset_ = t.shadow_bytes();
        crypto_failed_ = t.failed();
        return total;
    });
}

void IdeChannel::fill_shadow_with_scratch(uint64_t bytes) {
    // Encrypted zeros (no guest plaintext); zeros again if the engine refuses.
    const storage::ShadowView view = shadow();
    view.zero(bytes);
    if (!dma_.crypt) return;
    const bool ok = storage::with_request_simd(true, [&](const crypto::SimdGuard* guard) {
        for (uint64_t off = 0; off < bytes;) {
            uint64_t contiguous;
            uint8_t* p = view.at(off, contiguous);
            const uint64_t run = bytes - off < contiguous ? bytes - off : contiguous;
            if (!cipher_.crypt(guard, p, p, run, dma_.lba + off / kSectorSize, true)) return false;
            off += run;
        }
        return true;
    });
    if (!ok) view.zero(bytes);
}

} // namespace sv::ide
