#!/bin/sh
# check-man.sh MANDIR MAP - the reference manual (scripts/gen-man.py) is
# complete and clean:
#  1. every symbol of the linker version script (the exported functions)
#     has a page MANDIR/man3/<symbol>.3, its own or a .so link;
#  2. every .so link points to a page that exists;
#  3. every function is documented (has a comment in its header);
#  4. every page renders with groff (-man -Tutf8 -ww: all warnings) without
#     a single warning, and, with CHECK_MAN_DB=1 (CI), with man-db's
#     `man --warnings -l` as well.
set -eu
mandir=$1 map=$2
status=0
fail() { echo "check-man: $*" >&2; status=1; }

syms=$(sed -n 's/^[[:space:]]*\(ctr_[A-Za-z0-9_]*\);.*/\1/p' "$map")
[ -n "$syms" ] || fail "no symbols read from $map"
for sym in $syms; do
    [ -f "$mandir/man3/$sym.3" ] || fail "no page for $sym (man3/$sym.3)"
done

cd "$mandir"
real="" links=0
for page in man3/*.3; do
    [ -f "$page" ] || { fail "no pages in $mandir/man3"; break; }
    target=$(sed -n 's/^\.so[[:space:]]\{1,\}//p' "$page")
    if [ -n "$target" ]; then
        [ -f "$target" ] || fail "$page: .so target $target is missing"
        links=$((links + 1))
    else
        real="$real $page"
    fi
done
# The header documents every declaration (docs/conventions.md): a function
# without a comment gets a page that says so, and fails here.
for page in $real; do
    ! grep -q 'not documented in the header' "$page" ||
        fail "$page: the function has no comment in its header"
done
# One groff for all pages (each starts with .TH; warnings name the file).
out=$(groff -man -Tutf8 -ww -z $real 2>&1) || fail "groff failed"
[ -z "$out" ] || fail "groff warnings:
$out"
# man-db's own pipeline (preconv, tbl, nroff) page by page: slower, so only
# when asked (CHECK_MAN_DB=1, as CI does).
if [ "${CHECK_MAN_DB:-0}" = 1 ]; then
    for page in $real; do
        out=$(MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -l "$page" 2>&1 >/dev/null) ||
            fail "$page: man failed"
        [ -z "$out" ] || fail "$page: man: $out"
    done
fi
pages=$(echo $real | wc -w)
if [ "$status" -eq 0 ]; then
    echo "check-man: $(echo "$syms" | wc -l) exported symbols have pages; $pages pages and $links links render without warnings${CHECK_MAN_DB:+ (groff and man-db)}"
fi
exit "$status"
