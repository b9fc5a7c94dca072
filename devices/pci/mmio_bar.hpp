// A memory BAR whose pages the hypervisor traps (issue 8 item 4; the AHCI
// ABAR = BAR5 and NVMe BAR0 mediators are its users). It keeps one
// MmioDispatcher range on the address the function decodes, whatever the
// guest writes to the BAR or the command register, through either config
// mechanism (it is a ConfigRule and a ConfigWatcher on the one config write
// path, devices/pci/pci_config.hpp), per docs/design.md §4 rule 1:
//
//  - Sizing (PCI 3.0 §6.2.5.1): at attach() the BAR is sized with memory
//    decode off (all ones written, the read-back's writable address bits
//    give the size; a 64-bit BAR, type 10b, takes the next dword as bits
//    63:32), then restored.
//  - The function decodes the BAR iff Memory Space Enable (command bit 1,
//    PCI 3.0 §6.2.2) is set; it then decodes [address, address+size). The
//    range is linked exactly then; with MSE off nothing is trapped (a guest
//    may size and move BARs freely, as Linux's pci_read_bases() does with
//    decode off). A write of all ones with MSE on is no exception: the
//    function then decodes the top of the address space, and that placement
//    is vetted like any other.
//  - Every write that changes what the function decodes is vetted before it
//    reaches the device: the new placement must be trappable (MmioPlacement:
//    not over RAM, hypervisor memory or outside the nested map), must not
//    wrap, and must not overlap another trapped range (local APIC, ECAM,
//    another BAR). Accepted: the new pages are trapped and every vCPU's
//    nested TLB flushed (MmioDispatcher::move with a TlbShootdown), then the
//    write reaches the device, then the old pages are released (watcher).
//    Refused: the BAR bytes of the write keep their old value; if even the
//    old BAR cannot be trapped (the write turns MSE on over it), MSE stays
//    off. Counted, logged once.
//  - 64-bit BARs written one half at a time: each config write is at most a
//    dword, so every intermediate address (new low half, old high half) is
//    what the function really decodes after that write, and is vetted and
//    trapped as such (with MSE off, the usual case, nothing decodes and
//    nothing is trapped until MSE goes on).
//  - Pages: a BAR smaller than 4 KiB traps its whole page; the handlers get
//    every access to that page (accesses beyond the BAR are the mediator's to
//    pass on or drop).
#pragma once

#include <cstdint>

#include "core/mmio_dispatch.hpp"
#include "devices/pci/mmio_placement.hpp"
#include "devices/pci/pci_config.hpp"
#include "lib/result.hpp"

namespace sv::pci {

constexpr uint16_t command_memory_enable = 1u << 1; // PCI 3.0 §6.2.2
constexpr uint8_t max_bar_index = 5;

// Memory BAR encoding, PCI 3.0 §6.2.5.1 (Figure 6-5).
namespace membar {
constexpr uint32_t io_space = 1u << 0;
constexpr uint32_t type_mask = 3u << 1;
constexpr uint32_t type_32 = 0u << 1;
constexpr uint32_t type_64 = 2u << 1;
constexpr uint32_t prefetchable = 1u << 3;
constexpr uint32_t flag_bits = 0xF; // read-only
} // namespace membar

struct MemoryBar {
    bool is64 = false;
    bool prefetchable = false;
    uint64_t size = 0;     // a power of two >= 16
    uint64_t writable = 0; // address bits the BAR implements (~(size-1), 32 or 64 bits)
};
// Sizes memory BAR `index` of `function` (decode off around it, BAR and
// command restored). Fails for an I/O BAR, an unimplemented BAR, a 64-bit
// BAR in the last slot, or a reserved type.
[[nodiscard]] Result<MemoryBar> size_memory_bar(ConfigSpace& config, Address function, uint8_t index);

enum class BarRefusal : uint8_t { None, Wraps, NotTrappable, Overlaps, CannotTrap };
const char* to_string(BarRefusal r);

struct MmioBarStats {
    uint64_t placements = 0;       // the trap followed the function (moved, enabled, disabled)
    uint64_t refused = 0;          // placements refused (BAR bytes kept or MSE kept off)
    uint64_t decode_forced_off = 0; // of those, MSE cleared in the guest's write
};

class MmioBar final : public ConfigRule, public ConfigWatcher {
  public:
    MmioBar(ConfigMediator& mediator, ConfigSpace& config, MmioDispatcher& mmio, MmioPlacement& placement)
        : mediator_(mediator), config_(config), mmio_(mmio), placement_(placement) {}

    // Sizes BAR `index` of `function`, traps it where it decodes now (an
    // untrappable firmware placement turns MSE off, logged), and follows it
    // from then on. `reader`: reads trap too (the range is not present).
    [[nodiscard]] Result<void> attach(Address function, uint8_t index, MmioWriteHandler& writer,
                                      MmioReadHandler* reader, const char* name);

    bool decoding() const { return range_.linked; }
    // The decoded BAR address (valid while decoding()) and its size.
    uint64_t address() const { return address_; }
    const MemoryBar& bar() const { return bar_; }
    const MmioBarStats& stats() const { return stats_; }

    bool filter(ConfigWrite& w) override;
    void dropped(const ConfigWrite& w) override;
    void config_written(const ConfigWrite& w) override;

  private:
    struct Decode {
        bool on = false;
        uint64_t address = 0;
    };
    bool touches(const ConfigWrite& w) const;
    Decode decode_now();
    Decode decode_after(const ConfigWrite& w);
    BarRefusal vet(const Decode& d) const;
    // Traps the pages of `d` (before the device decodes there); the pages
    // of the old placement stay trapped (leaving_) until settle().
    [[nodiscard]] Result<void> prepare(const Decode& d);
    // After the write (or its refusal): the trap follows what the function
    // decodes now; old pages released; fail closed (MSE off) if it cannot.
    void settle();
    void restore_old_bytes(ConfigWrite& w);
    void log_refusal(BarRefusal why, const Decode& d);
    void force_decode_off();
    uint64_t page_base(uint64_t a) const { return a & ~(MmioDispatcher::page - 1); }
    uint64_t page_span(uint64_t a) const;

    ConfigMediator& mediator_;
    ConfigSpace& config_;
    MmioDispatcher& mmio_;
    MmioPlacement& placement_;
    Address function_{};
    uint8_t offset_ = 0; // config offset of the BAR's low dword
    MemoryBar bar_;
    const char* name_ = "BAR";
    MmioRange range_;
    MmioLeaving leaving_; // old pages of a move until the write reached the device
    uint64_t address_ = 0;
    Decode tracked_;      // what range_ stands for once settled
    bool pending_ = false; // prepare() ran, settle() not yet
    bool attached_ = false;
    bool warned_ = false;
    MmioBarStats stats_;
};

} // namespace sv::pci
