// Names and storage-layer classes of the AHCI slot engine's refusals
// (ahci_command.hpp): the log line per reason and the shared counters.
#include "devices/storage/ahci/ahci_command.hpp"

namespace sv::ahci {

const char* to_string(CommandFault f) {
    switch (f) {
    case CommandFault::None: return "none";
    case CommandFault::HeaderNotRam: return "command header not in guest RAM";
    case CommandFault::TableNotRam: return "command table not in guest RAM";
    case CommandFault::BadCfl: return "command FIS length below 5 DWORDs";
    case CommandFault::MalformedFis: return "command FIS not Register H2D";
    case CommandFault::PmPort: return "port multiplier port not 0";
    case CommandFault::Bist: return "BIST command";
    case CommandFault::NotAllowed: return "opcode not allowed";
    case CommandFault::NotMediated: return "data mover not mediated";
    case CommandFault::ChsUserData: return "CHS user data";
    case CommandFault::Direction: return "header W disagrees with the opcode";
    case CommandFault::PacketNotAtapi: return "PACKET to a non-ATAPI device";
    case CommandFault::AtaOnAtapi: return "ATA data command to an ATAPI device";
    case CommandFault::TagNotSlot: return "FPDMA tag not the slot";
    case CommandFault::FpdmaWithoutSact: return "FPDMA without its PxSACT bit";
    case CommandFault::SactWithoutFpdma: return "PxSACT bit for a non-queued command";
    case CommandFault::NonQueuedWhileQueued: return "non-queued command while queued ones run";
    case CommandFault::PrdtlZero: return "data command without PRDT";
    case CommandFault::PrdtNotRam: return "PRDT not in guest RAM";
    case CommandFault::OddDba: return "PRDT data address not word aligned";
    case CommandFault::OddDbc: return "PRDT odd byte count";
    case CommandFault::DataNotRam: return "PRDT region not in guest RAM";
    case CommandFault::PrdtShort: return "PRDT shorter than the transfer";
    case CommandFault::TooLarge: return "no shadow memory for the request";
    case CommandFault::CryptoFailed: return "encryption failed";
    case CommandFault::Count: break;
    }
    return "?";
}

storage::Refusal refusal_of(CommandFault f) {
    using R = storage::Refusal;
    switch (f) {
    case CommandFault::HeaderNotRam:
    case CommandFault::TableNotRam:
    case CommandFault::PrdtNotRam:
    case CommandFault::DataNotRam: return R::GuestMemory;
    case CommandFault::BadCfl:
    case CommandFault::MalformedFis:
    case CommandFault::PmPort:
    case CommandFault::Bist:
    case CommandFault::PrdtlZero:
    case CommandFault::OddDba:
    case CommandFault::OddDbc: return R::MalformedDescriptor;
    case CommandFault::Direction:
    case CommandFault::TagNotSlot:
    case CommandFault::FpdmaWithoutSact:
    case CommandFault::SactWithoutFpdma:
    case CommandFault::NonQueuedWhileQueued: return R::ProtocolViolation;
    case CommandFault::PrdtShort: return R::LengthMismatch;
    case CommandFault::TooLarge: return R::NoShadowMemory;
    case CommandFault::CryptoFailed: return R::CryptoFailed;
    case CommandFault::None:
    case CommandFault::NotAllowed:
    case CommandFault::NotMediated:
    case CommandFault::ChsUserData:
    case CommandFault::PacketNotAtapi:
    case CommandFault::AtaOnAtapi:
    case CommandFault::Count: return R::CommandNotAllowed;
    }
    return R::CommandNotAllowed;
}

} // namespace sv::ahci
