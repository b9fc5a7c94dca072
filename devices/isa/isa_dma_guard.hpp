// Keeps the ISA DMA controllers (two 8237A, ports 0x00-0x0F and 0xC0-0xDF,
// page registers 0x81-0x8F) inside the first 16 MiB, where no hypervisor
// memory lies (core/hypervisor_memory.hpp isa_dma_limit, checked at boot).
//
// An 8237A channel's address is page register (A16-A23) + 16-bit current
// address (8-bit channels 0-3) or (page & 0xFE) + address << 1 (16-bit
// channels 5-7), 24 bits in all (Intel 8237A data sheet; PIIX4 datasheet
// §4.7.1 "DMA Registers", §3.3 DMA page registers 80h-8Fh): it cannot
// address 16 MiB or more. Some platforms add high page registers (A24-A31):
// QEMU's i8257 decodes 0x480-0x48F for that (hw/dma/i8257.c: pageh, ports
// 0x481-0x483, 0x487 for channels 2, 3, 1, 0 and 0x489-0x48B, 0x48F for
// 5-7; the ICH family has none). Pinning them to zero is the whole defence:
//  - every transfer then stays below 16 MiB, whatever the base, count,
//    direction, mode (auto-init, decrement) or flip-flop state, so the
//    address, count, mode and mask registers need no tracking;
//  - nothing below 16 MiB is hypervisor memory, so the floppy (or any ISA
//    DMA device) reads and writes only guest RAM, firmware or holes.
// Guest writes to 0x480-0x48F are dropped (byte-exact: other bytes of a wider
// access go through), logged once and counted; reads pass through (0).
#pragma once

#include <cstdint>

#include "core/io.hpp"
#include "core/io_dispatch.hpp"
#include "lib/result.hpp"

namespace sv::isa {

class IsaDmaGuard final : public IoHandler {
  public:
    static constexpr uint16_t high_page_first = 0x480;
    static constexpr uint16_t high_page_count = 16;

    explicit IsaDmaGuard(PortIo& io) : io_(io) {}
    // Zeroes the high page registers and traps them.
    [[nodiscard]] Result<void> install(IoDispatcher& dispatcher);

    uint32_t io_in(uint16_t port, uint8_t size) override { return io_.in(port, size); }
    void io_out(uint16_t port, uint8_t size, uint32_t value) override;

    uint64_t refused() const { return refused_; }

  private:
    PortIo& io_;
    uint64_t refused_ = 0;
    bool warned_ = false;
};

} // namespace sv::isa
