// Test double for sv::GuestMemory: a contiguous simulated RAM array starting
// at guest-physical `base`. map() refuses anything not wholly inside it, as
// the hypervisor's implementation refuses holes, MMIO and its own memory.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "core/guest_memory.hpp"

namespace sv::test {

class FakeGuestMemory final : public GuestMemory {
  public:
    FakeGuestMemory(uint64_t base, size_t size) : base_(base), bytes_(size, 0) {}

    uint8_t* map(uint64_t gpa, uint64_t len) override {
        if (gpa < base_ || gpa + len < gpa) return nullptr;
        const uint64_t offset = gpa - base_;
        if (offset > bytes_.size() || len > bytes_.size() - offset) return nullptr;
        return bytes_.data() + offset;
    }

    void write(uint64_t gpa, const void* data, size_t len) {
        uint8_t* p = map(gpa, len);
        if (p) std::memcpy(p, data, len);
    }
    void write32(uint64_t gpa, uint32_t v) { write(gpa, &v, 4); } // host is little-endian x86
    void write64(uint64_t gpa, uint64_t v) { write(gpa, &v, 8); }
    void write_string(uint64_t gpa, const char* s) { write(gpa, s, std::strlen(s) + 1); }

    uint64_t base() const { return base_; }
    uint64_t end() const { return base_ + bytes_.size(); }

  private:
    uint64_t base_;
    std::vector<uint8_t> bytes_;
};

} // namespace sv::test
