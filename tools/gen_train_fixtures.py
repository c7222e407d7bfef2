#!/usr/bin/env python3
"""PyTorch reference fixtures for the training tests in test/e2e/train/.

For every case (test/e2e/train/models/<case>.mdl, written by hand; the
equivalent torch.nn module is below) it writes, under test/e2e/train/fixtures/:

  <case>.state.safetensors            the initial state dict (fixed seed)
  <case>.step<i>.inputs.safetensors   batch i, one tensor per `loss` argument
  <case>.<opt>.losses.safetensors     "loss": F32 [K], each step's loss before its update
  <case>.<opt>.grads.safetensors      the last step's gradients (before its update),
                                      one per parameter that requires grad
  <case>.<opt>.state.safetensors      the state dict after K steps (parameters and buffers)
  <case>.<opt>.optim.safetensors      the optimizer state after K steps, in modelc's
                                      format (tools/optim_state.py); not for the
                                      plain-SGD one-step ops_*/loss_* cases

Step i uses batch i mod (number of batches). Each step is PyTorch's
    opt.zero_grad(); loss = model.loss(**batch); loss.backward(); opt.step()
with torch.optim's for-loop implementation (foreach=False), model.train().

References are computed in float64 (a float64 copy of the float32 state and
inputs, the optimizer run in float64) and rounded once to float32. The float32
PyTorch run must be within a quarter of the tests' tolerances of them (so a
correct float32 implementation with another evaluation order passes), and for
every optimizer configuration a few wrong ones (nesterov off, Adam instead of
AdamW, no parameter groups, ...) must fail those tolerances: the script stops
otherwise. Inputs put exact ties in max-pooling windows and exact zeros before
relu/abs (values on a 1/8 grid, so float32 and float64 agree on them).

Usage (PyTorch needed; CI never runs this):
    pip install torch numpy safetensors
    python tools/gen_train_fixtures.py                 # all cases
    python tools/gen_train_fixtures.py --only mlp frozen
    python tools/gen_train_fixtures.py --write-tests   # also (re)write test/e2e/train/<case>.test
    python tools/gen_train_fixtures.py --only abi --check-modelc build
It first runs tools/optim_state.py's self-check.

The "ABI cases" (abi_accum, abi_schedule, abi_freeze, abi_resume; `--only
abi` for all four) are driven from C through the training ABI
(test/e2e/train/Inputs/train_abi.c, test/e2e/train/abi-*.test): gradient
accumulation across loss_backward calls, a learning-rate schedule through
set_hyperparameter, set_requires_grad at run time, and an optimizer-state
round trip. They reuse the mlp, frozen and cnn_bn fixtures (initial state and
batches, read back from the files) and write <case>.<abi case>.* the same way.
`--check-modelc BUILD` also compiles cnn_bn.mdl with BUILD/bin/modelc, trains
it 2 steps with modelc-run --save-optimizer, converts that file with
tools/optim_state.py into a torch.optim state_dict() and checks it against
PyTorch's own after 2 steps, and that 2 more PyTorch steps from it give the
4-step reference.
"""

import argparse
import copy
import fnmatch
import json
import sys
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
import optim_state  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TRAIN_DIR = REPO / "test" / "e2e" / "train"
MODELS_DIR = TRAIN_DIR / "models"
FIXTURES_DIR = TRAIN_DIR / "fixtures"
MARGIN = 4.0  # float32 PyTorch must be within tolerance / MARGIN of the reference

# Tolerances of the tests (st-compare --rtol/--atol), per file kind.
TOL = {
    "losses": (1e-5, 1e-6),
    "grads": (1e-4, 1e-6),
    "state": (1e-5, 1e-6),
    "optim": (1e-4, 3e-7),
}


# --------------------------------------------------------------------------
# Helpers for inputs and states
# --------------------------------------------------------------------------

def grid(g, shape, lo, hi, step=0.125):
    """Random multiples of `step` in [lo, hi]: sums of a few stay exact."""
    n = int(round((hi - lo) / step))
    return lo + step * torch.randint(0, n + 1, shape, generator=g).to(torch.float32)


def randn(g, *shape, scale=1.0):
    return torch.randn(*shape, generator=g) * scale


def uniform(g, shape, lo, hi):
    return lo + (hi - lo) * torch.rand(shape, generator=g)


def randomize_norms(model, g, nbt=5):
    """BatchNorm/LayerNorm entries off their defaults, as tools/gen_fixtures.py does."""
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) or (
                isinstance(m, (nn.InstanceNorm1d, nn.InstanceNorm2d)) and m.affine and
                m.track_running_stats):
            c = m.num_features
            with torch.no_grad():
                m.weight.copy_(uniform(g, (c,), 0.5, 1.5))
                m.bias.copy_(uniform(g, (c,), -0.3, 0.3))
                m.running_mean.copy_(randn(g, c, scale=0.1))
                m.running_var.copy_(uniform(g, (c,), 0.5, 2.0))
                m.num_batches_tracked.fill_(nbt)
        elif isinstance(m, nn.LayerNorm):
            with torch.no_grad():
                m.weight.copy_(uniform(g, m.weight.shape, 0.5, 1.5))
                m.bias.copy_(uniform(g, m.bias.shape, -0.3, 0.3))


def set_params(model, values):
    with torch.no_grad():
        for name, v in values.items():
            dict(model.named_parameters())[name].copy_(v)


def images_with_zero_blocks(g, n, c=1):
    """[n, c, 8, 8] images; the first half have an all-zero 6x6 block at rows
    and columns 1..6, so a bias-free 3x3 convolution is exactly 0 on the
    interior 4x4 (rows 2..5): after BatchNorm the four 2x2 max-pooling windows
    there hold four equal values (ties; PyTorch routes to the first)."""
    x = randn(g, n, c, 8, 8)
    x[: n // 2, :, 1:7, 1:7] = 0
    return x


# --------------------------------------------------------------------------
# The torch.nn equivalents of test/e2e/train/models/*.mdl
# --------------------------------------------------------------------------

class MLP(nn.Module):  # mlp.mdl
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(20, 32)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        return self.fc2(self.relu(self.fc1(x)))

    def loss(self, x, y):
        return F.cross_entropy(self(x), y)


class CNNBN(nn.Module):  # cnn_bn.mdl, cnn_bn_none.mdl
    def __init__(self, momentum=0.1):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4, momentum=momentum)
        self.fc = nn.Linear(4 * 4 * 4, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn(self.conv(x))), 2)
        return self.fc(torch.flatten(x, 1))

    def loss(self, x, y):
        return F.cross_entropy(self(x), y, label_smoothing=0.1)


class BasicBlock(nn.Module):  # resblock.mdl
    def __init__(self, planes):
        super().__init__()
        self.conv1 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + x)


class ResBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = BasicBlock(4)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(torch.flatten(self.avgpool(self.block(x)), 1))

    def loss(self, x, t):
        return F.mse_loss(self(x), t)


class Net(nn.Module):  # frozen.mdl (TRAINING.md's example)
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8 * 4 * 4, 10)
        self.temperature = nn.Parameter(torch.tensor(1.0), requires_grad=False)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn(self.conv(x))), 2)
        return self.fc(torch.flatten(x, 1)) / self.temperature

    def loss(self, x, y):
        return F.cross_entropy(self(x), y, label_smoothing=0.1)


class ParamModel(nn.Module):
    """A model whose own parameters (and buffers) are declared in order."""

    PARAMS = ()   # (name, shape)
    BUFFERS = ()  # (name, shape)

    def __init__(self):
        super().__init__()
        for name, shape in self.PARAMS:
            setattr(self, name, nn.Parameter(torch.zeros(shape)))
        for name, shape in self.BUFFERS:
            self.register_buffer(name, torch.ones(shape))


def shape_params(names, shape):
    return tuple((n, shape) for n in names)


class OpsAct(ParamModel):
    PARAMS = shape_params(["p_relu", "p_leaky", "p_leaky2", "p_sigmoid", "p_tanh", "p_silu",
                           "p_gelu", "p_gelu_tanh"], (4, 6))

    def loss(self, x, t):
        m = F.mse_loss
        l = m(F.relu(x + self.p_relu), t) + m(F.leaky_relu(x + self.p_leaky), t)
        l = l + m(F.leaky_relu(x + self.p_leaky2, 0.2), t)
        l = l + m(torch.sigmoid(x + self.p_sigmoid), t) + m(torch.tanh(x + self.p_tanh), t)
        l = l + m(F.silu(x + self.p_silu), t) + m(F.gelu(x + self.p_gelu), t)
        return l + m(F.gelu(x + self.p_gelu_tanh, approximate="tanh"), t)


class OpsHard(ParamModel):  # ops_hard.mdl
    PARAMS = shape_params(["p_relu6", "p_hardtanh", "p_hardtanh2", "p_hardsigmoid",
                           "p_hardswish"], (4, 6))

    def loss(self, x, t):
        m = F.mse_loss
        l = m(F.relu6(2 * (x + self.p_relu6)), t) + m(F.hardtanh(x + self.p_hardtanh), t)
        l = l + m(F.hardtanh(x + self.p_hardtanh2, -2.0, 3.0), t)
        l = l + m(F.hardsigmoid(x + self.p_hardsigmoid), t)
        return l + m(F.hardswish(x + self.p_hardswish), t)


class OpsSmooth(ParamModel):  # ops_smooth.mdl
    PARAMS = shape_params(["p_elu", "p_elu2", "p_softplus", "p_softplus2", "p_mish", "p_prelu"],
                          (4, 6)) + (("w1", (1,)), ("w6", (6,)))

    def loss(self, x, t):
        m = F.mse_loss
        l = m(F.elu(x + self.p_elu), t) + m(F.elu(x + self.p_elu2, 0.5), t)
        l = l + m(F.softplus(x + self.p_softplus), t)
        l = l + m(F.softplus(x + self.p_softplus2, beta=2.0), t)
        l = l + m(F.mish(x + self.p_mish), t)
        return l + m(F.prelu(x + self.p_prelu, self.w1), t) + m(F.prelu(x, self.w6), t)


