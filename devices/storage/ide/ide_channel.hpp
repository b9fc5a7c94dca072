// Mediator for one bus-master IDE channel (PIIX, SFF-8038i) under an
// unmodified guest driver. It owns the few trapped ports of the channel:
//   - Command/Status (+7): classifies each command (ata_commands.hpp), reads
//     the task file back from the device, validates the guest PRD table and
//     aborts what it refuses by issuing NOP (ATA8-ACS §7.19: NOP always ends
//     with ERR/ABRT and INTRQ, which libata reports as a device error).
//   - Data (+0): PIO user data is decrypted/encrypted one 512-byte sector at
//     a time, tweak = LBA; IDENTIFY data has TRIM support hidden.
//   - PRD pointer (bm+4..7): virtual; the real register only ever holds the
//     shadow PRD table, over the hypervisor-owned shadow buffer.
//   - Bus Master Command (bm+0): trapped in TrapMode::Lean/Full only.
//   - Device Control/Alt Status (ctl) and BM Status (bm+2): TrapMode::Full.
//
// TrapMode::Minimal (default): bm+0 is NOT trapped, the guest starts and
// stops the real bus master itself. Everything is therefore done when the
// guest writes the Command register: task file read back, guest PRD table
// validated, shadow PRD entries built and, for writes, guest buffers
// encrypted into the shadow buffer; only then is the opcode forwarded.
// Refused commands get NOP and the shadow table is switched to a scratch
// descriptor (first 4 KiB of the shadow buffer, zeroed). Reads are decrypted
// shadow -> guest at the first trapped access that sees the transfer done
// (real BM Status: ACTIVE clear or INTERRUPT set; real ATA status: BSY and
// DRQ clear; the command's device selected) - with Linux that is the status
// read in the interrupt handler, before the guest sees that status - or at
// the next command write at the latest. Exactly once (DmaState::Done).
//
// Command state lives exactly as long as the device phase the mediator saw
// start (ide_phase.cpp): PACKET (and with it raw data-port pass-through and
// unencrypted ATAPI DMA) only to a device seen answering IDENTIFY PACKET
// DEVICE, pass-through only while that device shows DRQ; a refused command
// is a NOP and leaves the channel idle.
//
// Why an untrapped bm+0 is safe (hostile guest, any START/stop sequence):
//  1. SFF-8038i §2.1.3: the bus master takes every descriptor from the table
//     at the Descriptor Table Pointer register, and §1.2: every region it
//     touches is named by a descriptor of that table. The register is
//     trapped (bm+4..7 virtual), written only by us, and always points at
//     the shadow table.
//  2. Every descriptor the bus master can ever read is a shadow descriptor:
//     init() fills all 512 entries with {shadow + i*64 KiB, 64 KiB} and EOT
//     on entry 511, and later builds only ever rewrite count/flags of entry i
//     with the same base (scratch = entry 0, 4 KiB, EOT). A walk past a stale
//     EOT, or a descriptor torn by a concurrent rewrite (the bus master may
//     fetch while we write, §3), still names shadow + i*64 KiB with at most
//     64 KiB: inside the 32 MiB shadow buffer, and ends at entry 511 at the
//     latest. So START with no command, START twice, START after a refused
//     command or START racing a new command can only move bytes between the
//     device and the shadow buffer - never guest RAM, never other hypervisor
//     memory.
//  3. Bytes only move when the device runs a DMA data phase (§3: the bus
//     master transfers on the device's DMARQ; without one it stays ACTIVE and
//     idle). A device only enters one on a command we forwarded: ATA DMA
//     commands after the shadow holds their ciphertext (a keyed channel never
//     stores guest plaintext in the shadow for ATA), PACKET after its setup,
//     or NOP for refusals (no data phase).
//  4. On a keyed channel the shadow buffer holds ciphertext (out-of-place XTS
//     straight from guest memory), zeros (scratch, zeroed PACKET data-in) or
//     disk/CD data. The one exception is ATAPI data-out (unencrypted by
//     design, to the CD): it is refused while an ATA WRITE DMA on this
//     channel has not been seen complete (the disk could still be in its
//     data-out phase and pull it), and scrubbed when the PACKET completes
//     or at the next command.
//  5. The R/W bit (§2.1.1 bit 3) is the guest's: a wrong direction only
//     reverses a shadow<->device transfer. For PACKET the direction is read
//     from the real register at the PACKET command and again at completion;
//     data goes back to the guest only if both say device -> memory.
//  6. Read data goes to the guest through a fresh walk of the PRD table
//     captured at the command write (every region through GuestMemory::map);
//     a table the guest broke meanwhile delivers nothing and shows ERR.
// What a hostile guest can still do: corrupt its own transfers (e.g. START
// a write twice, reverse the direction) and make its commands fail.
// If init() fails, Minimal falls back to the Lean trap set (bm+0 trapped):
// the real PRD register was never set, so the guest may not own START.
//
// Write: guest buffers -> XTS -> shadow, then START. Read: on completion
// (first trapped access that sees the bus master done) shadow -> XTS -> guest
// before the guest sees that status. Interrupts stay with the guest.
//
// Shadow memory per channel, taken once by init(): a 4 KiB shadow PRD table
// (512 descriptors of 64 KiB) from the DMA allocator, and 32 MiB of shadow
// buffer (the largest ATA transfer, LBA48 count 0 = 65536 sectors) as 512
// chunks of 64 KiB from the shared shadow pool (devices/storage/common/
// shadow_pool.hpp), reserved for this channel; all below 4 GiB. Shadow
// descriptor i names chunk i. The channel never gives its chunks back: in
// Minimal mode the guest owns START, so the bus master may fetch any of the
// 512 descriptors at any time (point 2 above) and every chunk they name
// must stay this channel's. Nothing is allocated per request.
//
// The data path uses the shared storage layer: the guest PRD walk
// (prd_table.hpp) is the producer of guest regions, storage::ShadowTransfer
// encrypts/decrypts between them and the chunks (split sectors through one
// bounce sector), with the SIMD guard once per request.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "core/dma_memory.hpp"
#include "core/guest_memory.hpp"
#include "core/io.hpp"
#include "crypto/xts.hpp"
#include "devices/storage/common/sector_cipher.hpp"
#include "devices/storage/common/shadow_copy.hpp"
#include "devices/storage/common/shadow_pool.hpp"
#include "devices/storage/ide/ata_commands.hpp"
#include "devices/storage/ide/ide_registers.hpp"
#include "devices/storage/ide/ide_stats.hpp"
#include "devices/storage/ide/prd_table.hpp"
#include "lib/result.hpp"

