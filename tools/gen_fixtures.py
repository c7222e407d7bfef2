#!/usr/bin/env python3
"""PyTorch parity fixtures for the end-to-end tests in test/e2e/.

For every model in test/e2e/models/*.mdl this script holds the equivalent
torch.nn module and writes, under test/e2e/fixtures/:

  <model>.state.safetensors        the (randomized) state dict that the tests load
  <model>.inputs.safetensors       one tensor per forward argument, named as in the .mdl
  <model>.eval.out.safetensors     evaluation-mode results ("output" or "output.0", ...)
  <model>.train.out.safetensors    training-mode results of the 3rd of 3 calls on the same inputs
  <model>.train.state.safetensors  the state dict after those 3 training-mode calls
  <model>.train<K>.{state,out}     (models with running statistics) the state dict after,
                                   and the results of, the K-th training-mode call, K = 1, 2:
                                   the same procedure as .train.state, stopped earlier
  <model>.b<N>.inputs/.eval.out    (some models) the same .so run at other batch sizes

Before writing anything it checks, with `modelc --emit=mdl`, that the torch
module's state dict has exactly the keys, order, shapes and dtypes of the .mdl's
mdl.param / persistent mdl.buffer entries, that the inputs match the forward
signature and that the results match its result types. Any mismatch is fatal.

References are computed in float64 (a float64 copy of the float32 model and
inputs) and rounded to the dtypes the float32 model produces, so the fixtures
hold the exact answer rounded once, not one float32 evaluation order among many.
The float32 PyTorch result is checked against it with the tests' tolerances
(rtol 1e-4, atol 1e-5); a model that PyTorch itself cannot meet them on is an
error, as the fixture would then be too fragile to test a compiler with.

PyTorch is needed only to regenerate fixtures (CI never runs this script):
    pip install torch numpy safetensors
    python tools/gen_fixtures.py                  # all models
    python tools/gen_fixtures.py --only tiny nested
    python tools/gen_fixtures.py --check-state s.safetensors --model tiny [--expect train.state]
    python tools/gen_fixtures.py --check-state s.safetensors --model tiny --keys-only
The last forms load a state dict written by modelc-run --save-state into the
PyTorch module with strict=True (and check dtypes, which load_state_dict would
silently convert) and say whether it matches one of the model's fixtures;
--expect KIND fails unless it matches fixtures/<model>.KIND.safetensors within
the tests' tolerance, --keys-only checks keys, shapes and dtypes only (a state
with random values, e.g. of a model created without --load-state).
tools/check_roundtrip.sh runs both for every model.
"""

import argparse
import copy
import math
import os
import re
import shutil
import subprocess
import sys
import zlib
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

REPO = Path(__file__).resolve().parent.parent
MODELS_DIR = REPO / "test" / "e2e" / "models"
FIXTURES_DIR = REPO / "test" / "e2e" / "fixtures"
TRAIN_REPEAT = 3
# Models whose state changes in training mode in a way worth checking after each
# call (running statistics, num_batches_tracked, `<-` buffers): they also get
# <model>.train<K>.{state,out}.safetensors for K = 1 .. TRAIN_REPEAT - 1.
TRAIN_STEPS_MODELS = ("bn2d_seed", "bn1d", "bn_momentum", "running_average")
RTOL, ATOL = 1e-4, 1e-5


# --------------------------------------------------------------------------
# The torch.nn equivalents of test/e2e/models/*.mdl
# --------------------------------------------------------------------------

class TinyModel(nn.Module):  # tiny.mdl
    def __init__(self):
        super().__init__()
        self.linear1 = nn.Linear(100, 200)
        self.activation = nn.ReLU()
        self.linear2 = nn.Linear(200, 10)
        self.softmax = nn.Softmax(dim=1)

    def forward(self, x):
        x = self.linear1(x)
        x = self.activation(x)
        x = self.linear2(x)
        return self.softmax(x)


class MyModel(nn.Module):  # mymodel.mdl
    def __init__(self):
        super().__init__()
        self.my_param = nn.Parameter(torch.randn(1))
        self.register_buffer("my_buffer", torch.randn(1))
        self.my_tensor = torch.randn(1)  # a plain tensor: neither state nor buffer

    def forward(self, x):
        return x


class BN2dSeed(nn.Module):  # bn2d_seed.mdl
    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm2d(5)

    def forward(self, x):
        return self.bn(x)


class BN1d(nn.Module):  # bn1d.mdl
    def __init__(self):
        super().__init__()
        self.flat = nn.BatchNorm1d(4)
        self.seq = nn.BatchNorm1d(3)

    def forward(self, x, y):
        return self.flat(x), self.seq(y)


class BNMomentum(nn.Module):  # bn_momentum.mdl
    def __init__(self):
        super().__init__()
        self.m01 = nn.BatchNorm1d(4)
        self.m03 = nn.BatchNorm1d(4, momentum=0.3)
        self.cumulative = nn.BatchNorm1d(4, momentum=None)
        self.noaffine = nn.BatchNorm1d(4, affine=False)
        self.untracked = nn.BatchNorm1d(4, track_running_stats=False)
        self.eps = nn.BatchNorm1d(4, eps=1e-3, momentum=0.05)
        self.image = nn.BatchNorm2d(3, momentum=None, affine=False)

    def forward(self, x, img):
        return (self.m01(x), self.m03(x), self.cumulative(x), self.noaffine(x),
                self.untracked(x), self.eps(x), self.image(img))


class Block(nn.Module):  # nested.mdl
    def __init__(self, n):
        super().__init__()
        self.register_buffer("scale", torch.ones(n))
        self.b = nn.Sequential(nn.Linear(n, n), nn.ReLU(), nn.Linear(n, n, bias=False))
        self.gain = nn.Parameter(torch.ones(n))

    def forward(self, x):
        return self.b(x) * self.gain + self.scale


