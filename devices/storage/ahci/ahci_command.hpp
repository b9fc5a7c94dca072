// The AHCI command slot engine: one guest command slot between the guest's
// PxCI write and the completion the guest is shown (devices/storage/ahci/
// README.md §3 steps 1-4 and §4 steps 1-2).
//
// The HBA never sees a guest structure. At prepare() the guest's command
// header, command FIS, ATAPI command and PRDT are copied once into hypervisor
// memory and validated; the HBA is given a shadow header (in the port's
// shadow command list) naming a shadow command table whose PRDT names only
// shadow buffers borrowed from the shared pool (devices/storage/common/
// shadow_pool.hpp). Writes are encrypted guest -> shadow before the port sets
// PxCI; reads are decrypted shadow -> guest at complete(), into the regions
// validated at prepare() (the guest's PRDT is never read again). A command
// the mediator refuses becomes a NOP (00h), which the device aborts with
// ERR/ABRT and PxIS.TFES, so the guest's driver sees an ordinary device error.
//
// Locking: the port calls a slot only under the exit handler's io_lock.
#pragma once

#include <cstdint>
#include <span>

#include "core/dma_memory.hpp"
#include "core/guest_memory.hpp"
#include "devices/storage/ahci/ahci_memory.hpp"
#include "devices/storage/ahci/command_fis.hpp"
#include "devices/storage/common/guest_regions.hpp"
#include "devices/storage/common/sector_cipher.hpp"
#include "devices/storage/common/shadow_pool.hpp"
#include "devices/storage/common/storage_counters.hpp"

namespace sv::ahci {

// ATA8-ACS: READ/WRITE DMA EXT and FPDMA with count 0 move 65536 sectors.
constexpr uint64_t kMaxCommandBytes = uint64_t{65536} * 512; // 32 MiB
// Shadow command table per slot (AHCI 1.3.1 §4.2.3): 128-byte header (CFIS 64,
// ACMD 16, reserved 48) + a PRDT large enough for kMaxCommandBytes over pool
// chunks: one entry per 64 KiB chunk (or per run of contiguous chunks, up to
// the 4 MiB an entry takes, §4.2.3.3). A pool with smaller chunks cannot give
// the largest request and refuses it (Never -> CommandFault::TooLarge).
constexpr uint32_t kShadowPrdtEntries = static_cast<uint32_t>(kMaxCommandBytes / storage::kDefaultChunkBytes);
constexpr uint64_t kShadowTableBytes = 128 + 16 * uint64_t{kShadowPrdtEntries};
static_assert(kShadowPrdtEntries >= 512);

// The guest regions of a read are kept from prepare() to complete(): up to
// kInlineRegions in the slot itself, longer lists (PRDTL up to 65535) in pool
// chunks borrowed together with the data buffer. So one command may take up
// to kMaxPoolBytesPerCommand from the pool: the controller reserves that much
// (per port) so that every valid command eventually runs.
constexpr uint32_t kInlineRegions = 32;
constexpr uint64_t kMaxRegionListBytes = uint64_t{prd::kMaxEntries} * sizeof(storage::GuestRegion);
constexpr uint64_t kMaxPoolBytesPerCommand = kMaxCommandBytes + kMaxRegionListBytes;
constexpr uint32_t kMaxSlotChunks = static_cast<uint32_t>(
    (kMaxPoolBytesPerCommand + storage::kDefaultChunkBytes - 1) / storage::kDefaultChunkBytes);

enum class CommandFault : uint8_t {
    None,
    HeaderNotRam,       // the guest's command header is not wholly guest RAM
    TableNotRam,        // its command table (CFIS/ACMD) is not wholly guest RAM
    BadCfl,             // CFL below the 5 DWORDs of a Register H2D FIS (§4.2.2)
    MalformedFis,       // the command FIS is not a Register H2D FIS (27h)
    PmPort,             // port multiplier port != 0 (header PMP or FIS): PMs are hidden
    Bist,               // header B bit: a BIST FIS, never passed
    NotAllowed,         // opcode not on the allowlist
    NotMediated,        // a known data mover the mediator does not understand (DSM, NCQ SEND, ...)
    ChsUserData,        // user data addressed in CHS: no LBA for the XTS tweak
    Direction,          // header W disagrees with the opcode's data direction
    PacketNotAtapi,     // PACKET on a port whose device is not ATAPI
    AtaOnAtapi,         // ATA data command on an ATAPI port
    TagNotSlot,         // FPDMA QUEUED whose NCQ tag is not its slot
    FpdmaWithoutSact,   // FPDMA QUEUED without the guest's PxSACT bit
    SactWithoutFpdma,   // the guest's PxSACT bit set for a non-queued command
    NonQueuedWhileQueued, // set by the port (refuse()): ATA8-ACS would abort the queue
    PrdtlZero,          // a data command with no PRDT
    PrdtNotRam,         // a PRDT entry is not wholly guest RAM
    OddDba,             // DBA bit 0 set (§4.2.3.3: word aligned)
    OddDbc,             // DBC bit 0 clear: odd byte count (§4.2.3.3)
    DataNotRam,         // a data region is not wholly guest RAM
    PrdtShort,          // the PRDT covers less than the FIS's byte count
    TooLarge,           // the pool can never hold the request (Borrow::Never)
    CryptoFailed,       // the XTS engine refused (fail closed)
    Count
};
constexpr unsigned kCommandFaultCount = static_cast<unsigned>(CommandFault::Count);
const char* to_string(CommandFault f);
storage::Refusal refusal_of(CommandFault f);

// What every slot of one port shares, fixed at bind().
struct SlotEnv {
    GuestMemory* memory = nullptr;
    storage::ShadowPool* pool = nullptr;
    storage::ShadowPool::Client* client = nullptr; // the controller's
    const storage::SectorCipher* cipher = nullptr; // the disk key, 512-byte sectors (keyed() false: no key)
    std::span<uint8_t> bounce;                     // >= 512 bytes (slots run one at a time under io_lock)
    storage::StorageCounters* counters = nullptr;  // the controller's: bytes, refusals, data_commands
};

enum class Prepared : uint8_t { Issue, Wait, Refused };

class CommandSlot {
  public:
    // shadow_header: this slot's entry in the port's shadow command list (1 KiB,
    // 1 KiB aligned, which the real PxCLB points at); table: this slot's shadow
    // command table (kShadowTableBytes, 128-byte aligned, below 4 GiB).
    void bind(const SlotEnv& env, CommandHeader* shadow_header, DmaBuffer table);

