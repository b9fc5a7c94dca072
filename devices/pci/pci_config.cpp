#include "devices/pci/pci_config.hpp"

namespace sv::pci {
namespace {
constexpr uint16_t config_address_port = 0xCF8;
constexpr uint16_t config_data_port = 0xCFC;
constexpr uint32_t enable = 1u << 31;
constexpr uint32_t command_bus_master = 1u << 2;

uint32_t config_address(Address a, uint8_t offset) {
    return enable | static_cast<uint32_t>(a.bus) << 16 | static_cast<uint32_t>(a.device & 31) << 11 |
           static_cast<uint32_t>(a.function & 7) << 8 | (offset & 0xFC);
}
} // namespace

uint32_t ConfigSpace::read32(Address a, uint8_t offset) {
    // The guest's CONFIG_ADDRESS lives in the hardware latch (we do not trap
    // 0xCF8): restore it so our own access is invisible to the guest.
    const uint32_t guest_address = io_.in(config_address_port, 4);
    io_.out(config_address_port, 4, config_address(a, offset));
    const uint32_t value = io_.in(config_data_port, 4);
    io_.out(config_address_port, 4, guest_address);
    return value;
}
void ConfigSpace::write32(Address a, uint8_t offset, uint32_t value) {
    const uint32_t guest_address = io_.in(config_address_port, 4);
    io_.out(config_address_port, 4, config_address(a, offset));
    io_.out(config_data_port, 4, value);
    io_.out(config_address_port, 4, guest_address);
}
void ConfigSpace::write16(Address a, uint8_t offset, uint16_t value) {
    const uint32_t guest_address = io_.in(config_address_port, 4);
    io_.out(config_address_port, 4, config_address(a, offset));
    io_.out(static_cast<uint16_t>(config_data_port + (offset & 2)), 2, value);
    io_.out(config_address_port, 4, guest_address);
}
uint8_t ConfigSpace::read8(Address a, uint8_t offset) {
    return static_cast<uint8_t>(read32(a, offset) >> (8 * (offset & 3)));
}
uint16_t ConfigSpace::read16(Address a, uint8_t offset) {
    return static_cast<uint16_t>(read32(a, offset) >> (8 * (offset & 2)));
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

bool ConfigMediator::block_bus_mastering(Address a) {
    if (blocked_count_ == max_watchers) return false;
    blocked_[blocked_count_++] = a;
    // Clear it now too (firmware may have left it on).
    const uint32_t saved = io_.in(config_address_port, 4);
    io_.out(config_address_port, 4, config_address(a, reg::command));
    io_.out(config_data_port, 2, io_.in(config_data_port, 2) & ~command_bus_master);
    io_.out(config_address_port, 4, saved);
    return true;
}

bool ConfigMediator::mastering_blocked(Address a) const {
    for (size_t i = 0; i < blocked_count_; ++i)
        if (blocked_[i] == a) return true;
    return false;
}

uint32_t ConfigMediator::io_in(uint16_t port, uint8_t size) { return io_.in(port, size); }

uint32_t ConfigMediator::filter_write(Address a, uint16_t offset, uint8_t size, uint32_t value) {
    if (offset <= reg::command && reg::command < offset + size && mastering_blocked(a))
        value &= ~(command_bus_master << (8 * (reg::command - offset)));
    for (size_t i = 0; i < count_; ++i)
        if (watches_[i].address == a) value = watches_[i].watcher->config_write_filter(a, offset, size, value);
    return value;
}

void ConfigMediator::notify_written(Address a, uint16_t offset, uint8_t size) {
    for (size_t i = 0; i < count_; ++i)
        if (watches_[i].address == a) watches_[i].watcher->config_written(a, offset, size);
}

void ConfigMediator::io_out(uint16_t port, uint8_t size, uint32_t value) {
    // Only data-port writes matter. CONFIG_ADDRESS is read back from the
    // hardware latch rather than shadowed, so our own config accesses
    // (ConfigSpace restores the latch) and the guest's never disagree.
    if (port < config_data_port) return io_.out(port, size, value);
    const uint32_t address = io_.in(config_address_port, 4);
    const Address a{static_cast<uint8_t>(address >> 16), static_cast<uint8_t>((address >> 11) & 31),
                    static_cast<uint8_t>((address >> 8) & 7)};
    const uint8_t offset = static_cast<uint8_t>((address & 0xFC) + (port - config_data_port));
    if (address & enable) value = filter_write(a, offset, size, value);
    io_.out(port, size, value);
    if (address & enable) notify_written(a, offset, size);
}

} // namespace sv::pci