class Outer(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.a = Block(n)
        self.seq = nn.Sequential(Block(n), nn.Sequential(nn.Linear(n, n), nn.Tanh()))

    def forward(self, x):
        return self.seq(self.a(x))


class Nested(nn.Module):
    def __init__(self):
        super().__init__()
        self.outer = Outer(6)
        self.a = Block(6)
        self.head = nn.Sequential(nn.Linear(6, 3))

    def forward(self, x):
        return self.head(self.a(self.outer(x)))


class RunningAverage(nn.Module):  # running_average.mdl (LANGUAGE.md's)
    def __init__(self, features, decay=0.9):
        super().__init__()
        self.decay = decay
        self.register_buffer("avg", torch.zeros(features))
        self.register_buffer("calls", torch.tensor(0.0), persistent=False)

    def forward(self, x):
        if self.training:
            # `<-` writes the buffer in place: later reads see the new value.
            self.avg.copy_(self.decay * self.avg + (1 - self.decay) * x.mean(dim=[0]))
            self.calls.copy_(self.calls + 1)
        return x - self.avg


class CountingAverage(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.register_buffer("avg", torch.zeros(features))
        self.register_buffer("calls", torch.tensor(0.0), persistent=False)

    def forward(self, x):
        if self.training:
            self.calls.copy_(self.calls + 1)
            self.avg.copy_(self.avg + (x.mean(dim=[0]) - self.avg) / self.calls)
        return x - self.avg, x * self.calls


class Averaged(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = RunningAverage(4)
        self.slow = RunningAverage(4, decay=0.5)
        self.count = CountingAverage(4)

    def forward(self, x):
        first = self.norm(x)
        second = self.norm(x)
        c, k = self.count(x)
        return first, self.slow(second), c, k


class BuiltinModules(nn.Module):  # builtins_modules.mdl
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 8, [3, 5], stride=[2, 1], padding=[1, 2], groups=2)
        self.dilated = nn.Conv2d(8, 6, 3, padding=2, dilation=2, bias=False)
        self.strided = nn.Conv2d(6, 6, 3, stride=2, padding=1, groups=3)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.maxpool2 = nn.MaxPool2d(2)
        self.avg_incl = nn.AvgPool2d(3, stride=1, padding=1)
        self.avg_excl = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)
        self.adapt = nn.AdaptiveAvgPool2d([3, 2])
        self.adapt1 = nn.AdaptiveAvgPool2d(1)
        self.flat = nn.Flatten()
        self.flat12 = nn.Flatten(start_dim=1, end_dim=2)
        self.norm = nn.LayerNorm(120)
        self.norm2 = nn.LayerNorm([24, 5], eps=1e-3, elementwise_affine=False)
        self.lin = nn.Linear(120, 12)
        self.lin_nobias = nn.Linear(12, 8, bias=False)
        self.gelu = nn.GELU()
        self.gelu_tanh = nn.GELU(approximate="tanh")
        self.sig = nn.Sigmoid()
        self.tanh = nn.Tanh()
        self.silu = nn.SiLU()
        self.leaky = nn.LeakyReLU()
        self.leaky2 = nn.LeakyReLU(0.2)
        self.relu = nn.ReLU()
        self.softmax = nn.Softmax(dim=1)
        self.softmax_last = nn.Softmax(dim=-1)
        self.logsm = nn.LogSoftmax(dim=1)
        self.ident = nn.Identity()
        self.drop = nn.Dropout(p=0.5)
        self.drop0 = nn.Dropout(0.0)
        self.emb = nn.Embedding(10, 5)

    def forward(self, x, ids):
        c = self.dilated(self.conv(x))
        g = self.strided(c)
        a = self.avg_incl(self.maxpool(c))
        b = self.avg_excl(c)
        p = self.adapt(c)
        q = self.flat(self.adapt1(self.maxpool2(c)))
        h = self.norm2(self.flat12(g))
        v = self.lin(self.norm(self.flat(g)))
        v = (self.gelu(v) + self.gelu_tanh(v) + self.sig(v) + self.tanh(v) + self.silu(v)
             + self.leaky(v) + self.leaky2(v) + self.relu(v))
        v = self.lin_nobias(self.ident(v))
        if not self.training:
            v = self.drop(v)
        v = self.drop0(v)
        s = self.softmax(v)
        l = self.logsm(v)
        e = self.softmax_last(self.emb(ids))
        return a, b, p, q, h, s, l, e


class BuiltinFunctions(nn.Module):  # builtins_functions.mdl
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.empty(6, 4))
        nn.init.kaiming_uniform_(self.w, a=math.sqrt(5))
        self.b = nn.Parameter(torch.zeros(6))
        self.k = nn.Parameter(torch.empty(6, 2, 3, 3))
        nn.init.xavier_normal_(self.k)
        self.kb = nn.Parameter(torch.zeros(6))
        self.table = nn.Parameter(torch.empty(10, 4).normal_(0, 0.02))
        self.g = nn.Parameter(torch.ones(4))
        self.beta = nn.Parameter(torch.zeros(4))
        self.register_buffer("shift", torch.zeros(4))

    def forward(self, x, img, ids, ids32):
        w, b, k, kb, table, g, beta = self.w, self.b, self.k, self.kb, self.table, self.g, self.beta
        a = F.linear(x, w, b) + F.linear(x, w)
        act = F.relu(a) + F.gelu(a) + F.gelu(a, approximate="tanh") + torch.sigmoid(a) + torch.tanh(a)
        act = act + F.silu(a) + F.leaky_relu(a) + F.leaky_relu(a, 0.2)
        sm = (F.softmax(act, dim=1) + F.log_softmax(act, 1) + F.softmax(act, 0)
              + F.log_softmax(act, dim=-1))

        c = F.conv2d(img, k, kb, stride=2, padding=1, groups=2)
        c2 = F.conv2d(img, k, padding=2, dilation=2, groups=2)
        p1 = F.max_pool2d(c2, 3, stride=2, padding=1)
        p2 = F.avg_pool2d(c2, 3, stride=2, padding=1)
        p3 = F.avg_pool2d(c2, kernel_size=[3, 3], stride=[2, 2], padding=[1, 1],
                          count_include_pad=False)
        p4 = F.adaptive_avg_pool2d(c, [2, 3])
        fl = (torch.flatten(F.adaptive_avg_pool2d(c, 1), start_dim=1)
              + torch.flatten(F.max_pool2d(c, 5), 1, -1))
        pools = torch.cat([torch.flatten(p1, start_dim=1), torch.flatten(p2, 1),
                           torch.flatten(p3, 1), torch.flatten(p4, 1)], dim=1)

        r = torch.reshape(act, [-1, 3, 2])
        r = torch.permute(r, [2, 0, 1])
        r = torch.transpose(r, 0, 1)
        everything = torch.flatten(r)  # flatten's function default: start_dim=0

        m = torch.matmul(x, torch.transpose(x, 0, 1)) @ x
        bm = torch.matmul(torch.reshape(act, [-1, 2, 3]),
                          torch.transpose(torch.reshape(act, [-1, 2, 3]), 1, 2))
        mv = torch.matmul(x, g)

        pos = torch.abs(x) + 1
        e = (torch.exp(x) * torch.log(pos) + torch.sqrt(pos) - torch.rsqrt(pos)
             + torch.pow(x, 2) + torch.pow(pos, 0.5))
        e = (e + torch.clamp(x, min=-0.5, max=0.5) + torch.clamp(x, min=0.0) - x / pos
             + -x * 2 - 1)

        s = (torch.mean(e, dim=[1], keepdim=True) + torch.sum(e, dim=[1], keepdim=True)
             + torch.amax(e, dim=[1], keepdim=True))
        s0 = (torch.mean(e, dim=[0]) + torch.sum(e, dim=[0]) + torch.amax(e, dim=[0])
              + torch.var(e, dim=[0]) + torch.var(e, dim=[0], unbiased=False))
        cs = (torch.sum(c, dim=[2, 3]) + torch.mean(c, dim=[-1, -2]) + torch.amax(c, dim=[2, 3])
              + torch.var(c, dim=[2, 3]))
        vk = torch.var(c, dim=[0, 2, 3], keepdim=True, unbiased=False)

        t = torch.cat([x, e, m], dim=1)
        t2 = torch.cat([x, e], dim=0)
        d = ids.to(torch.float32) * 0.5
        xi = (x * 3).to(torch.int32)
        l = F.layer_norm(x, [4], weight=g, bias=beta, eps=1e-6) + F.layer_norm(x, [4])
        z = F.embedding(ids, table)
        z32 = F.embedding(ids32, table)
        f64 = x.to(torch.float64) * 2

        o = (F.dropout(x, p=0.0, training=self.training) + torch.zeros_like(x)
             + torch.ones_like(x) * 3 + self.shift)
        if not self.training:
            o = F.dropout(o, p=0.5, training=self.training)
        return sm, fl, pools, everything, m, bm, mv, s, s0, cs, vk, t, t2, d, xi, l, z, z32, f64, o


