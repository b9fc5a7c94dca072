// One NVMe command's checks and its shadow transfer (see nvme_command.hpp).
//
// Invariants, whatever the guest writes and whenever:
//  - The shadow PRPs name only chunks this transfer holds (data first, from
//    offset 0, then the shadow PRP list pages), never a guest address.
//  - A guest PRP list page is read once, into hypervisor memory, before any
//    of its entries is used (walk_prps); a FromDevice transfer writes back
//    only into the regions validated then.
//  - Keyed user data reaches the shadow only as XTS ciphertext
//    (storage::ShadowTransfer encrypts out of place).
#include "devices/storage/nvme/nvme_command.hpp"

#include "devices/storage/common/shadow_copy.hpp"

namespace sv::nvme {
namespace {

constexpr uint16_t generic(uint8_t code) { return status::make(sct::kGeneric, code, true); }
constexpr uint16_t specific(uint8_t code) { return status::make(sct::kCommandSpecific, code, true); }
constexpr uint64_t div_up(uint64_t v, uint64_t d) { return (v + d - 1) / d; }

// Shadow PRP list pages for `pages` data pages (§4.3 Figure 109): PRP1 names
// page 0; more than two pages put pages 1.. in a list whose last slot chains
// to the next list page while more than one entry remains.
constexpr uint64_t list_pages_for(uint64_t pages) {
    if (pages <= 2) return 0;
    const uint64_t entries = pages - 1;
    if (entries <= kPrpsPerPage) return 1;
    return 1 + div_up(entries - kPrpsPerPage, kPrpsPerPage - 1);
}

constexpr uint64_t kNsidAll = 0xffffffffu; // §6.8 Flush: every namespace

} // namespace

const char* to_string(CommandFault f) {
    switch (f) {
    case CommandFault::None: return "none";
    case CommandFault::OpcodeNotAllowed: return "opcode not allowed";
    case CommandFault::NotMediated: return "command not mediated";
    case CommandFault::Fused: return "fused operation";
    case CommandFault::Sgl: return "SGL data pointer";
    case CommandFault::Namespace: return "namespace not supported";
    case CommandFault::LbaRange: return "LBA range beyond the namespace";
    case CommandFault::TooLong: return "transfer above MDTS";
    case CommandFault::PrpOffset: return "PRP offset invalid";
    case CommandFault::PrpNotRam: return "PRP page or list outside guest RAM";
    case CommandFault::PrpMalformed: return "PRP list malformed";
    case CommandFault::NoShadowMemory: return "no shadow memory";
    case CommandFault::CryptoFailed: return "crypto failed";
    case CommandFault::FeatureRefused: return "feature not mediated";
    case CommandFault::QueueId: return "invalid queue identifier";
    case CommandFault::QueueSize: return "invalid queue size";
    case CommandFault::QueueNotContiguous: return "queue not physically contiguous";
    case CommandFault::QueueMemory: return "queue memory not guest RAM";
    case CommandFault::CompletionQueue: return "completion queue invalid";
    case CommandFault::QueueDeletion: return "invalid queue deletion";
    case CommandFault::LogTooLong: return "log page above MDTS";
    case CommandFault::Count: break;
    }
    return "?";
}

storage::Refusal refusal_of(CommandFault f) {
    using R = storage::Refusal;
    switch (f) {
    case CommandFault::PrpNotRam:
    case CommandFault::QueueMemory: return R::GuestMemory;
    case CommandFault::Fused:
    case CommandFault::Sgl:
    case CommandFault::PrpOffset:
    case CommandFault::PrpMalformed:
    case CommandFault::QueueNotContiguous: return R::MalformedDescriptor;
    case CommandFault::TooLong:
    case CommandFault::LbaRange:
    case CommandFault::LogTooLong: return R::LengthMismatch;
    case CommandFault::NoShadowMemory: return R::NoShadowMemory;
    case CommandFault::CryptoFailed: return R::CryptoFailed;
    case CommandFault::Namespace:
    case CommandFault::QueueId:
    case CommandFault::QueueSize:
    case CommandFault::CompletionQueue:
    case CommandFault::QueueDeletion: return R::ProtocolViolation;
    default: return R::CommandNotAllowed;
    }
}

uint16_t fault_status(CommandFault f) {
    switch (f) {
    case CommandFault::None: return 0;
    case CommandFault::OpcodeNotAllowed:
    case CommandFault::NotMediated: return generic(sc::kInvalidOpcode);
    case CommandFault::Namespace: return generic(sc::kInvalidNamespaceOrFormat);
    case CommandFault::LbaRange: return generic(sc::kLbaOutOfRange);
    case CommandFault::PrpOffset: return generic(sc::kPrpOffsetInvalid);
    case CommandFault::PrpNotRam: return generic(sc::kDataTransferError);
    case CommandFault::NoShadowMemory:
    case CommandFault::CryptoFailed: return generic(sc::kInternalError);
    case CommandFault::QueueId: return specific(sc_specific::kInvalidQueueIdentifier);
    case CommandFault::QueueSize: return specific(sc_specific::kInvalidQueueSize);
    case CommandFault::CompletionQueue: return specific(sc_specific::kCompletionQueueInvalid);
    case CommandFault::QueueDeletion: return specific(sc_specific::kInvalidQueueDeletion);
    default: return generic(sc::kInvalidField);
    }
}

CommandFault fault_of(PrpFault f) {
    switch (f) {
    case PrpFault::None: return CommandFault::None;
    case PrpFault::Prp1Unaligned:
    case PrpFault::Prp2Offset:
    case PrpFault::ListUnaligned:
    case PrpFault::ChainOffset:
    case PrpFault::EntryOffset: return CommandFault::PrpOffset;
    case PrpFault::ListNotRam:
    case PrpFault::DataNotRam: return CommandFault::PrpNotRam;
    case PrpFault::TooLong: return CommandFault::TooLong;
    default: return CommandFault::PrpMalformed;
    }
}

IoCheck check_io(const SubmissionEntry& e, const ControllerFacts& facts, uint64_t max_transfer) {
    IoCheck c;
    const uint8_t op = cdw0::opcode(e.cdw0);
    if (op != nvm::kRead && op != nvm::kWrite && op != nvm::kFlush) {
        c.fault = CommandFault::OpcodeNotAllowed;
        return c;
    }
    // §4.2: fused pairs (Compare and Write) are hidden (FUSES 0), SGLs too (SGLS 0).
    if (cdw0::fuse(e.cdw0) != 0) c.fault = CommandFault::Fused;
    else if (cdw0::psdt(e.cdw0) != 0) c.fault = CommandFault::Sgl;
    if (c.fault != CommandFault::None) return c;
    if (op == nvm::kFlush) {
        // §6.8: FFFFFFFFh flushes every namespace (no data, no range).
        if (e.nsid == kNsidAll) return c;
        c.ns = facts.find(e.nsid);
        if (!c.ns || !c.ns->supported) c.fault = CommandFault::Namespace;
        return c;
    }
    c.ns = facts.find(e.nsid);
    if (!c.ns || !c.ns->supported || c.ns->lba_bytes == 0) {
        c.fault = CommandFault::Namespace;
        return c;
    }
    const uint64_t lba = rw::slba(e);
    const uint64_t blocks = rw::blocks(e);
    if (lba > c.ns->blocks || blocks > c.ns->blocks - lba) {
        c.fault = CommandFault::LbaRange;
        return c;
    }
    c.bytes = blocks * c.ns->lba_bytes;
    if (c.bytes > max_transfer) c.fault = CommandFault::TooLong;
    c.write = op == nvm::kWrite;
    return c;
}

uint32_t transfer_chunks(uint64_t bytes, uint64_t chunk_bytes) {
    const uint64_t pages = div_up(bytes, kShadowPage);
    const uint64_t meta = list_pages_for(pages) * kShadowPage +
                          uint64_t{max_prp_regions(bytes, static_cast<uint32_t>(kShadowPage))} *
                              sizeof(storage::GuestRegion);
    return static_cast<uint32_t>(div_up(bytes, chunk_bytes) + div_up(meta, chunk_bytes));
}

uint64_t Transfer::page_phys(const TransferEnv& env, uint64_t page) const {
    const uint64_t off = page * kShadowPage;
    const uint64_t cb = env.pool->chunk_bytes();
    return env.pool->phys(list_.chunk(static_cast<uint32_t>(off / cb))) + off % cb;
}

uint8_t* Transfer::meta_host(const TransferEnv& env, uint64_t offset) const {
    const uint64_t cb = env.pool->chunk_bytes();
    return env.pool->host(list_.chunk(static_cast<uint32_t>(data_chunks_ + offset / cb))) + offset % cb;
}

uint64_t Transfer::meta_phys(const TransferEnv& env, uint64_t offset) const {
    const uint64_t cb = env.pool->chunk_bytes();
    return env.pool->phys(list_.chunk(static_cast<uint32_t>(data_chunks_ + offset / cb))) + offset % cb;
}

uint8_t* Transfer::shadow_host(const TransferEnv& env) const {
    return list_.empty() ? nullptr : env.pool->host(list_.chunk(0));
}

storage::GuestRegion Transfer::region(const TransferEnv& env, uint32_t i) const {
    if (regions_ <= kInlineRegions) return inline_[i];
    storage::GuestRegion r;
    __builtin_memcpy(&r, meta_host(env, list_bytes_ + uint64_t{i} * sizeof r), sizeof r);
    return r;
}

void Transfer::build_prps(const TransferEnv& env) {
    const uint64_t pages = div_up(bytes_, kShadowPage);
    prp1_ = page_phys(env, 0);
    prp2_ = 0;
    if (pages == 2) prp2_ = page_phys(env, 1);
    if (pages <= 2) return;
    prp2_ = meta_phys(env, 0);
    uint64_t list_page = 0, slot = 0;
    for (uint64_t p = 1; p < pages; ++p) {
        if (slot == kPrpsPerPage - 1 && pages - p > 1) {
            // §4.3: the last slot of a full list page points to the next one.
            const uint64_t next = meta_phys(env, (list_page + 1) * kShadowPage);
            __builtin_memcpy(meta_host(env, list_page * kShadowPage + slot * 8), &next, 8);
            ++list_page;
            slot = 0;
        }
        const uint64_t e = page_phys(env, p);
        __builtin_memcpy(meta_host(env, list_page * kShadowPage + slot * 8), &e, 8);
        ++slot;
    }
}

Transfer::Start Transfer::start(const TransferEnv& env, const SubmissionEntry& e, uint32_t guest_page,
                                uint64_t bytes, DataDir dir, const storage::SectorCipher* cipher,
                                uint64_t first_sector, storage::ShadowPool::Waiter* waiter, CommandFault& fault) {
    fault = CommandFault::None;
    if (active()) release(env);
    const PrpWalk w = walk_prps(*env.memory, e.prp1, e.prp2, bytes, PrpLimits{guest_page, env.max_transfer},
                                env.scratch, env.list_copy);
    if (!w.ok()) {
        fault = fault_of(w.fault);
        return Start::Refused;
    }
    const uint64_t cb = env.pool->chunk_bytes();
    bytes_ = bytes;
    data_chunks_ = static_cast<uint32_t>(div_up(bytes, cb));
    list_bytes_ = list_pages_for(div_up(bytes, kShadowPage)) * kShadowPage;
    regions_ = dir == DataDir::FromDevice ? w.regions : 0;
    const uint64_t spill = regions_ > kInlineRegions ? uint64_t{regions_} * sizeof(storage::GuestRegion) : 0;
    const uint64_t want = uint64_t{data_chunks_} * cb + list_bytes_ + spill;
    switch (env.pool->try_borrow(*env.client, want, list_, waiter)) {
    case storage::Borrow::Ok: break;
    case storage::Borrow::NotNow: regions_ = 0; return Start::NotNow;
    case storage::Borrow::Never:
        regions_ = 0;
        fault = CommandFault::NoShadowMemory;
        return Start::Refused;
    }
    for (uint32_t i = 0; i < regions_; ++i) {
        if (regions_ <= kInlineRegions) inline_[i] = env.scratch[i];
        else __builtin_memcpy(meta_host(env, list_bytes_ + uint64_t{i} * sizeof(storage::GuestRegion)),
                              &env.scratch[i], sizeof(storage::GuestRegion));
    }
    const bool keyed = cipher && cipher->keyed();
    if (dir == DataDir::ToDevice) {
        const storage::ShadowView view(*env.pool, list_);
        storage::RegionFault rf = storage::RegionFault::None;
        auto copied = storage::copy_guest_to_shadow(*env.memory, env.scratch.first(w.regions), bytes, view,
                                                    keyed ? cipher : nullptr, first_sector, env.bounce, rf);
        if (!copied) {
            release(env);
            fault = rf == storage::RegionFault::NotRam ? CommandFault::PrpNotRam : CommandFault::CryptoFailed;
            return Start::Refused;
        }
        if (env.counters) (keyed ? env.counters->bytes_encrypted : env.counters->bytes_copied) += bytes;
    } else if (dir == DataDir::FromDevice && !keyed) {
        // Admin data: a controller may return less than asked (a short log
        // page); the rest must not be another command's ciphertext.
        storage::ShadowView(*env.pool, list_).zero(bytes);
    }
    build_prps(env);
    return Start::Ok;
}

bool Transfer::finish_to_guest(const TransferEnv& env, const storage::SectorCipher* cipher, uint64_t first_sector) {
    if (!active() || regions_ == 0 || regions_ > env.scratch.size()) return false;
    // The kept regions into the scratch list (a spilled list may cross chunks).
    for (uint32_t i = 0; i < regions_; ++i) env.scratch[i] = region(env, i);
    const bool keyed = cipher && cipher->keyed();
    const storage::ShadowView view(*env.pool, list_);
    storage::RegionFault rf = storage::RegionFault::None;
    auto copied = storage::copy_shadow_to_guest(*env.memory, env.scratch.first(regions_), bytes_, view,
                                                keyed ? cipher : nullptr, first_sector, env.bounce, rf);
    if (!copied) return false;
    if (env.counters) (keyed ? env.counters->bytes_decrypted : env.counters->bytes_copied) += bytes_;
    return true;
}

void Transfer::release(const TransferEnv& env) {
    if (!list_.empty()) env.pool->give_back(*env.client, list_);
    bytes_ = 0;
    regions_ = 0;
    data_chunks_ = 0;
    list_bytes_ = 0;
    prp1_ = prp2_ = 0;
}

} // namespace sv::nvme
