// What the mediator learns about one NVMe controller before the guest runs
// (nvme_boot_identify.*: the hypervisor enables the controller itself with a
// private admin queue, reads Identify Controller and every active namespace's
// Identify Namespace, and disables it again). Format NVM and Namespace
// Management are refused to the guest (devices/storage/nvme/README.md), so
// these facts stay true for as long as the guest runs: the queue engine
// validates every I/O command against them, the Identify filter answers
// consistently with them.
#pragma once

#include <cstdint>

namespace sv::nvme {

// Namespaces the mediator tracks per controller; a controller reporting more
// active namespaces has the rest refused (their I/O fails Invalid Namespace).
constexpr uint32_t kMaxNamespaces = 16;

struct NamespaceFacts {
    uint32_t nsid = 0;          // 1-based; 0: unused entry
    uint64_t blocks = 0;        // NSZE (Identify Namespace bytes 7:0)
    uint32_t lba_bytes = 0;     // 2^LBADS of the current format (FLBAS 3:0)
    bool supported = false;     // lba_bytes 512 or 4096, no metadata (MS 0), no protection (DPS 0)
};

struct ControllerFacts {
    uint64_t cap = 0;           // the real CAP (§3.1.1)
    uint32_t vs = 0;            // the real VS
    uint8_t mdts = 0;           // the real MDTS (0: no limit), in CAP.MPSMIN units
    uint32_t nn = 0;            // Identify Controller NN
    uint16_t oacs = 0, oncs = 0;
    uint8_t vwc = 0;
    uint32_t namespace_count = 0;            // entries of `namespaces` used
    NamespaceFacts namespaces[kMaxNamespaces];

    const NamespaceFacts* find(uint32_t nsid) const {
        for (uint32_t i = 0; i < namespace_count; ++i)
            if (namespaces[i].nsid == nsid) return &namespaces[i];
        return nullptr;
    }
};

} // namespace sv::nvme
