// One error style for the whole hypervisor: [[nodiscard]] Result<T> and TRY().
// Modelled on Hedron's result.hpp / SerenityOS ErrorOr: errors are small enum
// values (no allocation, no exceptions) so the same code runs freestanding and
// under the host unit tests.
#pragma once

#include <type_traits>
#include <utility>

namespace sv {

enum class Error : unsigned char {
    InvalidArgument, // a caller (often the guest) passed a value we refuse
    OutOfRange,      // an index/length past what the structure holds
    OutOfMemory,     // a fixed pool is exhausted
    Unsupported,     // valid request we deliberately do not implement (fail closed)
    Protected,       // address inside hypervisor memory or outside guest RAM
    Malformed,       // a descriptor/structure violates its spec
    DeviceError,     // the hardware reported an error
    NotFound,        // lookup failed
};

constexpr const char* to_string(Error e) {
    switch (e) {
    case Error::InvalidArgument: return "invalid argument";
    case Error::OutOfRange: return "out of range";
    case Error::OutOfMemory: return "out of memory";
    case Error::Unsupported: return "unsupported";
    case Error::Protected: return "protected address";
    case Error::Malformed: return "malformed";
    case Error::DeviceError: return "device error";
    case Error::NotFound: return "not found";
    }
    return "?";
}

// Wrapper that makes `return fail(Error::X);` unambiguous for Result<Error>.
struct Failure {
    Error error;
};
constexpr Failure fail(Error e) { return Failure{e}; }

template <class T> class [[nodiscard]] Result {
  public:
    constexpr Result(const T& v) : value_(v), ok_(true) {}
    constexpr Result(T&& v) : value_(std::move(v)), ok_(true) {}
    constexpr Result(Failure f) : error_(f.error), ok_(false) {}

    constexpr bool ok() const { return ok_; }
    constexpr explicit operator bool() const { return ok_; }
    constexpr Error error() const { return error_; }
    constexpr T& value() & { return value_; }
    constexpr const T& value() const& { return value_; }
    constexpr T&& value() && { return std::move(value_); }
    constexpr T value_or(T other) const { return ok_ ? value_ : other; }

  private:
    T value_{};
    Error error_{};
    bool ok_;
};

template <> class [[nodiscard]] Result<void> {
  public:
    constexpr Result() : ok_(true) {}
    constexpr Result(Failure f) : error_(f.error), ok_(false) {}
    constexpr bool ok() const { return ok_; }
    constexpr explicit operator bool() const { return ok_; }
    constexpr Error error() const { return error_; }
    constexpr void value() const {}

  private:
    Error error_{};
    bool ok_;
};

} // namespace sv

// TRY(expr): evaluate a Result; on failure return its error from the enclosing
// function, otherwise yield its value. GNU statement expression (GCC/Clang).
#define TRY(expr)                                                                                  \
    ({                                                                                             \
        auto&& sv_try_result_ = (expr);                                                            \
        if (!sv_try_result_.ok()) return ::sv::fail(sv_try_result_.error());                       \
        std::move(sv_try_result_).value();                                                         \
    })
