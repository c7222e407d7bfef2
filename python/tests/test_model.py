"""modelc.load and Model: every method against the committed PyTorch
fixtures, and the errors with the runtime's messages."""
import numpy as np
import pytest

import modelc
from modelc import _safetensors as st

from conftest import fixture, train_fixture


def inputs(name):
    return st.load_file(fixture(f"{name}.inputs.safetensors"))


def out(name, which):
    return st.load_file(fixture(f"{name}.{which}.out.safetensors"))["output"]


def test_load_describes_the_model(libs):
    m = modelc.load(libs("tiny"))
    assert m.name == "TinyModel" and m.prefix == "TinyModel"
    assert [(s.name, s.dtype, s.shape) for s in m.inputs] == [("x", "F32", (None, 100))]
    assert [(s.name, s.dtype, s.shape) for s in m.outputs] == [("output", "F32", (None, 10))]
    assert not m.training and m.device == "cpu"
    assert "TinyModel" in repr(m) and "eval mode" in repr(m)


def test_eval_matches_pytorch_numpy_and_torch_inputs(libs):
    m = modelc.load(libs("tiny"))
    m.load_state_dict(str(fixture("tiny.state.safetensors")))
    x = inputs("tiny")["x"]
    np.testing.assert_allclose(m(x), out("tiny", "eval"), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(m(x=x), out("tiny", "eval"), rtol=1e-4, atol=1e-5)
    # A view that is not contiguous is copied, not misread.
    wide = np.zeros((x.shape[0], 200), np.float32)
    wide[:, ::2] = x
    np.testing.assert_allclose(m(wide[:, ::2]), out("tiny", "eval"), rtol=1e-4, atol=1e-5)
    # Other batch sizes with the same library (dynamic N).
    for b in ("b1", "b7"):
        xb = inputs(f"tiny.{b}")["x"]
        np.testing.assert_allclose(m(xb), out(f"tiny.{b}", "eval"), rtol=1e-4, atol=1e-5)


def test_torch_tensors_in_through_dlpack(libs):
    torch = pytest.importorskip("torch", reason="torch tensors as inputs need torch")
    m = modelc.load(libs("tiny"))
    m.load_state_dict(str(fixture("tiny.state.safetensors")))
    x = torch.from_numpy(inputs("tiny")["x"]).requires_grad_()
    np.testing.assert_allclose(m(x), out("tiny", "eval"), rtol=1e-4, atol=1e-5)


def test_train_mode_updates_buffers_as_pytorch(libs):
    # bn1d.mdl: two inputs (x, y), two results (a tuple), three BatchNorm buffers.
    m = modelc.load(libs("bn1d"))
    m.load_state_dict(str(fixture("bn1d.state.safetensors")))
    args = inputs("bn1d")
    assert m.train() is m and m.training
    for _ in range(3):  # as tools/gen_fixtures.py: three training-mode calls
        y = m(**args)
    ref = st.load_file(fixture("bn1d.train.out.safetensors"))
    assert isinstance(y, tuple) and len(y) == 2
    for i in range(2):
        np.testing.assert_allclose(y[i], ref[f"output.{i}"], rtol=1e-4, atol=1e-5)
    expected = st.load_file(fixture("bn1d.train.state.safetensors"))
    state = m.state_dict()
    # (safetensors files keep their keys sorted; state_dict is in PyTorch's order)
    assert list(state) == ["flat.weight", "flat.bias", "flat.running_mean", "flat.running_var",
                           "flat.num_batches_tracked", "seq.weight", "seq.bias",
                           "seq.running_mean", "seq.running_var", "seq.num_batches_tracked"]
    assert set(state) == set(expected)
    for k in expected:
        np.testing.assert_allclose(state[k], expected[k], rtol=1e-4, atol=1e-5, err_msg=k)
    assert state["flat.num_batches_tracked"].dtype == np.int64
    # Positional arguments in forward's order give the same.
    m.eval()
    assert not m.training
    a = m(args["x"], args["y"])
    b = m(y=args["y"], x=args["x"])
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_parameters_and_buffers(libs):
    m = modelc.load(libs("bn1d"))
    params = dict(m.named_parameters())
    buffers = dict(m.named_buffers())
    assert list(params) == ["flat.weight", "flat.bias", "seq.weight", "seq.bias"]
    assert list(buffers) == ["flat.running_mean", "flat.running_var", "flat.num_batches_tracked",
                             "seq.running_mean", "seq.running_var", "seq.num_batches_tracked"]
    assert len(list(m.parameters())) == len(params)
    assert len(list(m.buffers())) == len(buffers)


def test_nonpersistent_buffers_are_buffers_not_state(libs):
    m = modelc.load(libs("running_average"))
    names = [n for n, _ in m.named_buffers()]
    state = m.state_dict()
    hidden = [n for n in names if n not in state]
    assert hidden, "running_average.mdl has a buffer(persistent=false)"


def test_load_state_dict_from_a_mapping(libs, tmp_path):
    m = modelc.load(libs("tiny"), seed=1)
    ref = st.load_file(fixture("tiny.state.safetensors"))
    assert m.load_state_dict(ref) == ([], [])
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v, ref[k])
    # Non-strict: missing and unexpected keys are reported, the rest loaded.
    fresh = modelc.load(libs("tiny"), seed=2)
    partial = {"linear1.weight": ref["linear1.weight"], "extra": np.zeros(3, np.float32)}
    result = fresh.load_state_dict(partial, strict=False)
    assert result.missing_keys == ["linear1.bias", "linear2.weight", "linear2.bias"]
    assert result.unexpected_keys == ["extra"]
    np.testing.assert_array_equal(fresh.state_dict()["linear1.weight"], ref["linear1.weight"])
    # Strict: nothing changes, and the message lists what is wrong.
    before = fresh.state_dict()
    with pytest.raises(modelc.Error, match=r'Missing key\(s\) in state_dict: "linear1.bias"'):
        fresh.load_state_dict(partial)
    for k, v in fresh.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    # Save and load back, through a file.
    path = tmp_path / "tiny.safetensors"
    m.save_state_dict(path)
    again = modelc.load(libs("tiny"), seed=3)
    again.load_state_dict(path)
    for k, v in again.state_dict().items():
        np.testing.assert_array_equal(v, ref[k])


