#!/bin/sh
# vivi-smoke.sh BUILD_DIR - a seconds-long run of the VIVI example (CI): the
# videos' determinism self-test, then a few VIVI and SimCLR steps on a
# handful of videos and the linear probe. Checks the RESULT line's form,
# probe accuracies above chance and the report files (the VIVI-vs-SimCLR
# order of so short a run is not judged).
set -eu
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
num='[0-9]\.[0-9]{4}'

"$bin/vivi" --self-test
"$bin/vivi" --steps 6 --videos 4 --log-every 3 --train-items 2000 --probe-videos 30 \
    --test-videos 20 --out "$tmp/vivi" > "$tmp/vivi.out"
result=$(tail -n 1 "$tmp/vivi.out")
echo "vivi-smoke: $result"
echo "$result" | grep -Eq "^RESULT method=vivi linear_acc=$num simclr_frames_linear_acc=$num random_linear_acc=$num$" ||
    { echo "vivi-smoke: malformed RESULT line" >&2; exit 1; }
# ten classes: chance 0.1; every probe must clear 0.15
echo "$result" | awk '{ for (i = 3; i <= 5; i++) { split($i, a, "=");
    if (a[2] < 0.15) { print "vivi-smoke: at chance" > "/dev/stderr"; exit 1 } } }'
test -s "$tmp/vivi/curve.csv" && test -s "$tmp/vivi/curve.svg"
test "$(wc -l < "$tmp/vivi/probe.csv")" -eq 4
echo "vivi-smoke: ok"