class OpsMath(ParamModel):
    PARAMS = shape_params(["p_exp", "p_log", "p_sqrt", "p_rsqrt", "p_abs", "p_clamp", "p_clamp0",
                           "p_neg", "p_pow2", "p_pow3", "p_powhalf", "p_scalar"], (4, 6))

    def loss(self, x, xp, t):
        m = F.mse_loss
        l = m(torch.exp(x + self.p_exp), t) + m(torch.log(xp + self.p_log), t)
        l = l + m(torch.sqrt(xp + self.p_sqrt), t) + m(torch.rsqrt(xp + self.p_rsqrt), t)
        l = l + m(torch.abs(x + self.p_abs), t)
        l = l + m(torch.clamp(x + self.p_clamp, min=-0.5, max=0.5), t)
        l = l + m(torch.clamp(x + self.p_clamp0, min=0.0), t)
        l = l + m(-(x + self.p_neg), t)
        l = l + m(torch.pow(x + self.p_pow2, 2), t) + m(torch.pow(x + self.p_pow3, 3), t)
        l = l + m(torch.pow(xp + self.p_powhalf, 0.5), t)
        return l + m(2 * (x + self.p_scalar) - 1 + (x + self.p_scalar) / 4, t)


class OpsEdges(ParamModel):  # ops_edges.mdl
    PARAMS = (("p_bce", (6,)), ("p_logits", (6,)), ("p_base", (6,)), ("p_exponent", (6,)),
              ("p_pool", (1, 2, 4, 4)))

    def loss(self, z, t, e, img):
        # binary_cross_entropy of a sigmoid that saturates to exactly 0 and 1
        l = F.binary_cross_entropy(torch.sigmoid(z * (1 + self.p_bce)), t)
        # binary_cross_entropy_with_logits at exactly 0
        l = l + F.binary_cross_entropy_with_logits(self.p_logits, t)
        # pow with base 0 and exponents 0 and 2 (derivatives.yaml's masks)
        l = l + torch.sum(torch.pow(self.p_base, e)) + torch.sum(torch.pow(e, self.p_exponent))
        # max pooling of padded windows whose valid elements are all -inf
        return l + torch.sum(F.max_pool2d(img + self.p_pool, 2, stride=2, padding=1))


class OpsDynamic(ParamModel):  # ops_dynamic.mdl: f32[N, C, 4, 4] inputs
    PARAMS = (("q", (4, 4)),)

    def loss(self, x):
        y = x * self.q
        l = torch.sum(F.max_pool2d(y, 2) * F.avg_pool2d(y, 2))
        return l + torch.sum(F.adaptive_avg_pool2d(y, [3, 3]) ** 2)


class OpsArith(ParamModel):
    PARAMS = (("a", (4, 6)), ("b", (6,)), ("c", (4, 1)), ("d", (4, 1)), ("s", ()))

    def loss(self, x, t):
        a, b, c, d, s = self.a, self.b, self.c, self.d, self.s
        u = (x + a) * b - c
        v = (x - c) / b + a / d
        w = u * s + v * v - (a - b) / (d + s)
        return F.mse_loss(w, t)


class OpsLinalg(ParamModel):
    PARAMS = (("p", (4, 6)), ("w", (6, 5)), ("v", (6,)), ("bq", (2, 4, 3)), ("bk", (2, 3, 5)),
              ("lw", (5, 6)), ("lb", (5,)), ("lw2", (3, 6)))

    def loss(self, x, t, t3, tv, t2):
        m = F.mse_loss
        z = x + self.p
        l = m(torch.matmul(z, self.w), t) + m(torch.matmul(self.bq, self.bk), t3)
        l = l + m(torch.matmul(z, self.v), tv) + m(z @ self.w, t)
        return l + m(F.linear(z, self.lw, self.lb), t) + m(F.linear(z, self.lw2), t2)


class OpsSoftmax(ParamModel):
    PARAMS = shape_params(["p_sm1", "p_sm0", "p_lsm1", "p_lsm0"], (4, 6))

    def loss(self, x, t):
        m = F.mse_loss
        l = m(F.softmax(x + self.p_sm1, dim=1), t) + m(F.softmax(x + self.p_sm0, 0), t)
        return l + m(F.log_softmax(x + self.p_lsm1, dim=1), t) + m(F.log_softmax(x + self.p_lsm0, dim=-2), t)


class OpsReduce(ParamModel):
    PARAMS = shape_params(["p_mean", "p_sum", "p_var", "p_var0", "p_amax", "p_amax2"], (2, 3, 4))

    def loss(self, x, t, t1, t3):
        m = F.mse_loss
        l = m(torch.mean(x + self.p_mean, dim=[1]), t) + m(torch.sum(x + self.p_mean, dim=[0, 2]), t3)
        l = l + m(torch.sum(x + self.p_sum, dim=[-2], keepdim=True), t1)
        l = l + m(torch.mean(x + self.p_sum, dim=[0, -1]), t3)
        l = l + m(torch.var(x + self.p_var, dim=[1]), t)
        l = l + m(torch.var(x + self.p_var0, dim=[0, 2], unbiased=False), t3)
        l = l + m(torch.amax(x + self.p_amax, dim=[1]), t)
        return l + m(torch.amax(x + self.p_amax2, dim=[0, 2]), t3)


class OpsShape(ParamModel):
    PARAMS = (("p", (2, 3, 4)), ("q", (4, 6)))

    def loss(self, x, t, t2, tf):
        m = F.mse_loss
        z = x + self.p
        a = torch.flatten(z.permute(2, 0, 1), start_dim=1)
        b = torch.reshape(z.transpose(0, 1), [4, -1])
        l = m(torch.cat([a, b * self.q], dim=1), t) + m(torch.cat([a * self.q, b], dim=0), t2)
        return l + m(torch.flatten(z) * torch.flatten(z.transpose(1, 2)), tf)


class OpsPool(ParamModel):
    PARAMS = shape_params(["p_max", "p_max3", "p_avg", "p_avg_excl", "p_adapt"], (2, 3, 6, 6))

    def loss(self, x, t, t4):
        m = F.mse_loss
        l = m(F.max_pool2d(x + self.p_max, 2), t)
        l = l + m(F.max_pool2d(x + self.p_max3, 3, stride=2, padding=1), t)
        l = l + m(F.avg_pool2d(x + self.p_avg, 3, stride=2, padding=1), t)
        l = l + m(F.avg_pool2d(x + self.p_avg_excl, 3, stride=2, padding=1, count_include_pad=False), t)
        return l + m(F.adaptive_avg_pool2d(x + self.p_adapt, [4, 4]), t4)


class OpsConv(ParamModel):
    PARAMS = (("p", (2, 4, 7, 7)), ("w", (4, 2, 3, 3)), ("b", (4,)), ("w2", (2, 4, 3, 3)))

    def loss(self, x, t, t2):
        z = x + self.p
        l = F.mse_loss(F.conv2d(z, self.w, self.b, stride=2, padding=1, groups=2), t)
        return l + F.mse_loss(F.conv2d(z, self.w2, padding=2, dilation=2), t2)


class OpsConvSmall(ParamModel):  # ops_conv_small.mdl
    PARAMS = (("p", (2, 4, 1, 1)), ("w", (4, 4, 3, 3)), ("b", (4,)), ("p2", (2, 4, 2, 2)),
              ("w2", (4, 4, 3, 3)), ("p3", (2, 4, 1, 3)), ("w3", (3, 4, 3, 3)))

    def loss(self, x, x2, x3, t, t2, t3):
        l = F.mse_loss(F.conv2d(x + self.p, self.w, self.b, padding=1), t)
        l = l + F.mse_loss(F.conv2d(x2 + self.p2, self.w2, stride=2, padding=1), t2)
        return l + F.mse_loss(F.conv2d(x3 + self.p3, self.w3 * 2.0, padding=1), t3)


class OpsConv1d(ParamModel):  # ops_conv1d.mdl
    PARAMS = (("p", (2, 4, 11)), ("w", (4, 2, 3)), ("b", (4,)), ("w2", (2, 4, 3)))

    def loss(self, x, t, t2, t3):
        z = x + self.p
        l = F.mse_loss(F.conv1d(z, self.w, self.b, stride=2, padding=1, groups=2), t)
        y = F.conv1d(z, self.w2, padding=2, dilation=2)
        l = l + F.mse_loss(F.max_pool1d(y, 3, stride=2, padding=1) + F.avg_pool1d(y, 3, 2, 1), t2)
        return l + F.mse_loss(F.adaptive_avg_pool1d(z, 3), t3)


class OpsNorm(ParamModel):
    PARAMS = (("p_bn", (3, 3, 4, 4)), ("p_bn1", (5, 4)), ("p_ln", (5, 4)), ("p_ln0", (5, 4)),
              ("g", (4,)), ("beta", (4,)))

    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm2d(3)
        self.bn1 = nn.BatchNorm1d(4)
        self.ln = nn.LayerNorm([4, 4])

    def loss(self, img, x, ti, t):
        m = F.mse_loss
        l = m(self.bn(img + self.p_bn), ti) + m(self.ln(img + self.p_bn), ti)
        l = l + m(self.bn1(x + self.p_bn1), t)
        l = l + m(F.layer_norm(x + self.p_ln, [4], weight=self.g, bias=self.beta, eps=1e-6), t)
        return l + m(F.layer_norm(x + self.p_ln0, [4]), t)


