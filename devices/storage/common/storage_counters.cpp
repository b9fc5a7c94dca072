// Shared storage counters (see storage_counters.hpp).
#include "devices/storage/common/storage_counters.hpp"

namespace sv::storage {

const char* to_string(Refusal r) {
    switch (r) {
    case Refusal::CommandNotAllowed: return "command not allowed";
    case Refusal::GuestMemory: return "region outside guest RAM";
    case Refusal::MalformedDescriptor: return "malformed descriptor";
    case Refusal::LengthMismatch: return "length mismatch";
    case Refusal::NoShadowMemory: return "no shadow memory";
    case Refusal::CryptoFailed: return "crypto failed";
    case Refusal::ProtocolViolation: return "protocol violation";
    }
    return "?";
}

} // namespace sv::storage
