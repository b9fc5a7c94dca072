// PCI configuration space: the hypervisor's own accesses (mechanism #1,
// ports 0xCF8/0xCFC, PCI Local Bus 3.0 §3.2.2.3.2) and the config mediator,
// the single path every guest configuration write takes, whichever
// mechanism carried it (0xCF8/0xCFC here, ECAM in devices/pci/ecam.hpp):
//
//   decode (config_decode.hpp) -> ConfigWrite -> every ConfigRule filters it
//   (may change bytes, or refuse it) -> the mechanism's ConfigWriter performs
//   it on the hardware -> every ConfigWatcher of that function is notified.
//
// Rules and watchers registered here therefore see every access the chipset
// decodes as configuration: any size, any byte lane, either mechanism.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/io.hpp"
#include "devices/pci/config_write.hpp"

namespace sv::pci {

namespace reg {
constexpr uint8_t vendor_id = 0x00;
constexpr uint8_t command = 0x04;
constexpr uint8_t prog_if = 0x09;
constexpr uint8_t subclass = 0x0A;
constexpr uint8_t class_code = 0x0B;
constexpr uint8_t header_type = 0x0E;
constexpr uint8_t bar0 = 0x10;
// Type 1 (PCI-PCI bridge) header, PCI-to-PCI Bridge Architecture 1.2 §3.2.5.
constexpr uint8_t primary_bus = 0x18;
constexpr uint8_t secondary_bus = 0x19;
constexpr uint8_t subordinate_bus = 0x1A;
} // namespace reg

constexpr uint16_t command_bus_master = 1u << 2; // PCI 3.0 §6.2.2
constexpr uint8_t header_type_mask = 0x7F;       // bit 7: multi-function
constexpr uint8_t header_type_bridge = 1;
constexpr uint8_t header_type_cardbus = 2;

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

// Performs a (filtered) config write on the hardware through the mechanism
// the guest used.
class ConfigWriter {
  public:
    virtual void write(const ConfigWrite& w) = 0;

  protected:
    ~ConfigWriter() = default;
};

// A rule applied before a guest config write reaches the device: it may
// change bytes of `w` (e.g. clear Bus Master Enable, keep a pinned byte) or
// return false to refuse the whole write (the device keeps its old value;
// the rule logs why). Rules see writes to every function.
class ConfigRule {
  public:
    virtual bool filter(ConfigWrite& w) = 0;
    // A later rule refused `w` after this one passed it: the device keeps
    // its old value (a rule that prepared for the write, e.g. trapped new
    // pages, undoes that here).
    virtual void dropped(const ConfigWrite& w) { (void)w; }

  protected:
    ~ConfigRule() = default;
};

// Something that cares about a function's config writes (a storage mediator,
// the ECAM window tracker), told after the write reached the device.
class ConfigWatcher {
  public:
    virtual void config_written(const ConfigWrite& w) = 0;

  protected:
    ~ConfigWatcher() = default;
};

struct ConfigStats {
    uint64_t writes = 0;  // guest config writes that reached a device
    uint64_t refused = 0; // dropped: undecodable access, or a rule refused it
    uint64_t changed = 0; // a rule changed bytes before the write went on
};

// Owns the trapped mechanism #1 ports (0xCF8, 0xCFA-0xCFF; 0xCF9 is the
// reset register, another handler) and the one guest write path.
class ConfigMediator final : public IoHandler {
  public:
    static constexpr size_t max_watchers = 16;
    static constexpr size_t max_rules = 16;
    explicit ConfigMediator(PortIo& io) : io_(io) {}
    bool watch(Address a, ConfigWatcher& watcher);
    bool add_rule(ConfigRule& rule);

    // The single filter-before / notify-after path for every mechanism.
    void guest_write(ConfigWrite w, ConfigWriter& hardware);

    uint32_t io_in(uint16_t port, uint8_t size) override;
    void io_out(uint16_t port, uint8_t size, uint32_t value) override;
    const ConfigStats& stats() const { return stats_; }

  private:
    struct Watch {
        Address address;
        ConfigWatcher* watcher;
    };
    void refuse(const char* why, uint16_t port, uint8_t size, uint32_t latch);

    PortIo& io_;
    Watch watches_[max_watchers]{};
    size_t count_ = 0;
    ConfigRule* rules_[max_rules]{};
    size_t rule_count_ = 0;
    ConfigStats stats_;
    bool warned_refused_ = false;
};

} // namespace sv::pci