namespace sv::ide {

constexpr uint64_t kShadowBufferBytes = 65536ull * kSectorSize; // 32 MiB
constexpr uint32_t kShadowPrdEntries = kShadowBufferBytes / kPrdBoundary; // 512
constexpr size_t kMaxTrappedPorts = 9;
// Minimal mode: refused DMA commands leave the shadow table at one EOT
// descriptor over the first kScratchBytes of the shadow buffer, zeroed.
constexpr uint32_t kScratchBytes = 4096;

class IdeChannel final : public IoHandler {
  public:
    struct Ports {
        uint16_t command_base = 0;    // BAR0/BAR2 or 0x1F0/0x170
        uint16_t control = 0;         // Device Control/Alt Status: 0x3F6/0x376 or BAR1/3 + 2
        uint16_t bus_master_base = 0; // BAR4 + 0 (primary) / + 8 (secondary)
    };
    enum class TrapMode : uint8_t {
        // +0, +7, bm+4..7 (default). The guest owns the real bus-master
        // Command register; DMA is prepared at the command write. Linux
        // ata_piix: 7 status reads + command + PRD pointer per DMA command.
        Minimal,
        // +0, +7, bm+0, bm+4..7: START is virtual, DMA prepared at START
        // (START-time PRD failures are reported through ATA status ERR).
        Lean,
        // Lean + ctl and bm+2: Device Control tracked exactly (instead of
        // assumed devctl::kDefault when restoring it after a HOB read) and
        // BM Status shows ERROR too.
        Full,
    };
    struct Config {
        Ports ports;
        TrapMode trap_mode = TrapMode::Minimal;
    };

    // `xts` == nullptr: no encryption, but DMA still goes through shadow PRDs.
    // The shadow PRD table comes from `dma`, the shadow buffer from `pool`.
    IdeChannel(const Config& config, PortIo& io, GuestMemory& memory, DmaAllocator& dma,
               storage::ShadowPool& pool, const crypto::Xts* xts);

    // Allocates the shadow PRD table, reserves and borrows the shadow buffer
    // (kShadowBufferBytes) from the pool and points the real PRD register at
    // the shadow table. On failure the channel still runs, but aborts every
    // DMA command (fail closed).
    [[nodiscard]] Result<void> init();