class OpsGroupNorm(ParamModel):  # ops_group_norm.mdl
    PARAMS = (("p", (2, 8, 3, 4)), ("p1", (3, 4, 5)), ("g", (8,)), ("beta", (8,)))

    def __init__(self):
        super().__init__()
        self.gn = nn.GroupNorm(4, 8)
        self.inorm = nn.InstanceNorm2d(8, affine=True, track_running_stats=True)
        self.inorm1d = nn.InstanceNorm1d(4)

    def loss(self, img, seq, ti, ts):
        m = F.mse_loss
        z = img + self.p
        l = m(F.group_norm(z, 2, self.g, self.beta), ti) + m(self.gn(z), ti)
        return l + m(self.inorm(z), ti) + m(self.inorm1d(seq + self.p1), ts)


class OpsSlice(ParamModel):  # ops_slice.mdl
    PARAMS = (("p", (3, 7, 4)),)

    def loss(self, x, t):
        m = F.mse_loss
        z = x + self.p
        a, b, c = torch.chunk(z, 3, dim=1)          # 3, 3, 1
        u, v = torch.split(z, [5, 2], dim=1)
        rows = torch.unbind(z, dim=2)
        l = m(a * b, t[:, :3]) + m(torch.narrow(z, 1, -4, 2).sum(dim=[1]), t[:, 0])
        l = l + m(c.sum(dim=[1]) + z.select(1, -1), t[:, 1]) + m(u.mean(dim=[1]) * v[:, 1], t[:, 2])
        l = l + m(rows[0] * rows[3], t.sum(dim=[2]))
        return l + m(torch.split(z, 3, dim=1)[2].squeeze(1), t[:, 4])


class OpsIndex(ParamModel):  # ops_index.mdl
    PARAMS = (("p", (3, 7, 5)),)

    def loss(self, x, t):
        m = F.mse_loss
        z = x + self.p
        l = m(z[:, 0] * z[:, -1], t[:, 0]) + m(z[..., 1:3], t[..., 3:5])
        l = l + m(z[:, ::2], t[:, ::2])
        l = l + m(z[:, 1:6:2, ::4], t[:, :3, :2]) + m(z[1, -2:, 2], t[0, 0, :2])
        return l + m(z[:, -3:-1, -1:], t[:, 5:, :1])


class OpsAttention(ParamModel):  # ops_attention.mdl
    PARAMS = (("p_q", (2, 2, 5, 4)), ("p_k", (2, 2, 6, 4)), ("p_v", (2, 2, 6, 3)))

    def loss(self, q, k, v, bias, keep, t, t5):
        m, sdpa = F.mse_loss, F.scaled_dot_product_attention
        q, k, v = q + self.p_q, k + self.p_k, v + self.p_v
        l = m(sdpa(q, k, v), t) + m(sdpa(q, k, v, attn_mask=bias), t)
        l = l + m(sdpa(q, k, v, attn_mask=keep, scale=0.3), t)
        return l + m(sdpa(q, k[:, :, :5], v[:, :, :5], is_causal=True), t5)


def attention_inputs(g):
    keep = torch.rand(5, 6, generator=g) > 0.4
    keep[:, 0] = True  # every query attends to something
    return {"q": randn(g, 2, 2, 5, 4), "k": randn(g, 2, 2, 6, 4), "v": randn(g, 2, 2, 6, 3),
            "bias": randn(g, 5, 6), "keep": keep, "t": randn(g, 2, 2, 5, 3),
            "t5": randn(g, 2, 2, 5, 3)}


class OpsViews(ParamModel):  # ops_views.mdl
    PARAMS = (("p", (2, 8, 3, 1)),)

    def loss(self, x, t, t2):
        m = F.mse_loss
        z = x + self.p
        l = m(z.squeeze(3).unsqueeze(1).view(2, 24), t) + m(z.squeeze().reshape(2, z.size(2), 8), t2)
        return l + m(F.pixel_shuffle(z.view(2, 8, 3, 1), 2).sum(dim=[1, 3]), t[:, :6])


class OpsUpsample(ParamModel):  # ops_upsample.mdl
    PARAMS = (("p", (2, 3, 2, 3)),)

    def __init__(self):
        super().__init__()
        self.up = nn.Upsample(scale_factor=2)

    def loss(self, x, t, t2):
        m = F.mse_loss
        z = x + self.p
        l = m(self.up(z), t) + m(F.interpolate(z, size=(6, 3), mode="nearest"), t2)
        l = l + m(F.interpolate(z * z, scale_factor=(3, 1)), t2)
        return l + m(F.adaptive_max_pool2d(self.up(z), (2, 3)), t[:, :, :2, :3])


class OpsWhere(ParamModel):  # ops_where.mdl
    PARAMS = (("p", (3, 4)), ("q", (4,)), ("r", (2, 1, 4)))

    def loss(self, x, mask, t, t3):
        m = F.mse_loss
        z = x + self.p
        # where with two parameters broadcast against each other, and with a
        # number; masked_fill; the comparisons only choose.
        l = m(torch.where(z > 0, z, self.q), t) + m(torch.where(mask, 2.0, z * z), t)
        l = l + m(z.masked_fill(mask, -1.0) * self.q, t)
        l = l + m(self.r.expand(2, 3, 4) * z, t3) + m(self.q.repeat(3, 1) * z, t)
        sq = z[:, :3]
        return l + m(torch.tril(sq @ sq.T, -1) + torch.triu(sq.T @ sq, 1), t[:, :3])


class OpsResample(ParamModel):  # ops_resample.mdl
    PARAMS = (("p", (2, 4, 3, 3)), ("wt", (4, 3, 3, 3)), ("wg", (4, 1, 2, 2)), ("we", (3, 4, 2, 2)),
              ("table", (6, 3)))

    def loss(self, x, ids, t, t2, t3):
        m = F.mse_loss
        z = x + self.p
        l = m(F.conv_transpose2d(z, self.wt, stride=2, padding=1, output_padding=1), t)
        l = l + m(F.conv_transpose2d(z, self.wg, stride=2, groups=2), t2)
        l = l + m(F.conv2d(z, self.we, padding="same"), t3)
        l = l + m(F.interpolate(z, size=(6, 6), mode="bilinear")[:, :3], t[:, :, :6, :6])
        l = l + m(F.interpolate(z, scale_factor=2, mode="bilinear", align_corners=True)[:, :3],
                  t[:, :, :6, :6])
        l = l + m(F.interpolate(z, size=(5, 4))[:, :3, :3, :3], t3)
        return l + F.embedding(ids, self.table, padding_idx=2).square().sum()


class OpsDecoder(ParamModel):  # ops_decoder.mdl
    def __init__(self):
        super().__init__()
        self.dec = nn.TransformerDecoderLayer(8, 2, 12, dropout=0.0, batch_first=True)

    def loss(self, x, memory, t):
        y = self.dec(x, memory, tgt_mask=nn.Transformer.generate_square_subsequent_mask(4),
                     tgt_is_causal=True)
        return F.mse_loss(y, t)


class OpsAttentionLong(ParamModel):  # ops_attention_long.mdl
    PARAMS = (("wq", (4, 4)), ("pk", (1, 2, 272, 4)), ("pv", (1, 2, 272, 4)))

    def loss(self, q, t, q2, t2):
        sdpa = F.scaled_dot_product_attention
        y = sdpa(q @ self.wq, self.pk, self.pv, is_causal=True)
        # More queries than keys, causal (the last rows see every key) and not.
        y2 = sdpa(q2 @ self.wq, self.pk, self.pv, is_causal=True)
        y3 = sdpa(q2 @ self.wq, self.pk, self.pv)
        return F.mse_loss(y, t) + F.mse_loss(y2, t2) + F.mse_loss(y3, t2)


class OpsRecurrent(ParamModel):  # ops_recurrent.mdl
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 4, batch_first=True, bidirectional=True)
        self.gru = nn.GRU(3, 2, num_layers=2)

    def loss(self, x, t, t2):
        y, (h, c) = self.lstm(x)
        g, hg = self.gru(x.transpose(0, 1))
        return F.mse_loss(y, t) + F.mse_loss(c, h) + F.mse_loss(g.transpose(0, 1), t2) + hg.sum()


class OpsEmbedding(ParamModel):
    PARAMS = (("table", (7, 3)),)

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(6, 4)

    def loss(self, ids, t, t4):
        return F.mse_loss(F.embedding(ids, self.table), t) + F.mse_loss(self.emb(ids), t4)


class LossCE(ParamModel):
    PARAMS = shape_params(["p_plain", "p_weight", "p_smooth", "p_sum", "p_none", "p_prob"], (6, 5))
    BUFFERS = (("class_weight", (5,)),)

    def loss(self, x, y, y_ign, r, probs):
        ce, w = F.cross_entropy, self.class_weight
        l = ce(x + self.p_plain, y)
        l = l + ce(x + self.p_weight, y_ign, weight=w, ignore_index=-1)
        l = l + ce(x + self.p_smooth, y, weight=w, label_smoothing=0.2)
        l = l + ce(x + self.p_sum, y, reduction="sum")
        l = l + torch.sum(ce(x + self.p_none, y_ign, ignore_index=-1, reduction="none") * r)
        return l + ce(x + self.p_prob, probs, label_smoothing=0.1)


class LossNLL(ParamModel):
    PARAMS = shape_params(["p_plain", "p_weight"], (6, 5))
    BUFFERS = (("class_weight", (5,)),)

    def loss(self, x, y, y_ign):
        l = F.nll_loss(F.log_softmax(x + self.p_plain, dim=1), y)
        return l + F.nll_loss(F.log_softmax(x + self.p_weight, dim=1), y_ign, weight=self.class_weight,
                              ignore_index=-1, reduction="sum")


class LossRegression(ParamModel):
    PARAMS = shape_params(["p_mse", "p_mse_sum", "p_mse_none", "p_l1", "p_smooth", "p_smooth1",
                           "p_huber", "p_huber1"], (4, 6))

    def loss(self, x, t, r):
        l = F.mse_loss(x + self.p_mse, t) + F.mse_loss(x + self.p_mse_sum, t, reduction="sum")
        l = l + torch.sum(F.mse_loss(x + self.p_mse_none, t, reduction="none") * r)
        l = l + F.l1_loss(x + self.p_l1, t)
        l = l + F.smooth_l1_loss(x + self.p_smooth, t, beta=0.5) + F.smooth_l1_loss(x + self.p_smooth1, t, reduction="sum")
        return l + F.huber_loss(x + self.p_huber, t, delta=0.7) + F.huber_loss(x + self.p_huber1, t)