class BasicBlock(nn.Module):  # resnet_small.mdl (torchvision's BasicBlock)
    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.has_downsample = stride != 1 or inplanes != planes
        if self.has_downsample:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.has_downsample:
            identity = self.downsample(x)
        return self.relu(out + identity)


class ResNetSmall(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = nn.Sequential(BasicBlock(8, 8), BasicBlock(8, 8))
        self.layer2 = nn.Sequential(BasicBlock(8, 16, stride=2), BasicBlock(16, 16))
        self.layer3 = nn.Sequential(BasicBlock(16, 32, stride=2), BasicBlock(32, 32))
        self.layer4 = nn.Sequential(BasicBlock(32, 64, stride=2), BasicBlock(64, 64))
        self.avgpool = nn.AdaptiveAvgPool2d([1, 1])
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


class Winograd(nn.Module):  # winograd.mdl
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.conv3 = nn.Conv2d(8, 5, 3)

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.conv2(y) + y)
        return self.conv3(y)


class WinogradSmall(nn.Module):  # winograd_small.mdl
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(4, 8, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.conv3 = nn.Conv2d(8, 8, 3, stride=2, padding=1)
        self.conv4 = nn.Conv2d(8, 4, 3, padding=1)

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.conv2(y) + y)
        return self.conv4(self.conv3(y))


class PackedLinear(nn.Module):  # packed_linear.mdl
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(37, 1030)
        self.fc2 = nn.Linear(1030, 260)
        self.fc3 = nn.Linear(260, 10)
        self.fc4 = nn.Linear(10, 16)

    def forward(self, x):
        x = torch.relu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        return self.fc4(self.fc3(x))


class DeepBlock(nn.Module):  # deep.mdl's Block
    def __init__(self, n):
        super().__init__()
        self.fc = nn.Linear(n, n)
        self.bn = nn.BatchNorm1d(n)

    def forward(self, x):
        return torch.relu(self.bn(self.fc(x))) + x


class Deep(nn.Module):  # deep.mdl
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(*[DeepBlock(16) for _ in range(24)])
        self.head = nn.Linear(16, 4)

    def forward(self, x):
        return self.head(self.layers(x))


class DynamicSpatial(nn.Module):  # dynamic_spatial.mdl
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 3, 3, padding=1, stride=2)
        self.bn = nn.BatchNorm2d(3)

    def forward(self, x):
        return (F.max_pool2d(x, 2), torch.relu(self.bn(self.conv(x))),
                F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False))


class InvertedResidual(nn.Module):  # mobilenet_small.mdl (torchvision's MobileNetV2 block)
    def __init__(self, inp, oup, stride, expand_ratio):
        super().__init__()
        hidden = inp * expand_ratio
        self.use_res_connect = stride == 1 and inp == oup
        self.conv = nn.Sequential(
            nn.Conv2d(inp, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden), nn.ReLU6(),
            nn.Conv2d(hidden, oup, 1, bias=False), nn.BatchNorm2d(oup))

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class SqueezeExcitation(nn.Module):  # mobilenet_small.mdl (MobileNetV3's, torchvision's names)
    def __init__(self, channels, squeeze):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.activation = nn.ReLU()
        self.scale_activation = nn.Hardsigmoid()

    def forward(self, x):
        s = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return s * x


class Activations(nn.Module):  # activations.mdl: the activation modules of issue 18
    def __init__(self):
        super().__init__()
        self.relu6 = nn.ReLU6()
        self.hardtanh = nn.Hardtanh(-2.0, 3.0)
        self.hardsigmoid = nn.Hardsigmoid()
        self.hardswish = nn.Hardswish()
        self.elu = nn.ELU(alpha=0.5)
        self.softplus = nn.Softplus(beta=2.0)
        self.mish = nn.Mish()
        self.prelu = nn.PReLU()
        self.prelu4 = nn.PReLU(4, init=0.1)

    def forward(self, x):
        return (self.relu6(x * 3), self.hardtanh(x * 2), self.hardsigmoid(x * 2),
                self.hardswish(x * 2), self.elu(x), self.softplus(x * 8), self.mish(x),
                self.prelu(x), self.prelu4(x))


class AudioNet(nn.Module):  # audio.mdl: a Conv1d audio classifier
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv1d(1, 8, 9, stride=2, padding=4)
        self.bn1 = nn.BatchNorm1d(8)
        self.pool1 = nn.MaxPool1d(2)
        self.conv2 = nn.Conv1d(8, 16, 3, padding=2, dilation=2, groups=2)
        self.avg = nn.AvgPool1d(3, stride=2, padding=1, count_include_pad=False)
        self.gap = nn.AdaptiveAvgPool1d(1)
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        x = self.pool1(torch.relu(self.bn1(self.conv1(x))))
        x = self.avg(torch.relu(self.conv2(x)))
        pooled = F.avg_pool1d(x, 2) + F.max_pool1d(x, 3, stride=2, padding=1)
        return self.fc(torch.flatten(self.gap(x), 1)), F.adaptive_avg_pool1d(pooled, 2)


class Norms(nn.Module):  # norms.mdl: GroupNorm and InstanceNorm
    def __init__(self):
        super().__init__()
        self.gn = nn.GroupNorm(2, 8)
        self.gn_plain = nn.GroupNorm(4, 8, eps=1e-3, affine=False)
        self.inorm = nn.InstanceNorm2d(8)
        self.inorm_tracked = nn.InstanceNorm2d(8, affine=True, track_running_stats=True,
                                               momentum=0.2)
        self.inorm1d = nn.InstanceNorm1d(4, affine=True, track_running_stats=True)

    def forward(self, img, seq):
        a = self.gn(img) + self.gn_plain(img) * 0.5
        b = self.inorm(img) + self.inorm_tracked(img)
        return a, b, self.inorm1d(seq), F.group_norm(seq, 2)


