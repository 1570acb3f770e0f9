#!/bin/sh
# demo-mpi-smoke.sh DEMO DEMO_MPI - the distributed demo (make check-mpi,
# docs/distributed.md): for each method, 2 ranks with 16 images each train
# 6 steps (2 epochs of 3) with the losses of one process with the global
# batch of 32 and the same seed (within 1e-4 relative: the two runs draw the
# same global batch and augmentations; only the order of the sums differs,
# but SimCLR's synchronised BN and AdamW amplify that rounding to 1e-5 on
# some steps: 1.8e-5 at step 6 with the first convolution's direct path,
# and 3e-5 at step 14 of a 15-step run with it as a GEMM; MoCo and
# instance discrimination stay near 1e-7; docs/distributed.md);
# rank 0 alone prints, one RESULT line; an interrupted distributed run
# (instance discrimination: the bank shards too) resumes to the same
# state; a batch the ranks do not divide is refused.
# MPIRUN: the launcher with its flags (default "mpirun --oversubscribe").
set -eu
demo=$1
demo_mpi=$2
mpirun=${MPIRUN:-mpirun --oversubscribe}
data=${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
if [ ! -d "$data" ]; then
    echo "demo-mpi-smoke: SKIPPED: no Fashion-MNIST in $data (scripts/install-deps.sh demo)"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# A global batch of 32 pairs: at 64 pairs (128 rows in the CNN's batch
# norms) the synchronised BN's two-pass moments and one process's by-slice
# moments give gradients 5e-4 apart (docs/distributed.md, open), which
# AdamW's first step turns into a loss difference of 2e-4 at step 2.
steps=6
small="--train-subset 96 --test-subset 100 --batch 32 --head 32 --proj-dim 16 --epochs 2 --seed 5 --threads 1 --data $data"

# The losses of the first $steps steps, one process against 2 ranks.
for method in simclr moco instdisc; do
    "$demo" --method "$method" $small --out "$tmp/one-$method" \
        --step-log "$tmp/one-$method.log" > /dev/null 2>&1
    $mpirun -np 2 "$demo_mpi" --method "$method" $small --out "$tmp/two-$method" \
        --step-log "$tmp/two-$method.log" > "$tmp/two-$method.out" 2> "$tmp/two-$method.err" ||
        { cat "$tmp/two-$method.err" >&2; echo "demo-mpi-smoke: $method: the 2-rank run failed" >&2; exit 1; }
    test "$(wc -l < "$tmp/one-$method.log")" -eq $steps
    paste -d' ' "$tmp/one-$method.log" "$tmp/two-$method.log" | awk -v m="$method" '
        { d = $2 - $5; if (d < 0) d = -d; s = $2 < 0 ? -$2 : $2; r = d / s;
          if (r > worst) worst = r; n++ }
        END { printf "demo-mpi-smoke: %s: %d steps, worst relative loss difference %.2g\n", m, n, worst;
              if (n != '$steps' || worst > 1e-4) exit 1 }' ||
        { echo "demo-mpi-smoke: $method: 2 ranks differ from one process" >&2; exit 1; }
    # rank 0 alone writes stdout: one line, the RESULT line
    test "$(wc -l < "$tmp/two-$method.out")" -eq 1
    grep -Eq "^RESULT method=$method encoder=cnn epochs=2 train_seconds=[0-9.]+ knn_acc=0\.[0-9]{4} linear_acc=0\.[0-9]{4}$" \
        "$tmp/two-$method.out" || { echo "demo-mpi-smoke: $method: malformed RESULT" >&2; exit 1; }
    for f in metrics.csv chart.svg pca.svg state.0of2.ckpt state.1of2.ckpt; do
        test -s "$tmp/two-$method/$f" || { echo "demo-mpi-smoke: $method: $f missing" >&2; exit 1; }
    done
done

# Interrupted after one epoch and resumed = uninterrupted, rank by rank
# (each rank's file holds its bank shard).
$mpirun -np 2 "$demo_mpi" --method instdisc $small --stop-after 1 --out "$tmp/cut" > /dev/null 2>&1
$mpirun -np 2 "$demo_mpi" --method instdisc $small --resume --out "$tmp/cut" > /dev/null 2>&1
for r in 0 1; do
    cmp "$tmp/two-instdisc/state.${r}of2.ckpt" "$tmp/cut/state.${r}of2.ckpt"
done
echo "demo-mpi-smoke: a resumed distributed run continues exactly"

# A global batch the ranks cannot split: an error, no hang.
if $mpirun -np 2 "$demo_mpi" $small --batch 31 --out "$tmp/bad" > "$tmp/bad.out" 2> "$tmp/bad.err"; then
    echo "demo-mpi-smoke: --batch 31 on 2 ranks was accepted" >&2
    exit 1
fi
grep -q "not a multiple of the 2 ranks" "$tmp/bad.err"
echo "demo-mpi-smoke: ok"
