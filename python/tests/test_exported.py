"""The .mdl files modelc.export wrote for every e2e model's PyTorch
definition (python/tests/exported, tools/gen_export_fixtures.py) compile, and
their libraries match the e2e suite's PyTorch fixtures: evaluation, three
training-mode calls, and the state after them. No torch needed: the state
dict keys are the module's own, so the e2e fixtures apply as they are."""
from pathlib import Path

import numpy as np
import pytest

import modelc
from modelc import _safetensors as st

from conftest import fixture

EXPORTED = sorted((Path(__file__).parent / "exported").glob("*.mdl"))
TRAIN_REPEAT = 3  # tools/gen_fixtures.py's


def test_every_e2e_model_is_exported():
    names = {p.stem for p in EXPORTED}
    # every model of tools/gen_fixtures.py (long_sums has its own generator)
    assert {"tiny", "mymodel", "bn2d_seed", "bn1d", "bn_momentum", "nested", "running_average",
            "builtins_modules", "builtins_functions", "resnet_small", "winograd",
            "winograd_small", "packed_linear", "deep", "dynamic_spatial", "mobilenet_small", "activations", "audio", "norms"} <= names


def _compare(got, ref_file, what):
    ref = st.load_file(ref_file)
    got = got if isinstance(got, tuple) else (got,)
    keys = ["output"] if len(got) == 1 else [f"output.{i}" for i in range(len(got))]
    assert sorted(keys) == sorted(ref), what
    for k, g in zip(keys, got):
        np.testing.assert_allclose(g.astype(np.float64), ref[k].astype(np.float64),
                                   rtol=1e-4, atol=1e-5, err_msg=f"{what}: {k}")


@pytest.mark.parametrize("mdl", EXPORTED, ids=[p.stem for p in EXPORTED])
def test_exported_model_matches_pytorch(mdl, tmp_path):
    name = mdl.stem
    lib = modelc.compile(mdl, tmp_path / f"{name}.so")
    m = modelc.load(lib)
    state = str(fixture(f"{name}.state.safetensors"))
    inputs = st.load_file(fixture(f"{name}.inputs.safetensors"))
    assert m.load_state_dict(state) == ([], [])
    _compare(m(**inputs), fixture(f"{name}.eval.out.safetensors"), f"{name} eval")
    m.load_state_dict(state)
    m.train()
    for _ in range(TRAIN_REPEAT):
        out = m(**inputs)
    _compare(out, fixture(f"{name}.train.out.safetensors"), f"{name} train")
    expected = st.load_file(fixture(f"{name}.train.state.safetensors"))
    got = m.state_dict()
    assert set(got) == set(expected)
    for k in expected:
        np.testing.assert_allclose(got[k].astype(np.float64), expected[k].astype(np.float64),
                                   rtol=1e-4, atol=1e-5, err_msg=f"{name} state {k}")


def test_instances_share_definitions_with_constructor_arguments():
    # torchvision's BasicBlock: the blocks that differ only in widths share a
    # definition with them as arguments; those with a downsample have their own.
    text = (Path(__file__).parent / "exported" / "resnet_small.mdl").read_text()
    assert "module BasicBlock(in_channels: int) {" in text
    assert "module BasicBlock_2(in_channels: int, out_channels: int) {" in text
    assert "  conv1 = Conv2d(in_channels, out_channels, 3, stride=2, padding=1, bias=false)" in text
    assert "  layer2 = Sequential(BasicBlock_2(8, 16), BasicBlock(16))" in text
