// The bus masters a configuration names as allowed to DMA while a disk key is
// loaded (until the IOMMU confines them): hypervisor option
//   allow_dma=ID[,ID...]   ID = VVVV:DDDD (vendor:device, hex)
//                               or BB:DD.F (bus:device.function, hex; DD < 20h, F < 8)
// Every allowed device can read and write all of memory, including the
// hypervisor's and the key; the boot log says so for each one.
#pragma once

#include <cstddef>
#include <cstdint>

#include "devices/pci/config_write.hpp"

namespace sv::pci {

class DmaAllowList {
  public:
    static constexpr size_t capacity = 16;
    struct Entry {
        bool by_address = false;
        Address address;              // by_address
        uint16_t vendor = 0, device = 0; // !by_address
    };

    // Parses one option value (not NUL-terminated, `length` bytes) and adds
    // its entries; false (and nothing added) on any malformed entry, an
    // empty value, or too many entries: the caller refuses to boot.
    [[nodiscard]] bool parse(const char* text, size_t length);
    bool allows(Address a, uint16_t vendor, uint16_t device) const;

    size_t size() const { return count_; }
    const Entry& operator[](size_t i) const { return entries_[i]; }

  private:
    Entry entries_[capacity]{};
    size_t count_ = 0;
};

} // namespace sv::pci
