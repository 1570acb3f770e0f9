#!/bin/sh
# demo-smoke.sh DEMO_BINARY - a seconds-long run of the main demo on a
# subset (CI): checks the RESULT line, above-chance accuracies, the report
# files, that labels never influence training, and that a resumed run
# continues exactly like an uninterrupted one.
set -eu
demo=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
small="--train-subset 2048 --test-subset 500 --batch 128 --head 64 --proj-dim 32 --epochs 2 --seed 5"

for method in simclr moco instdisc; do
    "$demo" --method "$method" $small --out "$tmp/$method" > "$tmp/$method.out"
    result=$(tail -n 1 "$tmp/$method.out")
    echo "demo-smoke: $result"
    echo "$result" | grep -Eq "^RESULT method=$method encoder=cnn epochs=2 train_seconds=[0-9.]+ knn_acc=0\.[0-9]{4} linear_acc=0\.[0-9]{4}$" ||
        { echo "demo-smoke: malformed RESULT line" >&2; exit 1; }
    # ten classes: chance is 0.1; even two short epochs must clear 0.5
    echo "$result" | awk '{ split($6, k, "="); split($7, l, "=");
        if (k[2] < 0.5 || l[2] < 0.5) { print "demo-smoke: accuracy at chance level" > "/dev/stderr"; exit 1 } }'
    for f in metrics.csv chart.svg pca.svg state.ckpt; do
        test -s "$tmp/$method/$f" || { echo "demo-smoke: $method: $f missing" >&2; exit 1; }
    done
    test "$(wc -l < "$tmp/$method/metrics.csv")" -eq 3
done
grep -q 'Ankle boot' "$tmp/simclr/pca.svg"

# Labels are for evaluation only: permuting them leaves training bit-identical.
"$demo" --method simclr $small --label-seed 99 --out "$tmp/shuffled" > /dev/null
cmp "$tmp/simclr/state.ckpt" "$tmp/shuffled/state.ckpt"
echo "demo-smoke: training is identical with permuted labels"

# Interrupted after one epoch and resumed = uninterrupted.
for method in simclr moco instdisc; do
    "$demo" --method "$method" $small --stop-after 1 --out "$tmp/resume-$method" > /dev/null
    "$demo" --method "$method" $small --resume --out "$tmp/resume-$method" > /dev/null
    cmp "$tmp/$method/state.ckpt" "$tmp/resume-$method/state.ckpt"
    cut -d, -f1,2,4,5 "$tmp/$method/metrics.csv" > "$tmp/a.csv"
    cut -d, -f1,2,4,5 "$tmp/resume-$method/metrics.csv" > "$tmp/b.csv"
    cmp "$tmp/a.csv" "$tmp/b.csv"
done
echo "demo-smoke: resumed runs continue exactly"

# The MLP backbone: trains, evaluates and resumes exactly too.
mlp="--encoder mlp --hidden 128 --train-subset 512 --test-subset 200 --batch 64 --head 64 --proj-dim 32 --epochs 2 --seed 5"
"$demo" $mlp --out "$tmp/mlp" > "$tmp/mlp.out"
tail -n 1 "$tmp/mlp.out" | grep -Eq '^RESULT method=simclr encoder=mlp epochs=2 ' ||
    { echo "demo-smoke: mlp: malformed RESULT line" >&2; exit 1; }
"$demo" $mlp --stop-after 1 --out "$tmp/resume-mlp" > /dev/null
"$demo" $mlp --resume --out "$tmp/resume-mlp" > /dev/null
cmp "$tmp/mlp/state.ckpt" "$tmp/resume-mlp/state.ckpt"
echo "demo-smoke: $(tail -n 1 "$tmp/mlp.out")"
echo "demo-smoke: ok"
