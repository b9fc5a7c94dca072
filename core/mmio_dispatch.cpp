#include "core/mmio_dispatch.hpp"

namespace sv {
namespace {
MmioTrap trap_of(const MmioReadHandler* reader) { return reader ? MmioTrap::ReadsAndWrites : MmioTrap::Writes; }
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

void MmioDispatcher::changed() {
    __atomic_fetch_add(&generation_, 1, __ATOMIC_SEQ_CST);
    if (shootdown_) (void)shootdown_->flush_all();
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
    changed();
    return {};
}

Result<void> MmioDispatcher::move(MmioRange& range, uint64_t base, uint64_t length, MmioRange* leaving) {
    if (!range.linked) {
        if (!range.handler) return fail(Error::InvalidArgument);
        return add(range, base, length, *range.handler, range.reader);
    }
    if (!valid(base, length) || overlaps(base, length, &range)) return fail(Error::InvalidArgument);
    const uint64_t old_base = range.base, old_end = range.base + range.length, end = base + length;
    // The old pages the new range does not cover: below it and above it.
    const uint64_t below_end = old_end < base ? old_end : base;
    const uint64_t above_base = old_base > end ? old_base : end;
    const bool below = old_base < base, above = old_end > end;
    if (leaving && (leaving->linked || !leaving->handler || (below && above))) return fail(Error::InvalidArgument);
    if (mapper_) TRY(mapper_->set_trap(base, length, trap_of(range.reader)));
    unlink(range);
    range.base = base;
    range.length = length;
    link(range);
    if (leaving && (below || above)) {
        leaving->base = below ? old_base : above_base;
        leaving->length = below ? below_end - old_base : old_end - above_base;
        link(*leaving); // still trapped as it was: nothing to map
    }
    changed(); // the new pages trap on every vCPU from here on
    if (leaving || !mapper_ || !(below || above)) return {};
    if (below) (void)mapper_->set_trap(old_base, below_end - old_base, MmioTrap::Released);
    if (above) (void)mapper_->set_trap(above_base, old_end - above_base, MmioTrap::Released);
    changed();
    return {};
}

void MmioDispatcher::remove(MmioRange& range) {
    if (!range.linked) return;
    unlink(range);
    if (mapper_) (void)mapper_->set_trap(range.base, range.length, MmioTrap::Released);
    changed();
}

void MmioDispatcher::detach(MmioRange& range) {
    if (range.linked) unlink(range);
}

const MmioRange* MmioDispatcher::find(uint64_t gpa) const {
    for (const MmioRange* r = head_; r && r->base <= gpa; r = r->next)
        if (gpa - r->base < r->length) return r;
    return nullptr;
}

} // namespace sv
