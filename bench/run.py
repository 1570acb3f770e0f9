#!/usr/bin/python3
"""The benchmark driver behind `make bench`.

Runs every bench program (build/bench/bench_<group>) at 1 and 2 BLAS
threads, and, when this Python can import torch, its PyTorch counterpart
bench/torch_<group>.py at the same thread counts; merges their JSON lines
into bench/results.json, a list of
  {"case", "threads", "ours_ms", "floor_ms", "torch_ms", "ours_extra_mib",
   "torch_extra_mib", "sym_floor_ms"}
(torch fields null without torch; sym_floor_ms, the BLAS calls of
NT-Xent's symmetric algorithm, null for the other cases), and prints them
as a table.

  run.py --bin-dir build/bench [--out bench/results.json] [--cases a,b]
         [--threads 1,2] [--reps N] [--rounds R] [--wait-idle SECONDS]

Each case runs on its own (bench programs list their cases with --list),
at each thread count, C program then PyTorch. The machine may be shared:
before each run the driver waits (10 s at most by default) until other
processes leave both cores free. With --rounds R everything is repeated R
times and each number is the median over the rounds.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import time

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


def busy_cores(interval=0.5):
    """CPU cores' worth of non-idle time over `interval` seconds."""
    def sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + v[4]
    try:
        t0, i0 = sample()
        time.sleep(interval)
        t1, i1 = sample()
    except (OSError, ValueError, IndexError):
        return 0.0
    ncpu = os.cpu_count() or 1
    return ncpu * (1.0 - (i1 - i0) / max(t1 - t0, 1))


def wait_quiet(limit):
    """The machine is shared: wait (at most `limit` s) until other processes
    use less than a fifth of a core, so that 2-thread runs get two cores."""
    deadline = time.time() + limit
    while time.time() < deadline:
        if busy_cores() < 0.2:
            return True
    sys.stderr.write("run.py: machine still busy after %ds, measuring anyway\n" % limit)
    return False


def run(cmd, quiet_wait=0):
    if quiet_wait:
        wait_quiet(quiet_wait)
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


def reps_args(args):
    return ["--reps", str(args.reps)] if args.reps else []


def case_names(prog, wanted):
    """The cases of a bench program (its --list), filtered by --cases;
    [None] (all at once) if the program cannot list them."""
    names = []
    try:
        out = subprocess.run([prog, "--list"], capture_output=True, text=True)
        if out.returncode == 0:
            names = [l.strip() for l in out.stdout.splitlines() if l.strip()]
    except OSError:
        pass
    if not all(n.replace("_", "").isalnum() for n in names):
        names = []  # not a list of case names: the program has no --list
    if not names:
        return [None]
    return [n for n in names if not wanted or n in wanted]


def merge(results, row, fields):
    key = (row["case"], row["threads"])
    entry = results.setdefault(key, {"case": row["case"], "threads": row["threads"]})
    for field in fields:
        entry.setdefault(field, []).append(row.get(field))


def torch_script(prog, scripts):
    """bench_<group> pairs with torch_<group>.py."""
    group = os.path.basename(prog)[len("bench_"):]
    return [s for s in scripts if os.path.basename(s) == "torch_%s.py" % group]


def one_round(args, programs, scripts, threads, wanted, results):
    for prog in programs:
        for name in case_names(prog, wanted):
            only = ["--cases", name] if name else (["--cases", args.cases] if args.cases else [])
            for t in threads:
                for row in run([prog, "--threads", str(t)] + only + reps_args(args),
                               args.wait_idle):
                    merge(results, row, ("ours_ms", "floor_ms", "ours_extra_mib",
                                         "sym_floor_ms"))
                for script in torch_script(prog, scripts):
                    for row in run([sys.executable, script, "--threads", str(t)] + only +
                                   reps_args(args), args.wait_idle):
                        merge(results, row, ("torch_ms", "torch_extra_mib"))


def median(values):
    v = sorted(x for x in values if x is not None)
    if not v:
        return None
    k = len(v)
    return v[k // 2] if k % 2 else 0.5 * (v[k // 2 - 1] + v[k // 2])


def collect(args):
    results = {}
    threads = [int(t) for t in args.threads.split(",") if t]
    wanted = [c for c in args.cases.split(",") if c]
    programs = [p for p in sorted(glob.glob(os.path.join(args.bin_dir, "bench_*")))
                if os.access(p, os.X_OK) and not p.endswith(".c")]
    scripts = sorted(glob.glob(os.path.join(HERE, "torch_*.py"))) if have_torch() else []
    if not scripts:
        sys.stderr.write("run.py: torch not importable, torch_ms will be null\n")
    for _ in range(max(args.rounds, 1)):
        one_round(args, programs, scripts, threads, wanted, results)
    fields = ("ours_ms", "floor_ms", "torch_ms", "ours_extra_mib", "torch_extra_mib",
              "sym_floor_ms")
    rows = []
    for entry in results.values():
        if "ours_ms" not in entry:
            continue  # a torch case without a C program
        row = {"case": entry["case"], "threads": entry["threads"]}
        for field in fields:
            row[field] = median(entry.get(field, []))
        rows.append(row)
    return sorted(rows, key=lambda e: (e["case"], e["threads"]))


def fmt(v, spec="%.2f"):
    return "-" if v is None else spec % v


def print_table(rows):
    head = ("case", "thr", "ours ms", "floor ms", "ours/floor", "torch ms",
            "speedup", "ours MiB", "torch MiB", "sym floor ms")
    lines = [head]
    for r in rows:
        ratio = r["ours_ms"] / r["floor_ms"] if r["ours_ms"] and r["floor_ms"] else None
        speed = r["torch_ms"] / r["ours_ms"] if r["torch_ms"] and r["ours_ms"] else None
        lines.append((r["case"], str(r["threads"]), fmt(r["ours_ms"]), fmt(r["floor_ms"]),
                      fmt(ratio), fmt(r["torch_ms"]), fmt(speed, "%.2fx"),
                      fmt(r["ours_extra_mib"], "%.1f"), fmt(r["torch_extra_mib"], "%.1f"),
                      fmt(r.get("sym_floor_ms"))))
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
    ap.add_argument("--rounds", type=int, default=1,
                    help="repeat everything; each number is the median over rounds")
    ap.add_argument("--wait-idle", type=int, default=10,
                    help="wait up to this many seconds for an idle machine before each program")
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
