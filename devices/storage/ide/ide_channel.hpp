// Mediator for one bus-master IDE channel (PIIX, SFF-8038i) under an
// unmodified guest driver. It owns the few trapped ports of the channel:
//   - Command/Status (+7): classifies each command (ata_commands.hpp), reads
//     the task file back from the device, validates the guest PRD table and
//     aborts what it refuses by issuing NOP (ATA8-ACS §7.19: NOP always ends
//     with ERR/ABRT and INTRQ, which libata reports as a device error).
//   - Data (+0): PIO user data is decrypted/encrypted one 512-byte sector at
//     a time, tweak = LBA; IDENTIFY data has TRIM support hidden.
//   - Bus master Command (bm+0) and PRD pointer (bm+4..7): the guest's PRD
//     pointer is virtual; the controller only ever sees the shadow PRD table
//     over the hypervisor-owned shadow buffer.
//   - Optionally Device Control/Alt Status (ctl) and BM Status (bm+2), see
//     Config::trap_control_and_bm_status.
// Write: guest buffers -> XTS -> shadow, then START. Read: on completion
// (first trapped access that sees the bus master done) shadow -> XTS -> guest
// before the guest sees that status. Interrupts stay with the guest.
//
// Shadow memory per channel, allocated once by init(): a 32 MiB buffer (the
// largest ATA transfer, LBA48 count 0 = 65536 sectors) plus a 4 KiB shadow
// PRD table (512 descriptors of 64 KiB), both below 4 GiB. Nothing per request.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "core/dma_memory.hpp"
#include "core/guest_memory.hpp"
#include "core/io.hpp"
#include "crypto/xts.hpp"
#include "devices/storage/ide/ata_commands.hpp"
#include "devices/storage/ide/ide_registers.hpp"
#include "devices/storage/ide/ide_stats.hpp"
#include "devices/storage/ide/prd_table.hpp"
#include "lib/result.hpp"

namespace sv::ide {

constexpr uint64_t kShadowBufferBytes = 65536ull * kSectorSize; // 32 MiB
constexpr uint32_t kShadowPrdEntries = kShadowBufferBytes / kPrdBoundary; // 512
constexpr size_t kMaxTrappedPorts = 9;

class IdeChannel final : public IoHandler {
  public:
    struct Ports {
        uint16_t command_base = 0;    // BAR0/BAR2 or 0x1F0/0x170
        uint16_t control = 0;         // Device Control/Alt Status: 0x3F6/0x376 or BAR1/3 + 2
        uint16_t bus_master_base = 0; // BAR4 + 0 (primary) / + 8 (secondary)
    };
    struct Config {
        Ports ports;
        // false (default): trap only +0, +7, bm+0 and bm+4..7. Linux ata_piix
        // then costs 12 exits per DMA command; the guest's Device Control is
        // assumed to be devctl::kDefault (nIEN clear, what libata uses for
        // every interrupt-driven command) when restoring it after a HOB read,
        // and START-time PRD failures are reported through ATA status ERR.
        // true: also trap ctl and bm+2 (19 exits per ata_piix DMA command):
        // Device Control is tracked exactly and BM Status shows ERROR too.
        bool trap_control_and_bm_status = false;
    };

    // `xts` == nullptr: no encryption, but DMA still goes through shadow PRDs.
    IdeChannel(const Config& config, PortIo& io, GuestMemory& memory, DmaAllocator& dma,
               const crypto::Xts* xts);

    // Allocates the shadow PRD table and buffer and points the real PRD
    // register at the shadow table. On failure the channel still runs, but
    // aborts every DMA command (fail closed).
    [[nodiscard]] Result<void> init();

    // The ports the hypervisor must intercept (both directions) for this
    // channel; writes up to kMaxTrappedPorts entries, returns the count.
    size_t trapped_ports(uint16_t (&out)[kMaxTrappedPorts]) const;
    bool owns_port(uint16_t port) const;
    // The guest moved a BAR (PCI config write seen by devices/pci).
    void set_ports(const Ports& ports);

    uint32_t io_in(uint16_t port, uint8_t size) override;
    void io_out(uint16_t port, uint8_t size, uint32_t value) override;
    void io_in_string(uint16_t port, uint8_t size, std::span<uint8_t> data) override;
    void io_out_string(uint16_t port, uint8_t size, std::span<const uint8_t> data) override;

    const IdeStats& stats() const { return stats_; }

  private:
    enum class DmaState : uint8_t { Idle, Armed, Running, Done };
    // None: no data phase we know of: reads pass through, writes are dropped.
    // Packet: ATAPI PIO (CDB and data) passes through, to the PACKET's device only.
    enum class PioMode : uint8_t { None, ReadUserData, WriteUserData, Identify, Packet };

    struct DmaRequest {
        uint64_t lba = 0;
        uint64_t bytes = 0;
        uint32_t guest_table = 0; // PRD pointer captured at START
        bool to_memory = false;   // device -> memory (ATA read)
        bool crypt = false;       // through XTS (ATA user data on a keyed channel)
        bool scratch = false;     // START-time validation failed: data discarded
    };

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
    [[nodiscard]] Result<uint64_t> fill_shadow_from_guest(uint32_t table, uint64_t max_bytes,
                                                          PrdFault& fault);
    [[nodiscard]] Result<uint64_t> drain_shadow_to_guest(uint32_t table, uint64_t max_bytes,
                                                         PrdFault& fault);
    void fill_shadow_with_scratch(uint64_t bytes);
    void gather_segment(const uint8_t* src, uint32_t n);
    void scatter_segment(uint8_t* dst, uint32_t n);
    [[nodiscard]] bool crypt_sectors(uint8_t* dst, const uint8_t* src, uint64_t bytes,
                                     uint64_t lba, bool encrypt);

    // ide_pio.cpp: data port.
    void pio_read(uint8_t* dst, size_t n);
    void pio_write(const uint8_t* src, size_t n);
    void pio_pull_sector();
    void pio_push_sector();
    bool raw_data_out_allowed();

    Config config_;
    Ports& ports_ = config_.ports;
    PortIo& io_;
    GuestMemory& memory_;
    DmaAllocator& dma_alloc_;
    const crypto::Xts* xts_;
    IdeStats stats_;

    DmaBuffer shadow_table_;
    DmaBuffer shadow_buffer_;
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

    // Streaming state of fill/drain (shadow offset of completed sectors plus a
    // one-sector bounce buffer for sectors split across PRD regions).
    uint64_t xfer_offset_ = 0;
    uint32_t bounce_pos_ = 0;
    uint32_t bounce_len_ = 0;
    bool crypto_failed_ = false;
    const crypto::SimdGuard* simd_ = nullptr; // held for the whole fill/drain of a request
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
