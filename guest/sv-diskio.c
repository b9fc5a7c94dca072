// sv-diskio: write a deterministic pattern to a block device with O_DIRECT
// and read it back. The pattern depends only on (seed, absolute byte offset),
// so a later boot, or the host looking at the image file
// (tests/system/pattern.py), can regenerate and check it.
//
// usage: sv-diskio MODE DEVICE SEED OFFSET SIZE REQSIZE
//   MODE    write | verify | both (write, then read back and compare)
//   OFFSET, SIZE, REQSIZE accept suffixes K, M (powers of 1024); OFFSET and
//   REQSIZE must be multiples of 512 for O_DIRECT.
// Pattern: 64-bit little-endian word at byte offset o (o % 8 == 0) is
//   splitmix64_mix(seed * 0x9E3779B97F4A7C15 + o / 8).
// Exit status 0 on success, 1 on a mismatch or I/O error, 2 on bad usage.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sv-pattern.h"

static int do_io(int fd, int write_mode, uint8_t *buf, size_t len, uint64_t off)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = write_mode ? pwrite(fd, buf + done, len - done, off + done)
                               : pread(fd, buf + done, len - done, off + done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "sv-diskio: %s at %" PRIu64 ": %s\n", write_mode ? "pwrite" : "pread",
                    off + done, strerror(errno));
            return -1;
        }
        if (n == 0) {
            fprintf(stderr, "sv-diskio: unexpected end of device at %" PRIu64 "\n", off + done);
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: sv-diskio write|verify|both DEVICE SEED OFFSET SIZE REQSIZE\n");
        return 2;
    }
    const char *mode = argv[1], *dev = argv[2];
    uint64_t seed, offset, size, req;
    if (parse_size(argv[3], &seed) || parse_size(argv[4], &offset) || parse_size(argv[5], &size) ||
        parse_size(argv[6], &req) || req == 0 || req % 512 || offset % 512 || size % 512) {
        fprintf(stderr, "sv-diskio: bad number (offset, size and reqsize must be multiples of 512)\n");
        return 2;
    }
    int do_write = !strcmp(mode, "write") || !strcmp(mode, "both");
    int do_verify = !strcmp(mode, "verify") || !strcmp(mode, "both");
    if (!do_write && !do_verify) {
        fprintf(stderr, "sv-diskio: unknown mode %s\n", mode);
        return 2;
    }

    int fd = open(dev, O_RDWR | O_DIRECT | O_SYNC);
    if (fd < 0) {
        fprintf(stderr, "sv-diskio: open %s: %s\n", dev, strerror(errno));
        return 1;
    }
    uint8_t *buf, *expect;
    if (posix_memalign((void **)&buf, 4096, req) || posix_memalign((void **)&expect, 4096, req)) {
        fprintf(stderr, "sv-diskio: out of memory\n");
        return 1;
    }

    if (do_write) {
        double t0 = now();
        for (uint64_t pos = 0; pos < size; pos += req) {
            size_t len = (size_t)(size - pos < req ? size - pos : req);
            fill(buf, seed, offset + pos, len);
            if (do_io(fd, 1, buf, len, offset + pos))
                return 1;
        }
        if (fsync(fd)) {
            fprintf(stderr, "sv-diskio: fsync: %s\n", strerror(errno));
            return 1;
        }
        printf("sv-diskio: wrote %" PRIu64 " bytes at %" PRIu64 " in %" PRIu64 "-byte requests (%.2f s)\n",
               size, offset, req, now() - t0);
    }
    if (do_verify) {
        double t0 = now();
        for (uint64_t pos = 0; pos < size; pos += req) {
            size_t len = (size_t)(size - pos < req ? size - pos : req);
            memset(buf, 0xA5, len);
            if (do_io(fd, 0, buf, len, offset + pos))
                return 1;
            fill(expect, seed, offset + pos, len);
            if (memcmp(buf, expect, len)) {
                size_t i = 0;
                while (buf[i] == expect[i])
                    i++;
                printf("sv-diskio: MISMATCH at byte %" PRIu64 ": got %02x expected %02x\n",
                       offset + pos + i, buf[i], expect[i]);
                return 1;
            }
        }
        printf("sv-diskio: verified %" PRIu64 " bytes at %" PRIu64 " in %" PRIu64 "-byte requests (%.2f s)\n",
               size, offset, req, now() - t0);
    }
    close(fd);
    return 0;
}
