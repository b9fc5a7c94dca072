// PCI configuration mechanism #1 (ports 0xCF8 address / 0xCFC-0xCFF data,
// PCI Local Bus 3.0 §3.2.2.3.2): the hypervisor's own config reads during
// discovery, and the mediator that watches the guest's config writes so the
// storage mediators follow BAR and programming-interface changes.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/io.hpp"

namespace sv::pci {

struct Address {
    uint8_t bus = 0, device = 0, function = 0;
    bool operator==(const Address&) const = default;
};

namespace reg {
constexpr uint8_t vendor_id = 0x00;
constexpr uint8_t command = 0x04;
constexpr uint8_t prog_if = 0x09;
constexpr uint8_t subclass = 0x0A;
constexpr uint8_t class_code = 0x0B;
constexpr uint8_t header_type = 0x0E;
constexpr uint8_t bar0 = 0x10;
} // namespace reg

// Config-space access through a PortIo (the hardware, or a fake in tests).
class ConfigSpace {
  public:
    explicit ConfigSpace(PortIo& io) : io_(io) {}
    uint32_t read32(Address a, uint8_t offset);
    uint8_t read8(Address a, uint8_t offset);
    uint16_t read16(Address a, uint8_t offset);
    void write32(Address a, uint8_t offset, uint32_t value);
    void write16(Address a, uint8_t offset, uint16_t value);
    // BAR `index` (0-5) as an I/O port base, 0 when it is not an I/O BAR.
    uint16_t io_bar(Address a, unsigned index);

  private:
    PortIo& io_;
};

// Something that cares about a function's config writes (a storage mediator).
// Offsets are config-space byte offsets (0-0xFFF: ECAM reaches the extended
// space too), `size` the bytes written (1, 2 or 4), `value` in the low bytes.
class ConfigWatcher {
  public:
    // Before the write reaches the function: the value to forward instead
    // (e.g. the current BAR bytes where the guest's new placement is refused:
    // issue 7 class 1). Runs for every mechanism that carries config writes.
    virtual uint32_t config_write_filter(Address, uint16_t, uint8_t, uint32_t value) { return value; }
    // After the (filtered) write reached the function.
    virtual void config_written(Address a, uint16_t offset, uint8_t size) = 0;

  protected:
    ~ConfigWatcher() = default;
};

// Traps 0xCF8 (a dword access there also covers 0xCF9, the reset
// register, which must trap) and the data window 0xCFC-0xCFF, passes everything through, and
// notifies watchers after a guest write to their function's config space.
class ConfigMediator final : public IoHandler {
  public:
    static constexpr size_t max_watchers = 8;
    explicit ConfigMediator(PortIo& io) : io_(io) {}
    bool watch(Address a, ConfigWatcher& watcher);
    // Keeps Bus Master Enable (command register bit 2, PCI 3.0 §6.2.2) off
    // for a function whose DMA the hypervisor does not mediate: guest writes
    // have the bit cleared before they reach the device, so it can never
    // master the bus (no DMA into hypervisor memory, no plaintext to disk).
    bool block_bus_mastering(Address a);

    uint32_t io_in(uint16_t port, uint8_t size) override;
    void io_out(uint16_t port, uint8_t size, uint32_t value) override;

    // The rules for one guest config write, whatever mechanism carries it
    // (CONFIG_ADDRESS/CONFIG_DATA here, memory-mapped ECAM): filter_write()
    // before it is forwarded (returns the value to forward: Bus Master
    // Enable cleared where blocked, the watchers' vetoes), notify_written()
    // after. `offset` is the config-space byte offset of the first byte.
    uint32_t filter_write(Address a, uint16_t offset, uint8_t size, uint32_t value);
    void notify_written(Address a, uint16_t offset, uint8_t size);

  private:
    struct Watch {
        Address address;
        ConfigWatcher* watcher;
    };
    PortIo& io_;
    bool mastering_blocked(Address a) const;

    Watch watches_[max_watchers]{};
    size_t count_ = 0;
    Address blocked_[max_watchers]{};
    size_t blocked_count_ = 0;
};

} // namespace sv::pci
