// sv-diskqd: random-order O_DIRECT I/O at a chosen queue depth, for the
// NVMe benchmark's `req=4K-qd32` line and the polled-queue test. Every
// request of the region [OFFSET, OFFSET+SIZE) is issued exactly once, in a
// seeded random order, with up to QD requests in flight through Linux AIO
// (io_setup/io_submit/io_getevents, raw syscalls: no libaio in the
// initramfs). The data is sv-diskio's pattern (same function of seed and
// absolute byte offset), so reads are verified and writes can be checked by
// sv-diskio or the host (tests/system/pattern.py).
//
// usage: sv-diskqd write|verify DEVICE SEED OFFSET SIZE REQSIZE QD [hipri]
//   hipri: instead of AIO, an io_uring with IORING_SETUP_IOPOLL (raw
//   syscalls), one request at a time: io_uring_enter polls the device's
//   polled queue (nvme.poll_queues=N) for the completion instead of sleeping
//   for an interrupt. (Linux 6.1 no longer polls synchronous RWF_HIPRI
//   preadv2, and AIO never polls.)
// Prints "sv-diskqd: wrote|verified N bytes at O in R-byte requests, queue
// depth Q, random order (T s)"; exit 0 on success, 1 on an I/O error or a
// mismatch, 2 on bad usage.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/aio_abi.h>
#include <linux/io_uring.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "sv-pattern.h"

// A polled io_uring of one entry (io_uring_setup(2)): the mapped rings.
struct ring {
    int fd;
    unsigned *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
    struct io_uring_sqe *sqes;
    struct io_uring_cqe *cqes;
};

static int ring_init(struct ring *r)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_IOPOLL;
    r->fd = (int)syscall(SYS_io_uring_setup, 4, &p);
    if (r->fd < 0) {
        fprintf(stderr, "sv-diskqd: io_uring_setup(IOPOLL): %s\n", strerror(errno));
        return -1;
    }
    size_t sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    uint8_t *sq = mmap(NULL, sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
    uint8_t *cq = mmap(NULL, cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_CQ_RING);
    r->sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
    if (sq == MAP_FAILED || cq == MAP_FAILED || r->sqes == MAP_FAILED) {
        fprintf(stderr, "sv-diskqd: io_uring mmap: %s\n", strerror(errno));
        return -1;
    }
    r->sq_tail = (unsigned *)(sq + p.sq_off.tail);
    r->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
    r->sq_array = (unsigned *)(sq + p.sq_off.array);
    r->cq_head = (unsigned *)(cq + p.cq_off.head);
    r->cq_tail = (unsigned *)(cq + p.cq_off.tail);
    r->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
    r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
    return 0;
}

// One read or write through the polled ring; its result (bytes or -errno).
static long ring_rw(struct ring *r, int fd, int writing, void *buf, uint64_t len, uint64_t off)
{
    const unsigned tail = *r->sq_tail, idx = tail & *r->sq_mask;
    struct io_uring_sqe *e = &r->sqes[idx];
    memset(e, 0, sizeof *e);
    e->opcode = writing ? IORING_OP_WRITE : IORING_OP_READ;
    e->fd = fd;
    e->addr = (uint64_t)(uintptr_t)buf;
    e->len = (uint32_t)len;
    e->off = off;
    r->sq_array[idx] = idx;
    __atomic_store_n(r->sq_tail, tail + 1, __ATOMIC_RELEASE);
    for (;;) {
        long n = syscall(SYS_io_uring_enter, r->fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0);
        if (n >= 0)
            break;
        if (errno != EINTR && errno != EAGAIN)
            return -errno;
    }
    for (;;) { // IOPOLL: the completion is there once io_uring_enter returned, or after another poll
        const unsigned head = *r->cq_head;
        if (head != __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE)) {
            const long res = r->cqes[head & *r->cq_mask].res;
            __atomic_store_n(r->cq_head, head + 1, __ATOMIC_RELEASE);
            return res;
        }
        if (syscall(SYS_io_uring_enter, r->fd, 0, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0 && errno != EINTR)
            return -errno;
    }
}

static uint64_t rng_state;
static uint64_t next_random(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return rng_state >> 33;
}

