// Guest scatter lists (see guest_regions.hpp).
#include "devices/storage/common/guest_regions.hpp"

namespace sv::storage {

const char* to_string(RegionFault f) {
    switch (f) {
    case RegionFault::None: return "none";
    case RegionFault::Empty: return "empty guest region";
    case RegionFault::NotRam: return "guest region outside guest RAM";
    case RegionFault::TooLong: return "guest regions exceed the transfer";
    }
    return "?";
}

Result<MappedRegion> map_guest_region(GuestMemory& mem, const GuestRegion& region, RegionFault& fault) {
    if (region.bytes == 0) {
        fault = RegionFault::Empty;
        return fail(Error::Malformed);
    }
    if (region.gpa + region.bytes < region.gpa) { // wraps: never RAM
        fault = RegionFault::NotRam;
        return fail(Error::Protected);
    }
    uint8_t* host = mem.map(region.gpa, region.bytes);
    if (!host) {
        fault = RegionFault::NotRam;
        return fail(Error::Protected);
    }
    return MappedRegion{host, region.bytes};
}

} // namespace sv::storage
