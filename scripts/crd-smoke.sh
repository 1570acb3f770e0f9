#!/bin/sh
# crd-smoke.sh BUILD_DIR - a seconds-long run of examples/crd (CI): the
# teacher, the three students and the CRD term on a subset of images.
# Checks the RESULT line, the accuracies above chance and the report files.
set -eu
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
num='[0-9]\.[0-9]{4}'
"$bin/crd" --teacher-steps 40 --steps 150 --batch 32 --nce-k 64 --train-subset 2000 \
    --test-subset 500 --out "$tmp/out" > "$tmp/crd.out" 2> "$tmp/crd.err" ||
    { tail -n 20 "$tmp/crd.err" >&2; exit 1; }
result=$(tail -n 1 "$tmp/crd.out")
echo "crd-smoke: $result"
echo "$result" | grep -Eq "^RESULT method=crd teacher_acc=$num student_ce_acc=$num student_kd_acc=$num student_crd_acc=$num student_crd_nokd_acc=$num$" ||
    { echo "crd-smoke: malformed RESULT line" >&2; exit 1; }
# ten classes: chance 0.1; 40 teacher and 150 student steps of batch 32
# must clear 0.4 in every run
echo "$result" | awk '{ for (i = 3; i <= 7; i++) { split($i, a, "="); if (a[2] < 0.4) { print "crd-smoke: " $i " at chance" > "/dev/stderr"; exit 1 } } }'
for f in curves.csv results.csv report.svg; do
    test -s "$tmp/out/$f" || { echo "crd-smoke: no $f" >&2; exit 1; }
done
# every run has a row, the CRD run a non-zero NCE loss
test "$(grep -c '^crd,' "$tmp/out/curves.csv")" -ge 1
test "$(wc -l < "$tmp/out/results.csv")" -eq 6
echo "crd-smoke: ok"