    // The ports the hypervisor must intercept (both directions) for this
    // channel; writes up to kMaxTrappedPorts entries, returns the count.
    size_t trapped_ports(uint16_t (&out)[kMaxTrappedPorts]) const { return trapped_ports_at(ports_, out); }
    // The same for other ports (where a BAR move is about to put them).
    size_t trapped_ports_at(const Ports& ports, uint16_t (&out)[kMaxTrappedPorts]) const;
    bool owns_port(uint16_t port) const;
    // The guest moved a BAR (PCI config write seen by devices/pci).
    void set_ports(const Ports& ports);
    // The controller was reset under us (S3 wake-up): no command, no DMA,
    // no PIO phase survives; the shadow table is back at the scratch
    // descriptor. set_ports() then re-points the real PRD register.
    void platform_reset();

    uint32_t io_in(uint16_t port, uint8_t size) override;
    void io_out(uint16_t port, uint8_t size, uint32_t value) override;
    void io_in_string(uint16_t port, uint8_t size, std::span<uint8_t> data) override;
    void io_out_string(uint16_t port, uint8_t size, std::span<const uint8_t> data) override;

    const IdeStats& stats() const { return stats_; }
    // The trap mode in force (Minimal falls back to Lean without shadow memory).
    TrapMode trap_mode() const;
    // Shadow buffer (what the real bus master may touch), for tests/diagnostics:
    // the lowest chunk and the span up to the end of the highest one (equal
    // to kShadowBufferBytes when the chunks are contiguous, as from a fresh pool).
    uint64_t shadow_buffer_phys() const;
    uint64_t shadow_buffer_bytes() const;
    // Whether [phys, phys + len) lies inside one of the channel's chunks.
    bool shadow_contains(uint64_t phys, uint64_t len) const;
    uint64_t shadow_table_phys() const { return shadow_table_.phys; }

  private:
    enum class DmaState : uint8_t { Idle, Armed, Running, Done };
    // None: no data phase we know of: reads pass through, writes are dropped.
    // Packet: ATAPI PIO (CDB and data) passes through, to the PACKET's device
    // only, while that device shows DRQ (see ide_phase.cpp).
    // IdentifyPacket: IDENTIFY PACKET DEVICE data-in; its word 0 tells us
    // whether the device really is a packet (ATAPI) device.
    enum class PioMode : uint8_t { None, ReadUserData, WriteUserData, Identify, IdentifyPacket, Packet };

    struct DmaRequest {
        uint64_t lba = 0;
        uint64_t bytes = 0;
        uint32_t guest_table = 0; // PRD pointer captured at START
        bool to_memory = false;   // device -> memory (ATA read)
        bool crypt = false;       // through XTS (ATA user data on a keyed channel)
        bool scratch = false;     // START-time validation failed: data discarded
        bool packet = false;      // ATAPI PACKET DMA (Minimal mode)
        uint8_t device = 0;       // device the command went to (Minimal mode)
    };
    static constexpr uint8_t kNoDevice = 0xff;

    // ide_channel.cpp: register dispatch and commands.
    uint8_t read_byte(uint16_t port);
    void write_byte(uint16_t port, uint8_t value);
    void command_written(uint8_t op);
    void start_dma_command(const AtaCommand& cmd, uint8_t op);
    void start_pio_command(const AtaCommand& cmd, uint8_t op);
    void abort_with_nop();
    void reject(Reject why);
    void reject_prd(PrdFault why);
    void reset_command_state();
    // ide_phase.cpp: the life of a command's state (the rule of issue #7
    // class 3: state that enables pass-through or a DMA lives exactly as long
    // as the device phase the mediator saw start).
    uint8_t selected_device();
    bool tracking_a_command() const;
    void note_status(uint8_t real_status);
    void end_command_phase();
    void abandon_commands(bool stop_bus_master);
    bool packet_allowed();
    uint16_t cmd_port(CmdReg r) const {
        return static_cast<uint16_t>(ports_.command_base + static_cast<uint16_t>(r));
    }
    // BAR4 unassigned (0): never touch ports 0..7 (the ISA DMA controller).
    bool has_bus_master() const { return ports_.bus_master_base != 0; }
    uint16_t bm_port(BmReg r) const {
        return static_cast<uint16_t>(ports_.bus_master_base + static_cast<uint16_t>(r));
    }

