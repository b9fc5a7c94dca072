// AES key expansion (FIPS-197 §5.2) and the XTS key pair's schedules in every
// form the implementations need. Portable and constant time (SubWord uses the
// bitsliced S-box), computed once per set_key.
#pragma once

#include <cstddef>
#include <cstdint>

#include "crypto/aes_bitsliced.hpp"

namespace sv::crypto::detail {

constexpr unsigned kMaxRounds = 14; // AES-256
constexpr size_t kMaxRoundKeyBytes = 16 * (kMaxRounds + 1);

// FIPS-197 §5.2 KeyExpansion for a 16- or 32-byte key: writes (rounds+1)
// round keys of 16 bytes each, returns rounds (10 or 14), 0 for a bad length.
unsigned aes_expand_key(const uint8_t* key, size_t key_len, uint8_t* round_keys);

// FIPS-197 §5.3.5 equivalent inverse cipher: the decryption schedule that
// AESDEC expects (reversed order, InvMixColumns on the inner round keys).
void aes_inverse_schedule(const uint8_t* enc, unsigned rounds, uint8_t* dec);

// Everything an XTS engine needs (IEEE 1619-2007 §5.1: Key = Key1 | Key2,
// Key1 for data, Key2 for the tweak). Wiped by Xts::clear().
struct XtsKeySchedule {
    alignas(16) uint8_t data_enc[kMaxRoundKeyBytes];  // Key1, encryption order
    alignas(16) uint8_t data_dec[kMaxRoundKeyBytes];  // Key1, AESDEC order
    alignas(16) uint8_t tweak_enc[kMaxRoundKeyBytes]; // Key2, encryption order
    uint64_t data_bs[kBsWords * (kMaxRounds + 1)];    // Key1, bitsliced
    uint64_t tweak_bs[kBsWords * (kMaxRounds + 1)];   // Key2, bitsliced
    unsigned rounds;                                  // 10 or 14; 0 = no key
};

// Fills `out` from the two halves (each 16 or 32 bytes).
void xts_schedule(const uint8_t* key1, const uint8_t* key2, size_t half_len, XtsKeySchedule& out);

} // namespace sv::crypto::detail
