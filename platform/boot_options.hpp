// The hypervisor's own command line (multiboot cmdline), `key=value` words:
//   loglevel=debug|info|warn|error
//   allow_dma=ID[,ID...]  with a disk key, these unmediated bus masters keep
//                         Bus Master Enable (ID: VVVV:DDDD or BB:DD.F, hex;
//                         devices/pci/dma_allow_list.hpp); may repeat
// Unknown keys are refused (fail closed: a typo must not silently drop a
// security setting). The first word may be the image path (QEMU passes it).
#pragma once

#include <cstddef>

#include "devices/pci/dma_allow_list.hpp"
#include "lib/log.hpp"
#include "lib/result.hpp"

namespace sv {

struct BootOptions {
    log::Level log_level = log::Level::Info;
    pci::DmaAllowList allow_dma;
};

// On failure `bad_word` points at the offending word (not NUL-terminated;
// `bad_length` bytes).
[[nodiscard]] Result<BootOptions> parse_boot_options(const char* cmdline, const char** bad_word,
                                                     size_t* bad_length);

} // namespace sv
