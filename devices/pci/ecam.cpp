#include "devices/pci/ecam.hpp"

#include "devices/pci/config_decode.hpp"
#include "lib/log.hpp"

namespace sv::pci {

EcamWindow decode_pciexbar(uint64_t value) {
    using namespace pciexbar;
    EcamWindow w;
    uint64_t mask = base_bits_256m;
    switch (value & length_mask) {
    case length_256m: w.length = 256ull << 20; break;
    case length_128m:
        w.length = 128ull << 20;
        mask |= base_bit_128m;
        break;
    case length_64m:
        w.length = 64ull << 20;
        mask |= base_bit_128m | base_bit_64m;
        break;
    default: return w; // 11b: reserved (QEMU aborts on it; never let it reach the MCH)
    }
    w.valid = true;
    w.enabled = value & enable;
    w.base = value & mask;
    return w;
}

// Performs a vetted config write on the real ECAM at the window's base.
class EcamMediator::Writer final : public ConfigWriter {
  public:
    Writer(PhysicalMmio& hw, uint64_t base) : hw_(hw), base_(base) {}
    void write(const ConfigWrite& w) override { hw_.write(base_ + ecam_offset(w.address, w.offset), w.size, w.value); }

  private:
    PhysicalMmio& hw_;
    uint64_t base_;
};

uint64_t EcamMediator::read_pciexbar() {
    return config_.read32(mch_, pciexbar::offset) |
           static_cast<uint64_t>(config_.read32(mch_, pciexbar::offset + 4)) << 32;
}

Result<void> EcamMediator::follow(const EcamWindow& w) {
    if (!w.valid || !w.enabled) {
        mmio_.remove(range_);
        window_ = w;
        return {};
    }
    TRY(mmio_.move(range_, w.base, w.length));
    window_ = w;
    return {};
}

Result<void> EcamMediator::track_q35(Address mch) {
    mch_ = mch;
    const EcamWindow w = decode_pciexbar(read_pciexbar());
    if (w.enabled && !placement_.placement_ok(w.base, w.length)) {
        log::error("PCIe ECAM window at {:x} ({} MiB) overlaps RAM or hypervisor memory", w.base, w.length >> 20);
        return fail(Error::Protected);
    }
    TRY(follow(w));
    if (!mediator_.add_rule(*this) || !mediator_.watch(mch, *this)) return fail(Error::OutOfMemory);
    tracking_ = true;
    if (w.enabled) log::info("PCIe ECAM (Q35 PCIEXBAR) at {:x}, {} MiB: config writes through it are mediated", w.base,
                             w.length >> 20);
    else log::info("PCIe ECAM (Q35 PCIEXBAR) disabled: trapped when the guest enables it");
    return {};
}

Result<void> EcamMediator::trap_fixed(uint64_t base, uint64_t length) {
    EcamWindow w{true, true, base, length};
    if (!placement_.placement_ok(base, length)) return fail(Error::Protected);
    TRY(follow(w));
    log::warn("PCIe ECAM at {:x}, {} MiB (ACPI MCFG) trapped; its relocation register is unknown on this chipset",
              base, length >> 20);
    return {};
}

void EcamMediator::mmio_write(uint64_t gpa, uint8_t size, uint64_t value) {
    ConfigWrite w;
    if (!window_.enabled ||
        decode_ecam_write(gpa - window_.base, window_.length, size, value, w) != DecodeResult::Config) {
        ++stats_.refused;
        if (!warned_refused_) {
            warned_refused_ = true;
            log::warn("PCIe ECAM: refused a {}-byte write at {:x} (only aligned 1, 2 and 4-byte accesses are "
                      "config accesses; logged once)",
                      size, gpa);
        }
        return;
    }
    ++stats_.writes;
    Writer hw(hardware_, window_.base);
    mediator_.guest_write(w, hw);
}

bool EcamMediator::filter(ConfigWrite& w) {
    if (!tracking_ || !(w.address == mch_) || !w.overlaps(pciexbar::offset, pciexbar::bytes)) return true;
    if (pending_) settle(); // the last write never reached the MCH
    uint64_t next = read_pciexbar();
    for (uint16_t at = pciexbar::offset; at < pciexbar::offset + pciexbar::bytes; ++at) {
        if (!w.covers(at)) continue;
        const unsigned shift = 8 * (at - pciexbar::offset);
        next = (next & ~(0xFFull << shift)) | static_cast<uint64_t>(w.byte_at(at)) << shift;
    }
    const EcamWindow n = decode_pciexbar(next);
    const char* why = nullptr;
    if (!n.valid) why = "reserved length encoding";
    else if (n.enabled && !placement_.placement_ok(n.base, n.length)) why = "over RAM, hypervisor memory or unmapped space";
    else if (n.enabled && mmio_.overlaps(n.base, n.length, &range_)) why = "over another trapped MMIO range";
    // Trap the new window before the MCH decodes it; the old one stays
    // trapped until settle(), after the write.
    else if (n.enabled && !(range_.linked && range_.base == n.base && range_.length == n.length) &&
             !mmio_.move(range_, n.base, n.length, &leaving_).ok())
        why = "the nested page tables could not trap it there";
    if (!why) {
        pending_ = true;
        return true;
    }
    ++stats_.refused_relocations;
    log::warn("PCIe ECAM: refused PCIEXBAR write {:x} (window {:x}, {} MiB): {}; the old window stays", next, n.base,
              n.length >> 20, why);
    return false;
}

void EcamMediator::dropped(const ConfigWrite& w) {
    if (tracking_ && w.address == mch_ && pending_) settle();
}

void EcamMediator::config_written(const ConfigWrite& w) {
    if (w.overlaps(pciexbar::offset, pciexbar::bytes)) settle();
}

void EcamMediator::settle() {
    pending_ = false;
    const EcamWindow now = decode_pciexbar(read_pciexbar());
    const bool unchanged = now.valid == window_.valid && now.enabled == window_.enabled &&
                           now.base == window_.base && now.length == window_.length;
    const bool on = now.valid && now.enabled;
    Result<void> r{};
    if (on && range_.linked && range_.base == now.base && range_.length == now.length) {
        mmio_.remove(leaving_); // the MCH left the old pages
        window_ = now;
    } else if (on && unchanged) {
        // The write never reached the MCH: back over the old pages, which
        // are all still trapped; the prepared ones are released.
        mmio_.detach(leaving_);
        r = mmio_.move(range_, now.base, now.length, &leaving_);
        mmio_.remove(leaving_);
    } else {
        mmio_.remove(leaving_);
        r = follow(now);
    }
    if (!r.ok()) {
        // Cannot trap it there (vetted before, so out of memory or a vCPU
        // that did not flush): fail closed by switching the window off.
        log::error("PCIe ECAM: cannot trap the window at {:x}: disabling it", now.base);
        config_.write16(mch_, pciexbar::offset,
                        static_cast<uint16_t>(config_.read16(mch_, pciexbar::offset) & ~pciexbar::enable));
        mmio_.remove(range_);
        window_ = decode_pciexbar(read_pciexbar());
        return;
    }
    if (unchanged) return;
    ++stats_.relocations;
    log::info("PCIe ECAM window now {} at {:x}, {} MiB (nested paging updated)", now.enabled ? "on" : "off", now.base,
              now.length >> 20);
}

} // namespace sv::pci
