// Xts: argument checks (fail closed), key handling and engine dispatch for
// the XTS-AES sector cipher (IEEE 1619-2007). The engines live in
// xts_vaes.cpp, xts_aesni.cpp and xts_portable.cpp.
#include "crypto/xts.hpp"

#include "crypto/cpu_features.hpp"
#include "crypto/secure_wipe.hpp"
#include "crypto/xts_engines.hpp"

namespace sv::crypto {
namespace {

// Constant-time equality of the key halves (no early exit on the first
// differing byte: the comparison must not leak where the halves differ).
bool halves_equal(const uint8_t* a, const uint8_t* b, size_t n) {
    uint8_t diff = 0;
    for (size_t i = 0; i < n; ++i)
        diff |= static_cast<uint8_t>(a[i] ^ b[i]);
    return diff == 0;
}

bool ranges_overlap(const uint8_t* a, const uint8_t* b, size_t n) {
    const auto x = reinterpret_cast<uintptr_t>(a);
    const auto y = reinterpret_cast<uintptr_t>(b);
    return x < y + n && y < x + n;
}

} // namespace

Xts::~Xts() {
    clear();
}

Result<void> Xts::set_key(std::span<const uint8_t> key) {
    if (key.size() != 32 && key.size() != 64) return fail(Error::InvalidArgument);
    const size_t half = key.size() / 2;
    // IEEE 1619-2007 §5.1 and FIPS 140-3 IG C.I: Key1 == Key2 makes XTS
    // degenerate (the tweak mask becomes predictable); refuse it.
    if (halves_equal(key.data(), key.data() + half, half)) return fail(Error::InvalidArgument);
    clear();
    detail::xts_schedule(key.data(), key.data() + half, half, keys_);
    return {};
}

void Xts::clear() {
    secure_wipe(&keys_, sizeof keys_);
}

bool Xts::has_key() const {
    return keys_.rounds != 0;
}

void Xts::set_iv_offset(uint64_t offset) {
    iv_offset_ = offset;
}

bool Xts::is_supported(XtsImpl impl) {
    switch (impl) {
    case XtsImpl::Portable:
        return true;
    case XtsImpl::AesNi:
        return detail::cpu_features().aesni;
    case XtsImpl::Vaes:
        return detail::cpu_features().vaes_avx2;
    }
    return false;
}

XtsImpl Xts::best_implementation() {
    if (is_supported(XtsImpl::Vaes)) return XtsImpl::Vaes;
    return is_supported(XtsImpl::AesNi) ? XtsImpl::AesNi : XtsImpl::Portable;
}

Result<void> Xts::set_implementation(XtsImpl impl) {
    if (!is_supported(impl)) return fail(Error::Unsupported);
    impl_ = impl;
    return {};
}

Result<void> Xts::run(bool decrypt, uint8_t* dst, const uint8_t* src, size_t bytes,
                      uint64_t first_sector, size_t sector_size) const {
    if (!has_key()) return fail(Error::InvalidArgument);
    // IEEE 1619-2007 §5.1: a data unit is at least one 128-bit block; we
    // take whole blocks only (no ciphertext stealing, as dm-crypt sectors).
    if (sector_size == 0 || sector_size % 16 != 0) return fail(Error::InvalidArgument);
    if (bytes % sector_size != 0) return fail(Error::InvalidArgument);
    if (bytes == 0) return {};
    if (dst == nullptr || src == nullptr) return fail(Error::InvalidArgument);
    if (dst != src && ranges_overlap(dst, src, bytes)) return fail(Error::InvalidArgument);

    const detail::XtsRun r{dst, src, bytes / sector_size, sector_size, first_sector + iv_offset_};
    switch (impl_) {
    case XtsImpl::Vaes:
        if (decrypt) {
            detail::xts_vaes_decrypt(keys_, r);
        } else {
            detail::xts_vaes_encrypt(keys_, r);
        }
        return {};
    case XtsImpl::AesNi:
        if (decrypt) {
            detail::xts_aesni_decrypt(keys_, r);
        } else {
            detail::xts_aesni_encrypt(keys_, r);
        }
        return {};
    case XtsImpl::Portable:
        if (decrypt) {
            detail::xts_portable_decrypt(keys_, r);
        } else {
            detail::xts_portable_encrypt(keys_, r);
        }
        return {};
    }
    return fail(Error::Unsupported);
}

// The self-guarding entry points are kept free of ASan instrumentation in the
// hosted build: ASan clears the shadow of a dead local (the guard) with
// vector stores after the guard's restore, which would clobber the caller's
// xmm0/xmm1. (The hypervisor build has no sanitizers.)
#if defined(__SANITIZE_ADDRESS__)
#define SV_NO_ASAN __attribute__((no_sanitize("address")))
#else
#define SV_NO_ASAN
#endif

SV_NO_ASAN Result<void> Xts::encrypt(uint8_t* dst, const uint8_t* src, size_t bytes,
                                     uint64_t first_sector, size_t sector_size) const {
    if (impl_ == XtsImpl::Portable) return run(false, dst, src, bytes, first_sector, sector_size);
    SimdGuard guard;
    return run(false, dst, src, bytes, first_sector, sector_size);
}

SV_NO_ASAN Result<void> Xts::decrypt(uint8_t* dst, const uint8_t* src, size_t bytes,
                                     uint64_t first_sector, size_t sector_size) const {
    if (impl_ == XtsImpl::Portable) return run(true, dst, src, bytes, first_sector, sector_size);
    SimdGuard guard;
    return run(true, dst, src, bytes, first_sector, sector_size);
}

Result<void> Xts::encrypt(const SimdGuard&, uint8_t* dst, const uint8_t* src, size_t bytes,
                          uint64_t first_sector, size_t sector_size) const {
    return run(false, dst, src, bytes, first_sector, sector_size);
}

Result<void> Xts::decrypt(const SimdGuard&, uint8_t* dst, const uint8_t* src, size_t bytes,
                          uint64_t first_sector, size_t sector_size) const {
    return run(true, dst, src, bytes, first_sector, sector_size);
}

} // namespace sv::crypto
