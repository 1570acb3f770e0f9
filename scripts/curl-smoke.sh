#!/bin/sh
# curl-smoke.sh BUILD_DIR - a seconds-long run of the CURL example (CI):
# the game's determinism self-test, then a few CURL steps on a handful of
# episodes. Checks the RESULT line's form and the report files (the R²
# values of so short a run are not judged).
set -eu
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
num='-?[0-9]+\.[0-9]{4}'

"$bin/curl" --self-test
"$bin/curl" --max-steps 20 --batch 16 --train-episodes 6 --probe-episodes 4 --test-episodes 3 \
    --episode-steps 60 --out "$tmp/curl" > "$tmp/curl.out"
result=$(tail -n 1 "$tmp/curl.out")
echo "curl-smoke: $result"
echo "$result" | grep -Eq "^RESULT method=curl r2=$num random_r2=$num raw_r2=$num$" ||
    { echo "curl-smoke: malformed RESULT line" >&2; exit 1; }
test -s "$tmp/curl/curve.csv" && test -s "$tmp/curl/curve.svg"
test "$(wc -l < "$tmp/curl/r2.csv")" -eq 4
echo "curl-smoke: ok"
