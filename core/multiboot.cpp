#include "core/multiboot.hpp"

namespace sv {
namespace {

template <class T> T load(const uint8_t* p) {
    T v = 0;
    for (size_t i = 0; i < sizeof(T); ++i) v |= static_cast<T>(static_cast<T>(p[i]) << (8 * i));
    return v;
}

// A NUL-terminated string at physical `pa`, at most 4 KiB long.
Result<const char*> c_string(GuestMemory& mem, uint64_t pa) {
    for (size_t len = 1; len <= 4096; ++len) {
        const uint8_t* p = mem.map(pa, len);
        if (!p) return fail(Error::Protected);
        if (p[len - 1] == 0) return reinterpret_cast<const char*>(p);
    }
    return fail(Error::Malformed);
}

MemoryType e820_type(uint32_t t) {
    switch (t) {
    case 1: return MemoryType::Ram;
    case 3: return MemoryType::AcpiReclaimable;
    case 4: return MemoryType::AcpiNvs;
    case 5: return MemoryType::Unusable;
    default: return MemoryType::Reserved;
    }
}

Result<void> add_module(BootInfo& out, uint64_t start, uint64_t end, const char* string) {
    if (end < start) return fail(Error::Malformed);
    if (out.module_count == BootInfo::max_modules) return fail(Error::OutOfRange);
    out.modules[out.module_count++] = BootModule{start, end, string};
    return {};
}

// Multiboot 0.6.96 §3.3: fixed info structure, flags say which fields exist.
Result<void> parse_v1(uint64_t info, GuestMemory& mem, BootInfo& out) {
    const uint8_t* mbi = mem.map(info, 88);
    if (!mbi) return fail(Error::Protected);
    out.info_start = info;
    out.info_end = info + 88;
    const uint32_t flags = load<uint32_t>(mbi);
    if (flags & (1u << 2)) out.cmdline = TRY(c_string(mem, load<uint32_t>(mbi + 16)));
    if (flags & (1u << 3)) {
        const uint32_t count = load<uint32_t>(mbi + 20);
        const uint32_t addr = load<uint32_t>(mbi + 24);
        if (count > BootInfo::max_modules) return fail(Error::OutOfRange);
        const uint8_t* mods = mem.map(addr, count * 16ull);
        if (count && !mods) return fail(Error::Protected);
        for (uint32_t i = 0; i < count; ++i) {
            const uint8_t* m = mods + 16 * i;
            const char* s = TRY(c_string(mem, load<uint32_t>(m + 8)));
            TRY(add_module(out, load<uint32_t>(m), load<uint32_t>(m + 4), s));
        }
    }
    if (!(flags & (1u << 6))) return fail(Error::NotFound); // we need the memory map
    const uint32_t length = load<uint32_t>(mbi + 44);
    const uint32_t addr = load<uint32_t>(mbi + 48);
    const uint8_t* map = mem.map(addr, length);
    if (!map) return fail(Error::Protected);
    // Each entry: u32 size (not counting itself), u64 base, u64 length, u32 type.
    for (uint32_t off = 0; off + 24 <= length;) {
        const uint32_t size = load<uint32_t>(map + off);
        // size + 4 must stay inside the map (and cannot wrap `off`).
        if (size < 20 || size > length - off - 4) return fail(Error::Malformed);
        TRY(out.memory.add(load<uint64_t>(map + off + 4), load<uint64_t>(map + off + 12),
                           e820_type(load<uint32_t>(map + off + 20))));
        off += size + 4;
    }
    return out.memory.normalize();
}

// Multiboot2 2.0 §3.6: u32 total_size, u32 reserved, then 8-byte-aligned tags.
Result<void> parse_v2(uint64_t info, GuestMemory& mem, BootInfo& out) {
    const uint8_t* head = mem.map(info, 8);
    if (!head) return fail(Error::Protected);
    const uint32_t total = load<uint32_t>(head);
    if (total < 16 || total > (1u << 20)) return fail(Error::Malformed);
    const uint8_t* mbi = mem.map(info, total);
    if (!mbi) return fail(Error::Protected);
    out.info_start = info;
    out.info_end = info + total;
    bool have_map = false;
    for (uint32_t off = 8; off + 8 <= total;) {
        const uint32_t type = load<uint32_t>(mbi + off);
        const uint32_t size = load<uint32_t>(mbi + off + 4);
        if (size < 8 || size > total - off) return fail(Error::Malformed); // off + size may wrap
        const uint8_t* tag = mbi + off;
        if (type == 0) break;
        if (type == 1) { // command line
            if (size > 8 && tag[size - 1] == 0) out.cmdline = reinterpret_cast<const char*>(tag + 8);
        } else if (type == 3) { // module: u32 start, u32 end, string
            if (size < 17 || tag[size - 1] != 0) return fail(Error::Malformed);
            TRY(add_module(out, load<uint32_t>(tag + 8), load<uint32_t>(tag + 12),
                           reinterpret_cast<const char*>(tag + 16)));
        } else if (type == 6) { // memory map: u32 entry_size, u32 version, entries
            if (size < 16) return fail(Error::Malformed);
            const uint32_t entry_size = load<uint32_t>(tag + 8);
            if (entry_size < 24) return fail(Error::Malformed);
            for (uint32_t e = 16; entry_size <= size - e; e += entry_size) {
                TRY(out.memory.add(load<uint64_t>(tag + e), load<uint64_t>(tag + e + 8),
                                   e820_type(load<uint32_t>(tag + e + 16))));
            }
            have_map = true;
        }
        off += (size + 7) & ~7u;
    }
    if (!have_map) return fail(Error::NotFound);
    return out.memory.normalize();
}

} // namespace

const char* module_arguments(const char* s) {
    while (*s == ' ') ++s;
    while (*s && *s != ' ') ++s;
    while (*s == ' ') ++s;
    return s;
}

bool starts_with_word(const char* text, const char* word) {
    size_t i = 0;
    for (; word[i]; ++i)
        if (text[i] != word[i]) return false;
    return text[i] == 0 || text[i] == ' ';
}

Result<void> parse_multiboot(uint32_t magic, uint64_t info, GuestMemory& mem, BootInfo& out) {
    if (magic == multiboot1_boot_magic) return parse_v1(info, mem, out);
    if (magic == multiboot2_boot_magic) return parse_v2(info, mem, out);
    return fail(Error::Unsupported);
}

} // namespace sv
