#!/usr/bin/env python3
"""Feeds modelc damaged versions of valid .mdl files: truncations, byte
flips, deletions, duplicated and spliced token runs, random binary files and an
empty file. Every run must end with exit status 0 or 1 (never a signal, an
assertion or a hang), an error must be reported as `file:line:col: error:`,
and a failed run must leave no output file behind.

usage: mutate.py MODELC OUTDIR SEED_FILE...
"""
import os
import random
import subprocess
import sys

modelc, outdir, seeds = sys.argv[1], sys.argv[2], sys.argv[3:]
rng = random.Random(20261128)
os.makedirs(outdir, exist_ok=True)
TOKENS = [b"(", b")", b"[", b"]", b"{", b"}", b",", b":", b"=", b"<-", b"->", b"if",
          b"else", b"return", b"param", b"buffer", b"const", b"module", b"model",
          b"forward", b"N", b"-1", b"1e999", b"99999999999999999999", b"\"", b"#",
          b"@", b"not", b"training", b"Sequential(", b"Linear(", b"\xff\xfe", b"\x00"]


def mutations(data):
    yield b""
    for _ in range(3):
        yield bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
    for cut in sorted(rng.sample(range(1, len(data)), min(12, len(data) - 1))):
        yield data[:cut]
    for _ in range(25):
        d = bytearray(data)
        for _ in range(rng.randrange(1, 4)):
            kind = rng.randrange(4)
            pos = rng.randrange(len(d))
            if kind == 0:
                d[pos] = rng.randrange(256)
            elif kind == 1:
                del d[pos:pos + rng.randrange(1, 20)]
            elif kind == 2:
                d[pos:pos] = rng.choice(TOKENS)
            else:
                start = rng.randrange(len(d))
                d[pos:pos] = d[start:start + rng.randrange(1, 60)]
        yield bytes(d)


runs = failures = 0
for seed in seeds:
    data = open(seed, "rb").read()
    for i, variant in enumerate(mutations(data)):
        src = os.path.join(outdir, f"{os.path.basename(seed)}.{i}.mdl")
        out = src + ".out"
        with open(src, "wb") as f:
            f.write(variant)
        if os.path.exists(out):
            os.remove(out)
        try:
            p = subprocess.run([modelc, src, "--emit=mdl", "-o", out],
                               capture_output=True, timeout=20)
        except subprocess.TimeoutExpired:
            print(f"FAIL {src}: hang (no answer in 20 s)")
            failures += 1
            continue
        runs += 1
        err = p.stderr.decode("utf-8", "replace")
        problem = None
        if p.returncode not in (0, 1):
            problem = f"exit status {p.returncode}"
        elif "Assertion" in err or "Stack dump" in err or "LLVM ERROR" in err:
            problem = "assertion or crash report"
        elif p.returncode == 1 and ": error: " not in err:
            problem = "failed without a located error"
        elif p.returncode == 1 and os.path.exists(out):
            problem = "failed but wrote an output file"
        elif p.returncode == 0 and not os.path.exists(out):
            problem = "succeeded without writing the output"
        if problem:
            failures += 1
            print(f"FAIL {src}: {problem}\n{err[-2000:]}")
print(f"{runs} runs, {failures} failures")
sys.exit(1 if failures else 0)
