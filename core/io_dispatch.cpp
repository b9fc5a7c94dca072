#include "core/io_dispatch.hpp"

namespace sv {

Result<void> IoDispatcher::add(uint16_t first, uint16_t count, IoHandler& handler, uint8_t whole_sizes) {
    if (count == 0 || first + static_cast<uint32_t>(count) > 0x10000) return fail(Error::InvalidArgument);
    for (size_t i = 0; i < count_; ++i) {
        const Range& r = ranges_[i];
        if (first < r.first + r.count && r.first < first + count) return fail(Error::InvalidArgument);
    }
    if (count_ == max_ranges) return fail(Error::OutOfMemory);
    ranges_[count_++] = Range{first, count, &handler, whole_sizes};
    ++generation_;
    return {};
}

void IoDispatcher::remove(IoHandler& handler) {
    size_t kept = 0;
    for (size_t i = 0; i < count_; ++i)
        if (ranges_[i].handler != &handler) ranges_[kept++] = ranges_[i];
    if (kept != count_) ++generation_;
    count_ = kept;
}

IoHandler* IoDispatcher::find(uint16_t port) const {
    for (size_t i = 0; i < count_; ++i)
        if (port >= ranges_[i].first && port < ranges_[i].first + ranges_[i].count) return ranges_[i].handler;
    return nullptr;
}

bool IoDispatcher::owned_by_other(uint16_t first, uint32_t count, const IoHandler* except0,
                                  const IoHandler* except1) const {
    const uint32_t end = first + count;
    for (size_t i = 0; i < count_; ++i) {
        const Range& r = ranges_[i];
        if (r.handler == except0 || r.handler == except1) continue;
        if (first < r.first + static_cast<uint32_t>(r.count) && r.first < end) return true;
    }
    return false;
}

IoRoute IoDispatcher::route(uint16_t port, uint8_t size) const {
    IoRoute route;
    if (size != 1 && size != 2 && size != 4) size = 1; // backends decode only 1/2/4
    for (size_t i = 0; i < count_; ++i) {
        if (ranges_[i].first == port && (ranges_[i].whole_sizes & io_whole::bit(size))) {
            route.pieces[route.count++] = IoPiece{port, size, 0, ranges_[i].handler, false};
            return route;
        }
    }
    // Owner of every byte; past FFFFh nobody decodes.
    IoHandler* owner[4] = {};
    bool beyond[4] = {};
    for (uint8_t b = 0; b < size; ++b) {
        const uint32_t p = uint32_t{port} + b;
        beyond[b] = p > 0xFFFF;
        owner[b] = beyond[b] ? nullptr : find(static_cast<uint16_t>(p));
    }
    bool uniform = true;
    for (uint8_t b = 1; b < size; ++b)
        if (owner[b] != owner[0] || beyond[b] != beyond[0]) uniform = false;
    if (uniform) {
        route.pieces[route.count++] = IoPiece{port, size, 0, owner[0], beyond[0]};
        return route;
    }
    // Runs of one owner, each cut into naturally aligned accesses (a device
    // register of 2 or 4 bytes is aligned; a misaligned piece goes bytewise).
    uint8_t b = 0;
    while (b < size) {
        uint8_t run = 1;
        while (b + run < size && owner[b + run] == owner[b] && beyond[b + run] == beyond[b]) ++run;
        for (uint8_t done = 0; done < run;) {
            const uint32_t p = uint32_t{port} + b + done;
            const uint8_t left = static_cast<uint8_t>(run - done);
            uint8_t piece = 1;
            if (left >= 4 && p % 4 == 0) piece = 4;
            else if (left >= 2 && p % 2 == 0) piece = 2;
            route.pieces[route.count++] =
                IoPiece{static_cast<uint16_t>(p), piece, static_cast<uint8_t>(b + done), owner[b], beyond[b]};
            done = static_cast<uint8_t>(done + piece);
        }
        b = static_cast<uint8_t>(b + run);
    }
    return route;
}

} // namespace sv
