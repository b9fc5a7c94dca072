// Binds one PCI IDE function (class 01h, subclass 01h) to two IdeChannel
// mediators, and keeps their ports right when the guest reprograms the BARs
// or the programming interface (native/compatibility mode).
// PCI IDE Controller Specification 1.0 §2 (ProgIf bits, BAR0-3, legacy
// ports 1F0h/3F6h and 170h/376h); SFF-8038i §2 (BAR4 bus-master block).
#pragma once

#include <cstdint>

#include "core/io_dispatch.hpp"
#include "devices/pci/pci_config.hpp"
#include "devices/storage/ide/ide_channel.hpp"

namespace sv::ide {

// Ports of channel 0 (primary) or 1 (secondary) from config space values.
IdeChannel::Ports channel_ports(uint8_t prog_if, const uint16_t (&io_bars)[5], unsigned channel);

class IdePciFunction final : public pci::ConfigWatcher {
  public:
    IdePciFunction(pci::Address address, pci::ConfigSpace& config, PortIo& io, GuestMemory& memory,
                   DmaAllocator& dma, const crypto::Xts* xts, IoDispatcher& dispatcher);
    [[nodiscard]] Result<void> init();
    void config_written(pci::Address a, uint8_t offset) override;
    // After a platform reset (S3 wake-up) with the configuration restored:
    // every channel back to idle, ports re-read, PRD registers re-pointed.
    void platform_reset();

    const IdeChannel& channel(unsigned i) const { return *channels_[i]; }
    pci::Address address() const { return address_; }

  private:
    void read_ports(IdeChannel::Ports (&out)[2]);
    [[nodiscard]] Result<void> register_ports(unsigned i);

    pci::Address address_;
    pci::ConfigSpace& config_;
    IoDispatcher& dispatcher_;
    alignas(IdeChannel) uint8_t storage_[2][sizeof(IdeChannel)];
    IdeChannel* channels_[2] = {};
};

} // namespace sv::ide
