#include "devices/pci/mmio_bar.hpp"

#include "lib/log.hpp"

namespace sv::pci {
namespace {
constexpr uint16_t command_offset = reg::command; // 16 bits
constexpr uint32_t all_ones = 0xFFFFFFFFu;

uint32_t set_byte(uint32_t v, unsigned lane, uint8_t b) {
    return (v & ~(0xFFu << (8 * lane))) | (uint32_t{b} << (8 * lane));
}
} // namespace

const char* to_string(BarRefusal r) {
    switch (r) {
    case BarRefusal::None: return "ok";
    case BarRefusal::Wraps: return "past the top of the address space";
    case BarRefusal::NotTrappable: return "over RAM, hypervisor memory or outside the nested page tables";
    case BarRefusal::Overlaps: return "over another trapped MMIO range";
    case BarRefusal::CannotTrap: return "the nested page tables could not trap it";
    }
    return "?";
}

Result<MemoryBar> size_memory_bar(ConfigSpace& config, Address fn, uint8_t index) {
    if (index > max_bar_index) return fail(Error::InvalidArgument);
    const uint8_t off = static_cast<uint8_t>(reg::bar0 + 4 * index);
    const uint32_t lo = config.read32(fn, off);
    const uint32_t type = lo & membar::type_mask;
    if ((lo & membar::io_space) || (type != membar::type_32 && type != membar::type_64))
        return fail(Error::Unsupported);
    MemoryBar bar;
    bar.is64 = type == membar::type_64;
    bar.prefetchable = lo & membar::prefetchable;
    if (bar.is64 && index == max_bar_index) return fail(Error::Unsupported);
    const uint32_t hi = bar.is64 ? config.read32(fn, static_cast<uint8_t>(off + 4)) : 0;
    // Decode off while the BAR holds all ones (PCI 3.0 §6.2.5.1 "decode
    // should be disabled ... before sizing"), then everything restored.
    const uint16_t command = config.read16(fn, command_offset);
    config.write16(fn, command_offset, static_cast<uint16_t>(command & ~command_memory_enable));
    config.write32(fn, off, all_ones);
    const uint32_t size_lo = config.read32(fn, off);
    uint32_t size_hi = all_ones; // a 32-bit BAR: bits 63:32 are not decodable
    if (bar.is64) {
        config.write32(fn, static_cast<uint8_t>(off + 4), all_ones);
        size_hi = config.read32(fn, static_cast<uint8_t>(off + 4));
        config.write32(fn, static_cast<uint8_t>(off + 4), hi);
    }
    config.write32(fn, off, lo);
    config.write16(fn, command_offset, command);
    const uint32_t low_bits = size_lo & ~membar::flag_bits;
    const uint64_t mask = (uint64_t{size_hi} << 32) | low_bits;
    // Unimplemented BAR (reads back 0), or writable bits that are not one
    // run from the top (1..10..0): not a BAR we can follow.
    if ((!bar.is64 && low_bits == 0) || mask == 0 || (mask | (mask - 1)) != ~uint64_t{0})
        return fail(Error::Unsupported);
    bar.size = ~mask + 1;
    bar.writable = bar.is64 ? mask : mask & 0xFFFFFFFFull;
    return bar;
}

uint64_t MmioBar::page_span(uint64_t a) const {
    const uint64_t first = page_base(a);
    const uint64_t last = page_base(a + bar_.size - 1);
    return last - first + MmioDispatcher::page;
}

bool MmioBar::touches(const ConfigWrite& w) const {
    return w.overlaps(command_offset, 2) || w.overlaps(offset_, bar_.is64 ? 8 : 4);
}

MmioBar::Decode MmioBar::decode_now() {
    const uint64_t lo = config_.read32(function_, offset_);
    const uint64_t hi = bar_.is64 ? config_.read32(function_, static_cast<uint8_t>(offset_ + 4)) : 0;
    return Decode{(config_.read16(function_, command_offset) & command_memory_enable) != 0,
                  ((hi << 32) | lo) & bar_.writable};
}

// The function's decode after `w`, as the device applies it: bits the BAR
// does not implement keep their value (they read as the size mask).
MmioBar::Decode MmioBar::decode_after(const ConfigWrite& w) {
    uint32_t command = config_.read16(function_, command_offset);
    uint32_t lo = config_.read32(function_, offset_);
    uint32_t hi = bar_.is64 ? config_.read32(function_, static_cast<uint8_t>(offset_ + 4)) : 0;
    for (uint16_t at = w.offset; at < w.offset + w.size; ++at) {
        const uint8_t b = w.byte_at(at);
        if (at >= command_offset && at < command_offset + 2) command = set_byte(command, at - command_offset, b);
        else if (at >= offset_ && at < offset_ + 4) lo = set_byte(lo, at - offset_, b);
        else if (bar_.is64 && at >= offset_ + 4 && at < offset_ + 8) hi = set_byte(hi, at - offset_ - 4, b);
    }
    return Decode{(command & command_memory_enable) != 0, ((uint64_t{hi} << 32) | lo) & bar_.writable};
}

BarRefusal MmioBar::vet(const Decode& d) const {
    if (!d.on) return BarRefusal::None;
    if (d.address + bar_.size < d.address) return BarRefusal::Wraps;
    const uint64_t base = page_base(d.address), span = page_span(d.address);
    if (base + span < base) return BarRefusal::Wraps;
    if (!placement_.placement_ok(base, span)) return BarRefusal::NotTrappable;
    if (mmio_.overlaps(base, span, &range_)) return BarRefusal::Overlaps;
    return BarRefusal::None;
}

Result<void> MmioBar::prepare(const Decode& d) {
    if (!d.on) return {}; // released after the write, in settle()
    const uint64_t base = page_base(d.address), span = page_span(d.address);
    if (range_.linked) {
        if (range_.base != base) TRY(mmio_.move(range_, base, span, &leaving_));
    } else {
        TRY(mmio_.add(range_, base, span, *range_.handler, range_.reader));
    }
    address_ = d.address;
    return {};
}

void MmioBar::force_decode_off() {
    const uint16_t command = config_.read16(function_, command_offset);
    config_.write16(function_, command_offset, static_cast<uint16_t>(command & ~command_memory_enable));
    ++stats_.decode_forced_off;
}

void MmioBar::settle() {
    pending_ = false;
    const Decode now = decode_now();
    if (!now.on) {
        mmio_.remove(range_);
        mmio_.remove(leaving_);
    } else if (!range_.linked || range_.base != page_base(now.address)) {
        // The function decodes where no prepare() put the trap: the write
        // was dropped after prepare() (a later rule refused it) or the
        // device took other bits than sizing showed. If it still decodes
        // the old placement, those pages are still trapped (leaving_ and
        // range_): move the range back over them.
        const bool back = tracked_.on && page_base(now.address) == page_base(tracked_.address);
        if (back) mmio_.detach(leaving_);
        else mmio_.remove(leaving_);
        if (vet(now) != BarRefusal::None || !prepare(now).ok()) {
            log::error("{}: function {}:{}.{} decodes {:x}, which cannot be trapped: memory decode turned off",
                       name_, function_.bus, function_.device, function_.function, now.address);
            force_decode_off();
            mmio_.remove(range_);
        }
        mmio_.remove(leaving_);
    } else {
        mmio_.remove(leaving_); // the function left the old pages: release them
    }
    address_ = now.address;
    const Decode settled{range_.linked, range_.linked ? now.address : 0};
    if (settled.on != tracked_.on || settled.address != tracked_.address) ++stats_.placements;
    tracked_ = settled;
}

void MmioBar::restore_old_bytes(ConfigWrite& w) {
    for (uint16_t at = w.offset; at < w.offset + w.size; ++at) {
        if (at < offset_ || at >= offset_ + (bar_.is64 ? 8 : 4)) continue;
        const uint8_t dword = static_cast<uint8_t>(at & ~3u);
        w.set_byte(at, static_cast<uint8_t>(config_.read32(function_, dword) >> (8 * (at & 3))));
    }
}

void MmioBar::log_refusal(BarRefusal why, const Decode& d) {
    ++stats_.refused;
    if (warned_) return;
    warned_ = true;
    log::warn("{}: refused placing function {}:{}.{} BAR at {:x} ({} KiB): {}; the old placement stays (logged "
              "once)",
              name_, function_.bus, function_.device, function_.function, d.address, bar_.size >> 10,
              to_string(why));
}

bool MmioBar::filter(ConfigWrite& w) {
    if (!attached_ || !(w.address == function_) || !touches(w)) return true;
    if (pending_) settle(); // the last write never reached the device
    Decode next = decode_after(w);
    if (next.on == tracked_.on && (!next.on || next.address == tracked_.address)) return true;
    BarRefusal why = vet(next);
    if (why == BarRefusal::None && !prepare(next).ok()) why = BarRefusal::CannotTrap;
    if (why != BarRefusal::None) {
        log_refusal(why, next);
        restore_old_bytes(w);
        next = decode_after(w);
        if (next.on && !(tracked_.on && next.address == tracked_.address) &&
            (vet(next) != BarRefusal::None || !prepare(next).ok())) {
            // Even the old BAR cannot be trapped (the write turns decode on
            // over it): Memory Space Enable stays off.
            if (w.covers(command_offset))
                w.set_byte(command_offset, static_cast<uint8_t>(w.byte_at(command_offset) & ~command_memory_enable));
            ++stats_.decode_forced_off;
        }
    }
    pending_ = true;
    return true;
}

void MmioBar::dropped(const ConfigWrite& w) {
    if (attached_ && w.address == function_ && pending_) settle();
}

void MmioBar::config_written(const ConfigWrite& w) {
    if (attached_ && w.address == function_ && touches(w)) settle();
}

Result<void> MmioBar::attach(Address function, uint8_t index, MmioWriteHandler& writer, MmioReadHandler* reader,
                             const char* name) {
    if (attached_) return fail(Error::InvalidArgument);
    function_ = function;
    name_ = name;
    bar_ = TRY(size_memory_bar(config_, function, index));
    offset_ = static_cast<uint8_t>(reg::bar0 + 4 * index);
    range_.handler = &writer;
    range_.reader = reader;
    const Decode now = decode_now();
    if (vet(now) != BarRefusal::None || !prepare(now).ok()) {
        log::warn("{}: function {}:{}.{} BAR{} at {:x} cannot be trapped there: memory decode turned off", name,
                  function.bus, function.device, function.function, index, now.address);
        force_decode_off();
    }
    tracked_ = Decode{range_.linked, range_.linked ? now.address : 0};
    if (!mediator_.add_rule(*this) || !mediator_.watch(function, *this)) {
        mmio_.remove(range_);
        return fail(Error::OutOfMemory);
    }
    attached_ = true;
    log::info("{}: function {}:{}.{} BAR{} ({}-bit, {} KiB) {} {:x}: trapped wherever the guest puts it", name,
              function.bus, function.device, function.function, index, bar_.is64 ? 64 : 32, bar_.size >> 10,
              range_.linked ? "at" : "decode off, last at", now.address);
    return {};
}

} // namespace sv::pci