    // ide_dma.cpp: bus master and shadow buffers.
    uint8_t bm_read(uint8_t offset);
    void bm_write(uint8_t offset, uint8_t value);
    void bm_command_written(uint8_t value);
    void start_armed_ata_dma();
    void start_packet_dma();
    void run_shadow_dma(uint64_t bytes, bool to_memory);
    void stop_real_bus_master();
    void poll_dma_completion();
    void finish_dma(uint8_t real_bm_status);
    // Minimal mode (guest owns the real bm+0), ide_dma.cpp.
    bool direct_bus_master() const { return trap_mode() == TrapMode::Minimal; }
    void start_direct_ata_dma(const AtaCommand& cmd, uint8_t op, uint64_t lba, uint32_t sectors,
                              uint8_t device);
    [[nodiscard]] bool setup_direct_packet_dma();
    bool direct_done(uint8_t real_bm_status, uint8_t ata_status);
    void poll_direct_completion(); // at accesses other than a status read
    void finish_direct_dma(uint8_t real_bm_status, uint8_t ata_status);
    void point_at_scratch();
    [[nodiscard]] bool build_shadow(uint64_t bytes);
    void scrub_packet_data();
    void init_shadow_table();
    [[nodiscard]] Result<uint64_t> fill_shadow_from_guest(uint32_t table, uint64_t max_bytes,
                                                          PrdFault& fault);
    [[nodiscard]] Result<uint64_t> drain_shadow_to_guest(uint32_t table, uint64_t max_bytes,
                                                         PrdFault& fault);
    void fill_shadow_with_scratch(uint64_t bytes);
    storage::ShadowView shadow() const { return storage::ShadowView(pool_, shadow_list_); }
    const storage::SectorCipher* request_cipher() const { return dma_.crypt ? &cipher_ : nullptr; }

    // ide_pio.cpp: data port.
    void pio_read(uint8_t* dst, size_t n);
    void pio_write(const uint8_t* src, size_t n);
    void pio_pull_sector();
    void pio_push_sector();
    void learn_packet_device(bool data_phase_seen);
    bool raw_data_out_allowed();

    Config config_;
    Ports& ports_ = config_.ports;
    PortIo& io_;
    GuestMemory& memory_;
    DmaAllocator& dma_alloc_;
    storage::ShadowPool& pool_;
    const crypto::Xts* xts_;
    storage::SectorCipher cipher_; // 512-byte sectors, tweak = LBA
    IdeStats stats_;

    DmaBuffer shadow_table_;
    storage::ShadowPool::Client pool_client_;
    uint32_t shadow_chunks_[kShadowPrdEntries] = {};
    storage::ShadowList shadow_list_{shadow_chunks_, kShadowPrdEntries}; // chunk i <-> descriptor i
    bool shadow_ready_ = false;

    // Guest-visible bus-master state (virtualized).
    uint32_t guest_prd_ = 0;
    uint8_t guest_bm_cmd_ = 0;
    bool bm_error_ = false;      // ERROR shown in BM Status until the guest clears it
    bool fake_ata_error_ = false; // ERR shown in ATA status until the next command

    uint8_t devctl_ = devctl::kDefault;
    uint8_t multiple_count_[2] = {};

    DmaState dma_state_ = DmaState::Idle;
    DmaRequest dma_;
    bool packet_pending_ = false; // PACKET sent: a START is an ATAPI DMA
    uint8_t packet_device_ = 0;   // device the PACKET command went to
    bool aborted_pending_ = false; // last command replaced by NOP: swallow its START
    bool prd_written_ = false;     // PRD pointer written since the last command (DMA set-up)
    uint8_t write_outstanding_ = kNoDevice; // ATA WRITE DMA forwarded, completion not seen
    uint64_t packet_scrub_bytes_ = 0;       // ATAPI bytes in the shadow (keyed channel): zero them
    uint8_t cmd_device_ = 0;                // device selected when the last command was written
    // Device answered IDENTIFY PACKET DEVICE with packet-device identify data
    // (ATA8-ACS §7.17.7.1 word 0 bits 15:14 = 10b). Only such a device gets
    // PACKET, and with it raw data-port pass-through.
    bool packet_device_seen_[2] = {};

    // Result of the last fill/drain: shadow bytes written (complete sectors
    // when encrypting) and whether the engine refused; the one-sector bounce
    // buffer for sectors split across PRD regions (storage::ShadowTransfer).
    uint64_t xfer_offset_ = 0;
    bool crypto_failed_ = false;
    alignas(16) uint8_t bounce_[kSectorSize] = {};

    PioMode pio_mode_ = PioMode::None;
    uint64_t pio_lba_ = 0;
    uint32_t pio_sectors_left_ = 0;
    uint32_t pio_pos_ = 0;
    uint32_t pio_len_ = 0;
    alignas(16) uint8_t pio_sector_[kSectorSize] = {};

    uint32_t logged_ = 0; // Reject / PrdFault kinds already logged once
};

} // namespace sv::ide
