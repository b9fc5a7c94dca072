// Binds a PCI NVMe function to its mediator (see nvme_pci_function.hpp).
#include "devices/storage/nvme/nvme_pci_function.hpp"

#include "core/nmi_sink.hpp"
#include "devices/storage/nvme/nvme_controller.hpp"
#include "devices/storage/nvme/nvme_queues.hpp"
#include "lib/log.hpp"

namespace sv::nvme {
namespace {
constexpr uint8_t kCapPointer = 0x34;        // PCI 3.0 §6.7
constexpr uint16_t kStatusCapList = 1u << 4; // Status register bit 4
constexpr uint8_t kStatusOffset = 0x06;
constexpr unsigned kMaxCapabilities = 48;    // (256 - 64) / 4: a loop guard

uint64_t all_ones(uint8_t size) { return size >= 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * size)) - 1; }

// Message Control byte 1 (capability + 3): Enable bit 7, Function Mask bit 6.
constexpr uint8_t kControlHighEnable = static_cast<uint8_t>(msix::kEnable >> 8);
constexpr uint8_t kControlHighMask = static_cast<uint8_t>(msix::kFunctionMask >> 8);
} // namespace

MsixPlacement find_msix(pci::ConfigSpace& config, pci::Address a) {
    MsixPlacement p;
    if (!(config.read16(a, kStatusOffset) & kStatusCapList)) return p;
    uint8_t at = config.read8(a, kCapPointer) & 0xfc;
    for (unsigned n = 0; at >= 0x40 && n < kMaxCapabilities; ++n) {
        if (config.read8(a, at) == kPciCapMsix) {
            const uint16_t mc = config.read16(a, static_cast<uint8_t>(at + 2));
            const uint32_t table = config.read32(a, static_cast<uint8_t>(at + 4));
            const uint32_t pba = config.read32(a, static_cast<uint8_t>(at + 8));
            p.capability = at;
            p.vectors = static_cast<uint16_t>(msix::table_entries(mc));
            p.table_bir = static_cast<uint8_t>(table & msix::kBirMask);
            p.table_offset = table & msix::kOffsetMask;
            p.pba_bir = static_cast<uint8_t>(pba & msix::kBirMask);
            p.pba_offset = pba & msix::kOffsetMask;
            return p;
        }
        at = config.read8(a, static_cast<uint8_t>(at + 1)) & 0xfc;
    }
    return p;
}

NvmePciFunction::NvmePciFunction(pci::Address address, pci::ConfigMediator& mediator, pci::ConfigSpace& config,
                                 MmioDispatcher& mmio, pci::MmioPlacement& placement,
                                 pci::PhysicalRegisters& physical)
    : address_(address), mediator_(mediator), config_(config), bar0_(mediator, config, mmio, placement),
      table_bar_(mediator, config, mmio, placement), bar0_registers_(bar0_, physical),
      table_registers_(table_bar_, physical), table_handler_(*this) {}

Result<void> NvmePciFunction::attach(const char* name) {
    name_ = name;
    msix_ = find_msix(config_, address_);
    // BIR 1 is BAR0's upper half (64-bit BAR0, NVMe 1.4 §2.1.11); a PBA in a
    // third BAR is not supported (QEMU and real controllers put table and
    // PBA together).
    const bool placement_ok = msix_.present() && msix_.table_bir != 1 && msix_.table_bir <= pci::max_bar_index &&
                              msix_.pba_bir == msix_.table_bir;
    if (!placement_ok) {
        log::warn("{}: PCI {}:{}.{} has no usable MSI-X capability: not mediated", name, address_.bus,
                  address_.device, address_.function);
        return fail(Error::Unsupported);
    }
    TRY(bar0_.attach(address_, kBar0Index, *this, this, name));
    if (!bar0_.decoding()) {
        log::warn("{}: PCI {}:{}.{} BAR0 does not decode at boot: not mediated", name, address_.bus,
                  address_.device, address_.function);
        return fail(Error::Unsupported);
    }
    if (!msix_in_bar0()) {
        TRY(table_bar_.attach(address_, msix_.table_bir, table_handler_, &table_handler_, name));
        if (!table_bar_.decoding()) return fail(Error::Unsupported);
    }
    reset_.attach(config_, address_);
    if (!mediator_.add_rule(*this) || !mediator_.watch(address_, *this)) return fail(Error::OutOfMemory);
    guest_control_ = static_cast<uint16_t>(config_.read16(address_, static_cast<uint8_t>(message_control_offset())) &
                                           ~(msix::kEnable | msix::kFunctionMask));
    return {};
}