class Attention(nn.Module):  # attention.mdl: MultiheadAttention as torch.nn's
    def __init__(self):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.cross = nn.MultiheadAttention(8, 4, bias=False)

    def forward(self, x, memory, pad, bias):
        y, w = self.self_attn(x, x, x, key_padding_mask=pad)
        z, w2 = self.cross(y.transpose(0, 1), memory, memory, attn_mask=bias,
                           average_attn_weights=False)
        c, _ = self.self_attn(x, x, x, is_causal=True,
                              attn_mask=nn.Transformer.generate_square_subsequent_mask(5),
                              need_weights=False)
        return y, w, z, w2, c


def _attention_inputs(n):
    pad = torch.rand(n, 5) > 0.7
    pad[:, 0] = False  # every sequence has a position to attend
    return OrderedDict(x=torch.randn(n, 5, 8), memory=torch.randn(6, n, 8), pad=pad,
                       bias=torch.randn(5, 6))


class TinyViT(nn.Module):  # vit_tiny.mdl: a ViT of TransformerEncoderLayers
    def __init__(self):
        super().__init__()
        self.patch = nn.Conv2d(3, 16, 4, stride=4)
        self.cls = nn.Parameter(torch.zeros(1, 1, 16))
        self.pos = nn.Parameter(torch.zeros(1, 5, 16))
        self.block0 = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, activation="gelu",
                                                 batch_first=True, norm_first=True)
        self.block1 = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, activation="gelu",
                                                 batch_first=True, norm_first=True)
        self.post = nn.TransformerEncoderLayer(16, 2, 24, dropout=0.0, layer_norm_eps=1e-6)
        self.norm = nn.LayerNorm(16)
        self.head = nn.Linear(16, 10)

    def forward(self, img, pad):
        x = self.patch(img).flatten(2).transpose(1, 2)        # [N, 4, 16]
        x = torch.cat([torch.zeros_like(x[:, :1]) + self.cls, x], dim=1) + self.pos
        x = self.block1(self.block0(x))
        y = self.post(x.transpose(0, 1), src_key_padding_mask=pad)
        return self.head(self.norm(x[:, 0])), y


def _vit_inputs(n):
    pad = torch.rand(n, 5) > 0.7
    pad[:, 0] = False
    return OrderedDict(img=torch.randn(n, 3, 8, 8), pad=pad)


class Recurrent(nn.Module):  # recurrent.mdl: LSTM and GRU as torch.nn's
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, 6, num_layers=2, batch_first=True)
        self.bilstm = nn.LSTM(4, 3, bidirectional=True)
        self.gru = nn.GRU(4, 5, batch_first=True, bidirectional=True)
        self.head = nn.Linear(6, 2)

    def forward(self, x, h0, c0):
        y, (h, c) = self.lstm(x, (h0, c0))
        b, (hb, cb) = self.bilstm(x.transpose(0, 1))
        g, hg = self.gru(x)
        return self.head(y[:, -1]), h, c, b, hb, cb, g, hg


def _recurrent_inputs(n):
    return OrderedDict(x=torch.randn(n, 5, 4), h0=torch.randn(2, n, 6) * 0.5,
                       c0=torch.randn(2, n, 6) * 0.5)


class CausalSelfAttention(nn.Module):  # gpt.mdl, as nanoGPT's model.py
    def __init__(self, n_embd, n_head):
        super().__init__()
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.n_head, self.n_embd = n_head, n_embd

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(torch.tril(torch.ones(T, T)) == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = att @ v
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class GPTMLP(nn.Module):
    def __init__(self, n_embd):
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 4 * n_embd)
        self.gelu = nn.GELU(approximate="tanh")
        self.c_proj = nn.Linear(4 * n_embd, n_embd)

    def forward(self, x):
        return self.c_proj(self.gelu(self.c_fc(x)))


class GPTBlock(nn.Module):
    def __init__(self, n_embd, n_head):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd)
        self.attn = CausalSelfAttention(n_embd, n_head)
        self.ln_2 = nn.LayerNorm(n_embd)
        self.mlp = GPTMLP(n_embd)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):  # gpt.mdl at the defaults; bench/run.py's gpt_char.mdl too
    def __init__(self, vocab_size=20, block_size=8, n_layer=2, n_head=2, n_embd=16):
        super().__init__()
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.h = nn.ModuleList([GPTBlock(n_embd, n_head) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)

    def forward(self, idx):
        b, t = idx.size()
        pos = torch.arange(0, t, dtype=torch.long)
        x = self.wte(idx) + self.wpe(pos)
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


class TensorOps(nn.Module):  # tensor_ops.mdl
    def __init__(self):
        super().__init__()
        self.heads = nn.ModuleList([nn.Linear(4, 3), nn.Linear(4, 3), nn.Linear(4, 2)])
        self.scale = nn.Parameter(torch.ones(4))

    def forward(self, x, mask):
        # x: [N, 4], mask: bool [N, 4]
        n = x.size(0)
        y = torch.where(x > 0, x, 0.1 * x)
        y = y.masked_fill(mask, -1.5) + torch.where(mask, 1.0, self.scale)
        e = y.unsqueeze(1).expand(n, 3, 4)                    # [N, 3, 4]
        r = y.repeat(2, 1)                                    # [2N, 4]
        s = torch.triu(torch.ones(4, 4), diagonal=1) + torch.tril(x.T @ x, -1)
        a = torch.arange(1.0, 3.0, 0.5) * x                   # [N, 4]
        outs = [h(y) for h in self.heads]
        acc = torch.zeros(1, 3)
        for i, h in enumerate(self.heads):
            if i < 2:
                acc = acc + h(x) * (i + 1)
        for _ in range(min(2, 5)):
            y = y * 0.5
        cmp = torch.cat([(x >= 0.5).float(), (x != x).float(), (mask == False).float(),
                         (x.T.T < a).long().float()], dim=1)
        return (y, e, r, s, a, torch.cat(outs, dim=1), acc, cmp, torch.full((2, 3), 7.0),
                torch.zeros(1) + len(self.heads), x.where(mask, 0.5))


class SegUp(nn.Module):  # segmentation.mdl's Up
    def __init__(self, cin, cout):
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, cout, kernel_size=2, stride=2)
        self.conv = nn.Conv2d(2 * cout, cout, 3, padding="same")

    def forward(self, x, skip):
        return F.relu(self.conv(torch.cat([self.up(x), skip], dim=1)))


