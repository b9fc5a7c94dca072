#include "crypto/xcr0_switch.hpp"

namespace sv::crypto {
namespace detail {
Xcr0Access g_xcr0_access;
}

void set_xcr0_access(Xcr0Access access) { detail::g_xcr0_access = access; }

bool xcr0_switching_available() {
    return detail::g_xcr0_access.read != nullptr && detail::g_xcr0_access.write != nullptr;
}

} // namespace sv::crypto