void NvmePciFunction::force_real_msix_on() {
    // Real MSI-X on, function unmasked (PCI 3.0 §6.8.2.3): the device never
    // asserts INTx, and raises only the real entries the controller
    // unmasked (NMIs). Written as the hypervisor, not through the mediator.
    const uint8_t off = static_cast<uint8_t>(message_control_offset());
    const uint16_t mc = config_.read16(address_, off);
    config_.write16(address_, off, static_cast<uint16_t>((mc | msix::kEnable) & ~msix::kFunctionMask));
}

Result<void> NvmePciFunction::bind(NvmeController& controller, DmaAllocator& dma, pci::BusMasterRule& bus_master) {
    if (!bar0_.decoding()) return fail(Error::Unsupported);
    const uint16_t command = config_.read16(address_, pci::reg::command);
    config_.write16(address_, pci::reg::command, static_cast<uint16_t>(command & ~pci::command_bus_master));
    // Boot identify (controller.init) first disables the controller (CC.EN
    // 0 until CSTS.RDY 0: no queue exists after that; before it, only the
    // firmware's idle queues, with no command outstanding), then runs a
    // private admin queue in hypervisor memory, which needs DMA: Bus Master
    // Enable is on for it (the guest has not run yet).
    config_.write16(address_, pci::reg::command, static_cast<uint16_t>(command | pci::command_bus_master));
    Result<void> r = controller.init(dma);
    if (!r.ok()) {
        config_.write16(address_, pci::reg::command, static_cast<uint16_t>(command & ~pci::command_bus_master));
        log::error("{}: PCI {}:{}.{}: controller set-up failed ({}): bus mastering stays off", name_, address_.bus,
                   address_.device, address_.function, to_string(r.error()));
        return r;
    }
    if (!bus_master.add_mediated(address_)) return fail(Error::OutOfMemory);
    if (!nmi_sinks().add(controller)) return fail(Error::OutOfMemory);
    force_real_msix_on();
    controller_ = &controller;
    controller.msix().control_written(guest_control_);
    config_.write16(address_, pci::reg::command, command);
    const ControllerFacts& f = controller.facts();
    log::info("{}: PCI {}:{}.{} BAR0 {:x} ({} KiB) namespaces {} MSI-X {} vectors mediated", name_, address_.bus,
              address_.device, address_.function, bar0_.address(), bar0_.bar().size >> 10, f.namespace_count,
              msix_.vectors);
    for (uint32_t i = 0; i < f.namespace_count; ++i)
        log::info("{}: namespace {} {} blocks of {} B{}", name_, f.namespaces[i].nsid, f.namespaces[i].blocks,
                  f.namespaces[i].lba_bytes, f.namespaces[i].supported ? "" : " (not supported: refused)");
    return {};
}

// --- config space: Message Control ------------------------------------------------

bool NvmePciFunction::filter(pci::ConfigWrite& w) {
    if (!(w.address == address_)) return true;
    if (controller_) reset_.before_write(w);
    if (!msix_.present()) return true;
    const uint16_t lo = message_control_offset(), hi = static_cast<uint16_t>(lo + 1);
    if (!w.covers(lo) && !w.covers(hi)) return true;
    uint16_t guest = guest_control_;
    if (w.covers(lo)) guest = static_cast<uint16_t>((guest & 0xff00) | w.byte_at(lo));
    if (w.covers(hi)) {
        guest = static_cast<uint16_t>((guest & 0x00ff) | uint16_t{w.byte_at(hi)} << 8);
        // Before the controller is bound nothing is ours yet: the write passes.
        if (controller_) w.set_byte(hi, static_cast<uint8_t>((w.byte_at(hi) | kControlHighEnable) & ~kControlHighMask));
    }
    guest_control_ = guest;
    control_seen_ = true;
    ++stats_.control_writes;
    return true;
}

void NvmePciFunction::dropped(const pci::ConfigWrite& w) {
    if (!(w.address == address_)) return;
    reset_.write_dropped(w);
    control_seen_ = false;
}

void NvmePciFunction::config_written(const pci::ConfigWrite& w) {
    const pci::ResetEvent e = reset_.after_write(w);
    if (e != pci::ResetEvent::None && controller_) reset_event(e);
    if (!control_seen_) return;
    control_seen_ = false;
    if (!controller_) return;
    // The write carried our Enable (filter): the real MSI-X is on again.
    if (rearm_owed_ && reset_.in_d0()) (void)rearm();
    controller_->msix().control_written(guest_control_);
}

// --- resets behind the registers ----------------------------------------------------

