#include "devices/iommu/vtd/vtd_unit.hpp"

namespace sv::vtd {

Result<UnitFacts> VtdUnit::probe() {
    UnitFacts f;
    f.version = io_.read32(reg::version);
    f.capability = io_.read64(reg::capability);
    f.ext_capability = io_.read64(reg::ext_capability);
    const unsigned sagaw = cap::sagaw(f.capability);
    // Prefer 4 levels (reaches 256 TiB); 3 levels when that is all there is.
    if (sagaw & cap::sagaw_48) f.walk.levels = 4;
    else if (sagaw & cap::sagaw_39) f.walk.levels = 3;
    else return fail(Error::Unsupported);
    f.walk.pages_2m = cap::sllps(f.capability) & 1;
    f.walk.pages_1g = cap::sllps(f.capability) & 2;
    f.address_width = cap::mgaw(f.capability);
    f.coherent = f.ext_capability & ecap::coherent;
    f.needs_write_buffer_flush = f.capability & cap::rwbf;
    const uint32_t status = io_.read32(reg::global_status);
    f.translation_was_on = status & gcmd::translation_enable;
    f.interrupt_remapping_on = status & gcmd::interrupt_remapping;
    facts_ = f;
    return f;
}

Result<void> VtdUnit::wait32(uint32_t offset, uint32_t mask, uint32_t want) {
    for (uint32_t i = 0; i < spins_; ++i)
        if ((io_.read32(offset) & mask) == want) return {};
    return fail(Error::DeviceError);
}

Result<void> VtdUnit::wait64(uint32_t offset, uint64_t mask, uint64_t want) {
    for (uint32_t i = 0; i < spins_; ++i)
        if ((io_.read64(offset) & mask) == want) return {};
    return fail(Error::DeviceError);
}

// §11.4.4.1: one GCMD bit at a time, the others as GSTS reports them, then
// wait for GSTS to show the change. SRTP is one-shot: RTPS sets when done.
Result<void> VtdUnit::command(uint32_t bit, bool set) {
    const uint32_t status = io_.read32(reg::global_status) & gcmd::persistent_mask;
    io_.write32(reg::global_command, set ? status | bit : status & ~bit);
    return wait32(reg::global_status, bit, set ? bit : 0);
}

Result<void> VtdUnit::enable(uint64_t root_table, void (*write_back_caches)()) {
    if (root_table & 0xFFF) return fail(Error::InvalidArgument);
    // Register-based invalidation is refused while queued invalidation is
    // on (§6.5.2); firmware may have left it on (or translation on with its
    // own tables): turn both off first. Interrupt remapping (not used, DMAR
    // hidden from the guest) goes off too: with the guest's own IRTE
    // nobody would maintain it.
    const uint32_t status = io_.read32(reg::global_status);
    if (status & gcmd::translation_enable) TRY(command(gcmd::translation_enable, false));
    if (status & gcmd::interrupt_remapping) TRY(command(gcmd::interrupt_remapping, false));
    if (status & gcmd::queued_invalidation) TRY(command(gcmd::queued_invalidation, false));
    if (!facts_.coherent && write_back_caches) write_back_caches();
    if (facts_.needs_write_buffer_flush) {
        // §6.8: WBF is one-shot; WBFS reads 1 until the flush is done.
        io_.write32(reg::global_command,
                    (io_.read32(reg::global_status) & gcmd::persistent_mask) | gcmd::write_buffer_flush);
        TRY(wait32(reg::global_status, gcmd::write_buffer_flush, 0));
    }
    io_.write64(reg::root_table, root_table); // TTM (bits 11:10) = 00b: legacy mode
    TRY(command(gcmd::set_root_table, true));
    // §6.5.1.1/§6.5.1.2: global context-cache, then global IOTLB invalidation.
    io_.write64(reg::context_command, ccmd::invalidate | ccmd::global);
    TRY(wait64(reg::context_command, ccmd::invalidate, 0));
    const uint32_t iotlb = static_cast<uint32_t>(ecap::iro(facts_.ext_capability)) + iotlb::register_offset;
    io_.write64(iotlb, iotlb::invalidate | iotlb::global | iotlb::drain_reads | iotlb::drain_writes);
    TRY(wait64(iotlb, iotlb::invalidate, 0));
    // Faults: clear what firmware left; the event interrupt stays masked
    // until route_fault_events() gives it a destination.
    io_.write32(reg::fault_event_control, fectl::interrupt_mask);
    routed_ = false;
    (void)drain_faults(nullptr);
    faults_ = FaultStats{};
    logged_count_ = 0;
    TRY(command(gcmd::translation_enable, true));
    return {};
}

bool VtdUnit::translating() { return io_.read32(reg::global_status) & gcmd::translation_enable; }

bool VtdUnit::first_time(uint16_t source) {
    for (size_t i = 0; i < logged_count_; ++i)
        if (logged_[i] == source) return false;
    if (logged_count_ == max_logged_sources) return false;
    logged_[logged_count_++] = source;
    return true;
}

Result<void> VtdUnit::route_fault_events(const MsiMessage& message) {
    if (!msi::address_is_interrupt(message.address)) return fail(Error::InvalidArgument);
    // Masked while the message is half written (FECTL reset value IM = 1).
    io_.write32(reg::fault_event_control, fectl::interrupt_mask);
    io_.write32(reg::fault_event_data, message.data & 0xFFFF); // ID, bits 15:0 (EIMD 31:16 unused)
    io_.write32(reg::fault_event_address, static_cast<uint32_t>(message.address) & ~3u); // MA, bits 31:2
    if (facts_.ext_capability & ecap::extended_interrupt_mode)
        io_.write32(reg::fault_event_upper_address, static_cast<uint32_t>(message.address >> 32));
    // Anything recorded while masked is collected now; a fault between this
    // drain and the unmask leaves FECTL.IP set, and clearing IM sends it.
    (void)drain_faults(nullptr);
    io_.write32(reg::fault_event_control, 0);
    routed_ = true;
    return {};
}

DrainResult VtdUnit::drain_faults(void (*log)(const Fault&)) {
    const uint32_t fro = static_cast<uint32_t>(cap::fro(facts_.capability));
    const unsigned records = cap::fault_records(facts_.capability);
    DrainResult r;
    ++faults_.drains;
    for (unsigned pass = 0; pass < max_drain_passes; ++pass) {
        // §7.3: records fill in order from FRI; scan them all (there are
        // few) and clear each F bit by writing it back (RW1C).
        for (unsigned i = 0; i < records; ++i) {
            const uint32_t at = fro + 16 * i;
            const uint64_t hi = io_.read64(at + 8);
            if (!(hi & frcd::fault)) continue;
            Fault f;
            f.address = io_.read64(at) & frcd::address_mask;
            f.source = static_cast<uint16_t>(hi & frcd::source_mask);
            f.reason = static_cast<uint8_t>(hi >> frcd::reason_shift);
            f.read = hi & frcd::read_request;
            io_.write64(at + 8, frcd::fault);
            ++r.faults;
            ++faults_.faults;
            if (log && first_time(f.source)) {
                ++faults_.sources_logged;
                log(f);
            }
        }
        const uint32_t status = io_.read32(reg::fault_status);
        if (status & fsts::overflow) {
            r.overflow = true;
            ++faults_.overflows;
        }
        const uint32_t errors = status & fsts::invalidation_errors;
        r.errors |= errors;
        if (errors & fsts::invalidation_queue_error) ++faults_.queue_errors;
        if (errors & fsts::invalidation_completion_error) ++faults_.completion_errors;
        if (errors & fsts::invalidation_timeout) ++faults_.timeouts;
        if (status & fsts::write_one_to_clear) io_.write32(reg::fault_status, status & fsts::write_one_to_clear);
        // Clear now: the next fault is a new interrupt condition. Still set:
        // a fault came in during this pass (its record was not scanned yet,
        // or it was written after): go again.
        if (!(io_.read32(reg::fault_status) & (fsts::pending | fsts::write_one_to_clear))) return r;
    }
    r.settled = false;
    ++faults_.unsettled;
    return r;
}


} // namespace sv::vtd
