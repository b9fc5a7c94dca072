// Routes trapped port accesses to the mediator that owns the port, and tells
// the backend which ports to trap (its I/O permission map / I/O bitmaps).
//
// An IN/OUT of N bytes at port P touches ports P..P+N-1 (SDM vol. 1 §19.3:
// a 16/32-bit port is two/four consecutive 8-bit ports). The backends exit
// when the permission bit of ANY of those ports is set (AMD APM vol. 2
// §15.10.1: "the processor checks all bits corresponding to the accessed
// ports"; that is also why the IOPM is 12 KiB: an access at FFFFh reads bits
// past 64K), so an access that merely ends in an owned port exits too, and
// route() decides who gets which bytes of it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/io.hpp"
#include "lib/result.hpp"

namespace sv {

// Access sizes (bit = size in bytes: 1, 2, 4) a range takes whole when the
// access starts at its first port, whatever the following ports are: one
// register access on the device's side. The IDE data port (a 16/32-bit IN at
// 1F0h is a data transfer, not a read of 1F1h-1F3h: ATA8-APT §7.1.2, PIIX4
// datasheet §5.7 "Data port... 16 or 32-bit") and CONFIG_ADDRESS, which the
// chipset decodes only as a dword at 0CF8h (PCI 3.0 §3.2.2.3.2; PIIX4 §4.1:
// byte/word accesses there are ordinary I/O, 0CF9h is the reset register).
namespace io_whole {
constexpr uint8_t none = 0;
constexpr uint8_t byte = 1u << 0;
constexpr uint8_t word = 1u << 1;
constexpr uint8_t dword = 1u << 2;
constexpr uint8_t any = byte | word | dword;
constexpr uint8_t bit(uint8_t size) { return size == 4 ? dword : size == 2 ? word : size == 1 ? byte : 0; }
} // namespace io_whole

// One part of a routed access: `size` bytes at `port`, which are bytes
// [offset, offset+size) of the guest's value. handler == nullptr: nobody
// owns them (pass-through or empty bus); beyond_64k: the bytes lie past port
// FFFFh, where no device decodes (reads as all ones, writes dropped).
struct IoPiece {
    uint16_t port = 0;
    uint8_t size = 0;
    uint8_t offset = 0;
    IoHandler* handler = nullptr;
    bool beyond_64k = false;
};

struct IoRoute {
    IoPiece pieces[4];
    uint8_t count = 0;
    // More than one piece: bytes of one guest access go to different owners
    // (or some to nobody). Each piece is its own, naturally aligned access.
    bool split() const { return count > 1; }
};

class IoDispatcher {
  public:
    static constexpr size_t max_ranges = 64;

    [[nodiscard]] Result<void> add(uint16_t first, uint16_t count, IoHandler& handler,
                                   uint8_t whole_sizes = io_whole::none);
    void remove(IoHandler& handler); // e.g. when the guest moves a BAR
    IoHandler* find(uint16_t port) const;
    // Any port of [first, first+count) owned by a handler other than the
    // `except` ones (a placement check before a guest moves a BAR).
    bool owned_by_other(uint16_t first, uint32_t count, const IoHandler* except0,
                        const IoHandler* except1 = nullptr) const;
    // Who takes which bytes of an access of `size` (1, 2 or 4) bytes at `port`:
    //  1. the access starts at the first port of a range that takes this size
    //     whole (see io_whole): one piece, to that range's handler;
    //  2. every byte has the same owner (or none): one piece;
    //  3. otherwise byte-exact runs per owner, each cut into naturally
    //     aligned 1/2/4-byte pieces (a 3-byte run is 1 + 2 or 2 + 1).
    IoRoute route(uint16_t port, uint8_t size) const;
    // Sets the permission bits of [first, first+count) at once, on every
    // vCPU, before the ports are owned: for a mediator about to let a device
    // decode new ports (a BAR move) while other vCPUs run. A port trapped
    // but not owned exits and passes through (see ExitHandler), so this is
    // never wrong, only slower. Without a hook (unit tests): recorded only.
    using TrapHook = void (*)(uint16_t first, uint32_t count);
    void set_trap_hook(TrapHook hook) { trap_hook_ = hook; }
    void trap_now(uint16_t first, uint32_t count) {
        ++early_traps_;
        if (trap_hook_) trap_hook_(first, count);
    }
    uint64_t early_traps() const { return early_traps_; }
    // Bumped by every add/remove: the backend rebuilds its permission map
    // when it changes (a guest moved a BAR).
    uint64_t generation() const { return generation_; }

    // Calls fn(port) for every trapped port (to set permission-map bits).
    template <class Fn> void for_each_port(Fn&& fn) const {
        for (size_t i = 0; i < count_; ++i)
            for (uint32_t p = ranges_[i].first; p < ranges_[i].first + ranges_[i].count; ++p)
                fn(static_cast<uint16_t>(p));
    }

  private:
    struct Range {
        uint16_t first;
        uint16_t count;
        IoHandler* handler;
        uint8_t whole_sizes;
    };
    Range ranges_[max_ranges]{};
    size_t count_ = 0;
    uint64_t generation_ = 0;
    TrapHook trap_hook_ = nullptr;
    uint64_t early_traps_ = 0;
};

} // namespace sv
