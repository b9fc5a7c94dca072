"""Host-side AES-XTS sector decryption (dm-crypt `aes-xts-plain64`: one XTS
data unit per 512-byte sector, tweak = sector number as 16 little-endian
bytes), through OpenSSL's libcrypto via ctypes so no Python package is needed.
Used to check what an encrypted disk image holds without device-mapper."""
import ctypes
import os
import ctypes.util

_lib = None


def _crypto():
    global _lib
    if _lib is None:
        name = ctypes.util.find_library("crypto") or "libcrypto.so.3"
        _lib = ctypes.CDLL(name)
        _lib.EVP_CIPHER_CTX_new.restype = ctypes.c_void_p
        _lib.EVP_CIPHER_CTX_free.argtypes = [ctypes.c_void_p]
        _lib.EVP_aes_128_xts.restype = ctypes.c_void_p
        _lib.EVP_aes_256_xts.restype = ctypes.c_void_p
        _lib.EVP_DecryptInit_ex.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                            ctypes.c_char_p, ctypes.c_char_p]
        _lib.EVP_DecryptUpdate.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                           ctypes.POINTER(ctypes.c_int), ctypes.c_char_p, ctypes.c_int]
    return _lib


def decrypt_sectors(key: bytes, first_sector: int, data: bytes, sector_size: int = 512) -> bytes:
    """Decrypt `data` (whole sectors) that starts at sector `first_sector`."""
    lib = _crypto()
    if len(key) == 32:
        cipher = lib.EVP_aes_128_xts()
    elif len(key) == 64:
        cipher = lib.EVP_aes_256_xts()
    else:
        raise ValueError("aes-xts key must be 32 or 64 bytes")
    assert len(data) % sector_size == 0
    out = bytearray()
    ctx = lib.EVP_CIPHER_CTX_new()
    try:
        buf = ctypes.create_string_buffer(sector_size + 32)
        n = ctypes.c_int(0)
        for i in range(len(data) // sector_size):
            tweak = (first_sector + i).to_bytes(16, "little")
            if lib.EVP_DecryptInit_ex(ctx, cipher, None, key, tweak) != 1:
                raise RuntimeError("EVP_DecryptInit_ex failed")
            chunk = data[i * sector_size:(i + 1) * sector_size]
            if lib.EVP_DecryptUpdate(ctx, buf, ctypes.byref(n), chunk, sector_size) != 1:
                raise RuntimeError("EVP_DecryptUpdate failed")
            out += buf.raw[:n.value]
    finally:
        lib.EVP_CIPHER_CTX_free(ctx)
    return bytes(out)


def check_encrypted_image(path: str, key: bytes, seed: int, offset: int, size: int):
    """None if the image holds the sv-diskio pattern encrypted with `key`
    (aes-xts-plain64, IV offset 0) at [offset, offset+size), else a message."""
    import pattern
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read(size)
    plain = decrypt_sectors(key, offset // 512, data)
    want = pattern.pattern_bytes(seed, offset, size)
    if plain != want:
        i = next(k for k in range(size) if plain[k] != want[k])
        return "decrypted data differs at byte %d" % (offset + i)
    return None


def decrypt_image(key: bytes, src: str, dst: str, chunk_sectors: int = 8192,
                  sector_size: int = 512) -> int:
    """Decrypt a whole aes-xts-plain64 image file `src` (IV offset 0) into
    `dst`, chunk by chunk, decrypting in place in one ctypes buffer (no Python
    byte copies per sector). Returns the number of sectors."""
    lib = _crypto()
    cipher = {32: lib.EVP_aes_128_xts, 64: lib.EVP_aes_256_xts}.get(len(key))
    if cipher is None:
        raise ValueError("aes-xts key must be 32 or 64 bytes")
    cipher = cipher()
    size = os.path.getsize(src)
    if size % sector_size:
        raise ValueError("%s: size %d is not a multiple of %d" % (src, size, sector_size))
    inbuf = ctypes.create_string_buffer(chunk_sectors * sector_size)
    outbuf = ctypes.create_string_buffer(chunk_sectors * sector_size + 32)
    base_in, base_out = ctypes.addressof(inbuf), ctypes.addressof(outbuf)
    n = ctypes.c_int(0)
    tweak = ctypes.create_string_buffer(16)
    ctx = lib.EVP_CIPHER_CTX_new()
    sector = 0
    try:
        with open(src, "rb") as fi, open(dst, "wb") as fo:
            while True:
                got = fi.readinto(memoryview(inbuf).cast("B")[:chunk_sectors * sector_size])
                if not got:
                    break
                for i in range(got // sector_size):
                    tweak.raw = (sector + i).to_bytes(16, "little")
                    if lib.EVP_DecryptInit_ex(ctx, cipher, None, key, tweak) != 1:
                        raise RuntimeError("EVP_DecryptInit_ex failed")
                    if lib.EVP_DecryptUpdate(ctx, ctypes.c_char_p(base_out + i * sector_size),
                                             ctypes.byref(n),
                                             ctypes.c_char_p(base_in + i * sector_size),
                                             sector_size) != 1 or n.value != sector_size:
                        raise RuntimeError("EVP_DecryptUpdate failed")
                fo.write(memoryview(outbuf).cast("B")[:got])
                sector += got // sector_size
    finally:
        lib.EVP_CIPHER_CTX_free(ctx)
    return sector