class LossBCE(ParamModel):
    PARAMS = shape_params(["p_bce", "p_bce_sum", "p_logits", "p_pos"], (4, 6))
    BUFFERS = (("pos_weight", (6,)),)

    def loss(self, x, t):
        l = F.binary_cross_entropy(torch.sigmoid(x + self.p_bce), t)
        l = l + F.binary_cross_entropy(torch.sigmoid(x + self.p_bce_sum), t, reduction="sum")
        l = l + F.binary_cross_entropy_with_logits(x + self.p_logits, t)
        return l + F.binary_cross_entropy_with_logits(x + self.p_pos, t, pos_weight=self.pos_weight)


# --------------------------------------------------------------------------
# Cases: model, initial state, batches, optimizer configurations
# --------------------------------------------------------------------------

def opt(name, **options):
    return (name, options)


def init_mlp(m, g):
    pass  # PyTorch's own initialization from the seed


def batches_mlp(g):
    return [{"x": randn(g, 16, 20), "y": torch.randint(0, 10, (16,), generator=g)} for _ in range(2)]


def init_cnn(m, g):
    randomize_norms(m, g)
    with torch.no_grad():
        # channel 3: weight = bias = 0, so relu's input there is exactly 0
        # everywhere (relu'(0) = 0: the channel's BatchNorm gradients are 0).
        m.bn.weight[3] = 0.0
        m.bn.bias[3] = 0.0


def batches_cnn(g, n=8):
    return [{"x": images_with_zero_blocks(g, n), "y": torch.randint(0, 10, (n,), generator=g)}
            for _ in range(3)]


def init_resblock(m, g):
    randomize_norms(m, g)


def batches_resblock(g):
    return [{"x": randn(g, 4, 4, 6, 6), "t": randn(g, 4, 3)} for _ in range(3)]


def init_frozen(m, g):
    randomize_norms(m, g)
    with torch.no_grad():
        m.temperature.fill_(2.0)


def batches_frozen(g):
    return batches_cnn(g, 8)


def params_default(m, g, scale=0.5):
    with torch.no_grad():
        for _, p in m.named_parameters():
            p.copy_(randn(g, *p.shape, scale=scale))


def zeros_at(g, x, p, frac=0.25, value=0.0):
    """p such that x + p is exactly `value` at about `frac` of the positions."""
    mask = torch.rand(x.shape, generator=g) < frac
    return torch.where(mask, value - x, p)


def init_ops_act(m, g, x):
    vals = {n: grid(g, s, -0.5, 0.5) for n, s in m.PARAMS}
    for n in ("p_relu", "p_leaky", "p_leaky2"):
        vals[n] = zeros_at(g, x, vals[n])
    set_params(m, vals)


def init_ops_math(m, g, x):
    vals = {n: grid(g, s, -0.25, 0.25) for n, s in m.PARAMS}
    vals["p_abs"] = zeros_at(g, x, vals["p_abs"])
    p = zeros_at(g, x, vals["p_clamp"], 0.2, 0.5)
    vals["p_clamp"] = zeros_at(g, x, p, 0.2, -0.5)
    vals["p_clamp0"] = zeros_at(g, x, vals["p_clamp0"])
    set_params(m, vals)


def init_ops_arith(m, g, x):
    set_params(m, {"a": grid(g, (4, 6), -1, 1), "b": uniform(g, (6,), 1, 2), "c": randn(g, 4, 1, scale=0.5),
                   "d": uniform(g, (4, 1), 1, 2), "s": torch.tensor(1.25)})


def init_ops_reduce(m, g, x):
    vals = {n: randn(g, *s, scale=0.5) for n, s in m.PARAMS}
    # amax over dim 1 (3 values): ties between positions 0 and 2 in half the columns
    z = grid(g, (2, 3, 4), -1, 1)
    z[:, 2, ::2] = z[:, 0, ::2]
    z[:, 0, ::2] = torch.maximum(z[:, 0, ::2], z[:, 1, ::2])
    z[:, 2, ::2] = z[:, 0, ::2]
    vals["p_amax"] = z - x
    # amax over dims [0, 2] (8 values per j): three equal maxima for j = 0, two for j = 2
    z = grid(g, (2, 3, 4), -1, 1)
    z[0, 0, 1] = z[1, 0, 3] = z[1, 0, 0] = z[:, 0, :].max()
    z[1, 2, 2] = z[0, 2, 0] = z[:, 2, :].max()
    vals["p_amax2"] = z - x
    set_params(m, vals)


def init_ops_pool(m, g, x):
    vals = {n: randn(g, *s, scale=0.5) for n, s in m.PARAMS}
    # coarse values (5 levels) for the max pools: many exact ties per window
    vals["p_max"] = grid(g, x.shape, -1, 1, 0.5) - x
    vals["p_max3"] = grid(g, x.shape, -1, 1, 0.5) - x
    set_params(m, vals)


def init_ops_norm(m, g, x):
    """Parameters by default, the affine g and beta of `functional` norms
    (their size: m.g's) and the modules' state off their defaults."""
    params_default(m, g)
    n = m.g.shape[0]
    with torch.no_grad():
        m.g.copy_(uniform(g, (n,), 0.5, 1.5))
        m.beta.copy_(randn(g, n, scale=0.1))
    randomize_norms(m, g)


def init_ops_embedding(m, g, x):
    params_default(m, g, 1.0)


def init_loss_ce(m, g, x):
    params_default(m, g)
    with torch.no_grad():
        m.class_weight.copy_(uniform(g, (5,), 0.5, 2.0))


def init_loss_regression(m, g, x, t):
    vals = {n: grid(g, s, -1, 1) for n, s in m.PARAMS}
    vals["p_l1"] = zeros_at(g, x, vals["p_l1"], 0.3, 0.0) if False else torch.where(
        torch.rand(x.shape, generator=g) < 0.3, t - x, vals["p_l1"])
    set_params(m, vals)


def init_loss_bce(m, g, x):
    params_default(m, g)
    with torch.no_grad():
        m.pos_weight.copy_(uniform(g, (6,), 0.5, 3.0))


def one_batch(fn):
    return lambda g: [fn(g)]


OPS_SGD = [opt("sgd", lr=0.1)]

CASES = {}


def case(name, cls, init, batches, optimizers, steps, init_takes_batch=False, doc="", tol=None,
         eval_mode=False):
    """eval_mode: the test also trains with --eval-mode against the same
    fixtures (a model without BatchNorm or dropout computes the same in both
    modes; modelc traces and differentiates each mode on its own)."""
    CASES[name] = dict(cls=cls, init=init, batches=batches, optimizers=optimizers, steps=steps,
                       init_takes_batch=init_takes_batch, doc=doc, tol={**TOL, **(tol or {})},
                       eval_mode=eval_mode)


case("mlp", MLP, init_mlp, batches_mlp, {
    "sgd": opt("sgd", lr=0.1),
    "sgd_momentum": opt("sgd", lr=0.05, momentum=0.9, weight_decay=1e-3, nesterov=True),
    "adam": opt("adam", lr=1e-2),
    "adam_amsgrad": opt("adam", lr=1e-2, amsgrad=True, weight_decay=1e-2),
    "adamw": opt("adamw", lr=1e-2, weight_decay=0.1),
    "sgd_maximize": opt("sgd", lr=0.05, momentum=0.9, dampening=0.5, maximize=True),
}, 4, doc="Linear-ReLU-Linear, cross_entropy; 4 steps over 2 batches of 16 with six optimizer configurations")
case("cnn_bn", lambda: CNNBN(), init_cnn, batches_cnn, {
    "sgd_momentum": opt("sgd", lr=0.05, momentum=0.9),
    "adam": opt("adam", lr=1e-2),
}, 3, doc="conv-bn-relu-maxpool-linear, label smoothing; max-pool ties, relu'(0); running statistics")
case("cnn_bn_none", lambda: CNNBN(momentum=None), init_cnn, batches_cnn, {
    "sgd": opt("sgd", lr=0.1),
}, 3, doc="cnn_bn with BatchNorm2d(momentum=none): cumulative running statistics from num_batches_tracked = 5")
case("resblock", ResBlock, init_resblock, batches_resblock, {
    "sgd_momentum": opt("sgd", lr=0.05, momentum=0.9),
}, 3, doc="ResNet basic block (identity shortcut), adaptive_avg_pool2d, Linear; mse_loss")
case("frozen", Net, init_frozen, batches_frozen, {
    "sgd_groups": opt("sgd", lr=0.1, momentum=0.9, weight_decay=0.01,
                      groups=[{"params": "*.bias", "weight_decay": 0}]),
}, 3, doc="TRAINING.md's example: frozen `temperature` (no grad, unchanged), no weight decay on *.bias",
     # conv.bias feeds a BatchNorm: its gradient is 0 up to float32 rounding
     # (about 1e-8 here), which the momentum buffer accumulates.
     tol={"optim": (1e-4, 1e-6)})


def ops_case(name, cls, init, batch, doc, eval_mode=False):
    case(name, cls, init, one_batch(batch), {"sgd": OPS_SGD[0]}, 1, init_takes_batch=True, doc=doc,
         eval_mode=eval_mode)


ops_case("ops_act", OpsAct, init_ops_act,
         lambda g: {"x": grid(g, (4, 6), -2, 2), "t": randn(g, 4, 6, scale=0.5)},
         "relu, leaky_relu (default, 0.2), sigmoid, tanh, silu, gelu (erf, tanh); exact zeros for relu/leaky_relu")
