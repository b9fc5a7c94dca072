// Constant-time portable AES (FIPS-197) for CPUs without AES-NI: four blocks
// at once, bitsliced over eight 64-bit words (word b holds bit b of all 64
// state bytes). The S-box is computed arithmetically as x^254 in GF(2^8)
// followed by the affine map (FIPS-197 §5.1.1), so no memory access or branch
// depends on key or data.
//
// Bit position of byte (row r, column c) of block k inside a word:
//   16*r + 4*c + k
// so a row is one 16-bit lane: ShiftRows rotates lanes, MixColumns combines
// lanes (64-bit rotations by 16/32/48 bits).
#pragma once

#include <cstddef>
#include <cstdint>

namespace sv::crypto::detail {

constexpr size_t kBsBlocks = 4; // blocks per bitsliced batch
constexpr size_t kBsWords = 8;  // words per bitsliced state / round key

// 64 bytes (4 blocks) <-> bitsliced state.
void bs_pack(const uint8_t* in64, uint64_t w[kBsWords]);
void bs_unpack(const uint64_t w[kBsWords], uint8_t* out64);

// One 16-byte round key, replicated for the 4 blocks.
void bs_pack_round_key(const uint8_t* rk16, uint64_t out[kBsWords]);

// FIPS-197 §5.1 Cipher / §5.3 InvCipher on 4 blocks; `keys` holds
// (rounds + 1) bitsliced round keys of the *encryption* schedule.
void bs_encrypt4(const uint64_t* keys, unsigned rounds, uint64_t w[kBsWords]);
void bs_decrypt4(const uint64_t* keys, unsigned rounds, uint64_t w[kBsWords]);

// SubWord() of the key expansion (FIPS-197 §5.2), constant time.
uint32_t bs_sub_word(uint32_t word);

} // namespace sv::crypto::detail
