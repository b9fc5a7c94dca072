#include "devices/pci/config_decode.hpp"

namespace sv::pci {
namespace {
constexpr bool valid_size(uint8_t size) { return size == 1 || size == 2 || size == 4; }
} // namespace

DecodeResult decode_port_write(uint32_t latch, uint16_t port, uint8_t size, uint32_t value, ConfigWrite& out) {
    using namespace config_address;
    if (!valid_size(size)) return DecodeResult::Refused;
    // Any byte of the access below 0xCFC or above 0xCFF makes it a mixed
    // access that the chipset would split between registers: refused.
    if (port < data_port || port + size > data_port + 4) return DecodeResult::Refused;
    const unsigned lane = port - data_port;
    if (lane & (size - 1u)) return DecodeResult::Refused;
    if (!(latch & enable)) return DecodeResult::NotConfig;
    if (latch & reserved) return DecodeResult::Refused;
    out.address = Address{static_cast<uint8_t>(latch >> bus_shift), static_cast<uint8_t>((latch >> device_shift) & 31),
                          static_cast<uint8_t>((latch >> function_shift) & 7)};
    out.offset = static_cast<uint16_t>((latch & register_mask) + lane);
    out.size = size;
    out.value = size == 4 ? value : value & ((1u << (8 * size)) - 1);
    return DecodeResult::Config;
}

DecodeResult decode_ecam_write(uint64_t offset, uint64_t window_bytes, uint8_t size, uint64_t value,
                               ConfigWrite& out) {
    if (!valid_size(size) || offset >= window_bytes || window_bytes - offset < size) return DecodeResult::Refused;
    if (offset & (size - 1u)) return DecodeResult::Refused;
    out.address = Address{static_cast<uint8_t>(offset >> 20), static_cast<uint8_t>((offset >> 15) & 31),
                          static_cast<uint8_t>((offset >> 12) & 7)};
    out.offset = static_cast<uint16_t>(offset & 0xFFF);
    out.size = size;
    out.value = static_cast<uint32_t>(size == 4 ? value & 0xFFFFFFFFu : value & ((1u << (8 * size)) - 1));
    return DecodeResult::Config;
}

} // namespace sv::pci