ops_case("ops_hard", OpsHard,
         lambda m, g, x: set_params(m, {n: grid(g, s, -0.5, 0.5) for n, s in m.PARAMS}),
         lambda g: {"x": grid(g, (4, 6), -4, 4), "t": randn(g, 4, 6, scale=0.5)},
         "relu6, hardtanh (default, -2..3), hardsigmoid, hardswish: every region of each")
ops_case("ops_smooth", OpsSmooth,
         lambda m, g, x: set_params(m, {n: grid(g, s, -0.5, 0.5) for n, s in m.PARAMS}),
         lambda g: {"x": grid(g, (4, 6), -4, 4), "t": randn(g, 4, 6, scale=0.5)},
         "elu (default, alpha 0.5), softplus (default, beta 2), mish, prelu (one weight, one per channel)")
ops_case("ops_math", OpsMath, init_ops_math,
         lambda g: {"x": grid(g, (4, 6), -1.5, 1.5), "xp": grid(g, (4, 6), 0.5, 2), "t": randn(g, 4, 6, scale=0.5)},
         "exp, log, sqrt, rsqrt, abs (exact zeros), clamp (values on the bounds), unary minus, pow 2/3/0.5, scalar * - /")
def init_ops_edges(m, g, x):
    set_params(m, {"p_bce": torch.zeros(6), "p_logits": torch.zeros(6),
                   "p_base": torch.tensor([0.0, 0.0, 0.5, 1.0, 0.0, 2.0]),
                   "p_exponent": torch.tensor([0.0, 2.0, 1.0, 0.5, 3.0, 1.0]),
                   "p_pool": grid(g, (1, 2, 4, 4), -1, 1)})


def edges_batch(g):
    img = grid(g, (1, 2, 4, 4), -1, 1)
    img[0, 0, 0, 0] = float("-inf")   # the padded corner window has only -inf
    img[0, 1, 3, 3] = float("-inf")
    return {"z": torch.tensor([20.0, -120.0, 1.0, -0.5, 0.25, 150.0]),
            "t": torch.tensor([1.0, 0.0, 1.0, 0.5, 0.25, 0.0]),
            "e": torch.tensor([0.0, 2.0, 0.0, 1.0, 2.0, 0.5]), "img": img}


ops_case("ops_edges", OpsEdges, init_ops_edges, edges_batch,
         "edges the review found: bce of a saturated sigmoid (exactly 0 and 1), bce_with_logits at 0, "
         "pow at base 0 with exponent 0 / >= 0, max pooling of an all -inf padded window")
ops_case("ops_dynamic", OpsDynamic, lambda m, g, x: params_default(m, g),
         lambda g: {"x": randn(g, 2, 3, 4, 4)},
         "pooling gradients with the batch and the channels known only at run time (f32[N, C, 4, 4])")
ops_case("ops_arith", OpsArith, init_ops_arith,
         lambda g: {"x": randn(g, 4, 6), "t": randn(g, 4, 6)},
         "+ - * / broadcasting [4,6] with [6], [4,1] and a 0-d parameter")
ops_case("ops_linalg", OpsLinalg, lambda m, g, x: params_default(m, g),
         lambda g: {"x": randn(g, 4, 6), "t": randn(g, 4, 5), "t3": randn(g, 2, 4, 5), "tv": randn(g, 4),
                    "t2": randn(g, 4, 3)},
         "matmul 2-D, batched, matrix-vector, @, linear with and without bias")
ops_case("ops_softmax", OpsSoftmax, lambda m, g, x: params_default(m, g),
         lambda g: {"x": randn(g, 4, 6), "t": randn(g, 4, 6, scale=0.5)},
         "softmax and log_softmax over dims 1, 0, -2")
ops_case("ops_reduce", OpsReduce, init_ops_reduce,
         lambda g: {"x": grid(g, (2, 3, 4), -1, 1), "t": randn(g, 2, 4), "t1": randn(g, 2, 1, 4), "t3": randn(g, 3)},
         "mean, sum (keepdim, negative dims), var (unbiased or not), amax with exact ties (shared evenly)")
ops_case("ops_shape", OpsShape, lambda m, g, x: params_default(m, g),
         lambda g: {"x": randn(g, 2, 3, 4), "t": randn(g, 4, 12), "t2": randn(g, 8, 6), "tf": randn(g, 24)},
         "flatten, reshape with -1, permute, transpose, cat on dims 0 and 1")
ops_case("ops_pool", OpsPool, init_ops_pool,
         lambda g: {"x": grid(g, (2, 3, 6, 6), -1, 1), "t": randn(g, 2, 3, 3, 3), "t4": randn(g, 2, 3, 4, 4)},
         "max_pool2d with ties (first maximum) and overlapping padded windows, avg_pool2d count_include_pad both ways, adaptive_avg_pool2d 6->4")
ops_case("ops_conv", OpsConv, lambda m, g, x: params_default(m, g),
         lambda g: {"x": randn(g, 2, 4, 7, 7), "t": randn(g, 2, 4, 4, 4), "t2": randn(g, 2, 2, 7, 7)},
         "conv2d: input, weight, bias gradients; stride 2 padding 1 groups 2; dilation 2 without bias")
ops_case("ops_conv_small", OpsConvSmall, lambda m, g, x: params_default(m, g),
         lambda g: {"x": randn(g, 2, 4, 1, 1), "x2": randn(g, 2, 4, 2, 2), "x3": randn(g, 2, 4, 1, 3),
                    "t": randn(g, 2, 4, 1, 1), "t2": randn(g, 2, 4, 1, 1), "t3": randn(g, 2, 3, 1, 3)},
         "conv2d on images smaller than the filter's reach (taps that read only padding, trimmed): "
         "3x3 on 1x1, 3x3 stride 2 on 2x2, 3x3 on 1x3 with a filter computed in the call; "
         "input, weight, bias gradients")
ops_case("ops_conv1d", OpsConv1d, lambda m, g, x: params_default(m, g),
         lambda g: {"x": randn(g, 2, 4, 11), "t": randn(g, 2, 4, 6), "t2": randn(g, 2, 2, 6),
                    "t3": randn(g, 2, 4, 3)},
         "conv1d (stride 2, padding 1, groups 2; dilation 2 without bias), max_pool1d, avg_pool1d, adaptive_avg_pool1d: input, weight, bias gradients")
ops_case("ops_group_norm", OpsGroupNorm, init_ops_norm,
         lambda g: {"img": randn(g, 2, 8, 3, 4), "seq": randn(g, 3, 4, 5),
                    "ti": randn(g, 2, 8, 3, 4), "ts": randn(g, 3, 4, 5)},
         "group_norm with weight and bias, GroupNorm, InstanceNorm2d (affine, running statistics), InstanceNorm1d: input and affine gradients")
ops_case("ops_slice", OpsSlice, lambda m, g, x: params_default(m, g),
         lambda g: {"x": randn(g, 3, 7, 4), "t": randn(g, 3, 7, 4)},
         "narrow (negative start), select (negative index), chunk (uneven), split (size, sections), unbind: gradients of slices")
ops_case("ops_index", OpsIndex, lambda m, g, x: params_default(m, g),
         lambda g: {"x": randn(g, 3, 7, 5), "t": randn(g, 3, 7, 5)},
         "x[i], x[:, -1], x[..., a:b], negative bounds, steps (x[:, ::2], x[:, 1:6:2, ::4]): values and gradients")
ops_case("ops_attention", OpsAttention, lambda m, g, x: params_default(m, g), attention_inputs,
         "scaled_dot_product_attention: plain, a float mask, a bool mask with a scale, is_causal: values and gradients")
ops_case("ops_views", OpsViews, lambda m, g, x: params_default(m, g),
         lambda g: {"x": randn(g, 2, 8, 3, 1), "t": randn(g, 2, 24), "t2": randn(g, 2, 3, 8)},
         "squeeze (all, one dim), unsqueeze, view, size, pixel_shuffle: values and gradients")
ops_case("ops_upsample", OpsUpsample, lambda m, g, x: params_default(m, g),
         lambda g: {"x": randn(g, 2, 3, 2, 3), "t": randn(g, 2, 3, 4, 6), "t2": randn(g, 2, 3, 6, 3)},
         "Upsample and interpolate, nearest: scale_factor (one, per dimension), size; adaptive_max_pool2d; values and gradients")
ops_case("ops_where", OpsWhere, lambda m, g, x: set_params(m, {n: grid(g, s, -1, 1) for n, s in m.PARAMS}),
         lambda g: {"x": randn(g, 3, 4), "mask": torch.rand(3, 4, generator=g) > 0.5, "t": randn(g, 3, 4),
                    "t3": randn(g, 2, 3, 4)},
         "where (tensor and number branches, broadcast), masked_fill, expand, repeat, tril, triu: values and gradients")
ops_case("ops_resample", OpsResample, lambda m, g, x: params_default(m, g),
         lambda g: {"x": randn(g, 2, 4, 3, 3), "ids": torch.tensor([[0, 2, 5], [2, 2, 1]]),
                    "t": randn(g, 2, 3, 6, 6), "t2": randn(g, 2, 2, 6, 6), "t3": randn(g, 2, 3, 3, 3)},
         "conv_transpose2d (output_padding; groups), padding='same' with an even kernel, bilinear "
         "interpolate with and without align_corners, nearest to a size, embedding's padding_idx: "
         "values and gradients")
ops_case("ops_decoder", OpsDecoder, lambda m, g, x: params_default(m, g),
         lambda g: {"x": randn(g, 2, 4, 8), "memory": randn(g, 2, 5, 8), "t": randn(g, 2, 4, 8)},
         "TransformerDecoderLayer (causal self-attention, cross-attention): the gradients of every weight")
ops_case("ops_attention_long", OpsAttentionLong, lambda m, g, x: params_default(m, g),
         lambda g: {"q": randn(g, 1, 2, 272, 4), "t": randn(g, 1, 2, 272, 4),
                    "q2": randn(g, 1, 2, 288, 4), "t2": randn(g, 1, 2, 288, 4)},
         "scaled_dot_product_attention, causal (L = S = 272; L = 288 > S) and not (L = 288), the gradients of queries, keys and values: "
         "in training mode over blocks of queries, in evaluation mode (--eval-mode) one mdl.attention "
         "and its gradient rule", eval_mode=True)
