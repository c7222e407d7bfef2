"""modelc.export itself (needs torch; without it these are skipped, and
test_exported.py still checks the committed output): it writes the same
.mdl again, round trips modules defined here through export, compile and
load in both modes, and refuses what .mdl cannot express, naming the op and
the module path."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="modelc.export needs torch")
nn = torch.nn

import modelc  # noqa: E402
from modelc.exporter import ExportError  # noqa: E402

from conftest import REPO  # noqa: E402

sys.path.insert(0, str(REPO / "tools"))
EXPORTED = Path(__file__).parent / "exported"


@pytest.mark.parametrize("name", sorted(p.stem for p in EXPORTED.glob("*.mdl")))
def test_export_is_stable(name, tmp_path):
    import gen_export_fixtures
    text = gen_export_fixtures.export_one(name, tmp_path / f"{name}.mdl")
    assert text == (EXPORTED / f"{name}.mdl").read_text(), \
        f"modelc.export now writes {name}.mdl differently: run tools/gen_export_fixtures.py"


class Stateful(nn.Module):
    """A user-defined layer with a parameter, a buffer it updates in training
    mode only, and a non-persistent buffer."""

    def __init__(self, n):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(n))
        self.register_buffer("ema", torch.zeros(n))
        self.register_buffer("seen", torch.zeros(()), persistent=False)

    def forward(self, x):
        if self.training:
            self.ema.copy_(0.9 * self.ema + 0.1 * x.mean(dim=[0]))
            self.seen.copy_(self.seen + 1)
        return (x - self.ema) * self.scale


class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = nn.LayerNorm(16)
        self.mlp = nn.Sequential(nn.Linear(16, 32), nn.GELU(), nn.Dropout(0.0), nn.Linear(32, 16))
        self.stateful = Stateful(16)

    def forward(self, x):
        h = x + self.mlp(self.norm(x))
        return self.stateful(h), torch.softmax(h, dim=-1)


class TwoHeads(nn.Module):
    """Two instances of one class with the same arguments (one definition),
    two inputs and several results."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(8, 16)
        self.a = Head()
        self.b = Head()
        self.pool = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                                  nn.MaxPool2d(2), nn.AdaptiveAvgPool2d(1), nn.Flatten())

    def forward(self, x, img):
        h = self.embed(x)
        y, p = self.a(h)
        z, q = self.b(y)
        return z + self.pool(img).sum(dim=[1], keepdim=True), p * q


def _round_trip(module, inputs, tmp_path, calls=2):
    mdl, state = tmp_path / "m.mdl", tmp_path / "m.safetensors"
    text = modelc.export(module, inputs, mdl, state=state)
    m = modelc.load(modelc.compile(mdl, tmp_path / "m.so"))
    m.load_state_dict(str(state))
    for mode in ("eval", "train"):
        module.train(mode == "train")
        m.train(mode == "train")
        for _ in range(calls):
            with torch.no_grad():
                ref = module(*inputs)
            got = m(*inputs)
        ref = ref if isinstance(ref, tuple) else (ref,)
        got = got if isinstance(got, tuple) else (got,)
        for g, r in zip(got, ref):
            np.testing.assert_allclose(g, r.numpy(), rtol=1e-4, atol=1e-5, err_msg=mode)
        sd = module.state_dict()
        mine = m.state_dict()
        assert list(mine) == list(sd)
        for k in sd:
            np.testing.assert_allclose(mine[k], sd[k].numpy(), rtol=1e-4, atol=1e-5, err_msg=k)
    return text


def test_round_trip_user_modules(tmp_path):
    torch.manual_seed(0)
    module = TwoHeads()
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    text = _round_trip(module, (torch.randn(4, 8), torch.randn(4, 3, 8, 8)), tmp_path)
    assert text.count("module Head()") == 1 and text.count("module Stateful()") == 1
    assert "buffer(persistent=false) seen: f32[] = zeros()" in text
    assert "param scale: f32[16] = zeros()" in text
    assert "ema <- " in text and "if training {" in text
    assert "forward(x: f32[N, 8], img: f32[N, 3, 8, 8])" in text


