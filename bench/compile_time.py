#!/usr/bin/env python3
"""Compile time and memory of modelc as models get deeper (issue 17, finding 11).

Compiles, to a shared library, a Sequential of n Linear(4, 4) + ReLU layers
for n in --depths, and ResNet-50 and ResNet-152 (bench/models/), and reports
each compile's wall time, CPU time and peak RSS, and the time per layer, which
stays flat when the cost is linear in depth. With --baseline, each model is
compiled by the baseline compiler too, in the same run and alternating, and
the table gives the ratio baseline / modelc.

    python3 bench/compile_time.py
    python3 bench/compile_time.py --baseline /tmp/modelc-old --depths 100 200

Standard library only. The machines are shared: take the median of --reps
compiles (default 1) and compare ratios, not seconds across runs.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def sequential(n):
    layers = ",\n    ".join("Linear(4, 4), ReLU()" for _ in range(n))
    return (f"model Deep{n} {{\n  layers = Sequential(\n    {layers})\n"
            f"  forward(x: f32[N, 4]) -> f32[N, 4] {{ return layers(x) }}\n}}\n")


def compile_once(modelc, source, out, timeout):
    """Wall seconds, CPU seconds and peak RSS (MB) of one compile, or None on
    a timeout; raises on a failed compile."""
    start = time.monotonic()
    proc = subprocess.Popen([modelc, str(source), "-o", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = start + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            return None
        time.sleep(0.02)
    wall = time.monotonic() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{modelc} {source} failed:\n{proc.stderr.read().decode()}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--modelc", default=os.environ.get("MODELC", str(REPO / "build/bin/modelc")))
    ap.add_argument("--baseline", help="another modelc to compare with, in the same run")
    ap.add_argument("--depths", type=int, nargs="+", default=[100, 200, 400])
    ap.add_argument("--no-resnet", action="store_true", help="only the Sequential models")
    ap.add_argument("--reps", type=int, default=1, help="compiles per model and compiler (median)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds before a compile is given up")
    args = ap.parse_args()
    os.environ.setdefault("MODELC_RUNTIME_DIR", str(Path(args.modelc).resolve().parent.parent / "lib"))

    compilers = [("modelc", args.modelc)] + ([("baseline", args.baseline)] if args.baseline else [])
    with tempfile.TemporaryDirectory() as tmp:
        models = []
        for n in args.depths:
            path = Path(tmp) / f"deep{n}.mdl"
            path.write_text(sequential(n))
            models.append((f"{n} x (Linear + ReLU)", path, n))
        if not args.no_resnet:
            models.append(("ResNet-50", REPO / "bench/models/resnet50.mdl", 50))
            models.append(("ResNet-152", REPO / "bench/models/resnet152.mdl", 152))

        print(f"| model | compiler | wall s (median of {args.reps}) | CPU s | peak RSS MB | ms per layer |"
              + (" baseline / modelc |" if args.baseline else ""))
        print("|---|---|---:|---:|---:|---:|" + ("---:|" if args.baseline else ""))
        for name, source, layers in models:
            runs = {label: [] for label, _ in compilers}
            for _ in range(args.reps):
                for label, modelc in compilers:  # alternating: the same load on both
                    runs[label].append(compile_once(modelc, source, Path(tmp) / "m.so", args.timeout))
            walls = {}
            for label, _ in compilers:
                done = [r for r in runs[label] if r]
                if len(done) < len(runs[label]):
                    walls[label] = None
                    print(f"| {name} | {label} | > {args.timeout:.0f} (timed out) | | | |"
                          + (" |" if args.baseline else ""))
                    continue
                wall = statistics.median(r[0] for r in done)
                cpu = statistics.median(r[1] for r in done)
                rss = max(r[2] for r in done)
                walls[label] = wall
                ratio = ""
                if args.baseline and label == "modelc":
                    ratio = " |"
                elif args.baseline:
                    ratio = (f" {walls[label] / walls['modelc']:.2f} |" if walls.get("modelc") else " |")
                print(f"| {name} | {label} | {wall:.2f} | {cpu:.2f} | {rss:.0f} | "
                      f"{1000 * wall / layers:.0f} |{ratio}")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
