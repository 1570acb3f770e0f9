#!/usr/bin/python3
"""The benchmark driver behind `make bench`.

Runs every bench program (build/bench/bench_<group>) at 1 and 2 BLAS
threads, and, when this Python can import torch, the PyTorch counterparts
bench/torch_<group>.py at the same thread counts; merges their JSON lines
into bench/results.json, a list of
  {"case", "threads", "ours_ms", "floor_ms", "torch_ms", "ours_extra_mib",
   "torch_extra_mib"}
(torch fields null without torch), and prints them as a table.

  run.py --bin-dir build/bench [--out bench/results.json] [--cases a,b]
         [--threads 1,2] [--reps N]
"""
import argparse
import glob
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def json_lines(text):
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                rows.append(json.loads(line))
            except ValueError:
                sys.stderr.write("run.py: ignoring malformed line: %s\n" % line)
    return rows


def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.stderr.write("run.py: %s failed (%d)\n%s" % (" ".join(cmd), out.returncode,
                                                        out.stderr))
        return []
    return json_lines(out.stdout)


def have_torch():
    try:
        import torch  # noqa: F401
        return True
    except Exception:  # missing or broken torch: the C numbers still count
        return False


def extra_args(args):
    extra = []
    if args.cases:
        extra += ["--cases", args.cases]
    if args.reps:
        extra += ["--reps", str(args.reps)]
    return extra


def collect(args):
    results = {}
    threads = [int(t) for t in args.threads.split(",") if t]
    programs = sorted(glob.glob(os.path.join(args.bin_dir, "bench_*")))
    scripts = sorted(glob.glob(os.path.join(HERE, "torch_*.py"))) if have_torch() else []
    if not scripts:
        sys.stderr.write("run.py: torch not importable, torch_ms will be null\n")
    for t in threads:
        for prog in programs:
            if not os.access(prog, os.X_OK) or prog.endswith(".c"):
                continue
            for row in run([prog, "--threads", str(t)] + extra_args(args)):
                key = (row["case"], row["threads"])
                entry = results.setdefault(key, {"case": row["case"], "threads": row["threads"],
                                                 "ours_ms": None, "floor_ms": None,
                                                 "torch_ms": None, "ours_extra_mib": None,
                                                 "torch_extra_mib": None})
                for field in ("ours_ms", "floor_ms", "ours_extra_mib"):
                    entry[field] = row.get(field)
        for script in scripts:
            for row in run([sys.executable, script, "--threads", str(t)] + extra_args(args)):
                entry = results.get((row["case"], row["threads"]))
                if entry is not None:
                    entry["torch_ms"] = row.get("torch_ms")
                    entry["torch_extra_mib"] = row.get("torch_extra_mib")
    return sorted(results.values(), key=lambda e: (e["case"], e["threads"]))


def fmt(v, spec="%.2f"):
    return "-" if v is None else spec % v


def print_table(rows):
    head = ("case", "thr", "ours ms", "floor ms", "ours/floor", "torch ms",
            "speedup", "ours MiB", "torch MiB")
    lines = [head]
    for r in rows:
        ratio = r["ours_ms"] / r["floor_ms"] if r["ours_ms"] and r["floor_ms"] else None
        speed = r["torch_ms"] / r["ours_ms"] if r["torch_ms"] and r["ours_ms"] else None
        lines.append((r["case"], str(r["threads"]), fmt(r["ours_ms"]), fmt(r["floor_ms"]),
                      fmt(ratio), fmt(r["torch_ms"]), fmt(speed, "%.2fx"),
                      fmt(r["ours_extra_mib"], "%.1f"), fmt(r["torch_extra_mib"], "%.1f")))
    widths = [max(len(l[i]) for l in lines) for i in range(len(head))]
    for l in lines:
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(l, widths))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", default="build/bench")
    ap.add_argument("--out", default=os.path.join(HERE, "results.json"))
    ap.add_argument("--cases", default="")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--reps", type=int, default=0)
    args = ap.parse_args()
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if os.environ.get(var):
            sys.stderr.write("run.py: note: %s=%s is set\n" % (var, os.environ[var]))
    rows = collect(args)
    with open(args.out, "w") as f:
        json.dump(rows, f, indent=1)
        f.write("\n")
    print_table(rows)
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())
