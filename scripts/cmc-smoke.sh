#!/bin/sh
# cmc-smoke.sh BUILD_DIR - seconds-long runs of examples/cmc (CI): the
# cross-view NCE with Z by EMA (the default) and Z fixed, and the full
# softmax, on image subsets. Checks the RESULT lines, probe accuracies above
# chance and the report files.
set -eu
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
num='[0-9]\.[0-9]{4}'
small="--train-subset 1024 --epochs 1 --batch 64 --noise 128 --probe-train 600 --test-subset 300"

for run in "--z ema" "--z fixed" "--softmax"; do
    out="$tmp/$(echo "$run" | tr -d ' -')"
    "$bin/cmc" $run $small --out "$out" > "$tmp/cmc.out"
    result=$(tail -n 1 "$tmp/cmc.out")
    echo "cmc-smoke ($run): $result"
    echo "$result" | grep -Eq "^RESULT method=cmc linear_acc=$num view1_linear_acc=$num view2_linear_acc=$num knn_acc=$num random_linear_acc=$num raw_linear_acc=$num$" ||
        { echo "cmc-smoke: malformed RESULT line" >&2; exit 1; }
    # ten classes: chance 0.1; probes on 600 images must clear 0.4, the
    # kNN over 1024 bank rows 0.2
    echo "$result" | awk '{ for (i = 3; i <= 8; i++) { split($i, a, "=");
        if (a[2] < (a[1] == "knn_acc" ? 0.2 : 0.4)) { print "cmc-smoke: " a[1] " at chance" > "/dev/stderr"; exit 1 } } }'
    test -s "$out/curve.csv" && test -s "$out/curve.svg" && test -s "$out/results.csv"
done
echo "cmc-smoke: ok"
