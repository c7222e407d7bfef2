#!/usr/bin/env python3
"""State dicts that PyTorch's load_state_dict(strict=True) accepts in forms
other than a module's own state_dict(), for test/Runtime/load-torch-variants.test
(INTERFACE.md, "The state dict file", 3rd bullet).

For two models it writes, under test/Runtime/Inputs/state_variants/:

  <model>.<variant>.safetensors           the variant state dict
  <model>.<variant>.expected.safetensors  (variants to accept) what the torch
                                          module's state_dict() holds after
                                          load_state_dict(variant, strict=True)
                                          into a freshly created module
  bn1d.base_then_no_nbt.expected.safetensors
                                          the same after loading the base state
                                          and then the variant without
                                          num_batches_tracked (the counters keep
                                          the base's values)

The models:

  bn1d          test/e2e/models/bn1d.mdl, two BatchNorm1d; the variants are
                made from the committed fixture test/e2e/fixtures/bn1d.state
  state_dtypes  test/Runtime/Inputs/state_dtypes.mdl: BF16, I32, F16 and I64
                entries, for conversions that narrow (round, wrap)

Every variant is first loaded into the torch module with strict=True, and the
script stops unless PyTorch's verdict is the one the variant is listed with:

  ACCEPT     PyTorch and modelc accept it (the expected state is written);
  REJECT     both reject it (a shape PyTorch does not convert);
  STRICTER   PyTorch's copy_ accepts it (it truncates a floating value into an
             integer entry, or converts an integer into a floating one) but
             INTERFACE.md keeps it an error in modelc: the script checks that
             PyTorch does accept it, so that the difference stays deliberate.

A freshly created modelc model and a fresh torch module agree on the one entry
no variant sets (num_batches_tracked starts at 0 in both), so modelc-run
--load-state VARIANT --save-state must write the expected file exactly
(st-compare --rtol 0 --atol 0).

PyTorch is needed only to regenerate (CI never runs this script):
    pip install torch numpy safetensors
    python tools/gen_state_variants.py [--modelc PATH]
It first checks, with `modelc --emit=mdl` as tools/gen_fixtures.py does, that
the torch modules have the .mdl's state keys, shapes and dtypes.
"""

import argparse
import sys
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_fixtures as fx  # noqa: E402  (the torch modules and the .mdl check)

OUT_DIR = fx.REPO / "test" / "Runtime" / "Inputs" / "state_variants"
STATE_DTYPES_MDL = fx.REPO / "test" / "Runtime" / "Inputs" / "state_dtypes.mdl"
ACCEPT, REJECT, STRICTER = "accept", "reject", "stricter"


class StateDTypes(nn.Module):  # test/Runtime/Inputs/state_dtypes.mdl
    def __init__(self):
        super().__init__()
        self.bf = nn.Parameter(torch.zeros(3, dtype=torch.bfloat16))
        self.register_buffer("small", torch.zeros(4, dtype=torch.int32))
        self.register_buffer("fp16", torch.zeros(4, dtype=torch.float16))
        self.register_buffer("wide", torch.zeros(3, dtype=torch.int64))

    def forward(self, x):
        return x


def floats_to(state, dtype):
    return OrderedDict((k, v.to(dtype) if v.is_floating_point() else v) for k, v in state.items())


def replaced(state, changes):
    """`state` with the entries of `changes` replaced or, for None, removed."""
    out = OrderedDict(state)
    for key, value in changes.items():
        if value is None:
            del out[key]
        else:
            out[key] = value
    return out


def off_grid_f64(state):
    """Every floating entry as F64 values between two floats, so that loading
    rounds; two of them exactly halfway, where only rounding to nearest even
    gives PyTorch's result (1 + 2^-24 rounds down to 1, 1 + 3 * 2^-24 up)."""
    out = OrderedDict()
    gen = torch.Generator().manual_seed(13)
    for k, v in state.items():
        if v.is_floating_point():
            d = v.double()
            d = d + d.abs() * torch.rand(d.shape, generator=gen, dtype=torch.float64) * 2**-25
            v = d
        out[k] = v
    out["flat.weight"] = out["flat.weight"].clone()
    out["flat.weight"][0] = 1 + 2**-24
    out["flat.weight"][1] = 1 + 3 * 2**-24
    return out


