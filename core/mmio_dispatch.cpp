#include "core/mmio_dispatch.hpp"

namespace sv {
namespace {
MmioTrap trap_of(const MmioReadHandler* reader) { return reader ? MmioTrap::ReadsAndWrites : MmioTrap::Writes; }
// What the old pages of a move (MmioLeaving) answer: nothing decodes there.
struct NoDevice final : MmioWriteHandler, MmioReadHandler {
    void mmio_write(uint64_t, uint8_t, uint64_t) override {}
    uint64_t mmio_read(uint64_t, uint8_t) override { return ~uint64_t{0}; }
} no_device;

bool valid(uint64_t base, uint64_t length) {
    return length && !((base | length) & (MmioDispatcher::page - 1)) && base + length > base;
}
} // namespace

void MmioDispatcher::link(MmioRange& range) {
    MmioRange** at = &head_;
    while (*at && (*at)->base < range.base) at = &(*at)->next;
    range.next = *at;
    *at = &range;
    range.linked = true;
    ++count_;
}

void MmioDispatcher::unlink(MmioRange& range) {
    for (MmioRange** at = &head_; *at; at = &(*at)->next) {
        if (*at != &range) continue;
        *at = range.next;
        range.next = nullptr;
        range.linked = false;
        --count_;
        return;
    }
}

bool MmioDispatcher::changed() {
    __atomic_fetch_add(&generation_, 1, __ATOMIC_SEQ_CST);
    return !shootdown_ || shootdown_->flush_all();
}

void MmioDispatcher::release(uint64_t base, uint64_t end) {
    if (mapper_ && base < end) (void)mapper_->set_trap(base, end - base, MmioTrap::Released);
}

bool MmioDispatcher::overlaps(uint64_t base, uint64_t length, const MmioRange* except) const {
    for (const MmioRange* r = head_; r && r->base < base + length; r = r->next)
        if (r != except && base < r->base + r->length) return true;
    return false;
}

Result<void> MmioDispatcher::add(MmioRange& range, uint64_t base, uint64_t length, MmioWriteHandler& handler,
                                 MmioReadHandler* reader) {
    if (range.linked || !valid(base, length) || overlaps(base, length)) return fail(Error::InvalidArgument);
    if (mapper_) TRY(mapper_->set_trap(base, length, trap_of(reader)));
    range.base = base;
    range.length = length;
    range.handler = &handler;
    range.reader = reader;
    link(range);
    if (changed()) return {};
    // A vCPU did not flush: it may still reach these pages directly, so the
    // caller must not let a device decode there. Undo (fail closed).
    unlink(range);
    release(base, base + length);
    (void)changed();
    return fail(Error::DeviceError);
}

Result<void> MmioDispatcher::move(MmioRange& range, uint64_t base, uint64_t length, MmioLeaving* leaving) {
    if (!range.linked) {
        if (!range.handler) return fail(Error::InvalidArgument);
        return add(range, base, length, *range.handler, range.reader);
    }
    if (!valid(base, length) || overlaps(base, length, &range)) return fail(Error::InvalidArgument);
    if (leaving && (leaving->below.linked || leaving->above.linked)) return fail(Error::InvalidArgument);
    const uint64_t old_base = range.base, old_end = range.base + range.length, end = base + length;
    // The old pages the new range does not cover: below it and above it.
    const uint64_t below_end = old_end < base ? old_end : base;
    const uint64_t above_base = old_base > end ? old_base : end;
    const bool below = old_base < base, above = old_end > end;
    if (mapper_) TRY(mapper_->set_trap(base, length, trap_of(range.reader)));
    unlink(range);
    range.base = base;
    range.length = length;
    link(range);
    if (leaving) {
        // Still trapped as they were: nothing to map. Accesses there can
        // only come after the caller's change is complete (it holds the
        // lock lookups take), when no device decodes them: no device.
        MmioRange* parts[2] = {below ? &leaving->below : nullptr, above ? &leaving->above : nullptr};
        const uint64_t from[2] = {old_base, above_base}, to[2] = {below_end, old_end};
        for (int k = 0; k < 2; ++k) {
            if (!parts[k]) continue;
            parts[k]->base = from[k];
            parts[k]->length = to[k] - from[k];
            parts[k]->handler = &no_device;
            parts[k]->reader = range.reader ? &no_device : nullptr;
            link(*parts[k]);
        }
    }
    if (!changed()) {
        // A vCPU did not flush (see add()): back to the old range, whose
        // pages are all still trapped; the new ones are released again.
        unlink(range);
        if (leaving) detach(*leaving);
        range.base = old_base;
        range.length = old_end - old_base;
        link(range);
        release(base, end < old_base ? end : old_base);
        release(base > old_end ? base : old_end, end);
        (void)changed();
        return fail(Error::DeviceError);
    }
    // The new pages trap on every vCPU from here on.
    if (leaving || !(below || above)) return {};
    if (below) release(old_base, below_end);
    if (above) release(above_base, old_end);
    (void)changed();
    return {};
}

void MmioDispatcher::remove(MmioRange& range) {
    if (!range.linked) return;
    unlink(range);
    release(range.base, range.base + range.length);
    (void)changed();
}

void MmioDispatcher::detach(MmioRange& range) {
    if (range.linked) unlink(range);
}

void MmioDispatcher::remove(MmioLeaving& leaving) {
    remove(leaving.below);
    remove(leaving.above);
}

void MmioDispatcher::detach(MmioLeaving& leaving) {
    detach(leaving.below);
    detach(leaving.above);
}

const MmioRange* MmioDispatcher::find(uint64_t gpa) const {
    for (const MmioRange* r = head_; r && r->base <= gpa; r = r->next)
        if (gpa - r->base < r->length) return r;
    return nullptr;
}

} // namespace sv
