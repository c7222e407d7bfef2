#!/usr/bin/env python3
"""Exports every e2e model's PyTorch definition (tools/gen_fixtures.py's
MODELS) with modelc.export into python/tests/exported/<name>.mdl.

The exported files are committed: python/tests/test_exported.py compiles
them and checks them against the e2e suite's PyTorch fixtures (the state
dict keys are the module's own, so the e2e state, inputs and outputs apply
as they are), which needs no torch in CI; with torch,
python/tests/test_export.py exports again and requires the same text.

usage: python3 tools/gen_export_fixtures.py [--only NAME ...]
(needs torch; run from the checkout)
"""
import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "python"))
sys.path.insert(0, str(REPO / "tools"))

import torch  # noqa: E402

import gen_fixtures  # noqa: E402
import modelc  # noqa: E402

OUT = REPO / "python" / "tests" / "exported"
# The e2e fixtures' models; long_sums has its own generator and no module here.
SKIP = set()


def export_one(name, path):
    cls, make_inputs, batch, _ = gen_fixtures.MODELS[name]
    torch.manual_seed(gen_fixtures.model_seed(name))
    module = cls()
    inputs = make_inputs(max(batch, 2))
    return modelc.export(module, tuple(inputs.values()), path, input_names=list(inputs),
                         model_name=None)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    for name in gen_fixtures.MODELS:
        if name in SKIP or (args.only and name not in args.only):
            continue
        export_one(name, OUT / f"{name}.mdl")
        print(f"wrote {OUT / f'{name}.mdl'}")


if __name__ == "__main__":
    main()
