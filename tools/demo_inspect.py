#!/usr/bin/env python3
"""The demo's host side: show that the disk image holds ciphertext where the
guest wrote its message, then decrypt that sector with OpenSSL (an
implementation independent of the hypervisor's) and show the message."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "system"))
import xts  # noqa: E402

MESSAGE = b"Hello from the guest"


def main():
    img, key_path, offset = sys.argv[1], sys.argv[2], int(sys.argv[3])
    key = open(key_path, "rb").read()
    data = open(img, "rb").read()
    sector = data[offset:offset + 512]
    print("== host: the image at byte %d (what the disk stores):" % offset)
    print("   " + sector[:48].hex(" "))
    found = MESSAGE in data
    print("== host: the message appears in the image in plaintext: %s" % ("YES (not encrypted!)" if found else "no"))
    plain = xts.decrypt_sectors(key, offset // 512, sector)
    text = plain.split(b"\n")[0].decode("ascii", "replace")
    print("== host: decrypted with OpenSSL aes-256-xts, tweak = sector %d:" % (offset // 512))
    print("   " + text)
    ok = not found and plain.startswith(MESSAGE)
    print("== demo %s" % ("OK: the disk holds only ciphertext, and the key recovers the data" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
