// Where the hypervisor's time goes, in cycles of a clock the platform sets
// (the TSC; none in the unit tests: everything reads 0). A few fixed buckets,
// summed by the code that does the work and logged at power-off, so that
// `./shadowvisor bench io` can tell the device's own time and the cipher's
// from the rest of an exit.
#pragma once

#include <cstdint>

namespace sv::profile {

enum class Bucket : uint8_t {
    RealRegisters, // accesses to a mediated device's real registers (a bus cycle; under QEMU its device model)
    Cipher,        // AES-XTS of sector data
    Count,
};

using Clock = uint64_t (*)();
void set_clock(Clock clock);
uint64_t now(); // 0 without a clock
void add(Bucket bucket, uint64_t since);
uint64_t total(Bucket bucket);

// Adds the time from construction to destruction to `bucket`.
class Scope {
  public:
    explicit Scope(Bucket bucket) : bucket_(bucket), start_(now()) {}
    ~Scope() { add(bucket_, start_); }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

  private:
    Bucket bucket_;
    uint64_t start_;
};

} // namespace sv::profile
