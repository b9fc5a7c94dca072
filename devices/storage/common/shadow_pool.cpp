// Shadow-memory pool (see shadow_pool.hpp).
#include "devices/storage/common/shadow_pool.hpp"

namespace sv::storage {

Result<void> ShadowPool::init(DmaAllocator& dma, uint64_t bytes, uint64_t chunk_bytes, uint64_t limit) {
    if (total_ != 0) return fail(Error::InvalidArgument); // once: chunks may be out already
    if (chunk_bytes < kMinChunkBytes || (chunk_bytes & (chunk_bytes - 1)) || bytes == 0)
        return fail(Error::InvalidArgument);
    const uint64_t chunks = (bytes + chunk_bytes - 1) / chunk_bytes;
    if (chunks > 0xFFFFFFFFull / 2) return fail(Error::OutOfRange);
    // Bookkeeping first (small, any alignment), then the chunks, naturally
    // aligned so no chunk crosses a chunk-size boundary (IDE: 64 KiB, §1.2).
    DmaBuffer index = TRY(dma.allocate(chunks * sizeof(uint32_t), alignof(uint32_t)));
    DmaBuffer region = TRY(dma.allocate(chunks * chunk_bytes, chunk_bytes));
    if (region.size < chunks * chunk_bytes || region.phys + region.size > limit ||
        region.phys + region.size < region.phys)
        return fail(Error::OutOfRange);
    chunk_bytes_ = chunk_bytes;
    host_ = region.host;
    phys_ = region.phys;
    free_ = reinterpret_cast<uint32_t*>(index.host);
    total_ = static_cast<uint32_t>(chunks);
    // Top of the stack is chunk 0: a fresh pool hands out ascending chunks.
    for (uint32_t i = 0; i < total_; ++i) free_[i] = total_ - 1 - i;
    free_count_ = total_;
    return {};
}

Result<void> ShadowPool::reserve(Client& client, uint64_t bytes) {
    LockGuard g(lock_);
    const uint32_t n = chunks_for(bytes);
    if (total_ == 0 || n > free_count_ - owed_) return fail(Error::OutOfMemory);
    const uint32_t before = owed(client);
    client.reserved_ += n;
    reserved_total_ += n;
    owed_ += owed(client) - before;
    return {};
}

Borrow ShadowPool::try_borrow(Client& client, uint64_t bytes, ShadowList& out, Waiter* waiter) {
    {
        LockGuard g(lock_);
        const uint32_t n = chunks_for(bytes);
        const uint32_t others_reserved = reserved_total_ - client.reserved_;
        if (total_ == 0 || n == 0 || !out.empty() || n > out.capacity_ || n > total_ - others_reserved) {
            ++stats_.never;
            return Borrow::Never;
        }
        const uint32_t from_reservation = n < owed(client) ? n : owed(client);
        if (n - from_reservation > free_count_ - owed_) {
            ++stats_.waits;
            if (waiter && !waiter->queued_) {
                waiter->queued_ = true;
                waiter->next_ = nullptr;
                waiter->ticket_ = ++tickets_;
                Waiter** tail = &waiters_;
                while (*tail) tail = &(*tail)->next_;
                *tail = waiter;
            }
            return Borrow::NotNow;
        }
        for (uint32_t i = 0; i < n; ++i) out.chunks_[i] = free_[--free_count_];
        out.count_ = n;
        owed_ -= from_reservation;
        client.held_ += n;
        ++stats_.borrows;
        const uint32_t out_now = total_ - free_count_;
        if (out_now > stats_.peak_chunks) stats_.peak_chunks = out_now;
    }
    return Borrow::Ok;
}

void ShadowPool::give_back(Client& client, ShadowList& list) {
    if (list.count_ == 0) return;
    {
        LockGuard g(lock_);
        const uint32_t before = owed(client);
        // Chunks go back in reverse so the next borrower gets the same order.
        for (uint32_t i = list.count_; i > 0; --i) free_[free_count_++] = list.chunks_[i - 1];
        client.held_ -= list.count_;
        owed_ += owed(client) - before;
        list.count_ = 0;
        ++stats_.returns;
        __atomic_add_fetch(&generation_, 1, __ATOMIC_RELEASE);
    }
    notify_waiters();
}

void ShadowPool::notify_waiters() {
    // One waiter at a time, each popped under the lock and called outside
    // it (it borrows, and may queue itself again: such a re-queued waiter
    // has a newer ticket and waits for the next give_back, so this loop ends).
    uint64_t last_ticket;
    {
        LockGuard g(lock_);
        last_ticket = tickets_;
    }
    for (;;) {
        Waiter* w;
        {
            LockGuard g(lock_);
            w = waiters_;
            if (!w || w->ticket_ > last_ticket) return;
            waiters_ = w->next_;
            w->next_ = nullptr;
            w->queued_ = false;
        }
        w->shadow_space_available();
    }
}

void ShadowPool::cancel_wait(Waiter& waiter) {
    LockGuard g(lock_);
    for (Waiter** p = &waiters_; *p; p = &(*p)->next_) {
        if (*p == &waiter) {
            *p = waiter.next_;
            waiter.next_ = nullptr;
            waiter.queued_ = false;
            return;
        }
    }
}

uint32_t ShadowPool::free_chunks() const {
    LockGuard g(lock_);
    return free_count_;
}

PoolStats ShadowPool::stats() const {
    LockGuard g(lock_);
    return stats_;
}

} // namespace sv::storage
