// Counters every storage mediator keeps, in one shape so the boot log, the
// status output and the tests read any controller the same way. A mediator's
// own statistics build on this (IdeStats derives from it) and add what only
// its protocol has.
#pragma once

#include <cstdint>

namespace sv::storage {

// Why a mediator refused a command or one of its transfers, in terms that
// hold for every controller (the controller's own reasons are finer).
enum class Refusal : uint8_t {
    CommandNotAllowed,  // opcode / command not on the mediator's allowlist
    GuestMemory,        // a descriptor or data region outside guest RAM (e.g. hypervisor memory)
    MalformedDescriptor, // alignment, boundary or format rule of the descriptor broken
    LengthMismatch,     // regions add up to more or less than the command moves
    NoShadowMemory,     // the pool could never hold the request / set-up failed
    CryptoFailed,       // the XTS engine refused (fail closed)
    ProtocolViolation,  // register sequence the device protocol forbids
};
constexpr unsigned kRefusalCount = 7;
const char* to_string(Refusal r);

struct StorageCounters {
    uint64_t data_commands = 0;        // commands that moved data through shadow buffers
    uint64_t bytes_encrypted = 0;      // guest -> device, through XTS
    uint64_t bytes_decrypted = 0;      // device -> guest, through XTS
    uint64_t bytes_copied = 0;         // through shadow buffers without XTS
    uint64_t refused[kRefusalCount] = {}; // indexed by Refusal
    uint64_t pool_waits = 0;           // commands that waited for shadow memory

    void refuse(Refusal r) { ++refused[static_cast<unsigned>(r)]; }
    uint64_t refused_count(Refusal r) const { return refused[static_cast<unsigned>(r)]; }
    uint64_t refused_total() const {
        uint64_t n = 0;
        for (uint64_t v : refused) n += v;
        return n;
    }
};

} // namespace sv::storage
