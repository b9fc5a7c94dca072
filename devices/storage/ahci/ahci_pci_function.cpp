#include "devices/storage/ahci/ahci_pci_function.hpp"

#include "devices/storage/ahci/ahci_registers.hpp"
#include "lib/log.hpp"

namespace sv::ahci {
namespace {
constexpr uint16_t command_bus_master = 1u << 2; // PCI 3.0 §6.2.2

uint64_t all_ones(uint8_t size) { return size >= 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * size)) - 1; }

unsigned popcount32(uint32_t v) {
    unsigned n = 0;
    for (; v; v &= v - 1) ++n;
    return n;
}
} // namespace

unsigned AhciPciFunction::ports_at_boot(pci::ConfigSpace& config, pci::Address a, pci::PhysicalRegisters& physical) {
    const uint32_t bar = config.read32(a, kPciAbarOffset);
    const uint64_t base = bar & ~uint64_t{pci::membar::flag_bits};
    const bool decodes = config.read16(a, pci::reg::command) & pci::command_memory_enable;
    if (!decodes || (bar & pci::membar::io_space) || base == 0) return kMaxPorts;
    const uint32_t pi = physical.read32(base + reg::kPi);
    // A PI of all ones is a master abort, not 32 ports; 0 is a broken HBA.
    if (pi == 0 || pi == 0xFFFFFFFFu) return kMaxPorts;
    return popcount32(pi);
}

Result<void> AhciPciFunction::attach(const char* name) {
    name_ = name;
    TRY(bar_.attach(address_, kAbarIndex, *this, this, name));
    if (!bar_.decoding()) {
        log::warn("{}: PCI {}:{}.{} ABAR does not decode at boot: not mediated", name, address_.bus,
                  address_.device, address_.function);
        return fail(Error::Unsupported);
    }
    reset_.attach(config_, address_);
    if (!mediator_.add_rule(*this) || !mediator_.watch(address_, *this)) return fail(Error::OutOfMemory);
    return {};
}

Result<void> AhciPciFunction::bind(AbarClient& client, DmaAllocator& dma, pci::BusMasterRule& bus_master) {
    if (!bar_.decoding()) return fail(Error::Unsupported);
    const uint16_t command = config_.read16(address_, pci::reg::command);
    config_.write16(address_, pci::reg::command, static_cast<uint16_t>(command & ~command_bus_master));
    Result<void> r = client.init(dma);
    if (!r.ok()) {
        log::error("{}: PCI {}:{}.{}: controller set-up failed ({}): bus mastering stays off", name_,
                   address_.bus, address_.device, address_.function, to_string(r.error()));
        return r;
    }
    if (!bus_master.add_mediated(address_)) return fail(Error::OutOfMemory);
    config_.write16(address_, pci::reg::command, command);
    client_ = &client;
    log::info("{}: PCI {}:{}.{} ABAR {:x} ({} KiB) ports {} mediated", name_, address_.bus, address_.device,
              address_.function, bar_.address(), bar_.bar().size >> 10, client.implemented_ports());
    return {};
}

bool AhciPciFunction::offset_of(uint64_t gpa, uint8_t size, uint32_t& offset) {
    if (!client_) {
        ++stats_.unbound;
        return false;
    }
    const uint64_t base = bar_.address();
    if (!bar_.decoding() || gpa < base || gpa - base + size > bar_.bar().size) {
        ++stats_.outside_abar;
        return false;
    }
    offset = static_cast<uint32_t>(gpa - base);
    // Outside D0 no BAR decodes (PCI PM 1.2 §5.3): all ones, writes dropped.
    if (!reset_.in_d0()) {
        ++stats_.not_ready;
        return false;
    }
    return true;
}

// --- resets behind the ABAR --------------------------------------------------

bool AhciPciFunction::filter(pci::ConfigWrite& w) {
    if (client_ && w.address == address_) reset_.before_write(w);
    return true;
}

void AhciPciFunction::dropped(const pci::ConfigWrite& w) { reset_.write_dropped(w); }

void AhciPciFunction::config_written(const pci::ConfigWrite& w) {
    const pci::ResetEvent e = reset_.after_write(w);
    if (e == pci::ResetEvent::None || !client_) return;
    registers_.set_ready(reset_.in_d0());
    if (!pci::resets_function(e)) return;
    // The ABAR trap keeps its placement until the guest's next BAR or
    // command write (pci::MmioBar re-reads the function then): safe whether
    // or not the function really reset.
    client_->function_reset();
    if (!warned_reset_) {
        warned_reset_ = true;
        log::info("{}: PCI {}:{}.{}: {}: in-flight commands dropped, shadows re-pointed at the next access "
                  "(logged once)",
                  name_, address_.bus, address_.device, address_.function, pci::to_string(e));
    }
}

uint64_t AhciPciFunction::mmio_read(uint64_t gpa, uint8_t size) {
    uint32_t offset = 0;
    if (!offset_of(gpa, size, offset)) return all_ones(size);
    ++stats_.reads;
    return client_->read(offset, size);
}

void AhciPciFunction::mmio_write(uint64_t gpa, uint8_t size, uint64_t value) {
    uint32_t offset = 0;
    if (!offset_of(gpa, size, offset)) return;
    ++stats_.writes;
    client_->write(offset, size, value);
}

} // namespace sv::ahci
