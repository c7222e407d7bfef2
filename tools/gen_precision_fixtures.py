#!/usr/bin/env python3
"""Fixtures for test/e2e/long_sums.test: how far long float32 sums may drift.

test/e2e/models/long_sums.mdl has a Linear of 8192 inputs and a 3x3
convolution of 256 channels. With positive inputs and weights every partial
sum grows, so each float32 addition rounds away a little more: a single
chain of additions (the kernels before blocked summation, CpuTarget::sumChunk)
ends several times further from the exact result than chunks of 64 summed
from zero and then added. This script writes, under test/e2e/fixtures/:

  long_sums.state.safetensors             the weights, uniform in [0, 1)
  long_sums.b<N>.inputs.safetensors       x and img, uniform in [0.5, 1.5), N = 2 and 4
                                          (2 rows: the dot kernel; 4: the packed one)
  long_sums.b<N>.exact.safetensors        the results in float64, rounded once

and checks that the test's tolerance (RTOL, no atol) separates the two: a
float32 evaluation in chunks of 64 must be within half of it, one chain of
additions (simulated, with fused multiply-adds) beyond it.

Usage (PyTorch and numpy needed; CI never runs this):
    python tools/gen_precision_fixtures.py
"""

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "test" / "e2e" / "fixtures"
RTOL = 1e-6


def chained(a, b, chunk):
    """sum_k a[..., k] * b[k, ...] in float32 with FMAs, one chain per
    chunk of `chunk` steps (None: one chain), the chunks then added."""
    K = a.shape[-1]
    out = np.zeros(a.shape[:-1] + b.shape[1:], np.float32)
    for s in range(0, K, chunk or K):
        part = np.zeros_like(out)
        for k in range(s, min(K, s + (chunk or K))):
            part = (part.astype(np.float64) + np.multiply.outer(a[..., k], b[k]).astype(np.float64)).astype(np.float32)
        out = (out + part).astype(np.float32)
    return out


def worst(got, exact):
    return float(np.max(np.abs(got.astype(np.float64) - exact) / np.abs(exact)))


def main():
    g = torch.Generator().manual_seed(20261207)
    fc = torch.rand(8, 8192, generator=g)
    conv = torch.rand(8, 256, 3, 3, generator=g)
    save_file({"fc.weight": fc, "conv.weight": conv}, str(FIXTURES / "long_sums.state.safetensors"))
    for n in (2, 4):
        x = torch.rand(n, 8192, generator=g) + 0.5
        img = torch.rand(n, 256, 8, 8, generator=g) + 0.5
        y = x.double() @ fc.double().T
        z = F.conv2d(img.double(), conv.double(), padding=1)
        save_file({"x": x, "img": img}, str(FIXTURES / f"long_sums.b{n}.inputs.safetensors"))
        save_file({"output.0": y.float(), "output.1": z.float()},
                  str(FIXTURES / f"long_sums.b{n}.exact.safetensors"))
        # The Linear's sums, both ways (the convolution's are shorter).
        a, b = x.numpy(), fc.numpy().T
        blocked, chain = worst(chained(a, b, 64), y.numpy()), worst(chained(a, b, None), y.numpy())
        print(f"b{n}: chunks of 64 at {blocked / RTOL:.2f} x rtol, one chain at {chain / RTOL:.2f} x")
        if blocked > RTOL / 2 or chain < RTOL * 2:
            raise SystemExit("the tolerance does not separate blocked summation from one chain")


if __name__ == "__main__":
    main()