def test_seeds(libs):
    a = modelc.load(libs("tiny"), seed=5).state_dict()
    b = modelc.load(libs("tiny"), seed=5).state_dict()
    c = modelc.load(libs("tiny"), seed=6).state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["linear1.weight"], c["linear1.weight"])


def test_training_matches_torch_optim(libs):
    m = modelc.load(libs("mlp"))
    m.load_state_dict(str(train_fixture("mlp.state.safetensors")))
    steps = [st.load_file(train_fixture(f"mlp.step{i}.inputs.safetensors")) for i in (0, 1)]
    m.train()
    m.set_optimizer("sgd", lr=0.1)
    losses = [m.train_step(**steps[i % 2]) for i in range(4)]
    ref = st.load_file(train_fixture("mlp.sgd.losses.safetensors"))["loss"]
    np.testing.assert_allclose(losses, ref, rtol=1e-5, atol=1e-6)
    expected = st.load_file(train_fixture("mlp.sgd.state.safetensors"))
    for k, v in m.state_dict().items():
        np.testing.assert_allclose(v, expected[k], rtol=1e-4, atol=1e-6, err_msg=k)
    grads = st.load_file(train_fixture("mlp.sgd.grads.safetensors"))
    for k in grads:
        np.testing.assert_allclose(m.grad(k), grads[k], rtol=1e-4, atol=1e-6, err_msg=k)


def test_training_by_parts_and_optimizer_state(libs, tmp_path):
    m = modelc.load(libs("mlp"))
    m.load_state_dict(str(train_fixture("mlp.state.safetensors")))
    batch = st.load_file(train_fixture("mlp.step0.inputs.safetensors"))
    m.train().set_optimizer("adamw", lr=0.01, weight_decay=0.1)
    m.zero_grad()
    loss = m.loss_backward(**batch)
    assert np.isfinite(loss)
    name = next(n for n, _ in m.named_parameters())
    assert np.abs(m.grad(name)).sum() > 0
    before = m.state_dict()[name]
    m.step()
    assert not np.array_equal(m.state_dict()[name], before)
    path = tmp_path / "optim.safetensors"
    m.save_optimizer_state(path)
    m.load_optimizer_state(path)
    m.set_hyperparameter("lr", 0.001)


def test_errors_carry_the_runtime_message(libs, tmp_path):
    m = modelc.load(libs("tiny"))
    with pytest.raises(modelc.Error, match=r"input 'x' has shape \[2, 3\], expected \[\?, 100\]"):
        m(np.zeros((2, 3), np.float32))
    with pytest.raises(modelc.Error, match=r"argument 'x' has dtype int16, expected F32"):
        m(np.zeros((2, 100), np.int16))
    with pytest.raises(modelc.Error, match=r"dtype"):
        m(np.zeros((2, 100), np.float64))
    with pytest.raises(modelc.Error, match=r"missing argument\(s\) 'x'"):
        m()
    with pytest.raises(modelc.Error, match=r"2 arguments given, the model takes 1 \(x\)"):
        m(np.zeros((1, 100), np.float32), np.zeros((1, 100), np.float32))
    with pytest.raises(modelc.Error, match=r"no argument named 'y'"):
        m(y=np.zeros((1, 100), np.float32))
    with pytest.raises(modelc.Error, match=r"missing.safetensors': cannot open: No such file"):
        m.load_state_dict(str(tmp_path / "missing.safetensors"))
    with pytest.raises(modelc.Error, match=r"has no loss method"):
        m.train_step(np.zeros((1, 100), np.float32))
    with pytest.raises(modelc.Error, match=r"'nope' is not a parameter"):
        m.grad("nope")
    with pytest.raises(modelc.Error, match=r"cuda"):
        m.to("cuda")
    assert m.device == "cpu"
    with pytest.raises(modelc.Error, match=r"cannot load '.*missing.so': no such file"):
        modelc.load(tmp_path / "missing.so")
    (tmp_path / "junk.so").write_bytes(b"not a library")
    with pytest.raises(modelc.Error, match=r"cannot load '.*junk.so'"):
        modelc.load(tmp_path / "junk.so")
    with pytest.raises(modelc.Error, match=r"unknown device|device"):
        modelc.load(libs("tiny"), device="tpu")


def test_compile_errors_have_the_diagnostics(tmp_path):
    bad = tmp_path / "bad.mdl"
    bad.write_text("model Bad {\n  fc = Linear(4, 2)\n  forward(x: f32[N, 3]) -> f32[N, 2] {\n"
                   "    return fc(x)\n  }\n}\n")
    with pytest.raises(modelc.CompileError) as info:
        modelc.compile(bad, tmp_path / "bad.so")
    assert "bad.mdl:4:" in info.value.diagnostics
    assert "Linear expects 4 input features" in info.value.diagnostics
    assert not (tmp_path / "bad.so").exists()


def test_close_and_context_manager(libs):
    with modelc.load(libs("tiny")) as m:
        assert m.state_dict()
    m.close()  # again: harmless