def bn1d_variants(base):
    flat, seq = "flat.num_batches_tracked", "seq.num_batches_tracked"
    return OrderedDict([
        # A 0-d entry saved with shape [1] (checkpoints of PyTorch before 0.4).
        ("nbt_shape1", (ACCEPT, replaced(base, {k: base[k].reshape(1) for k in (flat, seq)}))),
        ("f64", (ACCEPT, off_grid_f64(base))),
        ("f16", (ACCEPT, floats_to(base, torch.float16))),
        ("bf16", (ACCEPT, floats_to(base, torch.bfloat16))),
        ("nbt_i32", (ACCEPT, replaced(base, {k: base[k].to(torch.int32) for k in (flat, seq)}))),
        ("nbt_i8_u8", (ACCEPT, replaced(base, {flat: torch.tensor(-3, dtype=torch.int8),
                                               seq: torch.tensor(200, dtype=torch.uint8)}))),
        # Old torchvision checkpoints: BatchNorm without num_batches_tracked.
        ("no_nbt", (ACCEPT, replaced(base, {flat: None, seq: None}))),
        # All at once: floats of two dtypes, one counter [1] I32, one missing.
        ("mixed", (ACCEPT, replaced(
            OrderedDict((k, v.to(torch.bfloat16 if k.startswith("flat.") else torch.float64)
                         if v.is_floating_point() else v) for k, v in base.items()),
            {flat: base[flat].reshape(1).to(torch.int32), seq: None}))),
        ("wrong_shape", (REJECT, replaced(base, {"flat.running_mean": torch.zeros(5)}))),
        ("nbt_shape2", (REJECT, replaced(base, {flat: torch.tensor([1, 2])}))),
        ("nbt_float", (STRICTER, replaced(base, {flat: torch.tensor(2.0)}))),
        ("mean_int", (STRICTER, replaced(base, {"seq.running_mean": torch.tensor([1, 2, 3])}))),
    ])


def state_dtypes_variants():
    i64, f64 = torch.int64, torch.float64
    return OrderedDict([
        # Wider sources: I64 and U64 wrap into I32 and I64; F64 rounds into
        # F16 and BF16 through float, as PyTorch's Half and BFloat16 do (the
        # + 2^-40 values round differently in one step), overflows to inf.
        ("wide_sources", (ACCEPT, OrderedDict([
            ("bf", torch.tensor([1 + 2**-8, 1 + 2**-8 + 2**-40, -3.14159], dtype=f64)),
            ("small", torch.tensor([2**31 + 5, -(2**33) - 1, 7, -1], dtype=i64)),
            ("fp16", torch.tensor([1 + 2**-11, 1 + 3 * 2**-11, 1 + 2**-11 + 2**-40, 70000.0],
                                  dtype=f64)),
            ("wide", torch.tensor([2**64 - 1, 5, 2**63], dtype=torch.uint64)),
        ]))),
        # Narrower or other sources: unsigned ones zero-extend, signed ones
        # sign-extend; F32 rounds into F16, F16 into BF16.
        ("narrow_sources", (ACCEPT, OrderedDict([
            ("bf", torch.tensor([1 + 2**-9, 0.1, -65504], dtype=torch.float16)),
            ("small", torch.tensor([255, 0, 1, 128], dtype=torch.uint8)),
            ("fp16", torch.tensor([0.1, 1e-7, -2.5, 65519.0], dtype=torch.float32)),
            ("wide", torch.tensor([-32768, 7, 1], dtype=torch.int16)),
        ]))),
        ("u32_i8", (ACCEPT, OrderedDict([
            ("bf", torch.tensor([1.0, 2.0, 3.0], dtype=torch.bfloat16)),
            ("small", torch.tensor([2**32 - 1, 2**31, 3, 0], dtype=torch.uint32)),
            ("fp16", torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float16)),
            ("wide", torch.tensor([-128, -1, 127], dtype=torch.int8)),
        ]))),
        ("int_float", (STRICTER, OrderedDict([
            ("bf", torch.tensor([1.0, 2.0, 3.0], dtype=torch.bfloat16)),
            ("small", torch.tensor([1.5, 2.0, 3.0, 4.0])),
            ("fp16", torch.tensor([1, 2, 3, 4], dtype=torch.int32)),
            ("wide", torch.tensor([1, 2, 3], dtype=i64)),
        ]))),
    ])


