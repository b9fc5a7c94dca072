#include "core/io_dispatch.hpp"

namespace sv {

Result<void> IoDispatcher::add(uint16_t first, uint16_t count, IoHandler& handler) {
    if (count == 0 || first + static_cast<uint32_t>(count) > 0x10000) return fail(Error::InvalidArgument);
    for (size_t i = 0; i < count_; ++i) {
        const Range& r = ranges_[i];
        if (first < r.first + r.count && r.first < first + count) return fail(Error::InvalidArgument);
    }
    if (count_ == max_ranges) return fail(Error::OutOfMemory);
    ranges_[count_++] = Range{first, count, &handler};
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

} // namespace sv
