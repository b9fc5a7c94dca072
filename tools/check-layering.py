#!/usr/bin/env python3
"""Checks the include rules between the source layers (docs/design.md,
"Layers and the backend interface"; issue #8 item 1):

  - only platform/ (the composition root) and virt/ itself include virt/;
  - nothing in core/ devices/ arch/ crypto/ lib/ virt/ includes platform/;
  - core/ includes nothing from devices/ (core depends on no device);
  - virt/ includes nothing from devices/ (a backend knows no device, and no
    device ever sees a VMCB/VMCS).

Only #include lines count (comments may name any layer). An include path is
taken from the repository root ("core/io.hpp"); one that does not exist there
but does next to the including file is resolved relative to that file.

usage: check-layering.py [ROOT]       exit status 0: clean, 1: violations listed
       check-layering.py --self-test  the checker finds one planted violation
                                      per rule (and none in a clean tree)
"""
import os
import re
import sys
import tempfile

INCLUDE_RE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]')
SOURCE_EXT = (".hpp", ".h", ".cpp", ".cc", ".S", ".inc")
LAYERS = ("lib", "arch", "crypto", "core", "devices", "virt", "platform")

# (layer that includes, layer it must not include, why)
FORBIDDEN = [
    (src, "virt", "only platform/ may include the virtualization backends")
    for src in ("lib", "arch", "crypto", "core", "devices")
] + [
    (src, "platform", "platform/ is the composition root: nothing below it includes it")
    for src in ("lib", "arch", "crypto", "core", "devices", "virt")
] + [
    ("core", "devices", "core/ depends on no device"),
    ("virt", "devices", "a backend knows no device (devices never see a VMCB/VMCS)"),
]


def layer_of(rel_path):
    top = rel_path.split("/", 1)[0]
    return top if top in LAYERS else None


def resolve(root, including_rel, target):
    norm = os.path.normpath(target).replace(os.sep, "/")
    if os.path.exists(os.path.join(root, norm)):
        return norm
    beside = os.path.normpath(os.path.join(os.path.dirname(including_rel), target)).replace(os.sep, "/")
    if os.path.exists(os.path.join(root, beside)):
        return beside
    return norm  # a system header, or missing: judged by its spelling


def violations(root):
    found = []
    for layer in LAYERS:
        for dirpath, _, files in os.walk(os.path.join(root, layer)):
            for name in sorted(files):
                if not name.endswith(SOURCE_EXT):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root).replace(os.sep, "/")
                with open(path, encoding="utf-8", errors="replace") as f:
                    for lineno, line in enumerate(f, 1):
                        m = INCLUDE_RE.match(line)
                        if not m:
                            continue
                        target = resolve(root, rel, m.group(1))
                        to = layer_of(target)
                        for src, dst, why in FORBIDDEN:
                            if layer == src and to == dst:
                                found.append("%s:%d: includes %s (%s/ -> %s/: %s)"
                                             % (rel, lineno, m.group(1), src, dst, why))
    return found


def self_test():
    """Plants one bad include per rule (plus allowed ones and a commented-out
    bad one) in a scratch tree and expects exactly the bad ones reported."""
    with tempfile.TemporaryDirectory() as root:
        def write(rel, text):
            os.makedirs(os.path.join(root, os.path.dirname(rel)), exist_ok=True)
            with open(os.path.join(root, rel), "w") as f:
                f.write(text)
        for rel in ("virt/svm/vmcb.hpp", "platform/smp.hpp", "devices/pci/pci.hpp", "core/io.hpp",
                    "lib/log.hpp"):
            write(rel, "#pragma once\n")
        # Allowed: platform -> anything, virt -> core/lib/virt, devices -> core.
        write("platform/main_hw.cpp", '#include "virt/svm/vmcb.hpp"\n#include "devices/pci/pci.hpp"\n')
        write("virt/svm/backend.cpp", '#include "core/io.hpp"\n#include "vmcb.hpp"\n')
        write("devices/pci/pci.cpp", '#include "core/io.hpp"\n// #include "virt/svm/vmcb.hpp"\n')
        if violations(root):
            print("layering self-test: a clean tree was reported: %s" % violations(root))
            return 1
        expected = 0
        for src, dst, _ in FORBIDDEN:
            target = {"virt": "virt/svm/vmcb.hpp", "platform": "platform/smp.hpp",
                      "devices": "devices/pci/pci.hpp"}[dst]
            write("%s/bad_%s_%s.cpp" % (src, src, dst), '  #  include <%s>\n' % target)
            expected += 1
        # A path relative to the including file counts as well.
        write("core/sub/relative.cpp", '#include "../../virt/svm/vmcb.hpp"\n')
        expected += 1
        found = violations(root)
        if len(found) != expected:
            print("layering self-test: expected %d violations, found %d:" % (expected, len(found)))
            for f in found:
                print("  " + f)
            return 1
        print("layering self-test: all %d planted violations found, clean tree clean" % expected)
        return 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                           os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    bad = violations(root)
    if bad:
        print("layering: %d include(s) break the layer rules:" % len(bad))
        for b in bad:
            print("  " + b)
        return 1
    print("layering: every #include under %s keeps the layer rules" % ", ".join(l + "/" for l in LAYERS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