class Segmentation(nn.Module):  # segmentation.mdl
    def __init__(self):
        super().__init__()
        self.wt = nn.Parameter(torch.randn(8, 2, 3, 3))
        self.down = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.up1 = SegUp(8, 3)
        self.t2 = nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1, groups=2)
        self.t3 = nn.ConvTranspose2d(8, 6, (3, 2), stride=(1, 2), padding=(2, 0), dilation=2,
                                     bias=False)
        self.even = nn.Conv2d(8, 4, 2, padding="same")
        self.dil = nn.Conv2d(8, 4, 3, padding="same", dilation=2)
        self.valid = nn.Conv2d(8, 4, 3, padding="valid")
        self.c1 = nn.Conv1d(3, 5, 4, padding="same")
        self.bil = nn.Upsample(scale_factor=2, mode="bilinear")
        self.bil_ac = nn.Upsample(size=(7, 5), mode="bilinear", align_corners=True)
        self.shuffle = nn.PixelShuffle(2)
        self.pool = nn.AdaptiveMaxPool2d((2, 2))

    def forward(self, x, seq):
        d = F.relu(self.down(x))
        u = self.up1(d, x)
        return (u, self.t2(d), self.t3(d), self.even(d), self.dil(d), self.valid(d), self.c1(seq),
                self.bil(d), self.bil_ac(d), F.interpolate(d, size=(5, 7)),
                F.interpolate(d, scale_factor=1.5, mode="bilinear"),
                F.conv_transpose2d(d, self.wt, stride=2, groups=4), self.shuffle(d), self.pool(d))


class Decoder(nn.Module):  # decoder.mdl
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(11, 8, padding_idx=0)
        self.pos = nn.Embedding(6, 8, padding_idx=-1)
        self.layer0 = nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
        self.layer1 = nn.TransformerDecoderLayer(8, 4, 12, dropout=0.0, activation="gelu",
                                                 norm_first=True, batch_first=True,
                                                 layer_norm_eps=1e-6)
        self.head = nn.Linear(8, 11)

    def forward(self, ids, memory, mem_pad):
        x = self.tok(ids) + self.pos(torch.arange(5))
        causal = torch.triu(torch.full((5, 5), float("-inf")), diagonal=1)
        y = self.layer0(x, memory, causal, None, ids == 0, mem_pad)
        z = self.layer1(y, memory, tgt_mask=nn.Transformer.generate_square_subsequent_mask(5),
                        tgt_is_causal=True)
        return self.head(y), self.head(z)


def _decoder_inputs(n):
    ids = torch.randint(0, 11, (n, 5))
    ids[:, 0] = torch.randint(1, 11, (n,))   # every query has a key to attend
    pad = torch.rand(n, 7) > 0.7
    pad[:, 0] = False
    return OrderedDict(ids=ids, memory=torch.randn(n, 7, 8), mem_pad=pad)


class AttentionLong(nn.Module):  # attention_long.mdl
    def forward(self, q, k, v, mask, bias):
        sdpa = F.scaled_dot_product_attention
        causal = sdpa(q[:, :, :280], k, v, is_causal=True)
        masked = sdpa(q, k, v, attn_mask=mask)
        # is_causal with a mask is refused by PyTorch: the causal mask added
        # to the float one, as modelc adds both.
        both = sdpa(q, k, v, attn_mask=bias + torch.full((300, 280), float("-inf")).triu(1),
                    scale=0.3)
        return causal, masked, both


def _attention_long_inputs(n):
    mask = torch.rand(300, 280) > 0.3
    mask[:, 0] = True   # every query has a key to attend
    return OrderedDict(q=torch.randn(n, 2, 300, 4), k=torch.randn(n, 2, 280, 4),
                       v=torch.randn(n, 2, 280, 4), mask=mask, bias=torch.randn(300, 280))


class AttentionFlash(nn.Module):  # attention_flash.mdl
    def __init__(self):
        super().__init__()
        self.enc = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True)

    def forward(self, q, k, v, x, y, a, b, c):
        sdpa = F.scaled_dot_product_attention
        plain = sdpa(q, k, v)
        causal = sdpa(x, y, y, is_causal=True)
        flat = sdpa(a, b, c, is_causal=True, scale=0.5)
        ragged = sdpa(a[:300], b[:260], c[:260], is_causal=True)
        return plain, causal, flat, self.enc(k), ragged


def _attention_flash_inputs(n):
    return OrderedDict(q=torch.randn(n, 256, 16), k=torch.randn(n, 320, 16),
                       v=torch.randn(n, 320, 24), x=torch.randn(n, 2, 384, 8) * 2,
                       y=torch.randn(n, 2, 256, 8), a=torch.randn(320, 8),
                       b=torch.randn(272, 8), c=torch.randn(272, 5))


class MobileNetSmall(nn.Module):  # mobilenet_small.mdl
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8),
                                  nn.Hardswish())
        self.blocks = nn.Sequential(InvertedResidual(8, 8, 1, 2), InvertedResidual(8, 16, 2, 3),
                                    InvertedResidual(16, 16, 1, 3))
        self.se = SqueezeExcitation(16, 8)
        self.head = nn.Sequential(nn.Conv2d(16, 32, 1, bias=False), nn.BatchNorm2d(32),
                                  nn.Hardtanh(-2.0, 3.0))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(32, 10)

    def forward(self, x):
        x = self.head(self.se(self.blocks(self.stem(x))))
        return self.classifier(torch.flatten(self.pool(x), 1))


class Depthwise(nn.Module):  # depthwise.mdl
    def __init__(self):
        super().__init__()
        self.s1 = nn.Conv2d(6, 6, 3, padding=1, groups=6)
        self.s2 = nn.Conv2d(6, 6, 3, stride=2, padding=1, groups=6, bias=False)
        self.k5 = nn.Conv2d(6, 6, 5, padding=2, groups=6)
        self.dilated = nn.Conv2d(6, 6, 3, padding=2, dilation=2, groups=6, bias=False)
        self.tall = nn.Conv2d(6, 6, (3, 1), stride=(2, 1), padding=(1, 0), groups=6)
        self.s3 = nn.Conv2d(6, 6, 3, stride=3, groups=6)
        self.multiplier = nn.Conv2d(6, 12, 3, padding=1, groups=6)
        self.bn = nn.BatchNorm2d(6)

    def forward(self, x, y):
        a = F.relu6(self.bn(self.s1(x)))
        return (a, self.s2(x), self.k5(x), self.dilated(x), self.tall(x), self.s3(x),
                self.multiplier(x), self.s1(y), self.s2(y), self.k5(y), self.dilated(y))


# --------------------------------------------------------------------------
# Inputs. Each returns an OrderedDict: forward argument name -> tensor.
# --------------------------------------------------------------------------

def _bn_like(*shape):
    """Inputs whose statistics differ from the running ones."""
    return torch.randn(*shape) * 1.5 + 0.3


