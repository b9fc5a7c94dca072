// Routes trapped port accesses to the mediator that owns the port, and tells
// the backend which ports to trap (its I/O permission map / I/O bitmaps).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/io.hpp"
#include "lib/result.hpp"

namespace sv {

class IoDispatcher {
  public:
    static constexpr size_t max_ranges = 64;

    [[nodiscard]] Result<void> add(uint16_t first, uint16_t count, IoHandler& handler);
    void remove(IoHandler& handler); // e.g. when the guest moves a BAR
    IoHandler* find(uint16_t port) const;
    // Bumped by every add/remove: the backend rebuilds its permission map
    // when it changes (a guest moved a BAR).
    uint64_t generation() const { return generation_; }

    // Calls fn(port) for every trapped port (to set permission-map bits).
    template <class Fn> void for_each_port(Fn&& fn) const {
        for (size_t i = 0; i < count_; ++i)
            for (uint32_t p = ranges_[i].first; p < ranges_[i].first + ranges_[i].count; ++p)
                fn(static_cast<uint16_t>(p));
    }

  private:
    struct Range {
        uint16_t first;
        uint16_t count;
        IoHandler* handler;
    };
    Range ranges_[max_ranges]{};
    size_t count_ = 0;
    uint64_t generation_ = 0;
};

} // namespace sv
