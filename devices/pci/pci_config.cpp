#include "devices/pci/pci_config.hpp"

#include "devices/pci/config_decode.hpp"
#include "lib/log.hpp"

namespace sv::pci {
namespace {
using config_address::data_port;
using config_address::port;

// Mechanism #1 hardware path: CONFIG_ADDRESS still holds the guest's value
// (it is never shadowed), so the write goes to the data-port byte lane.
class PortConfigWriter final : public ConfigWriter {
  public:
    explicit PortConfigWriter(PortIo& io) : io_(io) {}
    void write(const ConfigWrite& w) override {
        io_.out(static_cast<uint16_t>(data_port + (w.offset & 3)), w.size, w.value);
    }

  private:
    PortIo& io_;
};
} // namespace

uint32_t ConfigSpace::read32(Address a, uint8_t offset) {
    // The guest's CONFIG_ADDRESS lives in the hardware latch (we pass the
    // guest's 0xCF8 writes through): restore it so our own access is
    // invisible to the guest.
    const uint32_t guest_address = io_.in(port, 4);
    io_.out(port, 4, config_address_of(a, offset));
    const uint32_t value = io_.in(data_port, 4);
    io_.out(port, 4, guest_address);
    return value;
}
uint8_t ConfigSpace::read8(Address a, uint8_t offset) {
    return static_cast<uint8_t>(read32(a, offset) >> (8 * (offset & 3)));
}
uint16_t ConfigSpace::read16(Address a, uint8_t offset) {
    return static_cast<uint16_t>(read32(a, offset) >> (8 * (offset & 2)));
}
void ConfigSpace::write32(Address a, uint8_t offset, uint32_t value) {
    const uint32_t guest_address = io_.in(port, 4);
    io_.out(port, 4, config_address_of(a, offset));
    io_.out(data_port, 4, value);
    io_.out(port, 4, guest_address);
}
void ConfigSpace::write16(Address a, uint8_t offset, uint16_t value) {
    const uint32_t guest_address = io_.in(port, 4);
    io_.out(port, 4, config_address_of(a, offset));
    io_.out(static_cast<uint16_t>(data_port + (offset & 2)), 2, value);
    io_.out(port, 4, guest_address);
}
uint16_t ConfigSpace::io_bar(Address a, unsigned index) {
    const uint32_t bar = read32(a, static_cast<uint8_t>(reg::bar0 + 4 * index));
    if (!(bar & 1)) return 0; // memory BAR
    return static_cast<uint16_t>(bar & 0xFFFC);
}

bool ConfigMediator::watch(Address a, ConfigWatcher& watcher) {
    if (count_ == max_watchers) return false;
    watches_[count_++] = Watch{a, &watcher};
    return true;
}

bool ConfigMediator::add_rule(ConfigRule& rule) {
    if (rule_count_ == max_rules) return false;
    rules_[rule_count_++] = &rule;
    return true;
}

void ConfigMediator::guest_write(ConfigWrite w, ConfigWriter& hardware) {
    const uint32_t original = w.value;
    for (size_t i = 0; i < rule_count_; ++i) {
        if (!rules_[i]->filter(w)) {
            ++stats_.refused;
            for (size_t j = 0; j < i; ++j) rules_[j]->dropped(w);
            return;
        }
    }
    if (w.value != original) ++stats_.changed;
    ++stats_.writes;
    hardware.write(w);
    for (size_t i = 0; i < count_; ++i)
        if (watches_[i].address == w.address) watches_[i].watcher->config_written(w);
}

uint32_t ConfigMediator::io_in(uint16_t p, uint8_t size) { return io_.in(p, size); }

void ConfigMediator::refuse(const char* why, uint16_t p, uint8_t size, uint32_t latch) {
    ++stats_.refused;
    if (warned_refused_) return;
    warned_refused_ = true;
    log::warn("PCI config: refused a {}-byte write at port {:x} (CONFIG_ADDRESS {:x}): {} (logged once)", size, p,
              latch, why);
}

void ConfigMediator::io_out(uint16_t p, uint8_t size, uint32_t value) {
    // Entirely within 0xCF8-0xCFB: CONFIG_ADDRESS (a dword at 0xCF8) or bytes
    // the chipset ignores; the hardware latch decides, we read it back later.
    if (p + static_cast<uint32_t>(size) <= data_port) return io_.out(p, size, value);
    const uint32_t latch = io_.in(port, 4);
    ConfigWrite w;
    switch (decode_port_write(latch, p, size, value, w)) {
    case DecodeResult::NotConfig: return; // the chipset forwards nothing
    case DecodeResult::Refused:
        return refuse("misaligned, crossing the data window, or reserved CONFIG_ADDRESS bits", p, size, latch);
    case DecodeResult::Config: break;
    }
    PortConfigWriter hardware(io_);
    guest_write(w, hardware);
}

} // namespace sv::pci