ops_case("ops_recurrent", OpsRecurrent, lambda m, g, x: params_default(m, g),
         lambda g: {"x": randn(g, 2, 4, 3), "t": randn(g, 2, 4, 8), "t2": randn(g, 2, 4, 2)},
         "LSTM (bidirectional, batch_first) and GRU (2 layers): the gradients of every weight and bias")
ops_case("ops_norm", OpsNorm, init_ops_norm,
         lambda g: {"img": randn(g, 3, 3, 4, 4), "x": randn(g, 5, 4), "ti": randn(g, 3, 3, 4, 4), "t": randn(g, 5, 4)},
         "BatchNorm2d/1d in training mode (through batch statistics; running statistics), LayerNorm module, layer_norm with/without affine")
ops_case("ops_embedding", OpsEmbedding, init_ops_embedding,
         lambda g: {"ids": torch.tensor([[0, 2], [2, 5], [0, 0], [3, 2]]), "t": randn(g, 4, 2, 3),
                    "t4": randn(g, 4, 2, 4)},
         "embedding function and Embedding module: repeated indices accumulate, unused rows get 0")
ops_case("loss_ce", LossCE, init_loss_ce,
         lambda g: {"x": randn(g, 6, 5), "y": torch.tensor([0, 3, 1, 4, 3, 2]),
                    "y_ign": torch.tensor([0, -1, 1, 4, -1, 2]), "r": uniform(g, (6,), 0.5, 1.5),
                    "probs": torch.softmax(randn(g, 6, 5), dim=1)},
         "cross_entropy: indices, weight + ignore_index, label_smoothing + weight, sum, none, probability targets")
ops_case("loss_nll", LossNLL, init_loss_ce,
         lambda g: {"x": randn(g, 6, 5), "y": torch.tensor([0, 3, 1, 4, 3, 2]),
                    "y_ign": torch.tensor([0, -1, 1, 4, -1, 2])},
         "nll_loss: defaults; weight + ignore_index + sum")
ops_case("loss_regression", LossRegression, init_loss_regression,
         lambda g: {"x": grid(g, (4, 6), -1, 1), "t": grid(g, (4, 6), -1, 1), "r": uniform(g, (4, 6), 0.5, 1.5)},
         "mse_loss mean/sum/none, l1_loss with exact zero differences, smooth_l1_loss(beta), huber_loss(delta)")
ops_case("loss_bce", LossBCE, init_loss_bce,
         lambda g: {"x": randn(g, 4, 6), "t": torch.rand(4, 6, generator=g)},
         "binary_cross_entropy (mean, sum), binary_cross_entropy_with_logits with and without pos_weight")


# Wrong configurations that the tolerances must catch (see module doc).
def mutants(name, options):
    out = []
    o = dict(options)
    if name == "sgd":
        if o.get("nesterov"):
            out.append(("sgd", {**o, "nesterov": False}))
        if o.get("momentum"):
            out.append(("sgd", {**o, "momentum": 0.0, "nesterov": False}))
        if o.get("dampening"):
            out.append(("sgd", {**o, "dampening": 0.0}))
        if o.get("maximize"):
            out.append(("sgd", {**o, "maximize": False}))
        if o.get("weight_decay"):
            out.append(("sgd", {**o, "weight_decay": 0.0}))
        if o.get("groups"):
            out.append(("sgd", {k: v for k, v in o.items() if k != "groups"}))
        out.append(("sgd", {**o, "lr": o["lr"] * 1.02}))
    else:
        other = "adamw" if name == "adam" else "adam"
        if o.get("weight_decay"):
            out.append((other, o))
            out.append((name, {**o, "weight_decay": 0.0}))
        if o.get("amsgrad"):
            out.append((name, {**o, "amsgrad": False}))
        out.append((name, {**o, "betas": (0.9, 0.99)}))
        out.append((name, {**o, "eps": 1e-6}))
        out.append((name, {**o, "lr": o["lr"] * 1.02}))
    return out


# --------------------------------------------------------------------------
# ABI cases: sequences of training-ABI calls (test/e2e/train/Inputs/train_abi.c)
# --------------------------------------------------------------------------

def load_fixture(name):
    return load_file(str(FIXTURES_DIR / f"{name}.safetensors"))


def abi_model(case, dtype):
    spec = CASES[case]
    model = build(spec, dtype, load_fixture(f"{case}.state"))
    for n, p in model.named_parameters():
        p.requires_grad_(n not in FROZEN_BY_DECLARATION.get(case, ()))
    return model


FROZEN_BY_DECLARATION = {"frozen": ("temperature",)}


def abi_batches(case, n, dtype):
    return [cast_batch(load_fixture(f"{case}.step{i}.inputs"), dtype) for i in range(n)]


def abi_result(model, opt_, names, losses, grads):
    state = {k: (v.to(torch.float32) if v.is_floating_point() else v).detach().clone().contiguous()
             for k, v in model.state_dict().items()}
    return {"losses": {"loss": torch.stack(losses).to(torch.float32)}, "grads": grads, "state": state,
            "optim": optim_state.to_safetensors_dict(opt_.state_dict(), names)}


def current_grads(model):
    return {n: p.grad.detach().to(torch.float32).clone()
            for n, p in model.named_parameters() if p.requires_grad and p.grad is not None}


ACCUM_OPT = ("sgd", {"lr": 0.05, "momentum": 0.9, "weight_decay": 1e-3})


def abi_accum(dtype, variant=None):
    """mlp: twice: zero_grad(); loss(b0).backward(); loss(b1).backward(); step()."""
    torch.manual_seed(0)
    model = abi_model("mlp", dtype)
    b = abi_batches("mlp", 2, dtype)
    opt_, names = optim_state.make_torch_optimizer(model.named_parameters(), *ACCUM_OPT, foreach=False)
    losses, grads = [], {}
    for r in range(2):
        opt_.zero_grad()
        for i in range(2):
            if variant == "no_accumulation" and i == 1:
                opt_.zero_grad()
            loss = model.loss(**b[i])
            loss.backward()
            losses.append(loss.detach().to(torch.float64))
            if variant == "step_each" and i == 0:
                opt_.step()
                opt_.zero_grad()
        if r == 1:
            grads = current_grads(model)
        opt_.step()
    return abi_result(model, opt_, names, losses, grads)


SCHEDULE_OPT = ("sgd", {"lr": 0.1, "momentum": 0.9})
SCHEDULE_LR = (0.1, 0.05, 0.025)


def ignore100_batch():
    """mlp's batch 0 with the targets of rows 1, 6, 11, 12 set to -100 (the
    default ignore_index): the mean is over the 12 other rows."""
    b = load_fixture("mlp.step0.inputs")
    y = b["y"].clone()
    y[[1, 6, 11, 12]] = -100
    return {"x": b["x"], "y": y}


def bad_target_batches():
    """Inputs files that training must refuse (test/e2e/train/bad-input.test):
    mlp's batch 0 with class index 10 (10 classes), with -3, and with the
    targets as F32 instead of I64."""
    b = load_fixture("mlp.step0.inputs")
    for name, value in (("target10", 10), ("target_neg3", -3)):
        y = b["y"].clone()
        y[3] = value
        save_file({"x": b["x"], "y": y}, str(FIXTURES_DIR / f"mlp.bad_{name}.inputs.safetensors"))
    save_file({"x": b["x"], "y": b["y"].to(torch.float32)}, str(FIXTURES_DIR / "mlp.bad_f32_targets.inputs.safetensors"))


def abi_schedule(dtype, variant=None):
    """mlp: for i, lr in (0.1, 0.05, 0.025): group["lr"] = lr; zero_grad; loss(b_i).backward(); step.
    Batches: mlp step 0, step 1, and ignore100 (mlp.ignore100.inputs)."""
    torch.manual_seed(0)
    model = abi_model("mlp", dtype)
    b = abi_batches("mlp", 2, dtype) + [cast_batch(load_fixture("mlp.ignore100.inputs"), dtype)]
    opt_, names = optim_state.make_torch_optimizer(model.named_parameters(), *SCHEDULE_OPT, foreach=False)
    lrs = {None: SCHEDULE_LR, "constant_lr": (0.1, 0.1, 0.1), "late_lr": (0.1, 0.1, 0.05)}.get(variant, SCHEDULE_LR)
    losses = []
    for i in range(3):
        for group in opt_.param_groups:
            group["lr"] = lrs[i]
        opt_.zero_grad()
        if variant == "ignored_rows_counted" and i == 2:
            y = b[i]["y"]
            keep = y != -100
            loss = F.cross_entropy(model(b[i]["x"])[keep], y[keep], reduction="sum") / y.numel()
        else:
            loss = model.loss(**b[i])
        loss.backward()
        losses.append(loss.detach().to(torch.float64))
        grads = current_grads(model)
        opt_.step()
    return abi_result(model, opt_, names, losses, grads)


FREEZE_OPT = ("sgd", {"lr": 0.1, "momentum": 0.9})


def abi_freeze(dtype, variant=None):
    """frozen: step 0 as declared (temperature frozen); then
    fc.weight.requires_grad_(False), temperature.requires_grad_(True); steps 1, 2."""
    torch.manual_seed(0)
    model = abi_model("frozen", dtype)
    b = abi_batches("frozen", 3, dtype)
    opt_, names = optim_state.make_torch_optimizer(model.named_parameters(), *FREEZE_OPT, foreach=False)
    losses = []
    for i in range(3):
        if i == 1:
            if variant != "fc_trained":
                model.fc.weight.requires_grad_(False)
            if variant != "temperature_frozen":
                model.temperature.requires_grad_(True)
        opt_.zero_grad()
        loss = model.loss(**b[i])
        loss.backward()
        if variant == "zero_grad_for_frozen" and i >= 1:
            model.fc.weight.grad = torch.zeros_like(model.fc.weight)  # momentum still moves it
        losses.append(loss.detach().to(torch.float64))
        grads = current_grads(model)
        if variant == "zero_grad_for_frozen":
            grads.pop("fc.weight", None)
        opt_.step()
    return abi_result(model, opt_, names, losses, grads)


