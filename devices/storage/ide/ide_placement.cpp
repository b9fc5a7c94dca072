#include "devices/storage/ide/ide_placement.hpp"

namespace sv::ide {
namespace {
constexpr uint16_t command_offset = 0x04; // 16-bit command register
constexpr uint16_t prog_if_offset = 0x09;
constexpr uint16_t bar0_offset = 0x10;
constexpr uint16_t bars_end = bar0_offset + 4 * kIdeBars; // 0x24
constexpr uint32_t io_bar_flag = 1u << 0;                 // PCI 3.0 §6.2.5.1: I/O space indicator
constexpr uint16_t legacy_command[2] = {0x1F0, 0x170};
constexpr uint16_t legacy_control[2] = {0x3F6, 0x376};
constexpr uint32_t legacy_command_count = 8, legacy_control_count = 1;

uint8_t byte_of(uint32_t v, unsigned i) { return static_cast<uint8_t>(v >> (8 * i)); }

// Byte `offset` of the placement registers in the image; false elsewhere.
bool image_byte(const FunctionImage& f, uint16_t offset, uint8_t& out) {
    if (offset == command_offset || offset == command_offset + 1) {
        out = byte_of(f.command, offset - command_offset);
        return true;
    }
    if (offset == prog_if_offset) {
        out = f.prog_if;
        return true;
    }
    if (offset >= bar0_offset && offset < bars_end) {
        out = byte_of(f.bars[(offset - bar0_offset) / 4], (offset - bar0_offset) % 4);
        return true;
    }
    return false;
}

void set_image_byte(FunctionImage& f, uint16_t offset, uint8_t v) {
    if (offset == command_offset || offset == command_offset + 1) {
        const unsigned shift = 8 * (offset - command_offset);
        f.command = static_cast<uint16_t>((f.command & ~(0xFFu << shift)) | (uint32_t{v} << shift));
    } else if (offset == prog_if_offset) {
        f.prog_if = v;
    } else if (offset >= bar0_offset && offset < bars_end) {
        const unsigned bar = (offset - bar0_offset) / 4, shift = 8 * ((offset - bar0_offset) % 4);
        const uint32_t lane = 0xFFu << shift;
        const uint32_t writable = f.bar_writable[bar] & lane;
        f.bars[bar] = (f.bars[bar] & ~writable) | ((uint32_t{v} << shift) & writable);
    }
}

// A BAR's block: base from the implemented bits, size = lowest implemented
// bit (PCI 3.0 §6.2.5.1: the BAR is naturally aligned to its size).
PortBlock bar_block(const FunctionImage& f, unsigned bar) {
    const uint32_t w = f.bar_writable[bar] & ~3u;
    PortBlock b;
    b.bar = static_cast<int8_t>(bar);
    b.first = f.bars[bar] & w;
    b.count = w & (~w + 1);
    return b;
}

bool implemented_io_bar(const FunctionImage& f, unsigned bar) {
    return (f.bar_writable[bar] & ~3u) != 0 && (f.bars[bar] & io_bar_flag);
}
} // namespace

const char* to_string(Placement p) {
    switch (p) {
    case Placement::Ok: return "ok";
    case Placement::FixedPlatformPorts: return "ports 0-FFh (fixed platform devices, or unassigned)";
    case Placement::HighAddressBits: return "BAR bits 31:16 set";
    case Placement::PastTop: return "block past port FFFFh";
    case Placement::SelfOverlap: return "blocks of the function overlap";
    case Placement::Taken: return "ports of another mediator";
    }
    return "?";
}

bool touches_placement(uint16_t offset, uint8_t size) {
    const uint32_t end = uint32_t{offset} + size;
    const auto hits = [&](uint32_t first, uint32_t last_excl) { return offset < last_excl && first < end; };
    return hits(command_offset, command_offset + 1) || hits(prog_if_offset, prog_if_offset + 1) ||
           hits(bar0_offset, bars_end);
}

void apply_config_write(FunctionImage& f, uint16_t offset, uint8_t size, uint32_t value) {
    for (uint8_t i = 0; i < size && i < 4; ++i)
        set_image_byte(f, static_cast<uint16_t>(offset + i), byte_of(value, i));
}

size_t decoded_blocks(const FunctionImage& f, PortBlock (&out)[kMaxBlocks]) {
    if (!(f.command & kCommandIoEnable)) return 0;
    size_t n = 0;
    for (unsigned ch = 0; ch < 2; ++ch) {
        const bool native = f.prog_if & (ch == 0 ? 0x01 : 0x04);
        if (native) {
            // A native channel needs both its BARs: an unimplemented or
            // memory BAR leaves a block we cannot place (first = 0: refused).
            for (unsigned bar = 2 * ch; bar < 2 * ch + 2; ++bar) {
                PortBlock b = implemented_io_bar(f, bar) ? bar_block(f, bar) : PortBlock{0, 1, static_cast<int8_t>(bar)};
                out[n++] = b;
            }
        } else {
            out[n++] = PortBlock{legacy_command[ch], legacy_command_count, -1};
            out[n++] = PortBlock{legacy_control[ch], legacy_control_count, -1};
        }
    }
    if (implemented_io_bar(f, 4)) out[n++] = bar_block(f, 4);
    return n;
}

Placement check_placement(const FunctionImage& f, const IoDispatcher& io, const IoHandler* own0,
                          const IoHandler* own1) {
    PortBlock blocks[kMaxBlocks];
    const size_t n = decoded_blocks(f, blocks);
    for (size_t i = 0; i < n; ++i) {
        const PortBlock& b = blocks[i];
        if (b.bar >= 0 && (f.bars[b.bar] & f.bar_writable[b.bar] & 0xFFFF0000u)) return Placement::HighAddressBits;
        if (b.first < kLowestPlaceablePort) return Placement::FixedPlatformPorts;
        if (b.first + b.count > 0x10000) return Placement::PastTop;
    }
    for (size_t i = 0; i < n; ++i)
        for (size_t j = i + 1; j < n; ++j)
            if (blocks[i].first < blocks[j].first + blocks[j].count &&
                blocks[j].first < blocks[i].first + blocks[i].count)
                return Placement::SelfOverlap;
    for (size_t i = 0; i < n; ++i)
        if (io.owned_by_other(static_cast<uint16_t>(blocks[i].first), blocks[i].count, own0, own1))
            return Placement::Taken;
    return Placement::Ok;
}

FilteredWrite filter_placement_write(const FunctionImage& current, uint16_t offset, uint8_t size,
                                     uint32_t value, const IoDispatcher& io, const IoHandler* own0,
                                     const IoHandler* own1) {
    FilteredWrite out;
    out.value = value;
    if (!touches_placement(offset, size)) return out;
    FunctionImage next = current;
    apply_config_write(next, offset, size, value);
    const Placement wanted = check_placement(next, io, own0, own1);
    if (wanted == Placement::Ok) return out;
    out.refused = wanted;
    // Keep the old ProgIf and BAR bytes; the rest of the write (e.g. the
    // command register in the same dword) goes through.
    for (uint8_t i = 0; i < size && i < 4; ++i) {
        const uint16_t at = static_cast<uint16_t>(offset + i);
        uint8_t old;
        if (at != command_offset && at != command_offset + 1 && image_byte(current, at, old))
            out.value = (out.value & ~(0xFFu << (8 * i))) | (uint32_t{old} << (8 * i));
    }
    FunctionImage kept = current;
    apply_config_write(kept, offset, size, out.value);
    if (check_placement(kept, io, own0, own1) == Placement::Ok) return out;
    // The old placement cannot be trapped either (the write turns I/O decode
    // on over such BARs): I/O Space Enable stays off.
    if (offset <= command_offset && command_offset < uint32_t{offset} + size) {
        out.value &= ~(uint32_t{kCommandIoEnable} << (8 * (command_offset - offset)));
        out.decode_forced_off = true;
    }
    return out;
}

} // namespace sv::ide
