// PRP walk (see prp_walk.hpp), NVMe 1.4 §4.3.
#include "devices/storage/nvme/prp_walk.hpp"


#include "devices/storage/nvme/nvme_queues.hpp"

namespace sv::nvme {
namespace {

constexpr uint64_t kDefaultMaxBytes = 2ull << 20;
constexpr uint64_t kPrp1ReservedMask = 3;  // §4.3 Figure 108: bits 1:0 shall be 0
constexpr uint64_t kListPtrAlignMask = 7;  // qword aligned
constexpr uint32_t kMaxPageBytes = 1u << 27; // CC.MPS 15: 2^27

bool power_of_two_page(uint32_t p) { return p >= 4096 && p <= kMaxPageBytes && (p & (p - 1)) == 0; }

class Walker {
  public:
    Walker(GuestMemory& mem, std::span<storage::GuestRegion> out, PrpWalk& w) : mem_(mem), out_(out), w_(w) {}

    // One data page (or PRP1's tail of a page): checked, appended, merged.
    bool data(uint64_t gpa, uint64_t len) {
        storage::RegionFault rf;
        if (!storage::map_guest_region(mem_, {gpa, len}, rf)) return refuse(PrpFault::DataNotRam, gpa);
        ++w_.data_pages;
        w_.bytes += len;
        if (w_.regions > 0) {
            storage::GuestRegion& last = out_[w_.regions - 1];
            if (last.gpa + last.bytes == gpa) {
                last.bytes += len;
                return true;
            }
        }
        if (w_.regions == out_.size()) return refuse(PrpFault::TooManyRegions, gpa);
        out_[w_.regions++] = {gpa, len};
        return true;
    }
    bool refuse(PrpFault f, uint64_t addr) {
        w_.fault = f;
        w_.fault_addr = addr;
        return false;
    }