MODELS = OrderedDict([
    # name: (torch module class, input maker taking a batch size, batch, extra eval batches)
    ("tiny", (TinyModel, lambda n: OrderedDict(x=torch.randn(n, 100)), 3, [1, 7])),
    ("mymodel", (MyModel, lambda n: OrderedDict(x=torch.randn(n)), 4, [])),
    ("bn2d_seed", (BN2dSeed, lambda n: OrderedDict(x=_bn_like(n, 5, 50, 50)), 1, [])),
    ("bn1d", (BN1d, lambda n: OrderedDict(x=_bn_like(n, 4), y=_bn_like(n, 3, 7)), 4, [])),
    ("bn_momentum", (BNMomentum,
                     lambda n: OrderedDict(x=_bn_like(n, 4), img=_bn_like(n, 3, 5, 5)), 4, [])),
    ("nested", (Nested, lambda n: OrderedDict(x=torch.randn(n, 6)), 3, [])),
    ("running_average", (Averaged, lambda n: OrderedDict(x=_bn_like(n, 4)), 4, [])),
    ("builtins_modules", (BuiltinModules, lambda n: OrderedDict(
        x=torch.randn(n, 4, 16, 10), ids=torch.randint(0, 10, (n, 3), dtype=torch.int64)), 2, [])),
    ("builtins_functions", (BuiltinFunctions, lambda n: OrderedDict(
        x=torch.randn(n, 4), img=torch.randn(n, 4, 9, 9),
        ids=torch.randint(0, 10, (n, 2), dtype=torch.int64),
        ids32=torch.randint(0, 10, (n,), dtype=torch.int32)), 3, [])),
    ("resnet_small", (ResNetSmall, lambda n: OrderedDict(x=torch.randn(n, 3, 64, 64)), 3, [1, 4])),
    ("winograd", (Winograd, lambda n: OrderedDict(x=_bn_like(n, 3, 32, 32)), 2, [1])),
    ("winograd_small", (WinogradSmall, lambda n: OrderedDict(x=_bn_like(n, 4, 9, 9)), 3, [1])),
    # Batches for each path of the packed kernel: under 4 rows (the dot
    # kernel from W), blocks of 6, 4 and 1 rows, a tile of 16 and a batch of
    # 64 (fc2's column tiles take all rows).
    ("packed_linear", (PackedLinear, lambda n: OrderedDict(x=torch.randn(n, 37)), 13,
                       [1, 3, 4, 5, 10, 16, 64])),
    # Long enough to be cut into parts by -mdl-outline-long-bodies.
    ("deep", (Deep, lambda n: OrderedDict(x=_bn_like(n, 16)), 13, [1, 64])),
    # Odd and even sizes known only at run time (f32[N, 4, H, W]).
    ("dynamic_spatial", (DynamicSpatial, lambda n: OrderedDict(x=_bn_like(n, 4, 7, 10)), 2, [])),
    ("norms", (Norms, lambda n: OrderedDict(img=_bn_like(n, 8, 5, 6), seq=_bn_like(n, 4, 9)), 3,
               [])),
    ("attention", (Attention, _attention_inputs, 3, [])),
    ("vit_tiny", (TinyViT, _vit_inputs, 3, [])),
    ("recurrent", (Recurrent, _recurrent_inputs, 3, [])),
    ("audio", (AudioNet, lambda n: OrderedDict(x=torch.randn(n, 1, 64)), 3, [1])),
    ("activations", (Activations, lambda n: OrderedDict(x=torch.randn(n, 4, 5) * 2), 3, [])),
    # MobileNetV2's inverted residuals (depthwise convolutions, ReLU6), a
    # MobileNetV3 squeeze-excitation (Hardsigmoid), Hardswish and Hardtanh.
    ("gpt", (GPT, lambda n: OrderedDict(idx=torch.randint(0, 20, (n, 8))), 3, [1])),
    ("tensor_ops", (TensorOps, lambda n: OrderedDict(x=torch.randn(n, 4), mask=torch.rand(n, 4) > 0.5),
                    3, [])),
    ("segmentation", (Segmentation, lambda n: OrderedDict(x=torch.randn(n, 3, 8, 8),
                                                         seq=torch.randn(n, 3, 9)), 2, [1])),
    ("decoder", (Decoder, _decoder_inputs, 3, [])),
    ("attention_long", (AttentionLong, _attention_long_inputs, 2, [])),
    ("attention_flash", (AttentionFlash, _attention_flash_inputs, 2, [1])),
    ("mobilenet_small", (MobileNetSmall, lambda n: OrderedDict(x=torch.randn(n, 3, 32, 32)), 3,
                         [1])),
    ("depthwise", (Depthwise, lambda n: OrderedDict(x=torch.randn(n, 6, 13, 37),
                                                    y=torch.randn(n, 6, 7, 7)), 2, [1])),
])


def model_seed(name):
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


# --------------------------------------------------------------------------
# State randomization
# --------------------------------------------------------------------------

NORM_TYPES = (nn.modules.batchnorm._NormBase, nn.LayerNorm)


@torch.no_grad()
def randomize_state(model):
    """Make every entry of the state dict non-trivial: BatchNorm/LayerNorm
    affine parameters and running statistics random (running_var positive),
    num_batches_tracked a random count >= 1 (so momentum=None averages with a
    history), and any other tensor that still holds one repeated value
    (zeros()/ones() initializers) perturbed with 0.1 * randn."""
    for key, t in model.state_dict().items():
        owner_name, _, leaf = key.rpartition(".")
        owner = model.get_submodule(owner_name) if owner_name else model
        if leaf == "num_batches_tracked":
            t.fill_(int(torch.randint(1, 10, ())))
        elif leaf == "running_var":
            t.uniform_(0.5, 2.0)
        elif leaf == "running_mean":
            t.copy_(torch.randn_like(t) * 0.5)
        elif isinstance(owner, NORM_TYPES) and leaf == "weight":
            t.uniform_(0.5, 1.5)
        elif isinstance(owner, NORM_TYPES) and leaf == "bias":
            t.copy_(torch.randn_like(t) * 0.2)
        elif t.is_floating_point() and t.numel() > 0 and bool((t == t.flatten()[0]).all()):
            t.add_(torch.randn_like(t) * 0.1)


def state_of(model, dtypes=None):
    sd = model.state_dict()
    out = OrderedDict()
    for k, v in sd.items():
        v = v.detach()
        if dtypes is not None:
            v = v.to(dtypes[k])
        out[k] = v.clone().contiguous()
    return out


# --------------------------------------------------------------------------
# modelc --emit=mdl: the compiler's view of the model
# --------------------------------------------------------------------------

MLIR_DTYPES = {
    "f32": torch.float32, "f64": torch.float64, "f16": torch.float16, "bf16": torch.bfloat16,
    "i32": torch.int32, "i64": torch.int64, "i1": torch.bool,
}


