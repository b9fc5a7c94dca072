#!/bin/bash
# Line coverage of the portable sources by the host unit tests.
#   tools/coverage.sh [BUILD_DIR]     (default: build-coverage/ beside build/)
# Builds sv_unit_tests with --coverage (instead of ASan/UBSan; the hypervisor
# image, benchmarks and system tests are not built), runs it once from zeroed
# counters, prints line coverage per top-level directory and writes an HTML
# report to BUILD_DIR/coverage/index.html. Files ending _hw.cpp are not in
# the unit tests (privileged instructions) and so are not in the figures.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${1:-$ROOT/build-coverage}
JOBS=${SV_JOBS:-2}
DIRS=(devices core crypto arch lib platform virt)

command -v gcovr >/dev/null || { echo "coverage: gcovr missing (tools/install-deps.sh)" >&2; exit 2; }
if [ ! -f "$DIR/build.ninja" ]; then
    cmake -G Ninja -S "$ROOT" -B "$DIR" -DCMAKE_BUILD_TYPE=Debug -DSV_COVERAGE=ON \
        -DSV_HYPERVISOR=OFF -DSV_BENCH=OFF -DSV_SYSTEM_TESTS=OFF >/dev/null
fi
ninja -C "$DIR" -j"$JOBS" sv_unit_tests
find "$DIR" -name '*.gcda' -delete
status=0
(cd "$DIR" && ./sv_unit_tests --gtest_brief=1) || status=$?
[ $status -eq 0 ] || echo "coverage: some unit tests failed (exit $status); the figures below include them" >&2

OUT=$DIR/coverage
mkdir -p "$OUT"
filter="$ROOT/($(IFS='|'; echo "${DIRS[*]}"))/"
gcovr --root "$ROOT" --object-directory "$DIR" --filter "$filter" \
    --exclude-unreachable-branches --html-details "$OUT/index.html" \
    --json-summary "$OUT/summary.json" --json-summary-pretty >/dev/null

python3 - "$OUT/summary.json" "${DIRS[@]}" <<'PY'
import json, sys
summary, dirs = json.load(open(sys.argv[1])), sys.argv[2:]
per = {d: [0, 0, 0] for d in dirs}  # covered lines, total lines, files
for f in summary["files"]:
    top = f["filename"].split("/", 1)[0]
    if top in per:
        per[top][0] += f["line_covered"]
        per[top][1] += f["line_total"]
        per[top][2] += 1
print("line coverage by the unit tests (portable sources; _hw.cpp files are not unit-tested):")
for d in dirs:
    c, t, n = per[d]
    pct = 100.0 * c / t if t else 0.0
    print(f"  {d + '/':<10} {pct:5.1f}%  ({c}/{t} lines, {n} files)")
c = sum(v[0] for v in per.values()); t = sum(v[1] for v in per.values())
print(f"  {'total':<10} {100.0 * c / t if t else 0.0:5.1f}%  ({c}/{t} lines)")
PY
echo "HTML report: $OUT/index.html"
exit $status