  private:
    GuestMemory& mem_;
    std::span<storage::GuestRegion> out_;
    PrpWalk& w_;
};

} // namespace

const char* to_string(PrpFault f) {
    switch (f) {
    case PrpFault::None: return "none";
    case PrpFault::ZeroLength: return "data pointer for a zero-length transfer";
    case PrpFault::BadPageSize: return "memory page size not supported";
    case PrpFault::TooLong: return "transfer above the maximum data transfer size";
    case PrpFault::Prp1Unaligned: return "PRP1 not dword aligned";
    case PrpFault::Prp2Offset: return "PRP2 data page with an offset";
    case PrpFault::ListUnaligned: return "PRP list pointer not qword aligned";
    case PrpFault::ChainOffset: return "PRP list chain pointer with an offset";
    case PrpFault::EntryOffset: return "PRP list entry with an offset";
    case PrpFault::ListNotRam: return "PRP list outside guest RAM";
    case PrpFault::DataNotRam: return "PRP data page outside guest RAM";
    case PrpFault::ListLoop: return "PRP list chain loops";
    case PrpFault::TooManyRegions: return "more PRP regions than the command can hold";
    }
    return "?";
}

uint16_t prp_fault_status(PrpFault f) {
    switch (f) {
    case PrpFault::None: return status::make(sct::kGeneric, sc::kSuccess, false);
    case PrpFault::Prp1Unaligned:
    case PrpFault::Prp2Offset:
    case PrpFault::ListUnaligned:
    case PrpFault::ChainOffset:
    case PrpFault::EntryOffset: return status::make(sct::kGeneric, sc::kPrpOffsetInvalid, true);
    case PrpFault::ListNotRam:
    case PrpFault::DataNotRam: return status::make(sct::kGeneric, sc::kDataTransferError, true);
    case PrpFault::BadPageSize: return status::make(sct::kGeneric, sc::kInternalError, true);
    case PrpFault::ZeroLength:
    case PrpFault::TooLong:
    case PrpFault::ListLoop:
    case PrpFault::TooManyRegions: return status::make(sct::kGeneric, sc::kInvalidField, true);
    }
    return status::make(sct::kGeneric, sc::kInternalError, true);
}

PrpWalk walk_prps(GuestMemory& mem, uint64_t prp1, uint64_t prp2, uint64_t bytes, const PrpLimits& limits,
                  std::span<storage::GuestRegion> out, std::span<uint8_t> list_copy) {
    PrpWalk w;
    Walker walk(mem, out, w);
    const uint64_t page = limits.page_bytes;
    const uint64_t max_bytes = limits.max_bytes ? limits.max_bytes : kDefaultMaxBytes;
    if (!power_of_two_page(limits.page_bytes) || list_copy.size() < page) {
        walk.refuse(PrpFault::BadPageSize, 0);
        return w;
    }
    if (bytes == 0) {
        walk.refuse(PrpFault::ZeroLength, prp1);
        return w;
    }
    if (bytes > max_bytes) {
        walk.refuse(PrpFault::TooLong, prp1);
        return w;
    }
    if (prp1 & kPrp1ReservedMask) {
        walk.refuse(PrpFault::Prp1Unaligned, prp1);
        return w;
    }
    // PRP1: from its offset to the end of its page.
    const uint64_t room = page - (prp1 & (page - 1));
    const uint64_t first = bytes < room ? bytes : room;
    if (!walk.data(prp1, first)) return w;
    uint64_t left = bytes - first;
    if (left == 0) return w; // PRP2 unused (reserved): the controller ignores it
    if (left <= page) {
        // Exactly one more page: PRP2 is a data entry (§4.3: offset 0).
        if (prp2 & (page - 1)) walk.refuse(PrpFault::Prp2Offset, prp2);
        else walk.data(prp2, left);
        return w;
    }
    if (prp2 & kListPtrAlignMask) {
        walk.refuse(PrpFault::ListUnaligned, prp2);
        return w;
    }
    uint64_t visited[kMaxPrpListPages];
    uint64_t list = prp2;
    while (left > 0) {
        // One list page: its entries from `list` to the end of the page.
        const uint64_t page_base = list & ~(page - 1);
        for (uint32_t i = 0; i < w.list_pages; ++i)
            if (visited[i] == page_base) {
                walk.refuse(PrpFault::ListLoop, list);
                return w;
            }
        if (w.list_pages == kMaxPrpListPages) {
            walk.refuse(PrpFault::TooLong, list);
            return w;
        }
        visited[w.list_pages++] = page_base;
        const uint64_t slots = (page - (list & (page - 1))) / sizeof(uint64_t);
        const uint64_t pages_left = (left + page - 1) / page;
        // Read only the entries this transfer uses (+ the chain pointer),
        // once, into hypervisor memory.
        const uint64_t used = pages_left <= slots ? pages_left : slots;
        storage::RegionFault rf;
        const auto m = storage::map_guest_region(mem, {list, used * sizeof(uint64_t)}, rf);
        if (!m) {
            walk.refuse(PrpFault::ListNotRam, list);
            return w;
        }
        __builtin_memcpy(list_copy.data(), m.value().host, used * sizeof(uint64_t));
        for (uint64_t i = 0; i < used; ++i) {
            uint64_t e;
            __builtin_memcpy(&e, list_copy.data() + i * sizeof(uint64_t), sizeof e);
            if (i == slots - 1 && left > page) {
                // Last slot of a full page with more than one page to go:
                // the pointer to the next list page (page aligned).
                if (e & (page - 1)) {
                    walk.refuse(PrpFault::ChainOffset, e);
                    return w;
                }
                list = e;
                break;
            }
            if (e & (page - 1)) {
                walk.refuse(PrpFault::EntryOffset, e);
                return w;
            }
            const uint64_t n = left < page ? left : page;
            if (!walk.data(e, n)) return w;
            left -= n;
        }
    }
    return w;
}

} // namespace sv::nvme
