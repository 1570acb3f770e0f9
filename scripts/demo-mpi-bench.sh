#!/bin/sh
# demo-mpi-bench.sh DEMO DEMO_MPI [METHODS] - images/s of the demo's
# training step, one process with 2 BLAS threads against 2 MPI ranks with
# 1 BLAS thread each (make bench-demo-mpi; docs/distributed.md), and the
# share of the 2-rank step spent in MPI collectives (rank 0's seconds in
# MPI_Allreduce / _Allgather / _Bcast, waiting included, over its training
# seconds). Each method: 20 steps of the global batch 256 (the demo's
# default recipe and CNN) on 5120 images, the two runs back to back.
# Timings are wall-clock: run on a quiet machine. MPIRUN as in
# demo-mpi-smoke.sh; BENCH_STEPS changes the step count (x 256 images).
set -eu
demo=$1
demo_mpi=$2
methods=${3:-simclr moco instdisc}
mpirun=${MPIRUN:-mpirun --oversubscribe}
steps=${BENCH_STEPS:-20}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
args="--train-subset $((steps * 256)) --test-subset 500 --batch 256 --epochs 1 --time-budget 0 --seed 1"

seconds() { sed -n 's/.*train_seconds=\([0-9.]*\).*/\1/p' "$1"; }
printf '%-9s %-14s %8s %9s %11s %10s\n' method "ranks x BLAS" "train s" "images/s" "MPI s (r0)" "MPI share"
for method in $methods; do
    /usr/bin/time -f %U+%S -o "$tmp/cpu1" "$demo" --method "$method" $args --threads 2 \
        --out "$tmp/one" > "$tmp/one.out" 2> /dev/null
    /usr/bin/time -f %U+%S -o "$tmp/cpu2" $mpirun -np 2 -x CONTRASTIVE_DEMO_MPI_TIMES=1 \
        "$demo_mpi" --method "$method" $args --threads 1 --out "$tmp/two" \
        > "$tmp/two.out" 2> "$tmp/two.err"
    s1=$(seconds "$tmp/one.out")
    s2=$(seconds "$tmp/two.out")
    mpi=$(sed -n 's/.*rank 0: \([0-9.]*\) s in.*/\1/p' "$tmp/two.err")
    awk -v m="$method" -v s1="$s1" -v s2="$s2" -v mpi="$mpi" -v n="$steps" 'BEGIN {
        printf "%-9s %-14s %8.1f %9.0f %11s %10s\n", m, "1 x 2", s1, n * 256 / s1, "-", "-";
        printf "%-9s %-14s %8.1f %9.0f %11.2f %9.1f%%\n", m, "2 x 1", s2, n * 256 / s2, mpi, 100 * mpi / s2;
        printf "%-9s %-14s %8s %9.2f\n", m, "ratio 2x1/1x2", "", s1 / s2 }'
    echo "$method: CPU seconds of the whole runs (training + evaluation): 1 x 2 $(cat "$tmp/cpu1"), 2 x 1 $(cat "$tmp/cpu2")"
done
