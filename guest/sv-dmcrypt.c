// sv-dmcrypt: open (or close) a plain dm-crypt mapping without cryptsetup,
// straight through the device-mapper ioctls (linux/dm-ioctl.h):
// DM_DEV_CREATE, DM_TABLE_LOAD with one `crypt` target, DM_DEV_SUSPEND
// without the suspend flag (= resume). The table is what `cryptsetup open
// --type plain --cipher aes-xts-plain64` would load:
//   0 <sectors> crypt aes-xts-plain64 <hexkey> 0 <major:minor> 0
// i.e. IV offset 0, data offset 0, 512-byte sectors, the whole device.
// With SECTOR_SIZE 4096 the table adds `2 sector_size:4096 iv_large_sectors`
// (cryptsetup --sector-size 4096 --iv-large-sectors: one XTS data unit per
// 4096-byte sector, tweak = the 4096-byte sector number), which is how the
// hypervisor encrypts a 4Kn NVMe namespace (tweak = LBA).
//
// usage: sv-dmcrypt open NAME DEVICE KEY [SECTOR_SIZE] -> prints /dev/mapper/NAME
//        sv-dmcrypt close NAME
//   KEY is hex (64 hex digits = AES-128-XTS, 128 = AES-256-XTS) or @FILE;
//   FILE holds hex text or the raw key bytes (32 or 64 bytes).
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/dm-ioctl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define BUF_SIZE 16384

static void init_header(struct dm_ioctl *io, const char *name)
{
    memset(io, 0, BUF_SIZE);
    io->version[0] = DM_VERSION_MAJOR;
    io->version[1] = 0;
    io->version[2] = 0;
    io->data_size = BUF_SIZE;
    io->data_start = sizeof(struct dm_ioctl);
    snprintf(io->name, sizeof io->name, "%s", name);
}

static int dm_call(int ctl, unsigned long req, struct dm_ioctl *io, const char *what)
{
    if (ioctl(ctl, req, io) < 0) {
        fprintf(stderr, "sv-dmcrypt: %s: %s\n", what, strerror(errno));
        return -1;
    }
    return 0;
}

// Returns a malloc'ed lower-case hex key, or NULL.
static char *load_key(const char *arg)
{
    unsigned char raw[4096];
    size_t n;
    if (arg[0] == '@') {
        FILE *f = fopen(arg + 1, "rb");
        if (!f) {
            fprintf(stderr, "sv-dmcrypt: key file %s: %s\n", arg + 1, strerror(errno));
            return NULL;
        }
        n = fread(raw, 1, sizeof raw - 1, f);
        fclose(f);
    } else {
        n = strlen(arg);
        if (n >= sizeof raw)
            return NULL;
        memcpy(raw, arg, n);
    }
    int is_hex = n > 0;
    size_t digits = 0;
    for (size_t i = 0; i < n; i++) {
        if (isxdigit(raw[i]))
            digits++;
        else if (!isspace(raw[i]))
            is_hex = 0;
    }
    char *hex = malloc(2 * n + 1);
    size_t o = 0;
    if (is_hex) {
        for (size_t i = 0; i < n; i++)
            if (isxdigit(raw[i]))
                hex[o++] = (char)tolower(raw[i]);
    } else {
        for (size_t i = 0; i < n; i++)
            o += (size_t)sprintf(hex + o, "%02x", raw[i]);
        digits = o;
    }
    hex[o] = 0;
    if (digits != 64 && digits != 128) {
        fprintf(stderr, "sv-dmcrypt: key must be 32 or 64 bytes (got %zu hex digits)\n", digits);
        free(hex);
        return NULL;
    }
    return hex;
}

