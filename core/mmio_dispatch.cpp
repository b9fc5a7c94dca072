#include "core/mmio_dispatch.hpp"

namespace sv {
namespace {
MmioTrap trap_of(const MmioReadHandler* reader) { return reader ? MmioTrap::ReadsAndWrites : MmioTrap::Writes; }
bool valid(uint64_t base, uint64_t length) {
    return length && !((base | length) & (MmioDispatcher::page - 1)) && base + length > base;
}
} // namespace

MmioRange* MmioDispatcher::slot_of(const MmioWriteHandler& handler) {
    for (size_t i = 0; i < count_; ++i)
        if (ranges_[i].handler == &handler) return &ranges_[i];
    return nullptr;
}

bool MmioDispatcher::overlaps(uint64_t base, uint64_t length, const MmioWriteHandler* except) const {
    for (size_t i = 0; i < count_; ++i) {
        const MmioRange& r = ranges_[i];
        if (r.handler != except && base < r.base + r.length && r.base < base + length) return true;
    }
    return false;
}

Result<void> MmioDispatcher::add(uint64_t base, uint64_t length, MmioWriteHandler& handler,
                                 MmioReadHandler* reader) {
    if (!valid(base, length) || overlaps(base, length) || slot_of(handler)) return fail(Error::InvalidArgument);
    if (count_ == max_ranges) return fail(Error::OutOfMemory);
    if (mapper_) TRY(mapper_->set_trap(base, length, trap_of(reader)));
    ranges_[count_++] = MmioRange{base, length, &handler, reader};
    bump();
    return {};
}

Result<void> MmioDispatcher::move(MmioWriteHandler& handler, uint64_t base, uint64_t length) {
    MmioRange* r = slot_of(handler);
    if (!r) return add(base, length, handler);
    if (!valid(base, length) || overlaps(base, length, &handler)) return fail(Error::InvalidArgument);
    const MmioRange old = *r;
    if (mapper_) TRY(mapper_->set_trap(base, length, trap_of(old.reader)));
    r->base = base;
    r->length = length;
    bump();
    // Release the old pages that the new range does not cover.
    if (mapper_) {
        const uint64_t old_end = old.base + old.length, end = base + length;
        if (old.base < base) (void)mapper_->set_trap(old.base, (old_end < base ? old_end : base) - old.base, MmioTrap::Released);
        if (old_end > end) {
            const uint64_t from = old.base > end ? old.base : end;
            (void)mapper_->set_trap(from, old_end - from, MmioTrap::Released);
        }
    }
    bump();
    return {};
}

void MmioDispatcher::remove(MmioWriteHandler& handler) {
    MmioRange* r = slot_of(handler);
    if (!r) return;
    const MmioRange old = *r;
    *r = ranges_[--count_];
    if (mapper_) (void)mapper_->set_trap(old.base, old.length, MmioTrap::Released);
    bump();
}

const MmioRange* MmioDispatcher::find(uint64_t gpa) const {
    for (size_t i = 0; i < count_; ++i)
        if (gpa - ranges_[i].base < ranges_[i].length) return &ranges_[i];
    return nullptr;
}

} // namespace sv
