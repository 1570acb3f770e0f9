#!/bin/sh
# check-symbols.sh SHARED STATIC MAP INCLUDEDIR
#
# The ABI gate, cheapest first:
#  1. the functions declared CTR_API in the public headers,
#  2. the names listed in the linker version script (the committed golden list),
#  3. the dynamic symbols the shared library defines,
# must be the same set; and the static library must define no global symbol
# outside the ctr_ prefix. Any difference is printed and fails the check.
set -eu
shared=$1 static=$2 map=$3 incdir=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 1. CTR_API declarations, read from the preprocessed header (no comments):
#    the identifier just before the first '(' of each marked declaration.
${CC:-cc} -E -P -DCTR_API=CTR_EXPORTED_ -I"$incdir" "$incdir"/contrastive.h |
    tr '\n' ' ' | tr ';' '\n' | grep 'CTR_EXPORTED_' |
    sed 's/(.*//; s/.*[ *]\([A-Za-z_][A-Za-z0-9_]*\)[[:space:]]*$/\1/' |
    sort -u > "$tmp/header"
# 2. golden list
sed -n 's/^[[:space:]]*\(ctr_[A-Za-z0-9_]*\);.*/\1/p' "$map" | sort -u > "$tmp/map"
# 3. exports (drop the version-node symbols)
nm -D --defined-only "$shared" | awk '{print $3}' | sed 's/@.*//' |
    grep -v '^CONTRASTIVE_' | sort -u > "$tmp/exports"

status=0
compare() {
    if ! diff -u "$tmp/$1" "$tmp/$2" > "$tmp/diff"; then
        echo "check-symbols: $1 and $2 differ:" >&2
        cat "$tmp/diff" >&2
        status=1
    fi
}
compare header map
compare map exports

# Static library: every defined global symbol must start with ctr_.
nm -g --defined-only "$static" | awk 'NF == 3 {print $3}' |
    grep -v '^ctr_' > "$tmp/foreign" || true
if [ -s "$tmp/foreign" ]; then
    echo "check-symbols: $static defines non-ctr_ global symbols:" >&2
    cat "$tmp/foreign" >&2
    status=1
fi

if [ "$status" -eq 0 ]; then
    echo "check-symbols: $(wc -l < "$tmp/exports") exported symbols match $map"
fi
exit "$status"
