// Delivering an interrupt to the guest exactly as a device's MSI would have
// (devices/storage/nvme/README.md "Interrupts"): the mediator keeps a
// device's MSI-X table virtual and sends the guest's vector itself once it
// has posted the completions the interrupt announces. The platform
// implements this on the physical local APIC (a fixed IPI,
// platform/guest_interrupts_hw.cpp); tests record the messages.
#pragma once

#include <cstdint>

namespace sv {

// An MSI address/data pair (Intel SDM vol. 3A §10.11.1/§10.11.2; AMD APM
// vol. 2 §16.4 sends MSIs as the same interrupt messages).
struct MsiMessage {
    uint64_t address = 0;
    uint32_t data = 0;
};

namespace msi {
// Address: bits 31:20 FEEh, destination ID 19:12, RH 3, DM 2 (1: logical).
constexpr uint64_t kAddressWindow = 0xFEE00000;
constexpr uint64_t kAddressWindowMask = 0xFFFFFFFFFFF00000ull; // a 64-bit address must have 63:32 clear
constexpr unsigned kDestinationShift = 12;
constexpr uint64_t kDestinationMask = 0xFFull << kDestinationShift;
constexpr uint64_t kDestinationLogical = 1u << 2;
// Data: vector 7:0, delivery mode 10:8, level 14, trigger mode 15.
constexpr uint32_t kVectorMask = 0xFF;
constexpr unsigned kDeliveryShift = 8;
constexpr uint32_t kDeliveryMask = 7u << kDeliveryShift;
constexpr uint32_t kDeliveryFixed = 0u << kDeliveryShift;
constexpr uint32_t kDeliveryLowest = 1u << kDeliveryShift;
constexpr uint32_t kDeliveryNmi = 4u << kDeliveryShift;

// Only an address in the interrupt window is an interrupt; anything else is
// an ordinary DMA write of the data DWORD (SDM §10.11.1), refused.
constexpr bool address_is_interrupt(uint64_t a) { return (a & kAddressWindowMask) == kAddressWindow; }
constexpr uint8_t destination(uint64_t a) { return static_cast<uint8_t>((a & kDestinationMask) >> kDestinationShift); }
constexpr bool logical(uint64_t a) { return (a & kDestinationLogical) != 0; }
constexpr uint8_t vector(uint32_t d) { return static_cast<uint8_t>(d & kVectorMask); }
} // namespace msi

// The IPI that does what the MSI would have done (SDM vol. 3A §10.6.1,
// Figure 10-12 ICR): the message's vector, fixed delivery (lowest priority
// kept when the guest asked for it), edge, the message's destination mode
// and ID. xAPIC: `high` goes to ICR[63:32] (destination 63:56); x2APIC: the
// destination is ICR[63:32] itself.
struct IpiCommand {
    uint32_t low = 0;
    uint8_t destination = 0;
};
namespace icr {
constexpr uint32_t kDestinationLogical = 1u << 11;
constexpr uint32_t kLevelAssert = 1u << 14;
} // namespace icr
constexpr IpiCommand ipi_for(const MsiMessage& m) {
    const uint32_t mode = (m.data & msi::kDeliveryMask) == msi::kDeliveryLowest ? msi::kDeliveryLowest : msi::kDeliveryFixed;
    uint32_t low = msi::vector(m.data) | mode | icr::kLevelAssert;
    if (msi::logical(m.address)) low |= icr::kDestinationLogical;
    return IpiCommand{low, msi::destination(m.address)};
}

class GuestInterrupts {
  public:
    // A fixed interrupt with the message's vector to the message's
    // destination (physical or logical, as its address says).
    virtual void deliver(const MsiMessage& message) = 0;

  protected:
    ~GuestInterrupts() = default;
};

} // namespace sv
