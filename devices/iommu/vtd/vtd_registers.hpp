// VT-d remapping-unit registers (Intel VT-d 3.x §11.4), the few the
// hypervisor programs: capabilities, global command/status, root table
// address, register-based context-cache and IOTLB invalidation, fault
// status/recording and the fault event interrupt. Offsets and bits as the
// spec numbers them.
#pragma once

#include <cstdint>

namespace sv::vtd {

namespace reg {
constexpr uint32_t version = 0x00;       // VER_REG
constexpr uint32_t capability = 0x08;    // CAP_REG (64)
constexpr uint32_t ext_capability = 0x10; // ECAP_REG (64)
constexpr uint32_t global_command = 0x18; // GCMD_REG (32, write-only)
constexpr uint32_t global_status = 0x1C;  // GSTS_REG (32)
constexpr uint32_t root_table = 0x20;     // RTADDR_REG (64)
constexpr uint32_t context_command = 0x28; // CCMD_REG (64)
constexpr uint32_t fault_status = 0x34;   // FSTS_REG (32)
constexpr uint32_t fault_event_control = 0x38; // FECTL_REG (32)
constexpr uint32_t fault_event_data = 0x3C;    // FEDATA_REG (32)
constexpr uint32_t fault_event_address = 0x40; // FEADDR_REG (32)
constexpr uint32_t fault_event_upper_address = 0x44; // FEUADDR_REG (32, only with ECAP.EIM)
constexpr uint32_t protected_memory_enable = 0x64; // PMEN_REG (32)
} // namespace reg

// §11.4.4 GCMD / §11.4.5 GSTS (the same bit positions).
namespace gcmd {
constexpr uint32_t translation_enable = 1u << 31; // TE / TES
constexpr uint32_t set_root_table = 1u << 30;     // SRTP / RTPS
constexpr uint32_t write_buffer_flush = 1u << 27; // WBF / WBFS
constexpr uint32_t queued_invalidation = 1u << 26; // QIE / QIES
constexpr uint32_t interrupt_remapping = 1u << 25; // IRE / IRES
// §11.4.4.1: a GCMD write is built from GSTS with the one-shot bits
// (SRTP, SFL, WBF, SIRTP) cleared, so it changes only the bit it means to.
constexpr uint32_t persistent_mask = 0x96FFFFFFu;
} // namespace gcmd

// §11.4.2 CAP_REG.
namespace cap {
constexpr uint64_t rwbf = 1ull << 4; // write-buffer flush required
constexpr uint64_t caching_mode = 1ull << 7;
constexpr unsigned sagaw_shift = 8; // bits 12:8: bit 1 = 39-bit 3-level, bit 2 = 48-bit 4-level
constexpr unsigned mgaw_shift = 16; // bits 21:16: MGAW - 1
constexpr unsigned fro_shift = 24;  // bits 33:24: fault-recording offset / 16
constexpr unsigned sllps_shift = 34; // bits 37:34: bit 0 2 MiB, bit 1 1 GiB
constexpr unsigned nfr_shift = 40;  // bits 47:40: fault-recording registers - 1
constexpr uint64_t sagaw_39 = 1u << 1, sagaw_48 = 1u << 2;
constexpr uint64_t fro(uint64_t c) { return ((c >> fro_shift) & 0x3FF) * 16; }
constexpr unsigned fault_records(uint64_t c) { return static_cast<unsigned>((c >> nfr_shift) & 0xFF) + 1; }
constexpr unsigned sagaw(uint64_t c) { return static_cast<unsigned>((c >> sagaw_shift) & 0x1F); }
constexpr unsigned sllps(uint64_t c) { return static_cast<unsigned>((c >> sllps_shift) & 0xF); }
constexpr unsigned mgaw(uint64_t c) { return static_cast<unsigned>((c >> mgaw_shift) & 0x3F) + 1; }
} // namespace cap

// §11.4.3 ECAP_REG.
namespace ecap {
constexpr uint64_t coherent = 1ull << 0; // C: table walks snoop the caches
constexpr uint64_t queued_invalidation = 1ull << 1;
constexpr uint64_t interrupt_remapping = 1ull << 3;
constexpr uint64_t extended_interrupt_mode = 1ull << 4; // EIM: FEUADDR is implemented
constexpr unsigned iro_shift = 8; // bits 17:8: IOTLB register offset / 16
constexpr uint64_t iro(uint64_t e) { return ((e >> iro_shift) & 0x3FF) * 16; }
} // namespace ecap

// §11.4.7.1 CCMD_REG.
namespace ccmd {
constexpr uint64_t invalidate = 1ull << 63;   // ICC: set to start, clears when done
constexpr uint64_t global = 1ull << 61;       // CIRG = 01b: global invalidation
constexpr uint64_t granularity_mask = 3ull << 61;
} // namespace ccmd

// §11.4.8.1 IOTLB_REG (at ECAP.IRO + 8; IVA_REG at + 0).
namespace iotlb {
constexpr uint32_t register_offset = 8;
constexpr uint64_t invalidate = 1ull << 63;   // IVT
constexpr uint64_t global = 1ull << 60;       // IIRG = 01b
constexpr uint64_t drain_reads = 1ull << 49;  // DR
constexpr uint64_t drain_writes = 1ull << 48; // DW
} // namespace iotlb

// §11.4.9 FSTS_REG, §11.4.10 FECTL_REG. Each status bit but PPF is RW1C;
// PPF is the OR of the recording registers' F bits. §7.3 (FECTL_REG.IP):
// the unit interrupts when one of them becomes set while none was, so a
// status left set silences every later fault: a handler clears them all.
namespace fsts {
constexpr uint32_t overflow = 1u << 0;        // PFO: a fault found no free record and was lost
constexpr uint32_t pending = 1u << 1;         // PPF (RO: some record has F set)
constexpr uint32_t advanced_overflow = 1u << 2; // AFO (advanced fault logging, not used)
constexpr uint32_t advanced_pending = 1u << 3;  // APF (advanced fault logging, not used)
constexpr uint32_t invalidation_queue_error = 1u << 4; // IQE: a bad queued-invalidation descriptor
constexpr uint32_t invalidation_completion_error = 1u << 5; // ICE: a bad device-TLB completion
constexpr uint32_t invalidation_timeout = 1u << 6; // ITE: a device-TLB invalidation timed out
constexpr uint32_t invalidation_errors = invalidation_queue_error | invalidation_completion_error |
                                         invalidation_timeout;
constexpr uint32_t write_one_to_clear = 0x7Du; // PFO, AFO, APF, IQE, ICE, ITE
constexpr unsigned fri_shift = 8;             // FRI, bits 15:8: the record the next fault goes to
} // namespace fsts
namespace fectl {
constexpr uint32_t interrupt_mask = 1u << 31;    // IM: 1 holds the message back (reset value)
constexpr uint32_t interrupt_pending = 1u << 30; // IP (RO): a message is held back
} // namespace fectl

// §11.4.11.1 Fault Recording Register (128 bits at CAP.FRO + 16 * i).
namespace frcd {
constexpr uint64_t fault = 1ull << 63; // F (bit 127: in the high qword), RW1C
constexpr uint64_t read_request = 1ull << 62; // T (bit 126): 1 a read request, 0 a write
constexpr unsigned reason_shift = 32;  // FR, bits 103:96
constexpr uint64_t source_mask = 0xFFFF; // SID, bits 79:64: bus 15:8, devfn 7:0
constexpr uint64_t address_mask = ~0xFFFull; // FI, bits 63:12 of the low qword
} // namespace frcd

// The MMIO accessors a unit is programmed through (the hypervisor's mapping
// of the register page, or a model in tests). 32-bit and 64-bit accesses
// only, naturally aligned (§10.2: registers are accessed at their size).
class VtdRegisterIo {
  public:
    virtual uint32_t read32(uint32_t offset) = 0;
    virtual uint64_t read64(uint32_t offset) = 0;
    virtual void write32(uint32_t offset, uint32_t value) = 0;
    virtual void write64(uint32_t offset, uint64_t value) = 0;

  protected:
    ~VtdRegisterIo() = default;
};

} // namespace sv::vtd