void NvmePciFunction::reset_event(pci::ResetEvent e) {
    const bool ready = reset_.in_d0();
    bar0_registers_.set_ready(ready);
    table_registers_.set_ready(ready);
    controller_->set_function_ready(ready);
    if (!pci::resets_function(e)) return;
    // The function is in its post-reset state: command register 0 (no BAR
    // decodes), MSI-X disabled with every entry masked, the controller
    // disabled. Nothing here touches it (it may still be resetting). The
    // BAR traps keep their placement until the guest's next BAR or command
    // write (pci::MmioBar re-reads what the function decodes then): a
    // function that did not really reset still decodes there, and one that
    // did decodes nothing, so keeping the trap is safe either way.
    guest_control_ = static_cast<uint16_t>(guest_control_ & ~(msix::kEnable | msix::kFunctionMask));
    controller_->function_reset();
    controller_->msix().control_written(guest_control_);
    rearm_owed_ = true;
    if (!warned_reset_) {
        warned_reset_ = true;
        log::info("{}: PCI {}:{}.{}: {}: in-flight commands dropped, shadows re-armed at the next access (logged "
                  "once)",
                  name_, address_.bus, address_.device, address_.function, pci::to_string(e));
    }
}

bool NvmePciFunction::rearm() {
    force_real_msix_on();
    const uint16_t mc = config_.read16(address_, static_cast<uint8_t>(message_control_offset()));
    if ((mc & (msix::kEnable | msix::kFunctionMask)) != msix::kEnable) return false;
    rearm_owed_ = false;
    return true;
}

bool NvmePciFunction::function_ready() {
    if (reset_.in_d0() && (!rearm_owed_ || rearm())) return true;
    ++stats_.not_ready;
    return false;
}

// --- guest BAR accesses -------------------------------------------------------------

bool NvmePciFunction::offset_of(const pci::MmioBar& bar, uint64_t gpa, uint8_t size, uint32_t& offset) {
    if (!controller_) {
        ++stats_.unbound;
        return false;
    }
    const uint64_t base = bar.address();
    if (!bar.decoding() || gpa < base || gpa - base + size > bar.bar().size) {
        ++stats_.outside_bar;
        return false;
    }
    // Outside D0 no BAR decodes (PCI PM 1.2 §5.3): all ones, writes dropped.
    if (!function_ready()) return false;
    offset = static_cast<uint32_t>(gpa - base);
    return true;
}

uint64_t NvmePciFunction::read_at(uint8_t bir, uint32_t offset, uint8_t size) {
    ++stats_.reads;
    MsixTable& t = controller_->msix();
    if (bir == msix_.table_bir) {
        if (offset >= msix_.table_offset && offset - msix_.table_offset < t.table_bytes())
            return t.read_table(offset - msix_.table_offset, size);
        if (offset >= msix_.pba_offset && offset - msix_.pba_offset < t.pba_bytes())
            return t.read_pba(offset - msix_.pba_offset, size);
    }
    return bir == kBar0Index ? controller_->read(offset, size) : 0;
}

void NvmePciFunction::write_at(uint8_t bir, uint32_t offset, uint8_t size, uint64_t value) {
    ++stats_.writes;
    MsixTable& t = controller_->msix();
    if (bir == msix_.table_bir) {
        if (offset >= msix_.table_offset && offset - msix_.table_offset < t.table_bytes()) {
            t.write_table(offset - msix_.table_offset, size, value);
            return;
        }
        if (offset >= msix_.pba_offset && offset - msix_.pba_offset < t.pba_bytes()) return; // PBA is read-only
    }
    if (bir == kBar0Index) controller_->write(offset, size, value);
}

uint64_t NvmePciFunction::mmio_read(uint64_t gpa, uint8_t size) {
    uint32_t offset = 0;
    if (!offset_of(bar0_, gpa, size, offset)) return all_ones(size);
    return read_at(kBar0Index, offset, size);
}

void NvmePciFunction::mmio_write(uint64_t gpa, uint8_t size, uint64_t value) {
    uint32_t offset = 0;
    if (!offset_of(bar0_, gpa, size, offset)) return;
    write_at(kBar0Index, offset, size, value);
}

uint64_t NvmePciFunction::TableBar::mmio_read(uint64_t gpa, uint8_t size) {
    uint32_t offset = 0;
    if (!f_.offset_of(f_.table_bar_, gpa, size, offset)) return all_ones(size);
    return f_.read_at(f_.msix_.table_bir, offset, size);
}

void NvmePciFunction::TableBar::mmio_write(uint64_t gpa, uint8_t size, uint64_t value) {
    uint32_t offset = 0;
    if (!f_.offset_of(f_.table_bar_, gpa, size, offset)) return;
    f_.write_at(f_.msix_.table_bir, offset, size, value);
}

} // namespace sv::nvme
