#!/bin/sh
# check-layers.sh OBJECT... - the layering of src/ (docs/architecture.md):
#
#  1. each folder uses only the folders below it (the table below), both in
#     its #include lines and in the symbols its objects take from others;
#  2. no two files use each other, directly or around a longer circle: the
#     graph "a.o uses a symbol b.o defines" has no cycle (tsort), and
#     neither has the graph of #include lines between src/ files.
#
# The objects are the library's (build/src/<folder>/<name>.o, as the
# Makefile's LIB_OBJS); run from the top of the tree. Any violation is
# printed and fails the check.
set -eu
export LC_ALL=C
[ $# -gt 0 ] || { echo "usage: check-layers.sh OBJECT..." >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# What each folder may use besides itself. A new folder must be added here.
allowed() {
    case $1 in
    common) echo "" ;;
    memories) echo "common" ;;
    encoder) echo "common" ;;
    objectives) echo "common memories" ;;
    eval) echo "common memories encoder objectives" ;;
    mpi) echo "common memories encoder objectives" ;;
    state) echo "common memories encoder objectives" ;;
    dist) echo "common memories encoder objectives" ;;
    *) echo "UNKNOWN" ;;
    esac
}

status=0
fail() {
    echo "check-layers: $*" >&2
    status=1
}

# Checks one use "from -> to" (files given as <folder>/<name>).
check_use() {
    from_dir=${1%%/*} to_dir=${2%%/*}
    [ "$from_dir" = "$to_dir" ] && return 0
    rule=$(allowed "$from_dir")
    if [ "$rule" = UNKNOWN ]; then
        fail "src/$from_dir/ is not in the table of scripts/check-layers.sh"
        return 0
    fi
    case " $rule " in
    *" $to_dir "*) ;;
    *) fail "src/$1 uses src/$2 ($3), but $from_dir/ may use only: ${rule:-nothing}" ;;
    esac
}

# ---- symbols: object -> object ------------------------------------------------
# an object's name: its source's path below src/, without .c
name() {
    n=${1##*/src/}
    echo "${n%.o}"
}
for o in "$@"; do
    nm -g --defined-only "$o" | awk -v f="$(name "$o")" 'NF == 3 {print $3, f}'
done | sort > "$tmp/defined"
for o in "$@"; do
    nm -u "$o" | awk -v f="$(name "$o")" '{print $NF, f}'
done | sort > "$tmp/used"
# "user definer symbol" for every symbol one of our objects defines
join "$tmp/used" "$tmp/defined" | awk '$2 != $3 {print $2, $3, $1}' |
    sort -u -k1,2 > "$tmp/sym_edges"
while read -r from to sym; do
    check_use "$from" "$to" "symbol $sym"
done < "$tmp/sym_edges"
if ! awk '{print $1, $2}' "$tmp/sym_edges" | tsort > /dev/null 2> "$tmp/loop"; then
    fail "files that use each other (symbols):"
    grep -v 'input contains a loop' "$tmp/loop" | sed 's/^tsort: /  /' >&2
fi

# ---- includes: file -> file ----------------------------------------------------
for f in $(cd src && find . -name '*.[ch]' | sed 's|^\./||' | sort); do
    sed -n 's/^#[[:space:]]*include[[:space:]]*"\([a-z_]*\/[a-z_0-9]*\.h\)".*/\1/p' "src/$f" |
        while read -r h; do
            [ -f "src/$h" ] || { echo "MISSING $f $h"; continue; }
            echo "$f $h"
        done
done > "$tmp/inc_edges"
if grep '^MISSING' "$tmp/inc_edges" > "$tmp/missing"; then
    fail "includes of files that do not exist:"
    sed 's/^MISSING /  /' "$tmp/missing" >&2
fi
grep -v '^MISSING' "$tmp/inc_edges" > "$tmp/inc_ok" || true
while read -r from to; do
    check_use "$from" "$to" "#include"
done < "$tmp/inc_ok"
if ! tsort "$tmp/inc_ok" > /dev/null 2> "$tmp/loop"; then
    fail "headers that include each other:"
    grep -v 'input contains a loop' "$tmp/loop" | sed 's/^tsort: /  /' >&2
fi

if [ "$status" -eq 0 ]; then
    echo "check-layers: $# objects, $(wc -l < "$tmp/sym_edges") symbol uses and $(wc -l < "$tmp/inc_ok") includes follow the folder order; no circles"
fi
exit "$status"
