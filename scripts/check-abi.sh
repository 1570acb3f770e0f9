#!/bin/sh
# check-abi.sh [--update] - compare the built shared library's ABI with the
# committed baseline tests/abi/libcontrastive.abi (libabigail's abidw XML).
#
# Additions (new functions) are reported and accepted; any incompatible
# change (removed or changed function, changed type layout) fails. After a
# deliberate, CHANGELOG-tagged "(ABI)" change, refresh the baseline with
# `sh scripts/check-abi.sh --update` and commit it.
set -eu
lib=lib/libcontrastive.so
baseline=tests/abi/libcontrastive.abi
if ! command -v abidiff >/dev/null 2>&1; then
    echo "check-abi: abidiff not found (apt-get install abigail-tools)" >&2
    exit 1
fi
if [ "${1:-}" = "--update" ]; then
    abidw --no-corpus-path --headers-dir include "$lib" > "$baseline"
    echo "check-abi: baseline written to $baseline"
    exit 0
fi
status=0
abidiff --headers-dir2 include "$baseline" "$lib" > abidiff.out 2>&1 || status=$?
cat abidiff.out
rm -f abidiff.out
# abidiff's exit status is a bit field: 1 error, 2 usage, 4 change, 8
# incompatible change.
if [ $((status & 11)) -ne 0 ]; then
    echo "check-abi: incompatible ABI change or abidiff error (status $status)" >&2
    exit 1
fi
echo "check-abi: compatible with $baseline${status:+ (abidiff status $status)}"