def parse_tensor_type(text):
    m = re.fullmatch(r"tensor<(.*)>", text.strip())
    if not m:
        raise ValueError(f"not a tensor type: {text!r}")
    parts = m.group(1).split("x")
    dtype = MLIR_DTYPES.get(parts[-1])
    if dtype is None:
        raise ValueError(f"unknown element type in {text!r}")
    shape = [None if d == "?" else int(d) for d in parts[:-1]]
    return shape, dtype


def split_types(text):
    text = text.strip()
    if text.startswith("(") and text.endswith(")"):
        text = text[1:-1]
    return [t.strip() for t in re.findall(r"tensor<[^>]*>", text)]


def find_modelc(explicit):
    for cand in [explicit, os.environ.get("MODELC"), str(REPO / "build" / "bin" / "modelc"),
                 shutil.which("modelc")]:
        if cand and Path(cand).is_file() and os.access(cand, os.X_OK):
            return cand
    return None


def modelc_view(modelc, mdl_path):
    proc = subprocess.run([modelc, str(mdl_path), "--emit=mdl"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"FATAL: modelc rejected {mdl_path}:\n{proc.stderr}")
    state, non_persistent, inputs, results = [], [], None, None
    for line in proc.stdout.splitlines():
        line = line.strip()
        m = re.match(r'mdl\.(param|buffer) @"?([^":\s]+)"? : (tensor<[^>]*>)(.*)', line)
        if m:
            kind, name, ty, rest = m.groups()
            shape, dtype = parse_tensor_type(ty)
            if kind == "buffer" and "non_persistent" in rest:
                non_persistent.append((name, shape, dtype))
            else:
                state.append((name, shape, dtype))
            continue
        m = re.match(r"func\.func @forward_eval\((.*)\) -> (.*) \{$", line)
        if m:
            inputs = [(n, *parse_tensor_type(t)) for t, n in
                      re.findall(r'(tensor<[^>]*>) \{[^}]*mdl\.name = "([^"]+)"[^}]*\}', m.group(1))]
            results = [parse_tensor_type(t) for t in split_types(m.group(2))]
    if inputs is None:
        raise SystemExit(f"FATAL: no func.func @forward_eval in modelc --emit=mdl of {mdl_path}")
    return dict(state=state, non_persistent=non_persistent, inputs=inputs, results=results)


def shape_matches(expected, actual):
    return len(expected) == len(actual) and all(e is None or e == a for e, a in zip(expected, actual))


def fmt_shape(shape):
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def check_against_modelc(name, view, model, inputs, outputs):
    errors = []
    sd = model.state_dict()
    want = [(k, s, d) for k, s, d in view["state"]]
    have = [(k, list(v.shape), v.dtype) for k, v in sd.items()]
    if [k for k, _, _ in want] != [k for k, _, _ in have]:
        errors.append("state dict keys differ (modelc vs torch):\n  modelc: %s\n  torch:  %s"
                      % ([k for k, _, _ in want], [k for k, _, _ in have]))
    else:
        for (k, s, d), (_, s2, d2) in zip(want, have):
            if s != s2 or d != d2:
                errors.append(f"{k}: modelc {fmt_shape(s)} {d}, torch {s2} {d2}")
    np_names = sorted(k for k, _, _ in view["non_persistent"])
    torch_np = sorted(k for k, _ in model.named_buffers() if k not in sd)
    if np_names != torch_np:
        errors.append(f"non-persistent buffers differ: modelc {np_names}, torch {torch_np}")
    if [n for n, _, _ in view["inputs"]] != list(inputs.keys()):
        errors.append(f"forward arguments differ: modelc {[n for n, _, _ in view['inputs']]}, "
                      f"fixture {list(inputs.keys())}")
    else:
        for (n, s, d), t in zip(view["inputs"], inputs.values()):
            if not shape_matches(s, list(t.shape)) or d != t.dtype:
                errors.append(f"input {n}: modelc {fmt_shape(s)} {d}, fixture {list(t.shape)} {t.dtype}")
    if len(view["results"]) != len(outputs):
        errors.append(f"modelc forward returns {len(view['results'])} results, torch {len(outputs)}")
    else:
        for i, ((s, d), t) in enumerate(zip(view["results"], outputs)):
            if not shape_matches(s, list(t.shape)) or d != t.dtype:
                errors.append(f"result {i}: modelc {fmt_shape(s)} {d}, torch {list(t.shape)} {t.dtype}")
    if errors:
        raise SystemExit(f"FATAL: {name}: the torch module does not match modelc --emit=mdl:\n  "
                         + "\n  ".join(errors))


# --------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------

def as_tuple(out):
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def to_double(inputs):
    return OrderedDict((k, v.double() if v.is_floating_point() else v) for k, v in inputs.items())


@torch.no_grad()
def run(model, inputs, train, repeat):
    model.train(train)
    out = None
    for _ in range(repeat):
        out = as_tuple(model(*[v.clone() for v in inputs.values()]))
    return out


def outputs_dict(outs):
    if len(outs) == 1:
        return OrderedDict(output=outs[0].contiguous())
    return OrderedDict((f"output.{i}", o.contiguous()) for i, o in enumerate(outs))


def worst(a, b):
    """max over elements of |a-b| / (atol + rtol*|b|): <= 1 passes st-compare's test."""
    if not a.is_floating_point():
        return 0.0 if torch.equal(a, b) else float("inf")
    a, b = a.double(), b.double()
    return float(((a - b).abs() / (ATOL + RTOL * b.abs())).max()) if a.numel() else 0.0


def reference(model32, inputs, train, repeat):
    """float64 reference rounded to the float32 run's dtypes, plus how far the
    float32 PyTorch run is from it (worst tolerance ratio) for outputs and state."""
    dtypes = {k: v.dtype for k, v in model32.state_dict().items()}
    m32 = copy.deepcopy(model32)
    m64 = copy.deepcopy(model32).double()
    out32 = run(m32, inputs, train, repeat)
    out64 = run(m64, to_double(inputs), train, repeat)
    outs = tuple(o64.to(o32.dtype) for o32, o64 in zip(out32, out64))
    state = state_of(m64, dtypes)
    ratio = max([worst(o32, o) for o32, o in zip(out32, outs)]
                + [worst(v, state[k]) for k, v in state_of(m32).items()])
    return out32, outs, state, ratio


def save(tensors, path):
    save_file(OrderedDict((k, v.contiguous()) for k, v in tensors.items()), str(path))


def generate(name, modelc, skip_check):
    cls, make_inputs, batch, extra_batches = MODELS[name]
    torch.manual_seed(model_seed(name))
    model = cls()
    randomize_state(model)
    model.eval()
    inputs = make_inputs(batch)
    state0 = state_of(model)

    out32_eval, eval_out, eval_state, r_eval = reference(model, inputs, False, 1)
    for k, v in eval_state.items():
        if not torch.equal(v, state0[k]):
            raise SystemExit(f"FATAL: {name}: evaluation mode changed {k}")
    out32_train, train_out, train_state, r_train = reference(model, inputs, True, TRAIN_REPEAT)

    if modelc:
        view = modelc_view(modelc, MODELS_DIR / f"{name}.mdl")
        check_against_modelc(name, view, model, inputs, eval_out)
        check_against_modelc(name, view, model, inputs, train_out)
    elif not skip_check:
        raise SystemExit("FATAL: modelc not found (build it, pass --modelc PATH or set MODELC); "
                         "--skip-modelc-check generates without checking the key lists")

    FIXTURES_DIR.mkdir(parents=True, exist_ok=True)
    save(state0, FIXTURES_DIR / f"{name}.state.safetensors")
    save(inputs, FIXTURES_DIR / f"{name}.inputs.safetensors")
    save(outputs_dict(eval_out), FIXTURES_DIR / f"{name}.eval.out.safetensors")
    save(outputs_dict(train_out), FIXTURES_DIR / f"{name}.train.out.safetensors")
    save(train_state, FIXTURES_DIR / f"{name}.train.state.safetensors")
    ratios = [r_eval, r_train]
    for b in extra_batches:
        extra = make_inputs(b)
        _, out, _, r = reference(model, extra, False, 1)
        if modelc:
            check_against_modelc(f"{name} (batch {b})", view, model, extra, out)
        save(extra, FIXTURES_DIR / f"{name}.b{b}.inputs.safetensors")
        save(outputs_dict(out), FIXTURES_DIR / f"{name}.b{b}.eval.out.safetensors")
        ratios.append(r)
    # After the existing fixtures (and their random draws), so that those stay
    # byte-identical; training calls of these models draw no random numbers.
    if name in TRAIN_STEPS_MODELS:
        for k in range(1, TRAIN_REPEAT):
            _, out_k, state_k, r = reference(model, inputs, True, k)
            if k == 1 and all(torch.equal(v, state0[n]) for n, v in state_k.items()):
                raise SystemExit(f"FATAL: {name}: a training-mode call changed no state")
            save(outputs_dict(out_k), FIXTURES_DIR / f"{name}.train{k}.out.safetensors")
            save(state_k, FIXTURES_DIR / f"{name}.train{k}.state.safetensors")
            ratios.append(r)
    worst_ratio = max(ratios)
    status = "ok" if worst_ratio <= 1.0 else "TOO FRAGILE"
    print(f"{name:20s} state {len(state0):3d} entries, {len(eval_out)} result(s); float32 torch vs "
          f"float64 reference: {worst_ratio:.3g} of the tolerance [{status}]")
    if worst_ratio > 1.0:
        raise SystemExit(f"FATAL: {name}: PyTorch's own float32 result is outside rtol={RTOL}, "
                         f"atol={ATOL} of the float64 reference; the fixture would be too fragile")


# --------------------------------------------------------------------------
# The reverse direction: a state dict written by modelc loads into PyTorch
# --------------------------------------------------------------------------

def check_roundtrip(path, name, keys_only=False, expect=None):
    """Load a state dict saved by modelc (safetensors) into the PyTorch module
    with strict=True; check dtypes too (load_state_dict would convert them
    silently). Unless keys_only, compare the values with the model's state
    fixtures; with expect (e.g. "train.state"), that fixture must match within
    the tests' tolerance. Returns True on success and prints what it found."""
    cls = MODELS[name][0]
    torch.manual_seed(model_seed(name))
    model = cls()
    sd = load_file(str(path))
    ok = True
    try:
        result = model.load_state_dict(sd, strict=True)
        print(f"{path}: load_state_dict(strict=True) into {cls.__name__}: {result}")
    except RuntimeError as e:
        print(f"{path}: load_state_dict(strict=True) into {cls.__name__} FAILED:\n{e}")
        ok = False
    want = model.state_dict()
    for k, v in sd.items():
        if k in want and v.dtype != want[k].dtype:
            print(f"  {k}: dtype {v.dtype}, PyTorch has {want[k].dtype}")
            ok = False
    kinds = ["state"] + [f"train{k}.state" for k in range(1, TRAIN_REPEAT)] + ["train.state"]
    if expect is not None and not (FIXTURES_DIR / f"{name}.{expect}.safetensors").exists():
        print(f"  no fixture {name}.{expect}.safetensors to expect")
        ok = False
    if ok and not keys_only:
        for kind in kinds:
            fixture = FIXTURES_DIR / f"{name}.{kind}.safetensors"
            if fixture.exists():
                ref = load_file(str(fixture))
                r = max([worst(sd[k], ref[k]) for k in ref] or [0.0])
                print(f"  vs {fixture.name}: " + ("matches within the tests' tolerance" if r <= 1.0
                      else f"differs (worst element at {r:.3g} x the tolerance)")
                      + (" [expected]" if kind == expect else ""))
                if kind == expect and r > 1.0:
                    ok = False
    elif ok:
        print("  keys, shapes and dtypes only (values not compared)")
    print("OK" if ok else "FAILED")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="+", choices=list(MODELS), help="generate these models only")
    ap.add_argument("--modelc", help="path to modelc (default: $MODELC, build/bin/modelc, PATH)")
    ap.add_argument("--skip-modelc-check", action="store_true",
                    help="generate even when modelc is not available (no key-list check)")
    ap.add_argument("--check-state", metavar="STATE",
                    help="load STATE (saved by modelc-run) into the PyTorch module of --model")
    ap.add_argument("--model", choices=list(MODELS), help="the model for --check-state")
    ap.add_argument("--keys-only", action="store_true",
                    help="--check-state: check keys, shapes and dtypes only, not values")
    ap.add_argument("--expect", metavar="KIND",
                    help="--check-state: fail unless STATE matches fixtures/<model>.KIND.safetensors "
                         "(e.g. state, train1.state, train.state) within the tests' tolerance")
    ap.add_argument("--list", action="store_true", help="list the models")
    args = ap.parse_args()
    torch.set_num_threads(min(2, os.cpu_count() or 1))

    if args.list:
        for n in MODELS:
            print(n)
        return 0
    if args.check_state:
        if not args.model:
            ap.error("--check-state needs --model")
        if args.keys_only and args.expect:
            ap.error("--keys-only and --expect exclude each other")
        return 0 if check_roundtrip(args.check_state, args.model, args.keys_only, args.expect) else 1

    modelc = find_modelc(args.modelc)
    if modelc is None and args.skip_modelc_check:
        print("WARNING: modelc not found: the state-dict keys will NOT be checked against "
              "modelc --emit=mdl", file=sys.stderr)
    elif modelc is not None:
        print(f"checking against {modelc} --emit=mdl")
    for name in args.only or MODELS:
        generate(name, modelc, args.skip_modelc_check)
    total = sum(f.stat().st_size for f in FIXTURES_DIR.glob("*.safetensors"))
    print(f"fixtures: {total / 1e6:.2f} MB in {FIXTURES_DIR.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