static int do_open(int ctl, const char *name, const char *dev, const char *keyarg, unsigned sector_size)
{
    char *key = load_key(keyarg);
    if (!key)
        return 1;
    int fd = open(dev, O_RDONLY);
    struct stat st;
    uint64_t bytes = 0;
    if (fd < 0 || fstat(fd, &st) || !S_ISBLK(st.st_mode) || ioctl(fd, BLKGETSIZE64, &bytes)) {
        fprintf(stderr, "sv-dmcrypt: %s: not a usable block device (%s)\n", dev, strerror(errno));
        return 1;
    }
    close(fd);

    struct dm_ioctl *io = aligned_alloc(8, BUF_SIZE);
    init_header(io, name);
    if (dm_call(ctl, DM_DEV_CREATE, io, "DM_DEV_CREATE"))
        return 1;
    dev_t dm_dev = (dev_t)io->dev;

    init_header(io, name);
    io->target_count = 1;
    struct dm_target_spec *spec = (struct dm_target_spec *)((char *)io + io->data_start);
    spec->sector_start = 0;
    spec->length = bytes / 512;
    spec->status = 0;
    snprintf(spec->target_type, sizeof spec->target_type, "crypt");
    char *params = (char *)(spec + 1);
    size_t room = BUF_SIZE - io->data_start - sizeof *spec;
    int len = snprintf(params, room, "aes-xts-plain64 %s 0 %u:%u 0%s", key, major(st.st_rdev), minor(st.st_rdev),
                       sector_size == 4096 ? " 2 sector_size:4096 iv_large_sectors" : "");
    if (len < 0 || (size_t)len >= room)
        return 1;
    spec->next = 0; // last (only) target
    if (dm_call(ctl, DM_TABLE_LOAD, io, "DM_TABLE_LOAD")) {
        init_header(io, name);
        dm_call(ctl, DM_DEV_REMOVE, io, "DM_DEV_REMOVE");
        return 1;
    }
    memset(key, 0, strlen(key));
    memset(params, 0, (size_t)len);

    init_header(io, name); // DM_DEV_SUSPEND without DM_SUSPEND_FLAG resumes
    if (dm_call(ctl, DM_DEV_SUSPEND, io, "DM_DEV_SUSPEND (resume)"))
        return 1;

    // No udev in the initramfs: make the /dev/mapper node ourselves.
    char path[256];
    mkdir("/dev/mapper", 0755);
    snprintf(path, sizeof path, "/dev/mapper/%s", name);
    unlink(path);
    if (mknod(path, S_IFBLK | 0600, dm_dev)) {
        fprintf(stderr, "sv-dmcrypt: mknod %s: %s\n", path, strerror(errno));
        return 1;
    }
    printf("%s\n", path);
    return 0;
}

static int do_close(int ctl, const char *name)
{
    struct dm_ioctl *io = aligned_alloc(8, BUF_SIZE);
    init_header(io, name);
    if (dm_call(ctl, DM_DEV_REMOVE, io, "DM_DEV_REMOVE"))
        return 1;
    char path[256];
    snprintf(path, sizeof path, "/dev/mapper/%s", name);
    unlink(path);
    return 0;
}

int main(int argc, char **argv)
{
    int is_open = (argc == 5 || argc == 6) && !strcmp(argv[1], "open");
    unsigned sector_size = argc == 6 ? (unsigned)strtoul(argv[5], NULL, 10) : 512;
    int is_close = argc == 3 && !strcmp(argv[1], "close");
    if (!is_open && !is_close) {
        fprintf(stderr, "usage: sv-dmcrypt open NAME DEVICE HEXKEY|@KEYFILE [512|4096]\n"
                        "       sv-dmcrypt close NAME\n");
        return 2;
    }
    if (is_open && sector_size != 512 && sector_size != 4096) {
        fprintf(stderr, "sv-dmcrypt: sector size must be 512 or 4096\n");
        return 2;
    }
    int ctl = open("/dev/mapper/control", O_RDWR);
    if (ctl < 0) {
        fprintf(stderr, "sv-dmcrypt: /dev/mapper/control: %s (is dm-mod loaded?)\n", strerror(errno));
        return 1;
    }
    return is_open ? do_open(ctl, argv[2], argv[3], argv[4], sector_size) : do_close(ctl, argv[2]);
}
