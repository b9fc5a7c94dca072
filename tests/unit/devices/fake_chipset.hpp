// Test double: the config space of a few PCI functions (4 KiB each, byte
// exact), reachable through mechanism #1 (CONFIG_ADDRESS latch and data
// port, decoded like QEMU hw/pci/pci_host.c: only a dword at 0xCF8 sets the
// latch, offset = (latch & 0xFC) | lane) and through an ECAM window
// (pci::PhysicalMmio at `ecam_base`). Writes to read-only bytes (vendor,
// device, header type) are ignored. Optionally a dword (a BAR) implements
// only some bits (`writable`, PCI 3.0 §6.2.5.1: the others keep their
// value), and `after_write` runs after each write reached the config space.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <utility>
#include <vector>

#include "core/io.hpp"
#include "devices/pci/ecam.hpp"

namespace sv::pci::test {

struct FakeChipset final : PortIo, PhysicalMmio {
    uint32_t latch = 0;
    uint64_t ecam_base = 0xB0000000;
    std::map<uint32_t, std::vector<uint8_t>> functions; // key: bus << 8 | dev << 3 | fn
    std::vector<std::pair<uint64_t, uint8_t>> ecam_writes; // (pa, size) the hardware saw
    std::map<std::pair<uint32_t, uint16_t>, uint32_t> writable; // (function, dword offset) -> implemented bits
    std::function<void()> after_write;

    static uint32_t key(Address a) { return uint32_t{a.bus} << 8 | uint32_t{a.device} << 3 | a.function; }
    std::vector<uint8_t>& add(Address a, uint16_t vendor, uint16_t device, uint8_t header_type = 0) {
        std::vector<uint8_t>& c = functions[key(a)];
        c.assign(4096, 0);
        c[0] = static_cast<uint8_t>(vendor);
        c[1] = static_cast<uint8_t>(vendor >> 8);
        c[2] = static_cast<uint8_t>(device);
        c[3] = static_cast<uint8_t>(device >> 8);
        c[0x0E] = header_type;
        return c;
    }
    std::vector<uint8_t>* find(Address a) {
        auto it = functions.find(key(a));
        return it == functions.end() ? nullptr : &it->second;
    }
    uint16_t command(Address a) { return static_cast<uint16_t>(get(a, 4, 2)); }
    uint32_t get(Address a, uint16_t off, uint8_t size) {
        std::vector<uint8_t>* c = find(a);
        uint32_t v = 0;
        for (uint8_t i = 0; i < size; ++i) v |= uint32_t{c ? (*c)[off + i] : uint8_t{0xFF}} << (8 * i);
        return v;
    }
    void put(Address a, uint16_t off, uint8_t size, uint32_t v) {
        std::vector<uint8_t>* c = find(a);
        if (!c) return;
        for (uint8_t i = 0; i < size; ++i) {
            const uint16_t at = static_cast<uint16_t>(off + i);
            if (at < 4 || at == 0x0E) continue; // read-only ID and header type
            uint8_t keep = 0;
            auto w = writable.find({key(a), static_cast<uint16_t>(at & ~3u)});
            if (w != writable.end()) keep = static_cast<uint8_t>(~(w->second >> (8 * (at & 3))));
            (*c)[at] = static_cast<uint8_t>(((*c)[at] & keep) | (static_cast<uint8_t>(v >> (8 * i)) & ~keep));
        }
        if (after_write) after_write();
    }
    // A memory BAR at `offset` (32-bit, or 64-bit over two dwords) of
    // `size` bytes, placed at `base`.
    void add_memory_bar(Address a, uint16_t offset, uint64_t size, uint64_t base, bool is64) {
        const uint64_t mask = ~(size - 1);
        std::vector<uint8_t>& c = functions[key(a)];
        const uint64_t value = (base & mask) | (is64 ? 0x4 : 0x0);
        for (unsigned i = 0; i < (is64 ? 8u : 4u); ++i) c[offset + i] = static_cast<uint8_t>(value >> (8 * i));
        writable[{key(a), offset}] = static_cast<uint32_t>(mask) & ~0xFu;
        if (is64) writable[{key(a), static_cast<uint16_t>(offset + 4)}] = static_cast<uint32_t>(mask >> 32);
    }
    static Address decode(uint32_t latch) {
        return Address{static_cast<uint8_t>(latch >> 16), static_cast<uint8_t>((latch >> 11) & 31),
                       static_cast<uint8_t>((latch >> 8) & 7)};
    }
    // PortIo
    uint32_t in(uint16_t port, uint8_t size) override {
        if (port == 0xCF8) return latch;
        if (port < 0xCFC || !(latch & 0x80000000u)) return 0xFFFFFFFFu;
        return get(decode(latch), static_cast<uint16_t>((latch & 0xFC) | (port & 3)), size);
    }
    void out(uint16_t port, uint8_t size, uint32_t value) override {
        if (port == 0xCF8) {
            if (size == 4) latch = value;
            return;
        }
        if (port < 0xCFC || !(latch & 0x80000000u)) return;
        put(decode(latch), static_cast<uint16_t>((latch & 0xFC) | (port & 3)), size, value);
    }
    // PhysicalMmio (ECAM)
    void write(uint64_t pa, uint8_t size, uint32_t value) override {
        ecam_writes.emplace_back(pa, size);
        const uint64_t off = pa - ecam_base;
        put(Address{static_cast<uint8_t>(off >> 20), static_cast<uint8_t>((off >> 15) & 31),
                    static_cast<uint8_t>((off >> 12) & 7)},
            static_cast<uint16_t>(off & 0xFFF), size, value);
    }
    static uint32_t at(Address a, uint8_t offset) {
        return 0x80000000u | a.bus << 16 | a.device << 11 | a.function << 8 | offset;
    }
};

} // namespace sv::pci::test
