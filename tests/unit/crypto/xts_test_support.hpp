// Helpers shared by the crypto unit tests: hex decoding, a deterministic
// random source, and OpenSSL's EVP aes-{128,256}-xts as the reference oracle,
// driven the way dm-crypt drives a cipher (IV = plain64 sector number, one
// CipherInit per sector).
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace sv::crypto::test {

using Bytes = std::vector<uint8_t>;

inline Bytes from_hex(const std::string& hex) {
    auto nibble = [](char c) -> uint8_t {
        if (c >= '0' && c <= '9') return static_cast<uint8_t>(c - '0');
        if (c >= 'a' && c <= 'f') return static_cast<uint8_t>(c - 'a' + 10);
        if (c >= 'A' && c <= 'F') return static_cast<uint8_t>(c - 'A' + 10);
        throw std::invalid_argument("bad hex");
    };
    Bytes out(hex.size() / 2);
    for (size_t i = 0; i < out.size(); ++i)
        out[i] = static_cast<uint8_t>(nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]));
    return out;
}

inline Bytes random_bytes(std::mt19937_64& rng, size_t n) {
    Bytes out(n);
    for (auto& b : out)
        b = static_cast<uint8_t>(rng());
    return out;
}

// A random XTS key of `len` bytes whose halves differ.
inline Bytes random_key(std::mt19937_64& rng, size_t len) {
    Bytes k = random_bytes(rng, len);
    k[len / 2] = static_cast<uint8_t>(k[0] ^ 0x5a);
    return k;
}

// dm-crypt style: for every sector, EVP_CipherInit_ex with IV = plain64
// sector number, then one EVP_CipherUpdate over the sector.
inline Bytes openssl_xts(bool encrypt, const Bytes& key, const Bytes& in, size_t sector_size,
                         uint64_t first_sector) {
    const EVP_CIPHER* cipher = key.size() == 32 ? EVP_aes_128_xts() : EVP_aes_256_xts();
    EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
    Bytes out(in.size());
    if (EVP_CipherInit_ex(ctx, cipher, nullptr, key.data(), nullptr, encrypt ? 1 : 0) != 1)
        throw std::runtime_error("EVP init");
    for (size_t off = 0; off < in.size(); off += sector_size) {
        uint8_t iv[16] = {};
        const uint64_t sector = first_sector + off / sector_size;
        for (int i = 0; i < 8; ++i)
            iv[i] = static_cast<uint8_t>(sector >> (8 * i));
        int len = 0;
        if (EVP_CipherInit_ex(ctx, nullptr, nullptr, nullptr, iv, -1) != 1 ||
            EVP_CipherUpdate(ctx, out.data() + off, &len, in.data() + off,
                             static_cast<int>(sector_size)) != 1 ||
            static_cast<size_t>(len) != sector_size)
            throw std::runtime_error("EVP update");
    }
    EVP_CIPHER_CTX_free(ctx);
    return out;
}

} // namespace sv::crypto::test
