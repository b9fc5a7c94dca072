#include "core/io.hpp"

namespace sv {

void IoHandler::io_in_string(uint16_t port, uint8_t size, std::span<uint8_t> data) {
    for (size_t i = 0; i + size <= data.size(); i += size) {
        uint32_t v = io_in(port, size);
        for (uint8_t b = 0; b < size; ++b) data[i + b] = static_cast<uint8_t>(v >> (8 * b));
    }
}

void IoHandler::io_out_string(uint16_t port, uint8_t size, std::span<const uint8_t> data) {
    for (size_t i = 0; i + size <= data.size(); i += size) {
        uint32_t v = 0;
        for (uint8_t b = 0; b < size; ++b) v |= static_cast<uint32_t>(data[i + b]) << (8 * b);
        io_out(port, size, v);
    }
}

} // namespace sv
