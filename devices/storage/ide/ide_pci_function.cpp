#include "devices/storage/ide/ide_pci_function.hpp"

#include <new>

#include "lib/log.hpp"

namespace sv::ide {
namespace {
constexpr uint16_t legacy_command[2] = {0x1F0, 0x170};
constexpr uint16_t legacy_control[2] = {0x3F6, 0x376};
// Ports below 0x100 belong to the PC's fixed ISA devices (PIC, PIT, DMA):
// an unassigned (zero) BAR must never make us trap those.
constexpr uint16_t lowest_trappable_port = 0x100;
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

IdePciFunction::IdePciFunction(pci::Address address, pci::ConfigSpace& config, PortIo& io,
                               GuestMemory& memory, DmaAllocator& dma, const crypto::Xts* xts,
                               IoDispatcher& dispatcher)
    : address_(address), config_(config), dispatcher_(dispatcher) {
    IdeChannel::Ports ports[2];
    read_ports(ports);
    for (unsigned i = 0; i < 2; ++i) {
        IdeChannel::Config cfg;
        cfg.ports = ports[i];
        channels_[i] = new (storage_[i]) IdeChannel(cfg, io, memory, dma, xts);
    }
}

void IdePciFunction::read_ports(IdeChannel::Ports (&out)[2]) {
    uint16_t bars[5];
    for (unsigned i = 0; i < 5; ++i) bars[i] = config_.io_bar(address_, i);
    const uint8_t prog_if = config_.read8(address_, pci::reg::prog_if);
    for (unsigned ch = 0; ch < 2; ++ch) out[ch] = channel_ports(prog_if, bars, ch);
}

Result<void> IdePciFunction::register_ports(unsigned i) {
    dispatcher_.remove(*channels_[i]);
    uint16_t ports[kMaxTrappedPorts];
    const size_t n = channels_[i]->trapped_ports(ports);
    for (size_t k = 0; k < n; ++k) {
        if (ports[k] < lowest_trappable_port) continue;
        TRY(dispatcher_.add(ports[k], 1, *channels_[i]));
    }
    return {};
}

Result<void> IdePciFunction::init() {
    for (unsigned i = 0; i < 2; ++i) {
        Result<void> shadow = channels_[i]->init();
        if (!shadow.ok())
            log::error("IDE {}.{}.{} channel {}: no shadow memory: DMA commands will be aborted",
                       address_.bus, address_.device, address_.function, i);
        TRY(register_ports(i));
    }
    return {};
}

void IdePciFunction::config_written(pci::Address, uint8_t offset) {
    // Only ProgIf and the BARs decide our ports (PCI IDE spec §2).
    if (offset != pci::reg::prog_if && !(offset >= pci::reg::bar0 && offset < pci::reg::bar0 + 20)) return;
    IdeChannel::Ports ports[2];
    read_ports(ports);
    for (unsigned i = 0; i < 2; ++i) {
        channels_[i]->set_ports(ports[i]);
        if (!register_ports(i).ok())
            log::warn("IDE channel {}: cannot trap its new ports", i);
    }
}

void IdePciFunction::platform_reset() {
    for (unsigned i = 0; i < 2; ++i) channels_[i]->platform_reset();
    config_written(address_, pci::reg::bar0); // re-reads ports, points the PRD registers at the shadow tables
}

} // namespace sv::ide
