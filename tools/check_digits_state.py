#!/usr/bin/env python3
"""Evaluates a DigitsCNN state dict saved by examples/train/train.c in PyTorch.

It builds the torch.nn equivalent of examples/train/digits.mdl, loads the
state dict with load_state_dict(strict=True), and in model.eval() classifies
the held-out images of examples/train/digits.safetensors (pixels / 16, as
train.c). It prints, in train.c's format,

  held-out accuracy: 0.9722 (350/360)
  predictions: <the predicted digit of each held-out image>

and with --write-expected also writes those two lines to a file.

examples/train/expected.txt is that output for examples/train/reference.safetensors,
the state of train.c's deterministic run: test/Examples/train.test checks
that train.c prints the same two lines, both for its own fresh run and for
the committed state. Regenerate both after changing the model, the data or
the training (PyTorch needed; CI never runs this):

    build/examples/train/example-train examples/train/digits.safetensors \\
        examples/train/reference.safetensors
    python3 tools/check_digits_state.py examples/train/reference.safetensors \\
        --write-expected examples/train/expected.txt
"""

import argparse
import sys
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file

REPO = Path(__file__).resolve().parent.parent


class DigitsCNN(nn.Module):
    """examples/train/digits.mdl"""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn(self.conv(x))), 2)
        return self.fc(torch.flatten(x, 1))

    def loss(self, x, y):
        return F.cross_entropy(self.forward(x), y, label_smoothing=0.1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("state", help="the state dict saved by train.c")
    parser.add_argument("--data", default=str(REPO / "examples" / "train" / "digits.safetensors"))
    parser.add_argument("--write-expected", metavar="FILE",
                        help="also write the two lines to FILE")
    args = parser.parse_args()

    model = DigitsCNN()
    model.load_state_dict(load_file(args.state), strict=True)
    model.eval()

    data = load_file(args.data)
    x = data["test.images"].to(torch.float32) / 16
    y = data["test.labels"]
    with torch.no_grad():
        predicted = model(x).argmax(dim=1)
    correct = int((predicted == y).sum())
    lines = [
        "held-out accuracy: %.4f (%d/%d)" % (correct / len(y), correct, len(y)),
        "predictions: " + "".join(str(int(p)) for p in predicted),
    ]
    print("\n".join(lines))
    if args.write_expected:
        Path(args.write_expected).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
