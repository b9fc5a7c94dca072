#include "devices/iommu/amdvi/amdvi_unit.hpp"

namespace sv::amdvi {
namespace {
constexpr uint32_t ring_bytes = UnitMemory::ring_entries * sizeof(Command);
constexpr uint64_t ring_length_code = 8; // 2^8 entries (§3.4.2, §3.4.3)
constexpr uint32_t next_slot(uint32_t at) { return (at + sizeof(Command)) % ring_bytes; }
// §3.4.4 Coherent: device-table, page-table and buffer accesses snoop the
// processor caches (the tables live in write-back hypervisor memory).
constexpr uint64_t control_coherent = 1ull << 10;
} // namespace

UnitFacts AmdviUnit::probe() {
    UnitFacts f;
    f.features = io_.read64(reg::extended_features);
    f.control_before = io_.read64(reg::control);
    f.was_enabled = f.control_before & ctl::iommu_enable;
    facts_ = f;
    return f;
}

bool AmdviUnit::translating() { return io_.read64(reg::control) & ctl::iommu_enable; }

// Writes `c` into the next slot; when the ring is full, publishes the tail
// and waits (bounded) for the unit to consume a slot. The tail register is
// written by flush() and here only, so commands go out in batches.
Result<void> AmdviUnit::submit(const Command& c) {
    const uint32_t next = next_slot(tail_);
    if ((io_.read64(reg::command_head) & pointer_mask) == next) {
        io_.write64(reg::command_tail, tail_);
        uint32_t i = 0;
        while ((io_.read64(reg::command_head) & pointer_mask) == next)
            if (++i == spins_) return fail(Error::DeviceError);
    }
    mem_.commands[tail_ / sizeof(Command)] = c;
    tail_ = next;
    ++sent_;
    return {};
}

// §2.4.1: COMPLETION_WAIT with a store; the unit writes the store only
// once every command before it has completed.
Result<void> AmdviUnit::wait_for_completion() {
    const uint64_t token = ++sequence_;
    *mem_.wait = 0;
    TRY(submit(completion_wait(mem_.wait_phys, token)));
    __atomic_thread_fence(__ATOMIC_SEQ_CST); // the entries are in memory before the tail moves
    io_.write64(reg::command_tail, tail_);
    for (uint32_t i = 0; i < spins_; ++i)
        if (*mem_.wait == token) return {};
    return fail(Error::DeviceError);
}

Result<void> AmdviUnit::enable(uint64_t device_table, const uint16_t* domains, size_t domain_count,
                               void (*write_back_caches)()) {
    if (device_table & 0xFFF) return fail(Error::InvalidArgument);
    // §3.3.1: the base registers may change only while their engines are
    // off. Turn off everything the hypervisor does not use, whatever
    // firmware (or a previous owner) left on, and wait until the command
    // buffer and event log report stopped.
    const uint64_t control = io_.read64(reg::control);
    io_.write64(reg::control, control & ~ctl::owned_off);
    uint32_t spin = 0;
    while (io_.read64(reg::status) & (sts::command_buffer_running | sts::event_log_running))
        if (++spin == spins_) return fail(Error::DeviceError);

    io_.write64(reg::device_table_base, (device_table & address_mask) | device_table_full);
    io_.write64(reg::command_buffer_base, (mem_.commands_phys & address_mask) | ring_length_code << length_shift);
    io_.write64(reg::command_head, 0);
    io_.write64(reg::command_tail, 0);
    tail_ = 0;
    clear_log();
    io_.write64(reg::event_log_base, (mem_.events_phys & address_mask) | ring_length_code << length_shift);
    io_.write64(reg::event_head, 0);
    io_.write64(reg::event_tail, 0);
    // §3.4.5: an exclusion range is DMA the unit does not translate at all.
    io_.write64(reg::exclusion_base, 0);
    io_.write64(reg::exclusion_limit, 0);
    io_.write64(reg::status, sts::write_one_to_clear);
    if (write_back_caches) write_back_caches();

    uint64_t on = (control & ~ctl::owned_off) | control_coherent | ctl::command_buffer_enable | ctl::event_log_enable;
    io_.write64(reg::control, on);
    io_.write64(reg::control, on | ctl::iommu_enable);

    // Nothing cached from firmware's tables may survive (§2.4.2-§2.4.6).
    if (facts_.features & efr::invalidate_all) {
        TRY(submit(invalidate_all()));
    } else {
        for (uint32_t id = 0; id < 65536; ++id) TRY(submit(invalidate_devtab_entry(static_cast<uint16_t>(id))));
        for (size_t i = 0; i < domain_count; ++i) TRY(submit(invalidate_domain(domains[i])));
    }
    TRY(wait_for_completion());
    stats_ = EventStats{};
    logged_count_ = 0;
    (void)poll_events(nullptr); // whatever the start-up left in the log is not the guest's doing
    stats_ = EventStats{};
    return {};
}

bool AmdviUnit::first_time(uint16_t source) {
    for (size_t i = 0; i < logged_count_; ++i)
        if (logged_[i] == source) return false;
    if (logged_count_ == max_logged_sources) return false;
    logged_[logged_count_++] = source;
    return true;
}

void AmdviUnit::account(const Event& e, void (*log)(const Event&)) {
    switch (e.code()) {
    case event::io_page_fault: ++stats_.faults; break;
    case event::illegal_dev_table_entry: ++stats_.illegal_entries; break;
    default: ++stats_.other; break;
    }
    if (log && first_time(e.device_id())) {
        ++stats_.sources_logged;
        log(e);
    }
}

void AmdviUnit::clear_log() {
    for (size_t i = 0; i < UnitMemory::ring_entries; ++i) mem_.events[i] = Event{};
    cursor_ = 0;
}

// The unit writes an entry, then moves its tail register (§2.5). Entries
// are read from memory, not up to the tail register: a unit that writes the
// log without moving its tail register (QEMU's model keeps it internal) is
// read too, and every
// consumed entry is zeroed, so a non-zero entry is always a new one. The
// head register never passes the tail register.
size_t AmdviUnit::poll_events(void (*log)(const Event&)) {
    const uint32_t tail = static_cast<uint32_t>(io_.read64(reg::event_tail) & pointer_mask) % ring_bytes;
    const uint32_t from = cursor_;
    size_t n = 0;
    for (; n < UnitMemory::ring_entries - 1; ++n) {
        Event& slot = mem_.events[cursor_ / sizeof(Event)];
        if (!slot.lo && !slot.hi) break;
        account(slot, log);
        slot = Event{};
        cursor_ = next_slot(cursor_);
    }
    const uint32_t consumed = (cursor_ + ring_bytes - from) % ring_bytes;
    const uint32_t to_tail = (tail + ring_bytes - from) % ring_bytes;
    if (consumed > to_tail) stats_.past_tail += (consumed - to_tail) / sizeof(Event);
    io_.write64(reg::event_head, consumed >= to_tail ? tail : cursor_);
    // §2.5 / §3.4.10: after an overflow the log stops; count it and restart
    // it empty (EventLogEn off, EventOverflow cleared, pointers reset, on).
    if (io_.read64(reg::status) & sts::event_overflow) {
        ++stats_.overflows;
        const uint64_t control = io_.read64(reg::control);
        io_.write64(reg::control, control & ~ctl::event_log_enable);
        io_.write64(reg::status, sts::event_overflow);
        clear_log();
        io_.write64(reg::event_head, 0);
        io_.write64(reg::event_tail, 0);
        io_.write64(reg::control, control | ctl::event_log_enable);
    }
    return n;
}

} // namespace sv::amdvi
