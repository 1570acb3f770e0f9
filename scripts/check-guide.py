#!/usr/bin/env python3
"""check-guide.py BINDIR NAME... - the guide's programs learn, and the guide
quotes them as they are.

Runs BINDIR/guide-NAME for each NAME, reads its RESULT line and requires the
trained features' kNN accuracy to beat the baseline it prints (raw inputs,
or the untrained network for CPC) by at least MARGIN. Then every C block of
docs/guide.md whose first line names a file (/* examples/guide/x.c */) must
appear verbatim in that file, and every program must be quoted.
"""
import re
import subprocess
import sys

MARGIN = 0.10
GUIDE = "docs/guide.md"


def check_program(bindir, name):
    out = subprocess.run([f"{bindir}/guide-{name}"], check=True, capture_output=True,
                         text=True).stdout
    line = next((l for l in out.splitlines() if l.startswith("RESULT ")), None)
    if line is None:
        sys.exit(f"check-guide: guide-{name} printed no RESULT line")
    fields = dict(kv.split("=", 1) for kv in line.split()[1:])
    base_key = "raw_knn_acc" if "raw_knn_acc" in fields else "random_knn_acc"
    acc, base = float(fields["knn_acc"]), float(fields[base_key])
    if acc < base + MARGIN:
        sys.exit(f"check-guide: {name}: knn_acc {acc} not {MARGIN} above {base_key} {base}")
    print(f"check-guide: {line}")


def check_quotes(names):
    text = open(GUIDE, encoding="utf-8").read()
    quoted = set()
    for block in re.findall(r"```c\n(.*?)```", text, re.S):
        first, _, body = block.partition("\n")
        m = re.fullmatch(r"/\* (examples/guide/(\w+)\.c) \*/", first.strip())
        if m is None:
            continue
        source = open(m.group(1), encoding="utf-8").read()
        if body not in source:
            sys.exit(f"check-guide: a block of {GUIDE} is not in {m.group(1)} as quoted")
        quoted.add(m.group(2))
    missing = set(names) - quoted
    if missing:
        sys.exit(f"check-guide: {GUIDE} quotes no part of {', '.join(sorted(missing))}")
    print(f"check-guide: {GUIDE} quotes {len(quoted)} programs as they are")


def main():
    bindir, names = sys.argv[1], sys.argv[2:]
    for name in names:
        check_program(bindir, name)
    check_quotes(names)


if __name__ == "__main__":
    main()
