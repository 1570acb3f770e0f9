#!/bin/sh
# dim-smoke.sh BUILD_DIR - seconds-long runs of examples/dim (CI): each
# estimator, and InfoNCE with AMDIM's options, on image subsets. Checks the
# RESULT lines, probe accuracies above chance and the report files.
set -eu
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
num='[0-9]\.[0-9]{4}'
small="--steps 6 --batch 16 --probe-train 600 --test-subset 300"

for run in "infonce" "jsd" "dv" "infonce --amdim"; do
    est=${run%% *}
    flag=
    [ "$run" != "$est" ] && flag=--amdim
    out="$tmp/$est$flag"
    "$bin/dim" --estimator $est $flag $small --out "$out" > "$tmp/dim.out"
    result=$(tail -n 1 "$tmp/dim.out")
    echo "dim-smoke: $result"
    echo "$result" | grep -Eq "^RESULT method=dim estimator=$est linear_acc=$num random_linear_acc=$num raw_linear_acc=$num$" ||
        { echo "dim-smoke: malformed RESULT line" >&2; exit 1; }
    # ten classes: chance 0.1; a probe on 600 images must clear 0.4
    echo "$result" | awk '{ split($4, a, "="); if (a[2] < 0.4) { print "dim-smoke: at chance" > "/dev/stderr"; exit 1 } }'
    test -s "$out/curve.csv" && test -s "$out/curve.svg"
done
echo "dim-smoke: ok"
