#include "devices/acpi/wake_status.hpp"

namespace sv::acpi {
namespace {
// Where WAK_STS lands in an access of `size` bytes at `port`: bit index in
// the value, or -1 when the access does not cover it (byte port_+1, bit 7).
int wak_bit(uint16_t status_port, uint16_t port, uint8_t size) {
    const int byte = static_cast<int>(status_port) + 1 - static_cast<int>(port);
    if (byte < 0 || byte >= size) return -1;
    return byte * 8 + 7;
}
} // namespace

uint32_t RefusedSleepStatus::io_in(uint16_t port, uint8_t size) {
    uint32_t v = io_ ? io_->in(port, size) : ~0u;
    const int bit = wak_bit(port_, port, size);
    if (pending_ && bit >= 0) v |= 1u << bit;
    return v;
}

void RefusedSleepStatus::io_out(uint16_t port, uint8_t size, uint32_t value) {
    const int bit = wak_bit(port_, port, size);
    if (bit >= 0 && (value >> bit & 1)) pending_ = false;
    if (io_) io_->out(port, size, value);
}

} // namespace sv::acpi
