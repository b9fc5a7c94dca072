// Bit positions in VMX's I/O bitmaps and MSR bitmap (Intel SDM vol. 3C
// "I/O-Bitmap Addresses", "MSR-Bitmap Address"). Portable, so the layout is
// unit-tested; the backend owns the one set of bitmaps all vCPUs share.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sv::vmx {

// I/O bitmaps A (ports 0000h-7FFFh) and B (8000h-FFFFh), 4 KiB each, one
// bit per port. The backend allocates them as one 8 KiB block, so the pair
// is one bitmap indexed by port. An IN/OUT exits if the bit of any port it
// touches is set, and always when it wraps past FFFFh (SDM vol. 3C
// "Instructions That Cause VM Exits Conditionally", I/O instructions).
constexpr size_t io_bitmaps_size = 2 * 4096;
// Atomic: other processors read the bitmaps at every IN/OUT while a port
// is added.
void trap_port(uint8_t* io_bitmaps, uint16_t port);
bool port_trapped(const uint8_t* io_bitmaps, uint16_t port);

// MSR bitmap, 4 KiB: read bits for 0000_0000h-0000_1FFFh at byte 0 and for
// C000_0000h-C000_1FFFh at byte 1024, write bits for the same ranges at
// 2048 and 3072. An MSR outside both ranges always exits. False (bitmap
// unchanged) for such an MSR.
constexpr size_t msr_bitmap_size = 4096;
bool trap_msr(uint8_t* msr_bitmap, uint32_t msr);
bool msr_trapped(const uint8_t* msr_bitmap, uint32_t msr, bool write);

} // namespace sv::vmx
