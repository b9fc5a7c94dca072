// Removes an ACPI table from what the guest's OSPM can find: its entry is
// cut out of the RSDT and, when the RSDP names one (revision >= 2), the XSDT
// (ACPI 6.4 §5.2.7, §5.2.8: arrays of 32-/64-bit table addresses after the
// 36-byte header), in place, with the root table's length and checksum
// (§5.2.6: all bytes sum to 0) rewritten. The table itself is left alone
// (the hypervisor keeps reading it). Used to hide the DMAR (VT-d 3.x §8.1)
// once the hypervisor owns the IOMMU.
#pragma once

#include <cstddef>

#include "core/guest_memory.hpp"
#include "lib/result.hpp"

namespace sv::acpi {

// How many root-table entries naming a table with `signature` were removed
// (RSDT and XSDT together). NotFound without a valid RSDP/RSDT.
[[nodiscard]] Result<size_t> hide_table(GuestMemory& memory, const char* signature);

} // namespace sv::acpi