def torch_verdict(module, state):
    """(True, state_dict after loading) or (False, PyTorch's message)."""
    try:
        module.load_state_dict(OrderedDict((k, v.clone()) for k, v in state.items()), strict=True)
    except RuntimeError as e:
        return False, str(e)
    return True, fx.state_of(module)


def check_mdl(name, model, mdl_path, inputs, modelc, skip_check):
    if not modelc:
        if skip_check:
            return
        raise SystemExit("FATAL: modelc not found (build it, pass --modelc PATH or set MODELC); "
                         "--skip-modelc-check generates without checking the key lists")
    with torch.no_grad():
        outputs = fx.as_tuple(model(*inputs.values()))
    fx.check_against_modelc(name, fx.modelc_view(modelc, mdl_path), model, inputs, outputs)


def generate(name, make_module, variants):
    written = 0
    for variant, (verdict, state) in variants.items():
        accepted, result = torch_verdict(make_module(), state)
        if accepted != (verdict in (ACCEPT, STRICTER)):
            raise SystemExit(f"FATAL: {name}.{variant}: listed as {verdict}, but PyTorch "
                             f"{'accepts' if accepted else 'rejects'} it"
                             + ("" if accepted else f":\n{result}"))
        fx.save(state, OUT_DIR / f"{name}.{variant}.safetensors")
        if verdict == ACCEPT:
            fx.save(result, OUT_DIR / f"{name}.{variant}.expected.safetensors")
        written += 1
        print(f"{name}.{variant:16s} {verdict:8s} PyTorch {'accepts' if accepted else 'rejects'}")
    return written


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modelc", help="the modelc binary (default: build/bin/modelc, $MODELC)")
    parser.add_argument("--skip-modelc-check", action="store_true",
                        help="do not check the torch modules against modelc --emit=mdl")
    args = parser.parse_args()
    modelc = fx.find_modelc(args.modelc)

    bn1d_cls, make_inputs, batch, _ = fx.MODELS["bn1d"]
    check_mdl("bn1d", bn1d_cls().eval(), fx.MODELS_DIR / "bn1d.mdl", make_inputs(batch),
              modelc, args.skip_modelc_check)
    check_mdl("state_dtypes", StateDTypes(), STATE_DTYPES_MDL,
              OrderedDict(x=torch.randn(3)), modelc, args.skip_modelc_check)

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    base = OrderedDict(load_file(str(fx.FIXTURES_DIR / "bn1d.state.safetensors")))
    variants = bn1d_variants(base)
    count = generate("bn1d", bn1d_cls, variants)
    count += generate("state_dtypes", StateDTypes, state_dtypes_variants())

    # A load without num_batches_tracked keeps the counters as they were:
    # PyTorch's _NormBase substitutes the module's own.
    module = bn1d_cls()
    module.load_state_dict(base, strict=True)
    ok, after = torch_verdict(module, variants["no_nbt"][1])
    assert ok and all(int(after[k]) == int(base[k]) and int(base[k]) != 0
                      for k in ("flat.num_batches_tracked", "seq.num_batches_tracked"))
    fx.save(after, OUT_DIR / "bn1d.base_then_no_nbt.expected.safetensors")
    print(f"wrote {count} variants to {OUT_DIR.relative_to(fx.REPO)}")


if __name__ == "__main__":
    main()
