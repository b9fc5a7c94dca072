// Binds one PCI IDE function (class 01h, subclass 01h) to two IdeChannel
// mediators, and keeps their ports right when the guest reprograms the BARs
// or the programming interface (native/compatibility mode). Guest writes that
// would place a register block where it cannot be trapped are refused before
// they reach the device (ide_placement.hpp).
// PCI IDE Controller Specification 1.0 §2 (ProgIf bits, BAR0-3, legacy
// ports 1F0h/3F6h and 170h/376h); SFF-8038i §2 (BAR4 bus-master block).
#pragma once

#include <cstdint>

#include "core/io_dispatch.hpp"
#include "devices/pci/pci_config.hpp"
#include "devices/storage/ide/ide_channel.hpp"
#include "devices/storage/ide/ide_placement.hpp"

namespace sv::ide {

// Ports of channel 0 (primary) or 1 (secondary) from config space values.
IdeChannel::Ports channel_ports(uint8_t prog_if, const uint16_t (&io_bars)[5], unsigned channel);
IdeChannel::Ports channel_ports(const FunctionImage& image, unsigned channel);

class IdePciFunction final : public pci::ConfigWatcher, public pci::ConfigRule {
  public:
    IdePciFunction(pci::Address address, pci::ConfigSpace& config, PortIo& io, GuestMemory& memory,
                   DmaAllocator& dma, storage::ShadowPool& pool, const crypto::Xts* xts,
                   IoDispatcher& dispatcher);
    // Sizes the BARs, checks the firmware's placement (I/O decode turned off
    // if it cannot be trapped), sets up the channels and traps their ports.
    [[nodiscard]] Result<void> init();
    // ConfigRule: a guest write that would place a register block where it
    // cannot be trapped is changed to keep the old placement (ide_placement.hpp).
    bool filter(pci::ConfigWrite& w) override;
    void config_written(const pci::ConfigWrite& w) override;
    // After a platform reset (S3 wake-up) with the configuration restored:
    // every channel back to idle, ports re-read, PRD registers re-pointed.
    void platform_reset();

    const IdeChannel& channel(unsigned i) const { return *channels_[i]; }
    pci::Address address() const { return address_; }
    // Guest config writes changed because their placement was refused.
    uint64_t placements_refused() const { return placements_refused_; }

  private:
    FunctionImage read_image();
    void size_bars();
    void follow_config();
    void force_decode_off(const FunctionImage& image, Placement why);
    void note_refusal(Placement why, bool decode_off);
    [[nodiscard]] Result<void> register_ports(unsigned i);

    pci::Address address_;
    pci::ConfigSpace& config_;
    IoDispatcher& dispatcher_;
    uint32_t bar_writable_[kIdeBars] = {};
    uint64_t placements_refused_ = 0;
    uint32_t logged_refusals_ = 0; // Placement kinds already logged
    alignas(IdeChannel) uint8_t storage_[2][sizeof(IdeChannel)];
    IdeChannel* channels_[2] = {};
};

} // namespace sv::ide
