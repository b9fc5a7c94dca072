# Helpers for the guest test scripts (sourced: . /lib/sv-lib.sh).

# svarg NAME [DEFAULT]: value of sv.NAME=VALUE on the kernel command line.
svarg() {
    for w in $(cat /proc/cmdline); do
        case "$w" in "sv.$1="*) echo "${w#sv.$1=}"; return 0 ;; esac
    done
    echo "${2:-}"
}

# result NAME PASS|FAIL DETAIL...: the line the host side parses.
result() {
    n=$1; s=$2; shift 2
    echo "SV-RESULT $n $s $*"
}

# info KEY VALUE...: a fact for the host side (not a verdict).
info() { echo "SV-INFO $*"; }

# disk_for_driver DRIVER [SKIP]: first block device behind a PCI function bound
# to DRIVER (ata_piix, ahci, nvme), ignoring CD-ROMs and names in SKIP.
# Devices are taken in the order of their sysfs device paths (PCI function,
# then ATA port), not of their sdX names, which the kernel hands out in probe
# order and may change from one boot to the next.
disk_for_driver() {
    for b in $(for x in /sys/block/sd* /sys/block/nvme*n*; do
                   [ -e "$x" ] && echo "$(readlink -f "$x/device") $x"
               done | sort | cut -d' ' -f2); do
        [ -e "$b" ] || continue
        name=${b##*/}
        case " ${2:-} " in *" $name "*) continue ;; esac
        [ "$(sv-diskdriver "$name")" = "$1" ] && { echo "/dev/$name"; return 0; }
    done
    return 1
}
