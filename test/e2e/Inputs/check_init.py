#!/usr/bin/env python3
"""Checks the initial state a fresh model saved (no state loaded) against
PyTorch's initializers: Linear and Conv2d weights and biases uniform in
+-1/sqrt(fan_in) (std bound/sqrt(3)), BatchNorm weight 1, bias 0,
running_mean 0, running_var 1, num_batches_tracked 0. Standard library only.

usage: check_init.py STATE.safetensors NAME=KIND:ARG ...
  KIND uniform:BOUND | full:VALUE
"""
import array
import json
import math
import struct
import sys

data = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", data[:8])
header = json.loads(data[8:8 + n])
body = data[8 + n:]
failures = 0
for spec in sys.argv[2:]:
    name, rule = spec.split("=")
    kind, arg = rule.split(":")
    entry = header[name]
    lo, hi = entry["data_offsets"]
    code = {"F32": "f", "I64": "q"}[entry["dtype"]]
    values = array.array(code, body[lo:hi])
    if kind == "full":
        ok = all(v == float(arg) for v in values)
        detail = f"all {arg}"
    else:
        bound = float(arg)
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
        expected = bound / math.sqrt(3)
        ok = (all(-bound <= v <= bound for v in values)
              and (len(values) < 100 or abs(std - expected) < 0.1 * expected))
        detail = f"in +-{bound:.5f}, std {std:.5f} (uniform: {expected:.5f})"
    print(f"{'ok' if ok else 'FAIL'} {name}: {detail}")
    failures += not ok
sys.exit(1 if failures else 0)