    // The guest set this slot's PxCI bit. Copies the guest's header (at
    // guest_clb + 32 * slot) and table (CFIS, ACMD, PRDT) ONCE into hypervisor
    // memory, decodes and validates them, borrows shadow buffers, encrypts a
    // write guest -> shadow, and fills the shadow header/table/PRDT.
    //  Issue:   ready; the port sets the real PxSACT bit if queued(), then PxCI.
    //  Wait:    no pool space now (`waiter` queued); nothing was kept: call
    //           prepare() again later (the guest's memory is read then; the
    //           device has seen nothing of this command yet).
    //  Refused: the shadow slot now holds a NOP (00h) command FIS that the
    //           device aborts (ERR/ABRT, PxIS.TFES), so the guest gets the error
    //           from the device the way its driver expects; the port issues it
    //           like any command; fault() says why (counted; the port logs).
    // atapi: the port's device is ATAPI (PACKET passes, data never encrypted).
    // sact_set: the guest's PxSACT bit for this slot is set.
    // A slot still active() is abandoned first.
    Prepared prepare(uint64_t guest_clb, unsigned slot, bool atapi, bool sact_set,
                     storage::ShadowPool::Waiter* waiter);
    // The port refuses the command itself (e.g. NonQueuedWhileQueued): the
    // shadow slot holds the NOP as for Prepared::Refused; counted.
    void refuse(CommandFault why);
    bool queued() const;     // an FPDMA command: the port sets PxSACT
    bool is_write() const;
    CommandFault fault() const;
    uint8_t command() const; // the ATA opcode of the last prepared command (for the log)
    uint64_t data_bytes() const; // bytes the shadow PRDT covers (0: no data phase)
    // The device is done with this slot. ok: no error -> a read is decrypted
    // into the guest's regions (as validated at prepare) and the guest
    // header's PRDBC is written (bytes moved); !ok: nothing is copied to the
    // guest. Shadow buffers go back to the pool either way, and the shadow
    // slot is reset to a NOP that names no buffer.
    void complete(bool ok);
    // Reset / port stop / in-flight drop: buffers back, nothing copied. The
    // HBA must no longer process this slot (PxCMD.CR clear, or after GHC.HR).
    // A waiter queued by a Wait answer is the port's to cancel.
    void abandon();
    bool active() const;     // prepared (Issue or Refused) and not completed/abandoned

  private:
    enum class Data : uint8_t { None, Encrypted, Plain, Identify };
    Prepared refuse_now(CommandFault why);
    CommandFault check_command(const FisCommand& c, uint32_t dw0, bool atapi, bool sact_set, unsigned slot) const;
    CommandFault walk_prdt(uint64_t table, uint32_t prdtl, uint64_t bytes, bool write, uint64_t& total);
    uint64_t packet_bytes(uint64_t table, uint32_t prdtl) const;
    void store_region(const storage::GuestRegion& r);
    storage::GuestRegion region(uint32_t i) const;
    // Where region i >= kInlineRegions lives: in the pool chunks after the data.
    uint8_t* spilled_region(uint32_t i) const;
    void build_shadow_prdt(uint32_t dw0);
    void write_nop();
    void release();
    void copy_to_guest();

    SlotEnv env_{};
    volatile CommandHeader* shadow_header_ = nullptr;
    DmaBuffer table_{};

    // The command as prepared (copies: never re-read from the guest).
    uint64_t guest_header_ = 0; // gpa of the guest's header (PRDBC goes back there)
    uint64_t lba_ = 0;
    uint64_t bytes_ = 0;
    uint32_t data_chunks_ = 0;  // chunks of the list holding data (the rest: region list)
    uint32_t regions_ = 0;      // guest regions kept (reads)
    uint8_t command_ = 0;
    FisCommandKind kind_ = FisCommandKind::Refused;
    Data data_ = Data::None;
    CommandFault fault_ = CommandFault::None;
    bool write_ = false;
    bool queued_ = false;
    bool active_ = false;
    bool waited_ = false; // pool_waits counted for this command already

    storage::GuestRegion inline_regions_[kInlineRegions];
    uint32_t chunk_storage_[kMaxSlotChunks];
    storage::ShadowList list_;
};

} // namespace sv::ahci
