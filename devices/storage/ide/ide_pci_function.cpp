#include "devices/storage/ide/ide_pci_function.hpp"

#include <new>

#include "lib/log.hpp"

namespace sv::ide {
namespace {
constexpr uint16_t legacy_command[2] = {0x1F0, 0x170};
constexpr uint16_t legacy_control[2] = {0x3F6, 0x376};
constexpr uint32_t io_bar_flag = 1u << 0;
} // namespace

IdeChannel::Ports channel_ports(uint8_t prog_if, const uint16_t (&io_bars)[5], unsigned channel) {
    IdeChannel::Ports p;
    const bool native = prog_if & (channel == 0 ? 0x01 : 0x04);
    if (native) {
        p.command_base = io_bars[channel * 2];
        p.control = io_bars[channel * 2 + 1] ? static_cast<uint16_t>(io_bars[channel * 2 + 1] + 2) : 0;
    } else {
        p.command_base = legacy_command[channel];
        p.control = legacy_control[channel];
    }
    p.bus_master_base = io_bars[4] ? static_cast<uint16_t>(io_bars[4] + 8 * channel) : 0;
    return p;
}

IdeChannel::Ports channel_ports(const FunctionImage& image, unsigned channel) {
    uint16_t bars[kIdeBars] = {};
    for (unsigned i = 0; i < kIdeBars; ++i) {
        const uint32_t writable = image.bar_writable[i] & ~3u;
        if (writable && (image.bars[i] & io_bar_flag)) bars[i] = static_cast<uint16_t>(image.bars[i] & writable);
    }
    return channel_ports(image.prog_if, bars, channel);
}

IdePciFunction::IdePciFunction(pci::Address address, pci::ConfigSpace& config, PortIo& io,
                               GuestMemory& memory, DmaAllocator& dma, storage::ShadowPool& pool,
                               const crypto::Xts* xts, IoDispatcher& dispatcher)
    : address_(address), config_(config), dispatcher_(dispatcher) {
    // Ports are set in init(), once the BARs are sized and checked.
    for (unsigned i = 0; i < 2; ++i) {
        IdeChannel::Config cfg;
        cfg.ports = IdeChannel::Ports{legacy_command[i], legacy_control[i], 0};
        channels_[i] = new (storage_[i]) IdeChannel(cfg, io, memory, dma, pool, xts);
    }
}

FunctionImage IdePciFunction::read_image() {
    FunctionImage f;
    f.command = config_.read16(address_, pci::reg::command);
    f.prog_if = config_.read8(address_, pci::reg::prog_if);
    for (unsigned i = 0; i < kIdeBars; ++i) {
        f.bars[i] = config_.read32(address_, static_cast<uint8_t>(pci::reg::bar0 + 4 * i));
        f.bar_writable[i] = bar_writable_[i];
    }
    return f;
}

// PCI 3.0 §6.2.5.1: write all ones, read back the implemented bits, restore;
// with decode off meanwhile so the function never decodes the probe value.
// Runs at boot, before the guest.
void IdePciFunction::size_bars() {
    const uint16_t command = config_.read16(address_, pci::reg::command);
    config_.write16(address_, pci::reg::command, static_cast<uint16_t>(command & ~0x3u));
    for (unsigned i = 0; i < kIdeBars; ++i) {
        const uint8_t off = static_cast<uint8_t>(pci::reg::bar0 + 4 * i);
        const uint32_t saved = config_.read32(address_, off);
        config_.write32(address_, off, 0xFFFFFFFFu);
        const uint32_t probe = config_.read32(address_, off);
        config_.write32(address_, off, saved);
        // An I/O BAR: bit 0 set, bits 1 reserved. Memory BARs are not ours.
        bar_writable_[i] = (probe & io_bar_flag) ? (probe & ~3u) : 0;
    }
    config_.write16(address_, pci::reg::command, command);
}

Result<void> IdePciFunction::register_ports(unsigned i) {
    uint16_t ports[kMaxTrappedPorts];
    const size_t n = channels_[i]->trapped_ports(ports);
    const uint16_t data = ports[0]; // trapped_ports lists the data port first
    for (size_t k = 0; k < n; ++k) {
        // The data port takes 16/32-bit accesses whole: a data transfer, not
        // an access to the following registers (ATA8-APT §7.1.2).
        TRY(dispatcher_.add(ports[k], 1, *channels_[i], ports[k] == data ? io_whole::any : io_whole::none));
    }
    return {};
}

void IdePciFunction::note_refusal(Placement why, bool decode_off) {
    ++placements_refused_;
    const uint32_t bit = 1u << static_cast<unsigned>(why);
    if (logged_refusals_ & bit) return;
    logged_refusals_ |= bit;
    log::warn("IDE {}.{}.{}: guest register placement refused ({}): {}", address_.bus, address_.device,
              address_.function, to_string(why),
              decode_off ? "I/O decode kept off" : "previous BAR/ProgIf value kept");
}

void IdePciFunction::force_decode_off(const FunctionImage& image, Placement why) {
    config_.write16(address_, pci::reg::command, static_cast<uint16_t>(image.command & ~kCommandIoEnable));
    note_refusal(why, true);
}

Result<void> IdePciFunction::init() {
    size_bars();
    const FunctionImage image = read_image();
    const Placement p = check_placement(image, dispatcher_, channels_[0], channels_[1]);
    IdeChannel::Ports ports[2] = {channel_ports(image, 0), channel_ports(image, 1)};
    if (p != Placement::Ok) {
        // Fail closed: the firmware left blocks we cannot trap. The channels
        // keep no bus master until the guest places BAR4 where we can.
        log::error("IDE {}.{}.{}: firmware placement cannot be trapped ({}): I/O decode off", address_.bus,
                   address_.device, address_.function, to_string(p));
        force_decode_off(image, p);
        // Nothing decodes now; trap only the legacy ports (never a native
        // BAR's value, which may be 0: the 8237's ports).
        for (unsigned i = 0; i < 2; ++i) ports[i] = IdeChannel::Ports{legacy_command[i], legacy_control[i], 0};
    }
    for (unsigned i = 0; i < 2; ++i) {
        channels_[i]->set_ports(ports[i]);
        Result<void> shadow = channels_[i]->init();
        if (!shadow.ok())
            log::error("IDE {}.{}.{} channel {}: no shadow memory: DMA commands will be aborted",
                       address_.bus, address_.device, address_.function, i);
        TRY(register_ports(i));
    }
    return {};
}

bool IdePciFunction::filter(pci::ConfigWrite& cw) {
    if (cw.address != address_ || !touches_placement(cw.offset, cw.size)) return true;
    const uint16_t offset = cw.offset;
    const uint8_t size = cw.size;
    const uint32_t value = cw.value;
    const FunctionImage current = read_image();
    const FilteredWrite w =
        filter_placement_write(current, offset, size, value, dispatcher_, channels_[0], channels_[1]);
    if (w.refused != Placement::Ok) note_refusal(w.refused, w.decode_forced_off);
    // Trap the ports the write is about to make the function decode before
    // it reaches the device: another vCPU must not reach them between the
    // write and config_written() (its exits there wait for the I/O lock we
    // hold, then find the ports ours).
    FunctionImage next = current;
    apply_config_write(next, offset, size, w.value);
    if (next.command & kCommandIoEnable) {
        for (unsigned i = 0; i < 2; ++i) {
            uint16_t ports[kMaxTrappedPorts];
            const size_t n = channels_[i]->trapped_ports_at(channel_ports(next, i), ports);
            for (size_t k = 0; k < n; ++k) dispatcher_.trap_now(ports[k], 1);
        }
    }
    cw.value = w.value;
    return true;
}

void IdePciFunction::config_written(const pci::ConfigWrite& w) {
    // Only the command register, ProgIf and the BARs decide our ports (PCI
    // IDE spec §2), whatever the size and alignment of the write.
    if (!touches_placement(w.offset, w.size)) return;
    follow_config();
}

void IdePciFunction::follow_config() {
    const FunctionImage image = read_image();
    // Decode off: the function answers at no port; keep trapping the old
    // ones and follow when decode comes back on (the veto checked it then).
    if (!(image.command & kCommandIoEnable)) return;
    const Placement p = check_placement(image, dispatcher_, channels_[0], channels_[1]);
    if (p != Placement::Ok) {
        // The device took a value the veto did not foresee: fail closed.
        force_decode_off(image, p);
        return;
    }
    // Both channels' old ports go first: the new ones may be the other
    // channel's old ones.
    for (IdeChannel* ch : channels_) dispatcher_.remove(*ch);
    for (unsigned i = 0; i < 2; ++i) {
        channels_[i]->set_ports(channel_ports(image, i));
        if (!register_ports(i).ok()) {
            log::error("IDE channel {}: cannot trap its new ports: I/O decode off", i);
            force_decode_off(image, Placement::Taken);
        }
    }
}

void IdePciFunction::platform_reset() {
    for (unsigned i = 0; i < 2; ++i) channels_[i]->platform_reset();
    follow_config(); // re-reads ports, points the PRD registers at the shadow tables
}

} // namespace sv::ide