RESUME_OPT = ("adamw", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True})


def abi_resume(dtype, variant=None, upto=4):
    """cnn_bn: `upto` steps over batches 0, 1, 2, 0 (the C program: 2 steps,
    save, a fresh model loads both, 2 more; which must equal 4 straight)."""
    torch.manual_seed(0)
    model = abi_model("cnn_bn", dtype)
    b = abi_batches("cnn_bn", 3, dtype)
    opt_, names = optim_state.make_torch_optimizer(model.named_parameters(), *RESUME_OPT, foreach=False)
    losses = []
    for i in range(upto):
        if i == 2 and variant == "fresh_optimizer":
            opt_, names = optim_state.make_torch_optimizer(model.named_parameters(), *RESUME_OPT, foreach=False)
        if i == 2 and variant == "step_reset":
            for st in opt_.state.values():
                st["step"] = torch.zeros_like(torch.as_tensor(st["step"]))
        opt_.zero_grad()
        loss = model.loss(**b[i % 3])
        loss.backward()
        losses.append(loss.detach().to(torch.float64))
        grads = current_grads(model)
        opt_.step()
    return abi_result(model, opt_, names, losses, grads), opt_, names


def forward_backward_inputs():
    """cnn_bn's batch 0 and a cotangent g for its [8, 10] output (on a 1/8
    grid, so float32 holds it exactly)."""
    b = load_fixture("cnn_bn.step0.inputs")
    gen = torch.Generator().manual_seed(5)
    g = torch.randint(-8, 9, (b["x"].shape[0], 10), generator=gen).to(torch.float32) / 8
    return {"x": b["x"], "g": g}


def abi_forward_backward(dtype, variant=None):
    """cnn_bn, training mode: y = model(x); y.backward(g) (forward_backward)."""
    model = abi_model("cnn_bn", dtype)
    if variant == "eval_mode":
        model.eval()
    inp = cast_batch(load_fixture("cnn_bn.fb.inputs"), dtype)
    y = model(inp["x"])
    y.backward(torch.ones_like(inp["g"]) if variant == "ones" else inp["g"])
    state = {k: (v.to(torch.float32) if v.is_floating_point() else v).detach().clone().contiguous()
             for k, v in model.state_dict().items()}
    return {"out": {"output": y.detach().to(torch.float32)}, "grads": current_grads(model),
            "state": state}


ABI_CASES = {
    # name: (model case, function, wrong variants the tolerances must catch, tolerances)
    "abi_accum": ("mlp", abi_accum, ["no_accumulation", "step_each"], TOL),
    "abi_schedule": ("mlp", abi_schedule, ["constant_lr", "late_lr", "ignored_rows_counted"], TOL),
    "abi_freeze": ("frozen", abi_freeze, ["fc_trained", "temperature_frozen", "zero_grad_for_frozen"],
                   {**TOL, "optim": (1e-4, 1e-6)}),
    "abi_resume": ("cnn_bn", lambda dtype, variant=None: abi_resume(dtype, variant)[0],
                   ["fresh_optimizer", "step_reset"], TOL),
    "abi_forward_backward": ("cnn_bn", abi_forward_backward, ["ones", "eval_mode"],
                             {**TOL, "out": (1e-5, 1e-6)}),
}


def check_and_save(prefix, ref, f32, tol, keys=("losses", "grads", "state", "optim"), meta=None):
    report = []
    for k in keys:
        rtol, atol = tol[k]
        w, where = worst(f32[k], ref[k], rtol, atol)
        if w > 1.0 / MARGIN:
            sys.exit(f"{prefix}.{k}: float32 PyTorch is {w:.3g} of the tolerance from the "
                     f"float64 reference (at {where}); limit {1 / MARGIN}")
        report.append(f"  {prefix}.{k}: float32 at {w:.3f} of tolerance")
        save_file(ref[k], str(FIXTURES_DIR / f"{prefix}.{k}.safetensors"),
                  metadata=meta if k == "optim" else None)
    return report


def generate_abi(name):
    case, fn, variants, tol = ABI_CASES[name]
    report = []
    if name == "abi_schedule":
        save_file(ignore100_batch(), str(FIXTURES_DIR / "mlp.ignore100.inputs.safetensors"))
        bad_target_batches()
    if name == "abi_forward_backward":
        save_file(forward_backward_inputs(), str(FIXTURES_DIR / "cnn_bn.fb.inputs.safetensors"))
    ref, f32 = fn(torch.float64), fn(torch.float32)
    def check_variants():
        """Every wrong variant must fail the tolerances somewhere."""
        for v in variants:
            mut = fn(torch.float64, v)
            caught = [k for k in ref if worst(mut[k], ref[k], *tol[k])[0] > 1.0]
            if not caught:
                sys.exit(f"{case}.{name}: the tolerances do not catch the variant '{v}'")
            report.append(f"  {case}.{name}: catches {v} in {','.join(caught)}")

    if name == "abi_forward_backward":
        report += check_and_save(f"{case}.{name}", ref, f32, tol, keys=("out", "grads", "state"))
        check_variants()
        return report
    opt_name, opt_options = {"abi_accum": ACCUM_OPT, "abi_schedule": SCHEDULE_OPT, "abi_freeze": FREEZE_OPT,
                             "abi_resume": RESUME_OPT}[name]
    if name == "abi_schedule":
        opt_options = {**opt_options, "lr": SCHEDULE_LR[-1]}
    meta = optim_state.metadata(opt_name, opt_options)
    report += check_and_save(f"{case}.{name}", ref, f32, tol, meta=meta)
    check_variants()
    if name == "abi_resume":
        ref2 = abi_resume(torch.float64, upto=2)[0]
        f322 = abi_resume(torch.float32, upto=2)[0]
        report += check_and_save(f"{case}.{name}.step2", ref2, f322, tol, keys=("state", "optim"), meta=meta)
    return report


def check_modelc_optimizer_file(build_dir):
    """modelc's optimizer-state file, converted by tools/optim_state.py, is
    torch.optim's state_dict() (see the module doc, --check-modelc)."""
    import subprocess
    import tempfile

    bin_dir = Path(build_dir).resolve() / "bin"
    opt_name, opt_options = RESUME_OPT
    report = []
    with tempfile.TemporaryDirectory() as tmp:
        so, o2 = Path(tmp) / "cnn_bn.so", Path(tmp) / "o2.safetensors"
        subprocess.run([str(bin_dir / "modelc"), str(MODELS_DIR / "cnn_bn.mdl"), "-o", str(so)], check=True)
        subprocess.run([str(bin_dir / "modelc-run"), str(so), "--load-state",
                        str(FIXTURES_DIR / "cnn_bn.state.safetensors"), "--train-steps", "2",
                        "--inputs", str(FIXTURES_DIR / "cnn_bn.step0.inputs.safetensors"),
                        "--inputs", str(FIXTURES_DIR / "cnn_bn.step1.inputs.safetensors"),
                        "--optimizer", opt_name, "--lr", "0.01", "--weight-decay", "0.1", "--amsgrad",
                        "--save-optimizer", str(o2)], check=True)
        meta_name, meta_options = optim_state.parse_metadata(optim_state.read_metadata(o2))
        for k, v in opt_options.items():
            if meta_options.get(k) != v:
                sys.exit(f"--check-modelc: modelc's optimizer file says {k} = {meta_options.get(k)}, not {v}")
        if meta_name != opt_name:
            sys.exit(f"--check-modelc: modelc's optimizer file names '{meta_name}', not '{opt_name}'")
        # torch's own optimizer after the same 2 steps, in float32
        _, torch_opt, names = abi_resume(torch.float32, upto=2)
        model = abi_model("cnn_bn", torch.float32)
        loaded, names2 = optim_state.make_torch_optimizer(model.named_parameters(), meta_name, meta_options,
                                                          foreach=False)
        assert names2 == names
        optim_state.load_into(o2, loaded, names2)
        a, b = torch_opt.state_dict(), loaded.state_dict()
        if a["state"].keys() != b["state"].keys():
            sys.exit(f"--check-modelc: state for parameters {sorted(a['state'])} vs {sorted(b['state'])}")
        rtol, atol = TOL["optim"]
        w = 0.0
        for i in a["state"]:
            if a["state"][i].keys() != b["state"][i].keys():
                sys.exit(f"--check-modelc: {names[i]}: states {sorted(a['state'][i])} vs {sorted(b['state'][i])}")
            for k in a["state"][i]:
                x = torch.as_tensor(a["state"][i][k]).to(torch.float64).reshape(-1)
                y = torch.as_tensor(b["state"][i][k]).to(torch.float64).reshape(-1)
                w = max(w, ((x - y).abs() / (atol + rtol * x.abs())).max().item())
        if w > 1.0:
            sys.exit(f"--check-modelc: modelc's optimizer state is {w:.3g} of the tolerance from torch's")
        for ga, gb in zip(a["param_groups"], b["param_groups"]):
            for k in ga:
                if k != "params" and ga[k] != gb[k]:
                    sys.exit(f"--check-modelc: param group {k}: torch {ga[k]} vs modelc's file {gb[k]}")
        report.append(f"  --check-modelc: modelc's 2-step optimizer file as a torch state_dict(): "
                      f"{sum(len(s) for s in b['state'].values())} tensors, within {w:.3f} of the optim "
                      f"tolerance; param_groups equal")
        # 2 more torch steps from the loaded state reach the 4-step reference
        model.load_state_dict(load_file(str(FIXTURES_DIR / "cnn_bn.abi_resume.step2.state.safetensors")))
        model.train()
        b3 = abi_batches("cnn_bn", 3, torch.float32)
        for i in (2, 3):
            loaded.zero_grad()
            model.loss(**b3[i % 3]).backward()
            loaded.step()
        state = {k: (v.to(torch.float32) if v.is_floating_point() else v).detach() for k, v in model.state_dict().items()}
        ref = load_fixture("cnn_bn.abi_resume.state")
        w, where = worst(state, ref, *TOL["state"])
        if w > 1.0:
            sys.exit(f"--check-modelc: resuming torch from modelc's file is {w:.3g} of the tolerance off (at {where})")
        report.append(f"  --check-modelc: torch resumed from it for 2 steps: state within {w:.3f} of tolerance "
                      f"of the 4-step reference")
    return report


