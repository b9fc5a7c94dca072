/* Shared by the guest's disk programs (sv-diskio, sv-diskqd) and sv-simd:
 * the deterministic data pattern the host checks (tests/system/pattern.py
 * computes the same words), size arguments with K/M/G suffixes, and a
 * monotonic clock in seconds. */
#ifndef SV_PATTERN_H
#define SV_PATTERN_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

/* splitmix64 of (seed, word index): word i of the pattern. */
static inline uint64_t pattern_word(uint64_t seed, uint64_t word_index)
{
    uint64_t z = seed * 0x9E3779B97F4A7C15ull + word_index;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* buf gets the pattern bytes of [offset, offset + len), little-endian words. */
static inline void fill(uint8_t *buf, uint64_t seed, uint64_t offset, size_t len)
{
    for (size_t i = 0; i < len; i += 8) {
        uint64_t w = pattern_word(seed, (offset + i) / 8);
        for (int b = 0; b < 8; b++)
            buf[i + b] = (uint8_t)(w >> (8 * b));
    }
}

static inline int parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s)
        return -1;
    if (*end == 'K' || *end == 'k')
        v <<= 10, end++;
    else if (*end == 'M' || *end == 'm')
        v <<= 20, end++;
    else if (*end == 'G' || *end == 'g')
        v <<= 30, end++;
    if (*end)
        return -1;
    *out = v;
    return 0;
}

static inline double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

#endif
