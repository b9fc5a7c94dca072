// Bit positions in SVM's I/O and MSR permission maps (AMD APM vol. 2
// §15.10.1, §15.11). Portable, so the layout is unit-tested; the backend
// (svm_backend_hw.cpp) owns the one pair of maps all vCPUs share.
#pragma once

#include <cstdint>

namespace sv::svm {

// IOPM: one bit per port, 0000h-FFFFh (the third page only covers accesses
// that run past FFFFh). Atomic: other vCPUs' processors read the map at
// every IN/OUT while a port is added.
void trap_port(uint8_t* iopm, uint16_t port);

// MSRPM: two bits (read, write) per MSR in three 2 KiB ranges for
// 0000_0000h-0000_1FFFh, C000_0000h-C000_1FFFh and C001_0000h-C001_1FFFh.
// False (map unchanged) for an MSR outside them, which always exits.
bool trap_msr(uint8_t* msrpm, uint32_t msr);

} // namespace sv::svm
