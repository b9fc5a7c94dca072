"""Host-side twin of guest/sv-diskio.c: regenerate its deterministic pattern
and check it on a disk image file.

The 64-bit little-endian word at byte offset o is
    mix(seed * 0x9E3779B97F4A7C15 + o // 8)   (splitmix64 finaliser)
An independent reimplementation on purpose: if the guest tool and this file
disagree, the test fails rather than hiding a bug on both sides.
"""
import struct

M64 = (1 << 64) - 1


def pattern_word(seed: int, index: int) -> int:
    z = (seed * 0x9E3779B97F4A7C15 + index) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def pattern_bytes(seed: int, offset: int, size: int) -> bytes:
    assert offset % 8 == 0 and size % 8 == 0
    first = offset // 8
    words = [pattern_word(seed, first + i) for i in range(size // 8)]
    return struct.pack("<%dQ" % len(words), *words)


def check_image(path: str, seed: int, offset: int, size: int) -> str | None:
    """Return None if the image holds the pattern at [offset, offset+size),
    else a short description of the first difference."""
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read(size)
    if len(data) != size:
        return "image too short: read %d of %d bytes at %d" % (len(data), size, offset)
    chunk = 1 << 16
    for pos in range(0, size, chunk):
        n = min(chunk, size - pos)
        want = pattern_bytes(seed, offset + pos, n)
        got = data[pos:pos + n]
        if got != want:
            i = next(k for k in range(n) if got[k] != want[k])
            return "mismatch at byte %d: got %02x expected %02x" % (offset + pos + i, got[i], want[i])
    return None


def check_zero(path: str, offset: int, size: int) -> str | None:
    """Return None if [offset, offset+size) of the image is all zero."""
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read(size)
    if data.count(0) != len(data):
        i = next(k for k in range(len(data)) if data[k] != 0)
        return "unexpected data at byte %d (%02x)" % (offset + i, data[i])
    return None


def regions_arg(regions) -> str:
    """`sv.regions=` value for (offset, size, request size) regions."""
    return ",".join("%dK:%dK:%s" % (o >> 10, s >> 10, r) for o, s, r in regions)


def check_regions(path: str, seed: int, regions, what: str) -> list[str]:
    """Problems found: each region must hold the pattern, with 64 KiB of
    zeros on either side (nothing written around it)."""
    problems = []
    for off, size, _ in regions:
        err = check_image(path, seed, off, size)
        if err:
            problems.append("%s, region at %d: %s" % (what, off, err))
        for zoff in (off - 65536, off + size):
            err = check_zero(path, zoff, 65536)
            if err:
                problems.append("%s, guard at %d: %s" % (what, zoff, err))
    return problems
