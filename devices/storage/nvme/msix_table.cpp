// The virtual MSI-X table and the real NMI entries (see msix_table.hpp).
#include "devices/storage/nvme/msix_table.hpp"

#include "devices/storage/nvme/nvme_queues.hpp"
#include "lib/log.hpp"

namespace sv::nvme {
namespace {
constexpr uint32_t kEntryDwords = msix::kEntryBytes / 4;

uint16_t clamp_vectors(uint16_t v) { return v > kMaxMsixVectors ? static_cast<uint16_t>(kMaxMsixVectors) : v; }
} // namespace

MsixTable::MsixTable(MmioRegisters& real, uint32_t real_table_offset, uint16_t vectors, GuestInterrupts& out,
                     uint8_t fallback_destination)
    : real_(real), real_table_(real_table_offset), vectors_(clamp_vectors(vectors)), out_(out),
      fallback_(fallback_destination) {}

void MsixTable::init_hardware() {
    for (uint16_t v = 0; v < vectors_; ++v) mask_real(v);
}

void MsixTable::function_reset() {
    for (Entry& e : guest_) e = Entry{};
    for (uint64_t& b : pending_) b = 0;
    for (uint64_t& b : in_use_) b = 0;
    for (uint64_t& a : real_address_) a = 0;
    enabled_ = function_masked_ = false;
}

// --- guest accesses (PCI 3.0 §6.8.2.6-§6.8.2.10) ---------------------------------

uint32_t MsixTable::dword(uint16_t v, uint32_t index) const {
    const Entry& e = guest_[v];
    switch (index) {
    case 0: return e.addr_lo;
    case 1: return e.addr_hi;
    case 2: return e.data;
    default: return e.control;
    }
}

void MsixTable::set_dword(uint16_t v, uint32_t index, uint32_t value) {
    Entry& e = guest_[v];
    const bool was_masked = e.control & msix::kVectorMasked;
    switch (index) {
    case 0: e.addr_lo = value & ~3u; break; // bits 1:0 reserved (DWORD-aligned address)
    case 1: e.addr_hi = value; break;
    case 2: e.data = value; break;
    default: e.control = value & msix::kVectorMasked; break; // 31:1 reserved
    }
    // A new destination moves the real NMI with it (the CPU that exits is
    // the one the guest wants its interrupt on).
    if (index < 2 && real_in_use(v)) program_real(v);
    if (index == 3 && was_masked && !(e.control & msix::kVectorMasked) && pending(v) && deliverable(v)) {
        set(pending_, v, false);
        ++stats_.delivered_at_unmask;
        send(v);
    }
}

uint64_t MsixTable::read_table(uint32_t offset, uint8_t size) {
    if (!((size == 4 && offset % 4 == 0) || (size == 8 && offset % 8 == 0))) {
        ++stats_.bad_accesses;
        return 0;
    }
    uint64_t value = 0;
    for (uint32_t i = 0; i < size / 4u; ++i) {
        const uint32_t at = offset / 4 + i;
        const uint32_t v = at / kEntryDwords;
        if (v < vectors_) value |= uint64_t{dword(static_cast<uint16_t>(v), at % kEntryDwords)} << (32 * i);
    }
    return value;
}

void MsixTable::write_table(uint32_t offset, uint8_t size, uint64_t value) {
    if (!((size == 4 && offset % 4 == 0) || (size == 8 && offset % 8 == 0))) {
        ++stats_.bad_accesses;
        return;
    }
    for (uint32_t i = 0; i < size / 4u; ++i) {
        const uint32_t at = offset / 4 + i;
        const uint32_t v = at / kEntryDwords;
        if (v < vectors_) set_dword(static_cast<uint16_t>(v), at % kEntryDwords, static_cast<uint32_t>(value >> (32 * i)));
    }
}

uint64_t MsixTable::read_pba(uint32_t offset, uint8_t size) {
    if (!((size == 4 && offset % 4 == 0) || (size == 8 && offset % 8 == 0)) || offset >= pba_bytes()) {
        ++stats_.bad_accesses;
        return 0;
    }
    if (offset / 8 >= kMaxMsixVectors / 64) return 0;
    const uint64_t q = pending_[offset / 8];
    return size == 8 ? q : (q >> (8 * (offset % 8))) & 0xffffffffu;
}

void MsixTable::control_written(uint16_t mc) {
    enabled_ = mc & msix::kEnable;
    function_masked_ = mc & msix::kFunctionMask;
    send_pending();
}

// --- delivery --------------------------------------------------------------------

uint64_t MsixTable::guest_address(uint16_t v) const {
    return uint64_t{guest_[v].addr_hi} << 32 | guest_[v].addr_lo;
}

bool MsixTable::pending(uint16_t v) const { return v < vectors_ && test(pending_, v); }
bool MsixTable::real_in_use(uint16_t v) const { return v < vectors_ && test(in_use_, v); }

bool MsixTable::deliverable(uint16_t v) const {
    return enabled_ && !function_masked_ && !(guest_[v].control & msix::kVectorMasked);
}

void MsixTable::refuse_address(uint16_t v, uint64_t address) {
    ++stats_.refused_addresses;
    if (warned_address_) return;
    warned_address_ = true;
    log::warn("nvme: MSI-X entry {} address {:x} is not an interrupt (outside FEE00000h-FEEFFFFFh): refused", v,
              address);
}

void MsixTable::send(uint16_t v) {
    const uint64_t address = guest_address(v);
    if (!msi::address_is_interrupt(address)) {
        refuse_address(v, address);
        return;
    }
    ++stats_.delivered;
    out_.deliver(MsiMessage{address, guest_[v].data});
}

void MsixTable::raise(uint16_t v) {
    if (v >= vectors_) {
        ++stats_.out_of_table;
        return;
    }
    if (!deliverable(v)) {
        ++stats_.pended;
        set(pending_, v, true);
        return;
    }
    send(v);
}

void MsixTable::send_pending() {
    if (!enabled_ || function_masked_) return;
    for (uint16_t v = 0; v < vectors_; ++v) {
        if (!test(pending_, v) || !deliverable(v)) continue;
        set(pending_, v, false);
        ++stats_.delivered_at_unmask;
        send(v);
    }
}

// --- the real table ----------------------------------------------------------------

void MsixTable::mask_real(uint16_t v) {
    real_.write32(real_table_ + v * msix::kEntryBytes + msix::kEntryControl, msix::kVectorMasked);
}

void MsixTable::program_real(uint16_t v) {
    uint64_t address = guest_address(v);
    if (!msi::address_is_interrupt(address)) {
        // Not programmed yet (0) or refused: the NMI still has to reach a
        // CPU so the completions are posted (pending until the guest fixes it).
        if (address != 0) refuse_address(v, address);
        address = msi::kAddressWindow | uint64_t{fallback_} << msi::kDestinationShift;
    }
    // Only destination, mode and RH are taken from the guest's address.
    address &= msi::kAddressWindowMask | msi::kDestinationMask | 0xcu;
    const uint32_t base = real_table_ + v * msix::kEntryBytes;
    // Masked while it changes (PCI 3.0 §6.8.3.5), then live.
    real_.write32(base + msix::kEntryControl, msix::kVectorMasked);
    real_.write32(base + msix::kEntryAddrLo, static_cast<uint32_t>(address));
    real_.write32(base + msix::kEntryAddrHi, static_cast<uint32_t>(address >> 32));
    real_.write32(base + msix::kEntryData, msi::kDeliveryNmi);
    real_.write32(base + msix::kEntryControl, 0);
    real_address_[v] = address;
    ++stats_.real_programmed;
}

void MsixTable::use_vectors(const uint16_t* vectors, uint32_t count) {
    uint64_t wanted[kMaxMsixVectors / 64] = {};
    for (uint32_t i = 0; i < count; ++i)
        if (vectors[i] < vectors_) set(wanted, vectors[i], true);
        else ++stats_.out_of_table;
    for (uint16_t v = 0; v < vectors_; ++v) {
        const bool want = test(wanted, v), have = test(in_use_, v);
        if (want == have) continue;
        set(in_use_, v, want);
        if (want) program_real(v);
        else mask_real(v);
    }
}

} // namespace sv::nvme
