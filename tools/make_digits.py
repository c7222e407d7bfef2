#!/usr/bin/env python3
"""Writes examples/train/digits.safetensors from scikit-learn's load_digits.

load_digits ships with scikit-learn: 1,797 images of handwritten digits,
8x8 pixels of 0..16 each. This script shuffles them once with a fixed seed
and splits them into 1,437 training and 360 held-out images:

  train.images  U8  [1437, 1, 8, 8]   pixel values 0..16 (the program divides by 16)
  train.labels  I64 [1437]            the digit, 0..9
  test.images   U8  [360, 1, 8, 8]
  test.labels   I64 [360]

Pixels are stored as bytes to keep the committed file small (about 120 KB);
examples/train/train.c and tools/check_digits_state.py both scale them to
[0, 1] as x / 16, which is exact in float32.

Run once (the output is committed; CI never runs this):
    pip install scikit-learn numpy safetensors
    python3 tools/make_digits.py [--out examples/train/digits.safetensors]
"""

import argparse
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file
from sklearn.datasets import load_digits

REPO = Path(__file__).resolve().parent.parent
SEED = 2024
N_TEST = 360


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "examples" / "train" / "digits.safetensors"))
    args = parser.parse_args()

    digits = load_digits()
    images = digits.images  # float64 [1797, 8, 8], integral values 0..16
    labels = digits.target  # int [1797]
    assert images.shape == (1797, 8, 8) and images.min() == 0 and images.max() == 16
    assert np.all(images == np.round(images))

    order = np.random.default_rng(SEED).permutation(len(images))
    images = images[order].astype(np.uint8).reshape(-1, 1, 8, 8)
    labels = labels[order].astype(np.int64)
    n_train = len(images) - N_TEST

    tensors = {
        "train.images": np.ascontiguousarray(images[:n_train]),
        "train.labels": np.ascontiguousarray(labels[:n_train]),
        "test.images": np.ascontiguousarray(images[n_train:]),
        "test.labels": np.ascontiguousarray(labels[n_train:]),
    }
    save_file(tensors, args.out, metadata={
        "source": "sklearn.datasets.load_digits, shuffled with numpy.random.default_rng(%d)" % SEED,
        "pixels": "0..16; scale as x / 16",
    })
    size = Path(args.out).stat().st_size
    print("%s: %d train, %d test images, %d bytes" % (args.out, n_train, N_TEST, size))
    for name in ("train", "test"):
        counts = np.bincount(tensors[name + ".labels"], minlength=10)
        print("  %s labels per class: %s" % (name, " ".join(str(c) for c in counts)))


if __name__ == "__main__":
    main()
