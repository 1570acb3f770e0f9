#!/bin/sh
# check-guide.sh - compile and run every recipe of docs/guide.md: each ```c
# block that starts with "/* guide: NAME */" is a recipe, "prelude" is put
# in front of every other one. Each must build with -Wall -Wextra
# -Wpedantic -Werror against the built library and print its
# "NAME: loss ..., knn top-1 ..." line within GUIDE_STEPS (default 20) steps.
#
#   sh scripts/check-guide.sh [docs/guide.md]       (make check-guide)
set -eu
guide=${1:-docs/guide.md}
cc=${CC:-cc}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
awk -v dir="$tmp" '
    /^```c$/ { inblock = 1; name = ""; next }
    /^```$/ { inblock = 0; next }
    inblock && name == "" {
        if (match($0, /^\/\* guide: [a-z]+ \*\/$/)) name = substr($0, 11, RLENGTH - 13)
        else { print "check-guide: a c block without a guide name: " $0 > "/dev/stderr"; exit 1 }
    }
    inblock { print > (dir "/" name ".c") }
' "$guide"
[ -f "$tmp/prelude.c" ] || { echo "check-guide: no prelude block" >&2; exit 1; }
n=0
for src in "$tmp"/*.c; do
    name=$(basename "$src" .c)
    [ "$name" = prelude ] && continue
    cat "$tmp/prelude.c" "$src" > "$tmp/app_$name.c"
    $cc -std=c11 -Wall -Wextra -Wpedantic -Werror -Iinclude "$tmp/app_$name.c" \
        -o "$tmp/app_$name" -Llib -l:libcontrastive.so.0 -lm
    out=$(GUIDE_STEPS=${GUIDE_STEPS:-20} LD_LIBRARY_PATH=lib "$tmp/app_$name")
    echo "$out" | grep -q "^$name: loss [0-9.]*, knn top-1 [0-9.]*$" ||
        { echo "check-guide: $name printed: $out" >&2; exit 1; }
    echo "check-guide: $out"
    n=$((n + 1))
done
[ "$n" -ge 4 ] || { echo "check-guide: only $n recipes" >&2; exit 1; }