// Checks one completed read against the pattern; 0 if it matches.
static int check(const uint8_t *buf, uint8_t *expect, uint64_t seed, uint64_t off, size_t len)
{
    fill(expect, seed, off, len);
    if (!memcmp(buf, expect, len))
        return 0;
    size_t i = 0;
    while (buf[i] == expect[i])
        i++;
    printf("sv-diskqd: MISMATCH at byte %" PRIu64 ": got %02x expected %02x\n", off + i, buf[i], expect[i]);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 8 && !(argc == 9 && !strcmp(argv[8], "hipri"))) {
        fprintf(stderr, "usage: sv-diskqd write|verify DEVICE SEED OFFSET SIZE REQSIZE QD [hipri]\n");
        return 2;
    }
    const int writing = !strcmp(argv[1], "write");
    const int hipri = argc == 9;
    uint64_t seed, offset, size, req, qd;
    if ((!writing && strcmp(argv[1], "verify")) || parse_size(argv[3], &seed) || parse_size(argv[4], &offset) ||
        parse_size(argv[5], &size) || parse_size(argv[6], &req) || parse_size(argv[7], &qd) || req == 0 ||
        req % 512 || offset % 512 || size % req || qd == 0 || qd > 1024) {
        fprintf(stderr, "sv-diskqd: bad number (offset multiple of 512, size multiple of reqsize, qd 1..1024)\n");
        return 2;
    }
    const char *dev = argv[2];
    int fd = open(dev, O_RDWR | O_DIRECT);
    if (fd < 0) {
        fprintf(stderr, "sv-diskqd: open %s: %s\n", dev, strerror(errno));
        return 1;
    }
    const uint64_t n = size / req;
    uint64_t *order = malloc(n * sizeof *order);
    uint8_t *bufs, *expect;
    if (!order || posix_memalign((void **)&bufs, 4096, req * qd) || posix_memalign((void **)&expect, 4096, req)) {
        fprintf(stderr, "sv-diskqd: out of memory\n");
        return 1;
    }
    // Fisher-Yates over the request indices: each request once, random order.
    rng_state = seed ^ 0x5DEECE66Dull;
    for (uint64_t i = 0; i < n; i++)
        order[i] = i;
    for (uint64_t i = n; i > 1; i--) {
        uint64_t j = next_random() % i, t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    double t0 = now();
    if (hipri) {
        struct ring r;
        if (ring_init(&r))
            return 1;
        for (uint64_t i = 0; i < n; i++) {
            const uint64_t off = offset + order[i] * req;
            if (writing)
                fill(bufs, seed, off, req);
            const long got = ring_rw(&r, fd, writing, bufs, req, off);
            if (got != (long)req) {
                fprintf(stderr, "sv-diskqd: polled %s at %" PRIu64 ": %s\n", writing ? "write" : "read", off,
                        got < 0 ? strerror((int)-got) : "short transfer");
                return 1;
            }
            if (!writing && check(bufs, expect, seed, off, req))
                return 1;
        }
    } else {
        aio_context_t ctx = 0;
        if (syscall(SYS_io_setup, (long)qd, &ctx)) {
            fprintf(stderr, "sv-diskqd: io_setup(%" PRIu64 "): %s\n", qd, strerror(errno));
            return 1;
        }
        struct iocb *cbs = calloc(qd, sizeof *cbs);
        struct iocb **free_cbs = calloc(qd, sizeof *free_cbs);
        struct io_event *events = calloc(qd, sizeof *events);
        if (!cbs || !free_cbs || !events)
            return 1;
        uint64_t nfree = qd, next = 0, done = 0;
        for (uint64_t k = 0; k < qd; k++)
            free_cbs[k] = &cbs[k];
        while (done < n) {
            // Fill every free slot, submit them in one io_submit (one batch:
            // the driver rings the doorbell once per plug).
            struct iocb *batch[1024];
            long nb = 0;
            while (nfree && next < n) {
                struct iocb *cb = free_cbs[--nfree];
                uint8_t *buf = bufs + (uint64_t)(cb - cbs) * req;
                const uint64_t off = offset + order[next++] * req;
                memset(cb, 0, sizeof *cb);
                cb->aio_fildes = (uint32_t)fd;
                cb->aio_lio_opcode = writing ? IOCB_CMD_PWRITE : IOCB_CMD_PREAD;
                cb->aio_buf = (uint64_t)(uintptr_t)buf;
                cb->aio_nbytes = req;
                cb->aio_offset = (int64_t)off;
                cb->aio_data = off;
                if (writing)
                    fill(buf, seed, off, req);
                batch[nb++] = cb;
            }
            for (long s = 0; s < nb;) {
                long r = syscall(SYS_io_submit, ctx, nb - s, batch + s);
                if (r <= 0) {
                    fprintf(stderr, "sv-diskqd: io_submit: %s\n", r < 0 ? strerror(errno) : "nothing submitted");
                    return 1;
                }
                s += r;
            }
            long got = syscall(SYS_io_getevents, ctx, 1L, (long)qd, events, NULL);
            if (got < 0) {
                if (errno == EINTR)
                    continue;
                fprintf(stderr, "sv-diskqd: io_getevents: %s\n", strerror(errno));
                return 1;
            }
            for (long e = 0; e < got; e++) {
                struct iocb *cb = (struct iocb *)(uintptr_t)events[e].obj;
                if (events[e].res != (int64_t)req) {
                    fprintf(stderr, "sv-diskqd: %s at %" PRIu64 ": result %" PRId64 "\n", writing ? "write" : "read",
                            (uint64_t)events[e].data, (int64_t)events[e].res);
                    return 1;
                }
                if (!writing && check((const uint8_t *)(uintptr_t)cb->aio_buf, expect, seed, events[e].data, req))
                    return 1;
                free_cbs[nfree++] = cb;
                done++;
            }
        }
        syscall(SYS_io_destroy, ctx);
    }
    if (writing && fsync(fd)) {
        fprintf(stderr, "sv-diskqd: fsync: %s\n", strerror(errno));
        return 1;
    }
    printf("sv-diskqd: %s %" PRIu64 " bytes at %" PRIu64 " in %" PRIu64 "-byte requests, %s %" PRIu64
           ", random order (%.2f s)\n",
           writing ? "wrote" : "verified", size, offset, req, hipri ? "polled (io_uring IOPOLL), queue depth" : "queue depth",
           hipri ? (uint64_t)1 : qd, now() - t0);
    close(fd);
    return 0;
}
