// Simulated guest RAM and page-table builders for the guest page-walk tests.
// Builders lay out tables the way a guest kernel would (SDM vol. 3A ch. 4):
// 32-bit (2 levels, 4-byte entries), PAE (PDPT + 2 levels) and long mode
// (4 or 5 levels), allocating tables from a bump pointer in the RAM array.
#pragma once

#include <cstdint>
#include <vector>

#include "core/guest_memory.hpp"

namespace sv::x86::test {

inline constexpr uint64_t kP = 1ull << 0, kRw = 1ull << 1, kUs = 1ull << 2, kA = 1ull << 5,
                          kD = 1ull << 6, kPs = 1ull << 7, kNx = 1ull << 63;
inline constexpr uint64_t kCr0Pg = 1ull << 31, kCr0Wp = 1ull << 16, kCr0Pe = 1;
inline constexpr uint64_t kCr4Pse = 1ull << 4, kCr4Pae = 1ull << 5, kCr4La57 = 1ull << 12;
inline constexpr uint64_t kEferLme = 1ull << 8, kEferLma = 1ull << 10, kEferNxe = 1ull << 11;
inline constexpr uint64_t k4K = 0x1000, k2M = 0x20'0000, k4M = 0x40'0000, k1G = 0x4000'0000;

class SimGuestRam final : public GuestMemory {
  public:
    explicit SimGuestRam(size_t size) : bytes_(size, 0) {}

    uint8_t* map(uint64_t gpa, uint64_t len) override {
        ++map_calls;
        if (gpa > bytes_.size() || len > bytes_.size() - gpa) return nullptr;
        return bytes_.data() + gpa;
    }

    void put(uint64_t gpa, uint64_t value, unsigned size) {
        for (unsigned i = 0; i < size; ++i) bytes_.at(gpa + i) = static_cast<uint8_t>(value >> (8 * i));
    }
    uint64_t get(uint64_t gpa, unsigned size) const {
        uint64_t value = 0;
        for (unsigned i = 0; i < size; ++i) value |= uint64_t{bytes_.at(gpa + i)} << (8 * i);
        return value;
    }
    uint8_t& byte(uint64_t gpa) { return bytes_.at(gpa); }
    size_t size() const { return bytes_.size(); }

    size_t map_calls = 0;

  private:
    std::vector<uint8_t> bytes_;
};

// Generic hierarchical builder. `levels` tables deep, entries of `entry_size`
// bytes, `index_bits` per level, except a PAE PDPT (2 index bits, P only).
class PageTableBuilder {
  public:
    enum class Kind { Bits32, Pae, Long4, Long5 };

    PageTableBuilder(SimGuestRam& ram, Kind kind, uint64_t table_area = 0x10'0000)
        : ram_(ram), kind_(kind), next_(table_area) {
        root = allocate();
    }

    uint64_t root;

    // Map one page of `page_size` at `linear` to `gpa`. Intermediate entries
    // get `table_flags`; the leaf gets `leaf_flags` (PS added for large pages).
    void map(uint64_t linear, uint64_t gpa, uint64_t page_size, uint64_t leaf_flags,
             uint64_t table_flags = kP | kRw | kUs) {
        uint64_t table = root;
        for (unsigned level = levels(); level >= 1; --level) {
            const uint64_t entry_gpa = table + index(linear, level) * entry_size();
            if (level_page_size(level) == page_size) {
                const uint64_t large = page_size == k4K ? 0 : kPs;
                ram_.put(entry_gpa, encode_frame(gpa, page_size) | leaf_flags | large, entry_size());
                return;
            }
            uint64_t entry = ram_.get(entry_gpa, entry_size());
            if (!(entry & kP)) {
                const uint64_t flags = is_pae_pdpt(level) ? kP : table_flags;
                entry = allocate() | flags;
                ram_.put(entry_gpa, entry, entry_size());
            }
            table = entry & frame_mask();
        }
    }

    // Guest-physical address of the entry used at `level` (1 = PTE) for `linear`.
    uint64_t entry_at(uint64_t linear, unsigned level) const {
        uint64_t table = root;
        for (unsigned l = levels(); l > level; --l)
            table = ram_.get(table + index(linear, l) * entry_size(), entry_size()) & frame_mask();
        return table + index(linear, level) * entry_size();
    }
    unsigned entry_size() const { return kind_ == Kind::Bits32 ? 4 : 8; }

    uint64_t allocate() {
        const uint64_t table = next_;
        next_ += k4K;
        for (uint64_t i = 0; i < k4K; ++i) ram_.byte(table + i) = 0;
        return table;
    }

  private:
    unsigned levels() const {
        switch (kind_) {
        case Kind::Bits32: return 2;
        case Kind::Pae: return 3;
        case Kind::Long4: return 4;
        case Kind::Long5: return 5;
        }
        return 0;
    }
    unsigned shift(unsigned level) const {
        return kind_ == Kind::Bits32 ? 12 + 10 * (level - 1) : 12 + 9 * (level - 1);
    }
    uint64_t level_page_size(unsigned level) const { return 1ull << shift(level); }
    uint64_t index(uint64_t linear, unsigned level) const {
        const unsigned bits = kind_ == Kind::Bits32 ? 10 : (is_pae_pdpt(level) ? 2 : 9);
        return (linear >> shift(level)) & ((1ull << bits) - 1);
    }
    bool is_pae_pdpt(unsigned level) const { return kind_ == Kind::Pae && level == 3; }
    uint64_t frame_mask() const { return kind_ == Kind::Bits32 ? 0xffff'f000ull : 0x000f'ffff'ffff'f000ull; }
    uint64_t encode_frame(uint64_t gpa, uint64_t page_size) const {
        if (kind_ == Kind::Bits32 && page_size == k4M) // PSE-36: bits 39:32 in 20:13
            return (gpa & 0xffc0'0000ull) | (((gpa >> 32) & 0xff) << 13);
        return gpa;
    }

    SimGuestRam& ram_;
    Kind kind_;
    uint64_t next_;
};

} // namespace sv::x86::test
