// Helpers shared by the x86 decoder tests: hex strings to bytes, and a decode
// call over an exactly-sized heap buffer so ASan catches any read past the end.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "arch/x86/insn_decoder.hpp"

namespace sv::x86::test {

inline std::vector<uint8_t> hex_bytes(std::string_view hex) {
    std::vector<uint8_t> out;
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    int high = -1;
    for (char c : hex) {
        const int v = nibble(c);
        if (v < 0) continue;
        if (high < 0) {
            high = v;
        } else {
            out.push_back(static_cast<uint8_t>(high << 4 | v));
            high = -1;
        }
    }
    return out;
}

// Decode the first `count` bytes from a heap copy of exactly that size.
inline Result<Instruction> decode_exact(std::span<const uint8_t> bytes, size_t count, CpuMode mode,
                                        CpuVendor vendor = CpuVendor::Amd) {
    std::unique_ptr<uint8_t[]> copy(new uint8_t[count ? count : 1]);
    for (size_t i = 0; i < count; ++i) copy[i] = bytes[i];
    return decode(std::span<const uint8_t>(copy.get(), count), mode, vendor);
}

inline Result<Instruction> decode_hex(std::string_view hex, CpuMode mode,
                                      CpuVendor vendor = CpuVendor::Amd) {
    const std::vector<uint8_t> bytes = hex_bytes(hex);
    return decode_exact(bytes, bytes.size(), mode, vendor);
}

} // namespace sv::x86::test