def test_round_trip_batch_of_one_example(tmp_path):
    # torch.export cannot make a batch of 1 dynamic; export traces two rows.
    class Small(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(5, 3), nn.Tanh())

        def forward(self, x):
            return self.body(x)

    text = _round_trip(Small(), (torch.randn(1, 5),), tmp_path)
    assert "forward(x: f32[N, 5])" in text
    # A Sequential as the model itself has members named 0, 1, ...
    with pytest.raises(ExportError, match=r"has a child named '0'"):
        modelc.export(nn.Sequential(nn.Linear(5, 3)), (torch.randn(2, 5),), tmp_path / "s.mdl")


class SelfAttention(nn.Module):
    """A transformer block's attention written by hand: q, k, v from one
    projection split by chunk, scaled dot products, softmax, indexing."""

    def __init__(self, d=8, heads=2):
        super().__init__()
        self.heads = heads
        self.norm = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm(x)).chunk(3, dim=-1)
        q = q.reshape(b, t, self.heads, d // self.heads).transpose(1, 2)
        k = k.reshape(b, t, self.heads, d // self.heads).transpose(1, 2)
        v = v.reshape(b, t, self.heads, d // self.heads).transpose(1, 2)
        a = torch.softmax(q @ k.transpose(-2, -1) * (d // self.heads) ** -0.5, dim=-1)
        h = x + self.proj((a @ v).transpose(1, 2).reshape(b, t, d))
        h = h + self.mlp(h)
        return h[:, 0], h[..., ::2]


def test_round_trip_attention_with_chunk_and_indexing(tmp_path):
    torch.manual_seed(1)
    text = _round_trip(SelfAttention(), (torch.randn(3, 5, 8),), tmp_path)
    assert "= chunk(" in text and "[:, 0]" in text and "[:, :, ::2]" in text


def test_refuses_what_mdl_cannot_say(tmp_path):
    class Slicing(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = nn.Sequential(nn.Linear(4, 4))
            self.tail = Tail()

        def forward(self, x):
            return self.tail(self.inner(x))

    class Tail(nn.Module):
        def forward(self, x):
            return torch.sort(x, dim=1).values

    with pytest.raises(ExportError, match=r"'tail': cannot express aten.sort"):
        modelc.export(Slicing(), (torch.randn(2, 4),), tmp_path / "x.mdl")
    assert not (tmp_path / "x.mdl").exists()

    class Transposed(nn.Module):
        def __init__(self):
            super().__init__()
            self.up = nn.ConvTranspose2d(4, 2, 2, stride=2)

        def forward(self, x):
            return self.up(x)

    with pytest.raises(ExportError, match=r"ConvTranspose2d at 'up' is a torch.nn module that "
                                          r"the .mdl language does not have"):
        modelc.export(Transposed(), (torch.randn(3, 4, 5, 5),), tmp_path / "y.mdl")
    with pytest.raises(ExportError, match=r"padding_mode='reflect'"):
        modelc.export(nn.Conv2d(1, 1, 3, padding=1, padding_mode="reflect"),
                      (torch.randn(2, 1, 5, 5),), tmp_path / "z.mdl")
    with pytest.raises(ExportError, match=r"expects a torch.nn.Module"):
        modelc.export(lambda x: x, (torch.randn(2),), tmp_path / "w.mdl")


def test_command_line(tmp_path):
    out = tmp_path / "cli.mdl"
    run = subprocess.run([sys.executable, "-m", "modelc", "export",
                          "torch.nn:Linear", "--args", '{"in_features": 3, "out_features": 2}',
                          "--example-shape", "1,3", "-o", str(out), "--state",
                          str(tmp_path / "cli.safetensors")],
                         capture_output=True, text=True, cwd=tmp_path,
                         env={**__import__("os").environ,
                              "PYTHONPATH": str(Path(modelc.__file__).parents[1])})
    assert run.returncode == 0, run.stderr
    text = out.read_text()
    assert "model Linear {" in text and "forward(input: f32[N, 3])" in text
    m = modelc.load(modelc.compile(out, tmp_path / "cli.so"))
    m.load_state_dict(str(tmp_path / "cli.safetensors"))
    bad = subprocess.run([sys.executable, "-m", "modelc", "export", "no_such_module:X",
                          "--example-shape", "2,3", "-o", str(tmp_path / "bad.mdl")],
                         capture_output=True, text=True,
                         env={**__import__("os").environ,
                              "PYTHONPATH": str(Path(modelc.__file__).parents[1])})
    assert bad.returncode != 0 and "cannot import 'no_such_module:X'" in bad.stderr


class Encoder(nn.Module):
    """torch.nn's TransformerEncoderLayer as a member (written as the
    built-in), pre- and post-norm."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(6, 16)
        self.pre = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, activation="gelu",
                                              batch_first=True, norm_first=True)
        self.postnorm = nn.TransformerEncoderLayer(16, 2, 24, dropout=0.0, batch_first=True)

    def forward(self, x):
        return self.postnorm(self.pre(self.embed(x)))


def test_round_trip_transformer_encoder_layer(tmp_path):
    torch.manual_seed(2)
    text = _round_trip(Encoder(), (torch.randn(3, 5, 6),), tmp_path)
    assert ("pre = TransformerEncoderLayer(16, 4, dim_feedforward=32, dropout=0.0, "
            "activation=\"gelu\", batch_first=true, norm_first=true)") in text


class Upscale(nn.Module):
    """Views and PixelShuffle, as a super-resolution head writes them."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 12, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x):
        y = self.shuffle(self.conv(x))
        return y.mean(dim=[1]).unsqueeze(1), y[:, :1].squeeze(1)


def test_round_trip_views_and_pixel_shuffle(tmp_path):
    torch.manual_seed(3)
    text = _round_trip(Upscale(), (torch.randn(2, 3, 4, 5),), tmp_path)
    assert "shuffle = PixelShuffle(2)" in text and "unsqueeze(" in text and "squeeze(" in text


class Decoder(nn.Module):
    """Nearest upsampling as a module and as a function (a U-Net's decoder step)."""

    def __init__(self):
        super().__init__()
        self.up = nn.Upsample(scale_factor=2)
        self.conv = nn.Conv2d(4, 2, 3, padding=1)

    def forward(self, x, skip):
        y = torch.cat([self.up(x), skip], dim=1)
        return self.conv(y), nn.functional.interpolate(x, size=(6, 9))


def test_round_trip_upsampling(tmp_path):
    torch.manual_seed(4)
    text = _round_trip(Decoder(), (torch.randn(2, 2, 3, 3), torch.randn(2, 2, 6, 6)), tmp_path)
    assert "up = Upsample(scale_factor=2.0)" in text and "interpolate(" in text


class VGGHead(nn.Module):
    """A VGG written with AdaptiveAvgPool2d((2, 2)), and AdaptiveMaxPool2d."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.avgpool = nn.AdaptiveAvgPool2d((2, 2))
        self.maxpool = nn.AdaptiveMaxPool2d((2, 2))
        self.classifier = nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Dropout(0.0),
                                        nn.Linear(8, 3))

    def forward(self, x):
        f = self.features(x)
        return self.classifier(torch.flatten(self.avgpool(f) + self.maxpool(f), 1))


def test_round_trip_vgg_adaptive_pools(tmp_path):
    torch.manual_seed(5)
    text = _round_trip(VGGHead(), (torch.randn(2, 3, 8, 8),), tmp_path)
    assert "avgpool = AdaptiveAvgPool2d(2)" in text and "maxpool = AdaptiveMaxPool2d(2)" in text


class Tagger(nn.Module):
    """A bidirectional LSTM and a 2-layer GRU, as a sequence tagger writes them."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, 3, batch_first=True, bidirectional=True)
        self.gru = nn.GRU(6, 5, num_layers=2, batch_first=True)
        self.out = nn.Linear(5, 2)

    def forward(self, x):
        y, (h, c) = self.lstm(x)
        z, hz = self.gru(y)
        return self.out(z), h + c, hz


def test_round_trip_recurrent(tmp_path):
    torch.manual_seed(6)
    text = _round_trip(Tagger(), (torch.randn(2, 5, 4),), tmp_path)
    assert "lstm = LSTM(4, 3, batch_first=true, bidirectional=true)" in text
    assert "gru = GRU(6, 5, num_layers=2, batch_first=true)" in text
