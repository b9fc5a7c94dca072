// The AHCI command slot engine (see ahci_command.hpp).
//
// Invariants, whatever the guest writes and whenever:
//  - Everything the HBA can fetch through this slot (the shadow header, the
//    shadow table, the shadow PRDT) names only the shadow table and the pool
//    chunks this slot holds; between commands the slot is a NOP with PRDTL 0.
//  - Every guest structure is read once, into hypervisor memory, before it is
//    validated; the guest's PRDT is never read again after prepare() (reads
//    go back through the regions kept then).
//  - On a keyed port, user data reaches the shadow only as XTS ciphertext
//    (storage::ShadowTransfer encrypts out of place), so a refused or
//    abandoned write leaves no plaintext where the device could fetch it.
#include "devices/storage/ahci/ahci_command.hpp"


#include "devices/storage/ahci/ahci_fis.hpp"
#include "devices/storage/common/shadow_copy.hpp"
#include "devices/storage/ide/ata_commands.hpp"

namespace sv::ahci {
namespace {

constexpr uint32_t kCflRegisterH2d = kRegisterH2dBytes / 4; // 5 DWORDs
constexpr uint64_t kPage = 4096;
// Header bits forwarded to the shadow header (AHCI 1.3.1 §4.2.2): A and W
// are set from the decoded command, PMP is always 0, B is refused.
constexpr uint32_t kForwardedBits = hdr::kP | hdr::kR | hdr::kC;

// Known opcodes that move data in a way the mediator does not mediate (ATA8-
// ACS / ACS-3 command tables): refused with a reason more useful than "not
// allowed" in the log. Everything unknown is refused too (fail closed).
constexpr bool known_data_mover(uint8_t op) {
    switch (op) {
    case ide::opcode::kDataSetManagement:  // 06h, TRIM (ACS-3 §7.5)
    case 0x26: case 0x36: case 0xc7: case 0xcc: // legacy TCQ READ/WRITE DMA QUEUED (EXT)
    case 0x2a: case 0x2b: case 0x3a: case 0x3b: // READ/WRITE STREAM (DMA) EXT
    case 0x2f: case 0x3f: case 0x47: case 0x57: // READ/WRITE LOG (DMA) EXT
    case 0x45:                               // WRITE UNCORRECTABLE EXT
    case ncq_opcode::kNcqNonData:            // 63h
    case ncq_opcode::kSendFpdmaQueued:       // 64h (DSM TRIM when queued)
    case ncq_opcode::kReceiveFpdmaQueued:    // 65h
    case 0x5c: case 0x5d: case 0x5e: case 0x5f: // TRUSTED RECEIVE/SEND (DMA)
    case 0x92: case 0x93:                    // DOWNLOAD MICROCODE (DMA)
    case 0xb0: case 0xb1:                    // SMART, DEVICE CONFIGURATION OVERLAY
    case 0xe4: case 0xe8: case 0xe9: case 0xeb: // READ/WRITE BUFFER (DMA)
    case 0xf1: case 0xf2: case 0xf3: case 0xf4: case 0xf5: case 0xf6: // SECURITY *
        return true;
    default: return false;
    }
}

constexpr bool moves_data(FisCommandKind k) {
    return is_user_data(k) || k == FisCommandKind::Identify || k == FisCommandKind::IdentifyPacket ||
           k == FisCommandKind::Packet;
}

} // namespace

void CommandSlot::bind(const SlotEnv& env, CommandHeader* shadow_header, DmaBuffer table) {
    if (active_) release(); // back to the pool it came from
    env_ = env;
    shadow_header_ = shadow_header;
    table_ = table;
    list_ = storage::ShadowList(chunk_storage_, kMaxSlotChunks);
    active_ = false;
    write_nop();
}

bool CommandSlot::queued() const { return active_ && queued_; }
bool CommandSlot::is_write() const { return active_ && write_; }
CommandFault CommandSlot::fault() const { return fault_; }
uint8_t CommandSlot::command() const { return command_; }
uint64_t CommandSlot::data_bytes() const { return bytes_; }
bool CommandSlot::active() const { return active_; }

void CommandSlot::write_nop() {
    // NOP (ATA8-ACS §7.19) with subcommand 0: the device aborts it (ERR/ABRT),
    // the HBA raises PxIS.TFES. PRDTL 0: nothing for the HBA to move.
    if (table_.host) {
        __builtin_memset(table_.host, 0, kPrdtOffset);
        table_.host[0] = fis_type::kRegisterH2d;
        table_.host[1] = fis_flag::kH2dCommand;
        table_.host[2] = ide::opcode::kNop;
    }
    if (shadow_header_) {
        shadow_header_->dw0 = kCflRegisterH2d;
        shadow_header_->prdbc = 0;
        shadow_header_->ctba = static_cast<uint32_t>(table_.phys);
        shadow_header_->ctbau = static_cast<uint32_t>(table_.phys >> 32);
        for (unsigned i = 0; i < 4; ++i) shadow_header_->reserved[i] = 0;
    }
}

Prepared CommandSlot::refuse_now(CommandFault why) {
    if (!list_.empty()) env_.pool->give_back(*env_.client, list_);
    fault_ = why;
    bytes_ = 0;
    write_ = false;
    queued_ = false;
    regions_ = 0;
    data_chunks_ = 0;
    data_ = Data::None;
    waited_ = false;
    if (env_.counters) env_.counters->refuse(refusal_of(why));
    write_nop();
    active_ = true;
    return Prepared::Refused;
}

void CommandSlot::refuse(CommandFault why) {
    if (active_) abandon();
    if (why == CommandFault::None || why == CommandFault::Count) why = CommandFault::NotAllowed;
    refuse_now(why);
}

CommandFault CommandSlot::check_command(const FisCommand& c, uint32_t dw0, bool atapi, bool sact_set,
                                        unsigned slot) const {
    using K = FisCommandKind;
    if (c.pm_port != 0) return CommandFault::PmPort;
    if (c.kind == K::Refused) {
        // The decoder refuses user data in CHS mode and every unknown opcode.
        if (c.command == ncq_opcode::kReadFpdmaQueued || c.command == ncq_opcode::kWriteFpdmaQueued ||
            ide::is_dma(ide::classify_ata_command(c.command).kind) ||
            ide::is_pio_user_data(ide::classify_ata_command(c.command).kind))
            return CommandFault::ChsUserData;
        return known_data_mover(c.command) ? CommandFault::NotMediated : CommandFault::NotAllowed;
    }
    if (c.kind == K::Packet && !atapi) return CommandFault::PacketNotAtapi;
    if (atapi && (is_user_data(c.kind) || c.kind == K::Identify)) return CommandFault::AtaOnAtapi;
    if (is_ncq(c.kind)) {
        if (c.tag != slot) return CommandFault::TagNotSlot;
        if (!sact_set) return CommandFault::FpdmaWithoutSact;
    } else if (sact_set) {
        return CommandFault::SactWithoutFpdma;
    }
    // §4.2.2 W: the HBA's data direction. PACKET takes the guest's W (the
    // CDB decides the direction); a non-data command moves nothing either way.
    const bool w = dw0 & hdr::kW;
    if (moves_data(c.kind) && c.kind != K::Packet && w != ahci::is_write(c.kind))
        return CommandFault::Direction;
    return CommandFault::None;
}

Prepared CommandSlot::prepare(uint64_t guest_clb, unsigned slot, bool atapi, bool sact_set,
                              storage::ShadowPool::Waiter* waiter) {
    if (active_) abandon();
    fault_ = CommandFault::None;
    command_ = 0;
    kind_ = FisCommandKind::Refused;
    bytes_ = 0;
    lba_ = 0;
    write_ = queued_ = false;
    data_ = Data::None;
    regions_ = data_chunks_ = 0;
    if (!env_.memory || !env_.pool || !env_.client || !table_.host || !shadow_header_ ||
        table_.size < kShadowTableBytes)
        return refuse_now(CommandFault::TooLarge); // not bound: no shadow memory

    // Step 1 (README §3): copy once. The header ...
    slot &= 31;
    guest_header_ = guest_clb + uint64_t{sizeof(CommandHeader)} * slot;
    const uint8_t* gh = env_.memory->map(guest_header_, sizeof(CommandHeader));
    if (!gh) return refuse_now(CommandFault::HeaderNotRam);
    CommandHeader h;
    __builtin_memcpy(&h, gh, sizeof h);
    const uint32_t dw0 = h.dw0;
    const uint32_t cfl = hdr::cfl(dw0);
    if (cfl < kCflRegisterH2d) return refuse_now(CommandFault::BadCfl);
    if (hdr::pmp(dw0) != 0) return refuse_now(CommandFault::PmPort);
    if (dw0 & hdr::kB) return refuse_now(CommandFault::Bist);
    const uint32_t prdtl = hdr::prdtl(dw0);

    // ... then the CFIS and ACMD, into a hypervisor copy that is decoded.
    const uint64_t table = command_table_address(h);
    if (table > ~uint64_t{0} - command_table_size(prdtl)) return refuse_now(CommandFault::TableNotRam);
    const uint8_t* gt = env_.memory->map(table, kPrdtOffset);
    if (!gt) return refuse_now(CommandFault::TableNotRam);
    CommandTableHeader t{};
    __builtin_memcpy(t.cfis, gt, cfl * 4);
    __builtin_memcpy(t.acmd, gt + offsetof(CommandTableHeader, acmd), sizeof t.acmd);

    // Step 2: decode and the command-level refusals.
    auto decoded = decode_command_fis(std::span<const uint8_t>(t.cfis, cfl * 4));
    if (!decoded.ok()) {
        command_ = t.cfis[2];
        return refuse_now(CommandFault::MalformedFis);
    }
    const FisCommand c = decoded.value();
    command_ = c.command;
    kind_ = c.kind;
    if (const CommandFault f = check_command(c, dw0, atapi, sact_set, slot); f != CommandFault::None)
        return refuse_now(f);

    queued_ = is_ncq(c.kind);
    lba_ = c.lba;
    if (c.kind == FisCommandKind::Packet) {
        write_ = dw0 & hdr::kW;
        bytes_ = packet_bytes(table, prdtl);
    } else {
        write_ = ahci::is_write(c.kind);
        bytes_ = c.data_bytes();
    }
    if (!moves_data(c.kind)) bytes_ = 0;
    if (c.kind == FisCommandKind::Identify) data_ = Data::Identify;
    else if (is_user_data(c.kind) && env_.cipher && env_.cipher->keyed()) data_ = Data::Encrypted;
    else if (bytes_) data_ = Data::Plain;
    if (bytes_ == 0) write_ = false; // nothing moves
    if (bytes_ && prdtl == 0) return refuse_now(CommandFault::PrdtlZero);

    // The shadow table: the copied CFIS and ACMD; the PRDT follows below.
    __builtin_memset(table_.host, 0, kPrdtOffset);
    __builtin_memcpy(table_.host, t.cfis, cfl * 4);
    __builtin_memcpy(table_.host + offsetof(CommandTableHeader, acmd), t.acmd, sizeof t.acmd);

    if (bytes_) {
        // Step 4 first (the walk of step 3 writes into the shadow): data
        // chunks, then for a read with a long PRDT its region list.
        storage::ShadowPool& pool = *env_.pool;
        data_chunks_ = pool.chunks_for(bytes_);
        if (data_chunks_ > kShadowPrdtEntries) return refuse_now(CommandFault::TooLarge);
        uint64_t borrow = uint64_t{data_chunks_} * pool.chunk_bytes();
        if (!write_) {
            const uint64_t most = prdtl < (bytes_ + 1) / 2 ? prdtl : (bytes_ + 1) / 2;
            if (most > kInlineRegions) borrow += (most - kInlineRegions) * sizeof(storage::GuestRegion);
        }
        switch (pool.try_borrow(*env_.client, borrow, list_, waiter)) {
        case storage::Borrow::Ok: break;
        case storage::Borrow::NotNow:
            if (!waited_ && env_.counters) ++env_.counters->pool_waits;
            waited_ = true;
            return Prepared::Wait;
        case storage::Borrow::Never: return refuse_now(CommandFault::TooLarge);
        }
        uint64_t total = 0;
        const CommandFault f = walk_prdt(table, prdtl, bytes_, write_, total);
        if (f != CommandFault::None) return refuse_now(f);
        if (!write_ && c.kind == FisCommandKind::Packet) {
            // The CDB, not the PRDT, says how much an ATAPI device moves: a
            // short transfer must hand the guest zeros, not another command's
            // bytes.
            storage::ShadowView(pool, list_).zero(bytes_);
        }
        if (write_ && env_.counters)
            (data_ == Data::Encrypted ? env_.counters->bytes_encrypted : env_.counters->bytes_copied) += bytes_;
        if (env_.counters) ++env_.counters->data_commands;
    }

    // Shadow header: CFL, A, W, P, R, C from the copy, PMP 0, the shadow PRDT.
    uint32_t sdw0 = cfl | (dw0 & kForwardedBits);
    if (c.kind == FisCommandKind::Packet) sdw0 |= hdr::kA;
    if (write_ && bytes_) sdw0 |= hdr::kW;
    build_shadow_prdt(sdw0);
    waited_ = false;
    active_ = true;
    return Prepared::Issue;
}

uint64_t CommandSlot::packet_bytes(uint64_t table, uint32_t prdtl) const {
    // First pass over the guest's PRDT, for the length only: the second
    // (walk_prdt) validates and is the only one whose regions are used, cut
    // at this length; a guest that shortens its PRDT in between is refused.
    uint64_t total = 0;
    for (uint32_t i = 0; i < prdtl && total < kMaxCommandBytes; ++i) {
        const uint8_t* p = env_.memory->map(table + kPrdtOffset + uint64_t{i} * sizeof(PrdtEntry),
                                            sizeof(PrdtEntry));
        if (!p) break;
        PrdtEntry e;
        __builtin_memcpy(&e, p, sizeof e);
        total += prd::byte_count(e.dw3);
    }
    total = total < kMaxCommandBytes ? total : kMaxCommandBytes;
    return total & ~uint64_t{1}; // an odd DBC is refused by the walk anyway
}

void CommandSlot::store_region(const storage::GuestRegion& r) {
    if (regions_ < kInlineRegions) {
        inline_regions_[regions_++] = r;
        return;
    }
    __builtin_memcpy(spilled_region(regions_), &r, sizeof r); // chunk sizes are multiples of 16: never split
    ++regions_;
}

uint8_t* CommandSlot::spilled_region(uint32_t i) const {
    const uint64_t off = uint64_t{i - kInlineRegions} * sizeof(storage::GuestRegion);
    const uint64_t cb = env_.pool->chunk_bytes();
    return env_.pool->host(list_.chunk(data_chunks_ + static_cast<uint32_t>(off / cb))) + off % cb;
}

storage::GuestRegion CommandSlot::region(uint32_t i) const {
    if (i < kInlineRegions) return inline_regions_[i];
    storage::GuestRegion r;
    __builtin_memcpy(&r, spilled_region(i), sizeof r);
    return r;
}

CommandFault CommandSlot::walk_prdt(uint64_t table, uint32_t prdtl, uint64_t bytes, bool write,
                                    uint64_t& total) {
    // Step 3 (§4.2.3.3): each entry copied once and checked; only the prefix
    // that covers `bytes` is used (the HBA stops at the device's count), the
    // last region cut to fit; entries beyond it are never mapped.
    storage::ShadowView view(*env_.pool, list_);
    const bool crypt = write && data_ == Data::Encrypted;
    return storage::with_request_simd(crypt, [&](const crypto::SimdGuard* guard) {
        storage::ShadowTransfer xfer(view, crypt ? env_.cipher : nullptr, lba_, guard, env_.bounce);
        total = 0;
        const uint64_t prdt = table + kPrdtOffset;
        const uint8_t* batch = nullptr;
        uint32_t batch_first = 0, batch_count = 0;
        for (uint32_t i = 0; i < prdtl && total < bytes; ++i) {
            if (i >= batch_first + batch_count) {
                // Map the entries up to the end of this page at once; if that
                // fails, this entry alone (a later one may be the bad one).
                const uint64_t at = prdt + uint64_t{i} * sizeof(PrdtEntry);
                uint64_t n = (kPage - at % kPage) / sizeof(PrdtEntry);
                if (n == 0) n = 1;
                if (n > prdtl - i) n = prdtl - i;
                batch_first = i;
                batch_count = static_cast<uint32_t>(n);
                batch = env_.memory->map(at, n * sizeof(PrdtEntry));
                if (!batch && n > 1) {
                    batch_count = 1;
                    batch = env_.memory->map(at, sizeof(PrdtEntry));
                }
                if (!batch) return CommandFault::PrdtNotRam;
            }
            PrdtEntry e;
            __builtin_memcpy(&e, batch + uint64_t{i - batch_first} * sizeof(PrdtEntry), sizeof e);
            if (e.dba & prd::kDbaReservedMask) return CommandFault::OddDba;
            if (!prd::even_byte_count(e.dw3)) return CommandFault::OddDbc;
            uint64_t len = prd::byte_count(e.dw3);
            if (len > bytes - total) len = bytes - total;
            const storage::GuestRegion r{data_address(e), len};
            storage::RegionFault rf = storage::RegionFault::None;
            auto mapped = storage::map_guest_region(*env_.memory, r, rf);
            if (!mapped.ok()) return CommandFault::DataNotRam;
            if (write) xfer.from_guest(mapped.value());
            else store_region(r);
            total += len;
        }
        if (total < bytes) return CommandFault::PrdtShort;
        if (write && (xfer.failed() || xfer.guest_bytes() != bytes || xfer.mid_sector()))
            return CommandFault::CryptoFailed;
        return CommandFault::None;
    });
}

void CommandSlot::build_shadow_prdt(uint32_t sdw0) {
    // One entry per run of physically contiguous chunks, at most 4 MiB each
    // (DBC is 22 bits), the last cut at bytes_: the HBA can reach nothing else.
    auto* prdt = reinterpret_cast<volatile PrdtEntry*>(table_.host + kPrdtOffset);
    uint32_t entries = 0;
    if (bytes_) {
        const storage::ShadowPool& pool = *env_.pool;
        const uint64_t cb = pool.chunk_bytes();
        uint64_t left = bytes_;
        uint32_t i = 0;
        while (left) {
            const uint64_t base = pool.phys(list_.chunk(i));
            uint64_t len = 0;
            do {
                const uint64_t take = left < cb ? left : cb;
                len += take;
                left -= take;
                ++i;
            } while (left && i < data_chunks_ && pool.phys(list_.chunk(i)) == base + len &&
                     len + cb <= prd::kMaxEntryBytes);
            prdt[entries].dba = static_cast<uint32_t>(base);
            prdt[entries].dbau = static_cast<uint32_t>(base >> 32);
            prdt[entries].reserved = 0;
            prdt[entries].dw3 = static_cast<uint32_t>(len - 1); // even len: bit 0 set
            ++entries;
        }
    }
    shadow_header_->prdbc = 0;
    shadow_header_->ctba = static_cast<uint32_t>(table_.phys);
    shadow_header_->ctbau = static_cast<uint32_t>(table_.phys >> 32);
    for (unsigned k = 0; k < 4; ++k) shadow_header_->reserved[k] = 0;
    shadow_header_->dw0 = sdw0 | entries << hdr::kPrdtlShift;
}

void CommandSlot::copy_to_guest() {
    // Step 2 of README §4: shadow -> the regions validated at prepare().
    storage::ShadowView view(*env_.pool, list_);
    if (data_ == Data::Identify) {
        // IDENTIFY DEVICE: the data-moving features the mediator does not
        // pass are hidden, with the same code as on IDE.
        if (env_.bounce.size() < kIdentifyBytes || bytes_ < kIdentifyBytes) return;
        uint64_t contiguous = 0;
        __builtin_memcpy(env_.bounce.data(), view.at(0, contiguous), kIdentifyBytes); // chunks >= 4 KiB
        ide::hide_trim_support(*reinterpret_cast<uint8_t(*)[kIdentifyBytes]>(env_.bounce.data()));
        uint64_t off = 0;
        for (uint32_t i = 0; i < regions_ && off < kIdentifyBytes; ++i) {
            const storage::GuestRegion r = region(i);
            uint8_t* dst = env_.memory->map(r.gpa, r.bytes);
            if (!dst) break;
            __builtin_memcpy(dst, env_.bounce.data() + off, r.bytes);
            off += r.bytes;
        }
        if (env_.counters) env_.counters->bytes_copied += off;
        return;
    }
    const bool crypt = data_ == Data::Encrypted;
    storage::with_request_simd(crypt, [&](const crypto::SimdGuard* guard) {
        storage::ShadowTransfer xfer(view, crypt ? env_.cipher : nullptr, lba_, guard, env_.bounce);
        for (uint32_t i = 0; i < regions_ && !xfer.failed(); ++i) {
            const storage::GuestRegion r = region(i);
            uint8_t* dst = env_.memory->map(r.gpa, r.bytes);
            if (!dst) break; // validated at prepare: guest RAM does not go away
            xfer.to_guest(dst, r.bytes);
        }
        if (xfer.failed()) fault_ = CommandFault::CryptoFailed;
        if (env_.counters)
            (crypt ? env_.counters->bytes_decrypted : env_.counters->bytes_copied) += xfer.guest_bytes();
        return 0;
    });
}

void CommandSlot::complete(bool ok) {
    if (!active_) return;
    if (ok && fault_ == CommandFault::None) {
        if (bytes_ && !write_) copy_to_guest();
        // PRDBC as the HBA counted it (never more than the shadow PRDT holds).
        uint32_t moved = shadow_header_->prdbc;
        if (moved > bytes_) moved = static_cast<uint32_t>(bytes_);
        if (uint8_t* p = env_.memory->map(guest_header_ + offsetof(CommandHeader, prdbc), sizeof moved))
            __builtin_memcpy(p, &moved, sizeof moved);
    }
    release();
}

void CommandSlot::abandon() {
    if (!active_) return;
    release();
}

void CommandSlot::release() {
    if (!list_.empty()) {
        // Keyed port: ATAPI bytes (plain by design) do not stay in chunks that
        // go back to a pool shared with encrypted commands.
        if (kind_ == FisCommandKind::Packet && env_.cipher && env_.cipher->keyed())
            storage::ShadowView(*env_.pool, list_).zero(bytes_);
        env_.pool->give_back(*env_.client, list_);
    }
    write_nop();
    active_ = false;
    queued_ = false;
    regions_ = 0;
    data_chunks_ = 0;
}

} // namespace sv::ahci