# --------------------------------------------------------------------------
# Running PyTorch
# --------------------------------------------------------------------------

def build(spec, dtype, state, **kw):
    model = spec["cls"]()
    model.load_state_dict(state)
    model = model.to(dtype)
    model.train()
    return model


def cast_batch(batch, dtype):
    return {k: v.to(dtype) if v.is_floating_point() else v for k, v in batch.items()}


def run(spec, state, batches, optimizer, options, dtype, frozen):
    """K training steps; returns {"losses", "grads", "state", "optim"} as float32 dicts."""
    torch.manual_seed(0)
    model = build(spec, dtype, state)
    for n, p in model.named_parameters():
        p.requires_grad_(n not in frozen)
    opt_, names = optim_state.make_torch_optimizer(model.named_parameters(), optimizer, options, foreach=False)
    losses, grads = [], {}
    for i in range(spec["steps"]):
        opt_.zero_grad()
        loss = model.loss(**cast_batch(batches[i % len(batches)], dtype))
        loss.backward()
        losses.append(loss.detach().to(torch.float64))
        if i == spec["steps"] - 1:
            grads = {n: p.grad.detach().to(torch.float32).clone()
                     for n, p in model.named_parameters() if p.requires_grad}
        opt_.step()
    out_state = {k: (v.to(torch.float32) if v.is_floating_point() else v).detach().clone().contiguous()
                 for k, v in model.state_dict().items()}
    return {
        "losses": {"loss": torch.stack(losses).to(torch.float32)},
        "grads": grads,
        "state": out_state,
        "optim": optim_state.to_safetensors_dict(opt_.state_dict(), names),
    }


def worst(a, b, rtol, atol):
    """max over elements of |a - b| / (atol + rtol |b|), and where."""
    if a.keys() != b.keys():
        return float("inf"), f"keys {sorted(a.keys() ^ b.keys())}"
    w, where = 0.0, ""
    for k in b:
        x, y = a[k].to(torch.float64), b[k].to(torch.float64)
        if x.shape != y.shape:
            return float("inf"), k + " shape"
        if x.numel() == 0:
            continue
        r = ((x - y).abs() / (atol + rtol * y.abs())).max().item()
        if r > w:
            w, where = r, k
    return w, where


def kinds(spec, optimizer, options):
    ks = ["losses", "grads", "state"]
    if spec["steps"] > 1 or optimizer != "sgd" or options.get("momentum"):
        ks.append("optim")
    return ks


def generate(name, spec, write_tests):
    g = torch.Generator().manual_seed(1000 + sum(map(ord, name)))
    torch.manual_seed(sum(map(ord, name)))
    model = spec["cls"]()
    batches = spec["batches"](g)
    if spec["init_takes_batch"]:
        b0 = batches[0]
        if spec["init"] is init_loss_regression:
            spec["init"](model, g, b0["x"], b0["t"])
        else:
            first = next(iter(b0.values()))
            spec["init"](model, g, first)
    else:
        spec["init"](model, g)
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    sig = list(batches[0].keys())

    save_file(state, str(FIXTURES_DIR / f"{name}.state.safetensors"))
    for i, b in enumerate(batches):
        save_file({k: v.contiguous() for k, v in b.items()}, str(FIXTURES_DIR / f"{name}.step{i}.inputs.safetensors"))

    report = []
    for oname, (optimizer, options) in spec["optimizers"].items():
        ref = run(spec, state, batches, optimizer, options, torch.float64, frozen)
        f32 = run(spec, state, batches, optimizer, options, torch.float32, frozen)
        ks = kinds(spec, optimizer, options)
        for k in ks:
            rtol, atol = spec["tol"][k]
            w, where = worst(f32[k], ref[k], rtol, atol)
            if w > 1.0 / MARGIN:
                sys.exit(f"{name}.{oname}.{k}: float32 PyTorch is {w:.3g} of the tolerance from the "
                         f"float64 reference (at {where}); limit {1 / MARGIN}")
            report.append(f"  {name}.{oname}.{k}: float32 at {w:.3f} of tolerance")
            meta = optim_state.metadata(optimizer, options) if k == "optim" else None
            save_file(ref[k], str(FIXTURES_DIR / f"{name}.{oname}.{k}.safetensors"), metadata=meta)
        if spec["steps"] > 1 or oname != "sgd":
            for mopt, mopts in mutants(optimizer, options):
                mut = run(spec, state, batches, mopt, mopts, torch.float64, frozen)
                caught = [k for k in ks if worst(mut[k], ref[k], *spec["tol"][k])[0] > 1.0]
                if not caught:
                    sys.exit(f"{name}.{oname}: the tolerances do not catch {mopt} {mopts}")
                report.append(f"  {name}.{oname}: catches {mopt} {json.dumps(mopts)} in {','.join(caught)}")
        if frozen:
            mut = run(spec, state, batches, optimizer, options, torch.float64, [])
            if worst(mut["state"], ref["state"], *spec["tol"]["state"])[0] <= 1.0:
                sys.exit(f"{name}: unfreezing {frozen} goes unnoticed")
            report.append(f"  {name}.{oname}: catches unfrozen {frozen} in state")
    if write_tests:
        write_test(name, spec, sig, len(batches), frozen)
    return report


def cli_options(optimizer, options):
    args = [f"--optimizer {optimizer}"]
    for k, v in options.items():
        if k == "groups":
            args.append(f"--optimizer-options '{json.dumps({'groups': v})}'")
        elif isinstance(v, bool):
            if v:
                args.append("--" + k.replace("_", "-"))
        elif k == "betas":
            args.append(f"--betas {v[0]},{v[1]}")
        else:
            args.append(f"--{k.replace('_', '-')} {v:g}")
    return " ".join(args)


def write_test(name, spec, sig, nbatches, frozen):
    lines = [f"# Training: {spec['doc']}.",
             f"# Model: models/{name}.mdl; fixtures: tools/gen_train_fixtures.py (PyTorch, float64",
             "# references rounded to float32); see README.md.", "",
             f"# RUN: modelc %S/models/{name}.mdl -o %t.so"]
    inputs = " ".join(f"--inputs %S/fixtures/{name}.step{i}.inputs.safetensors" for i in range(nbatches))
    for oname, (optimizer, options) in spec["optimizers"].items():
        ks = kinds(spec, optimizer, options)
        out = f"%t.{oname}"
        cmd = (f"# RUN: modelc-run %t.so --load-state %S/fixtures/{name}.state.safetensors "
               f"--train-steps {spec['steps']} {inputs} {cli_options(optimizer, options)} "
               f"--losses {out}.losses.safetensors --grads {out}.grads.safetensors "
               f"--save-state {out}.state.safetensors")
        if "optim" in ks:
            cmd += f" --save-optimizer {out}.optim.safetensors"
        lines += ["", f"# {oname}: {optimizer} {json.dumps(options)}", cmd]
        for k in ks:
            rtol, atol = spec["tol"][k]
            lines.append(f"# RUN: st-compare {out}.{k}.safetensors %S/fixtures/{name}.{oname}.{k}.safetensors "
                         f"--rtol {rtol:g} --atol {atol:g}")
        if spec.get("eval_mode"):
            lines += ["# The same in evaluation mode (--eval-mode): the same values.",
                      cmd.replace(" --train-steps", " --eval-mode --train-steps").replace(out, out + ".eval")]
            for k in ks:
                rtol, atol = spec["tol"][k]
                lines.append(f"# RUN: st-compare {out}.eval.{k}.safetensors "
                             f"%S/fixtures/{name}.{oname}.{k}.safetensors --rtol {rtol:g} --atol {atol:g}")
    if frozen:
        lines += ["", f"# The frozen parameters ({', '.join(frozen)}) keep their values exactly."]
    (TRAIN_DIR / f"{name}.test").write_text("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", help="cases to regenerate")
    ap.add_argument("--write-tests", action="store_true", help="also write test/e2e/train/<case>.test")
    ap.add_argument("--check-modelc", metavar="BUILD", help="check modelc's optimizer file against torch.optim "
                    "(BUILD/bin/modelc, modelc-run); see the module doc")
    args = ap.parse_args()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    if optim_state.self_check() != 0:
        return 1
    FIXTURES_DIR.mkdir(parents=True, exist_ok=True)
    names = args.only or list(CASES) + list(ABI_CASES)
    if "abi" in names:
        names = [n for n in names if n != "abi"] + list(ABI_CASES)
    for name in names:
        if name in ABI_CASES:
            for line in generate_abi(name):
                print(line)
            continue
        if name not in CASES:
            sys.exit(f"unknown case '{name}'; cases: {', '.join(list(CASES) + list(ABI_CASES))}")
        if not (MODELS_DIR / f"{name}.mdl").exists():
            sys.exit(f"missing {MODELS_DIR / (name + '.mdl')}")
        for line in generate(name, CASES[name], args.write_tests):
            print(line)
    if args.check_modelc:
        for line in check_modelc_optimizer_file(args.check_modelc):
            print(line)
    total = sum(p.stat().st_size for p in FIXTURES_DIR.glob("*.safetensors"))
    print(f"fixtures: {total / 1e6:.2f} MB in {FIXTURES_DIR.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
