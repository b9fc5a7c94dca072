// PortIo over the machine's real I/O ports (IN/OUT instructions).
#pragma once

#include "core/io.hpp"

namespace sv::x86 {

class HardwarePortIo final : public PortIo {
  public:
    uint32_t in(uint16_t port, uint8_t size) override;
    void out(uint16_t port, uint8_t size, uint32_t value) override;
};

} // namespace sv::x86
