#!/bin/sh
# correspondence-smoke.sh BUILD_DIR - a seconds-long run of the video
# correspondence example (CI): the clip generator's determinism self-test,
# then a few training steps and the mask propagation on a handful of short
# clips. Checks the RESULT line's form and the report files (the mIoU of so
# short a run is not judged).
set -eu
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
num='[0-9]+\.[0-9]{4}'

"$bin/correspondence" --self-test
"$bin/correspondence" --max-steps 10 --batch 4 --clip-length 4 --test-clips 3 --val-clips 2 \
    --out "$tmp/corr" > "$tmp/corr.out"
result=$(tail -n 1 "$tmp/corr.out")
echo "correspondence-smoke: $result"
echo "$result" | grep -Eq "^RESULT method=correspondence miou=$num copy_miou=$num pixel_affinity_miou=$num$" ||
    { echo "correspondence-smoke: malformed RESULT line" >&2; exit 1; }
test -s "$tmp/corr/curve.csv" && test -s "$tmp/corr/miou.svg"
test "$(wc -l < "$tmp/corr/miou.csv")" -eq 4
echo "correspondence-smoke: ok"
