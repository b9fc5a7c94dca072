// Vendor-neutral I/O port access types. Backends (SVM, VMX) decode their exit
// information into these at the backend edge; devices never see an EXITINFO.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace sv {

// A trapped IN/OUT. String (INS/OUTS) accesses are emulated by the core, which
// walks the guest's page tables and hands the handler whole element runs.
struct IoAccess {
    uint16_t port = 0;
    uint8_t size = 1; // bytes: 1, 2 or 4
    bool is_write = false;
    bool is_string = false;
    bool is_rep = false;
    uint8_t address_size = 8; // bytes of RSI/RDI/RCX used by a string access
};

// Real device register access: the hardware in the hypervisor, a simulated
// controller in unit tests.
class PortIo {
  public:
    virtual uint32_t in(uint16_t port, uint8_t size) = 0;
    virtual void out(uint16_t port, uint8_t size, uint32_t value) = 0;

  protected:
    ~PortIo() = default;
};

// A mediator that owns some intercepted ports.
class IoHandler {
  public:
    // Guest IN: return the value the guest sees (low `size` bytes used).
    virtual uint32_t io_in(uint16_t port, uint8_t size) = 0;
    // Guest OUT.
    virtual void io_out(uint16_t port, uint8_t size, uint32_t value) = 0;
    // Guest INS/OUTS: `data` holds data.size()/size elements in order. The
    // default performs them one by one; the data port overrides this so a
    // whole `rep insw` is one exit and is decrypted per sector.
    virtual void io_in_string(uint16_t port, uint8_t size, std::span<uint8_t> data);
    virtual void io_out_string(uint16_t port, uint8_t size, std::span<const uint8_t> data);

  protected:
    ~IoHandler() = default;
};

} // namespace sv
