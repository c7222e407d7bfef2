#!/usr/bin/env python3
"""modelc vs PyTorch eager, torch.compile and onnxruntime: a CPU benchmark.

    python3 bench/run.py            # full run; rewrites bench/RESULTS.md
    python3 bench/run.py --quick    # CI smoke test: small batches, few reps

For each workload it compiles bench/models/<model>.mdl with modelc (recording
the compile time and the size of model.so), builds the equivalent torch.nn
module, checks that its state dict has exactly the keys, order, shapes and
dtypes that `modelc --emit=mdl` declares, randomizes that state, writes it and
the inputs to safetensors, and then, in the same run:

  1. runs `modelc-run --load-state ... --outputs ...` once and checks the
     result against a float64 PyTorch reference (rtol 1e-4, atol 1e-5, as the
     e2e tests do). Training-mode workloads (`modelc-run --train`) also check
     the state saved after that one call (BatchNorm running statistics and
     num_batches_tracked) against the reference's. A workload whose result is
     wrong is NOT timed; a 1-thread run must give the same result;
  2. times modelc with `modelc-run --bench N`;
  3. times PyTorch eager (model.eval() under torch.inference_mode(), or
     model.train() under torch.no_grad() for training-mode workloads),
     torch.compile (default mode; compiled once per thread count, compile time
     reported apart) and onnxruntime (the module exported with
     torch.onnx.export, an InferenceSession with intra_op_num_threads = the
     thread count), each checked against the reference before it is timed,
     with --threads threads (default 2) and again with 1;
  4. measures the machine's fp32 peak with a C microkernel (independent FMA
     chains on vector registers, cc -O3 -march=native), and reports modelc's
     and PyTorch eager's GFLOP/s (Linear and Conv2d FLOPs counted analytically)
     as a percentage of it;
  5. records the peak memory (max RSS) of the modelc-run process and of a
     PyTorch eager process doing the same calls;
  6. prints tables of medians and ratios (> 1: modelc is faster) and the
     targets of issue 4, met or missed.

The number of repetitions is chosen per workload from a time budget (one
call is timed first), so that fast workloads get thousands of repetitions
and slow ones a handful (at least --min-reps, fewer only when one call takes
more than a minute). The calls are timed in 3 rounds, sharing the budget,
and the round with the lowest median counts, for every framework alike: the
machines are shared, and a neighbour's load that comes and goes over seconds
would otherwise decide a ratio by which framework it happened to overlap.

PyTorch is only needed for the comparison. `--quick` never installs anything
and skips torch.compile and onnxruntime: without torch it compiles the models,
runs `modelc-run --bench` on random inputs written by this script (no numpy
either), and says that it skipped PyTorch. Without --quick, torch, numpy,
safetensors, onnx and onnxruntime are pip-installed if missing (a failed
onnx/onnxruntime install is reported in the table, not fatal).

Threads: PyTorch runs with torch.set_num_threads(n), onnxruntime with
intra_op_num_threads = n and modelc with MODELC_NUM_THREADS=n (the runtime's
thread pool reads it; a model.so that does not contain that string is
single-threaded and is timed once), for n = --threads (default 2) and n = 1.
"""

import argparse
import copy
import datetime
import importlib
import json
import math
import os
import platform
import random
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import warnings
from collections import OrderedDict
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
MODELS_DIR = BENCH / "models"
RESULTS = BENCH / "RESULTS.md"
RTOL, ATOL = 1e-4, 1e-5
ROUNDS = 3  # blocks of timed calls per framework and thread count; the best median counts


def rounds_of(args):
    """The rounds this run makes: one for a --quick smoke run."""
    return 1 if args.quick else ROUNDS
THREAD_TOL = 1e-5  # issue 4: the same results (within 1e-5) for 1 and 2 threads
MIN_FLOPS = 1e6    # percent of peak is reported for workloads of at least this many FLOPs

# name, model file, torch class name, input name(s), input shape without the
# batch, batch (full), batch (--quick; None: not run by --quick), mode ("eval"
# or "train"), and optionally a dict of input options. Several input names
# ("q,k,v", the order of the .mdl forward's arguments) share the shape and dtype.
#   dtype: "int64" for integer inputs (default float32, standard normal),
#          drawn uniformly from [0, high);
#   memory: "sdpa": also measure the peak memory of the call against
#          PyTorch's F.scaled_dot_product_attention (issue 18).
WORKLOADS = [
    ("TinyModel", "tiny", "TinyModel", "x", [100], 1, 1, "eval"),
    ("TinyModel", "tiny", "TinyModel", "x", [100], 256, 8, "eval"),
    ("MLP", "mlp", "MLP", "x", [1024], 64, 2, "eval"),
    ("ResNet-18 224x224", "resnet18", "ResNet18", "x", [3, 224, 224], 1, 1, "eval"),
    ("ResNet-18 224x224", "resnet18", "ResNet18", "x", [3, 224, 224], 8, 1, "eval"),
    ("ResNet-18 32x32", "resnet18_cifar", "ResNet18", "x", [3, 32, 32], 32, 2, "train"),
    # issue 18: model families. --quick leaves out MobileNetV2 (it compiles
    # in ~14 s per CPU variant) and the attention (~0.5 s a call, and its
    # peak-memory runs): together they would double the smoke test's time.
    ("MobileNetV2 224x224", "mobilenet_v2", "MobileNetV2", "x", [3, 224, 224], 1, None, "eval"),
    ("ViT-Tiny/16 224x224", "vit_tiny16", "ViTTiny", "x", [3, 224, 224], 1, 1, "eval"),
    ("GPT 6x384 T=256", "gpt_char", "GPT", "idx", [256], 1, 1, "eval",
     dict(dtype="int64", high=65)),
    ("attention T=1024", "attention_1024", "Attention1024", "q,k,v", [8, 1024, 64], 1, None, "eval",
     dict(memory="sdpa")),
]

torch = None  # imported lazily: --quick must work without it


def log(msg=""):
    print(msg, flush=True)


def short(exc, n=300):
    """The first line(s) of an exception, for a table cell or a note."""
    text = " ".join(str(exc).split())
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text if len(text) <= n else text[:n - 3] + "..."


# --------------------------------------------------------------------------
# Dependencies
# --------------------------------------------------------------------------

TORCH_STACK = ["numpy", "safetensors", "torch"]   # module name == pip name
ORT_STACK = ["onnx", "onnxruntime"]


def missing_modules(names):
    importlib.invalidate_caches()
    out = []
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            out.append(name)
    return out


def pip_install(names):
    log(f"{'/'.join(names)} missing: pip install {' '.join(names)}")
    return subprocess.run([sys.executable, "-m", "pip", "install", *names]).returncode == 0


def import_torch(quick):
    """Returns True when PyTorch can be used."""
    global torch
    miss = missing_modules(TORCH_STACK)
    if miss:
        if quick:
            return False
        pip_install(miss)
        if missing_modules(TORCH_STACK):
            raise SystemExit("FATAL: torch/numpy/safetensors still not importable after pip install")
    import torch as _t
    torch = _t
    return True


def import_ort(quick):
    """(onnxruntime module, None) or (None, why it cannot be used)."""
    miss = missing_modules(ORT_STACK)
    if miss and quick:
        return None, "skipped (--quick installs nothing)"
    if miss and not pip_install(miss):
        return None, f"pip install {' '.join(miss)} failed"
    miss = missing_modules(ORT_STACK)
    if miss:
        return None, f"{'/'.join(miss)} not importable after pip install"
    import onnxruntime
    return onnxruntime, None


# --------------------------------------------------------------------------
# The torch.nn equivalents of bench/models/*.mdl (same state-dict names)
# --------------------------------------------------------------------------

def torch_modules():
    nn = torch.nn

    class TinyModel(nn.Module):  # tiny.mdl
        def __init__(self):
            super().__init__()
            self.linear1 = nn.Linear(100, 200)
            self.activation = nn.ReLU()
            self.linear2 = nn.Linear(200, 10)
            self.softmax = nn.Softmax(dim=1)

        def forward(self, x):
            return self.softmax(self.linear2(self.activation(self.linear1(x))))

    class MLP(nn.Module):  # mlp.mdl
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(1024, 1024)
            self.fc2 = nn.Linear(1024, 1024)
            self.fc3 = nn.Linear(1024, 1024)
            self.fc4 = nn.Linear(1024, 1024)
            self.relu = nn.ReLU()

        def forward(self, x):
            x = self.relu(self.fc1(x))
            x = self.relu(self.fc2(x))
            x = self.relu(self.fc3(x))
            return self.fc4(x)

    class BasicBlock(nn.Module):  # torchvision's BasicBlock
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
                    nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False),
                    nn.BatchNorm2d(planes))

        def forward(self, x):
            identity = x
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            if self.has_downsample:
                identity = self.downsample(x)
            return self.relu(out + identity)

    class ResNet18(nn.Module):  # resnet18.mdl == torchvision.models.resnet18()
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU()
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
            self.layer1 = nn.Sequential(BasicBlock(64, 64), BasicBlock(64, 64))
            self.layer2 = nn.Sequential(BasicBlock(64, 128, 2), BasicBlock(128, 128))
            self.layer3 = nn.Sequential(BasicBlock(128, 256, 2), BasicBlock(256, 256))
            self.layer4 = nn.Sequential(BasicBlock(256, 512, 2), BasicBlock(512, 512))
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(512, 1000)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    def conv_bn_relu6(inp, oup, k=3, stride=1, groups=1):  # torchvision's Conv2dNormActivation
        return nn.Sequential(nn.Conv2d(inp, oup, k, stride, (k - 1) // 2, groups=groups,
                                       bias=False), nn.BatchNorm2d(oup), nn.ReLU6())

    class InvertedResidual(nn.Module):  # torchvision's, MobileNetV2
        def __init__(self, inp, oup, stride, expand_ratio):
            super().__init__()
            hidden = inp * expand_ratio
            self.use_res_connect = stride == 1 and inp == oup
            layers = [conv_bn_relu6(inp, hidden, 1)] if expand_ratio != 1 else []
            layers += [conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden),
                       nn.Conv2d(hidden, oup, 1, bias=False), nn.BatchNorm2d(oup)]
            self.conv = nn.Sequential(*layers)

        def forward(self, x):
            return x + self.conv(x) if self.use_res_connect else self.conv(x)

    class MobileNetV2(nn.Module):  # mobilenet_v2.mdl == torchvision.models.mobilenet_v2()
        def __init__(self):
            super().__init__()
            features, inp = [conv_bn_relu6(3, 32, 3, 2)], 32
            for t, c, n, s in [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2],
                               [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]]:
                for i in range(n):
                    features.append(InvertedResidual(inp, c, s if i == 0 else 1, t))
                    inp = c
            features.append(conv_bn_relu6(inp, 1280, 1))
            self.features = nn.Sequential(*features)
            self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, 1000))

        def forward(self, x):
            x = nn.functional.adaptive_avg_pool2d(self.features(x), (1, 1))
            return self.classifier(torch.flatten(x, 1))

    class ViTTiny(nn.Module):  # vit_tiny16.mdl
        def __init__(self, width=192, depth=12, heads=3, mlp=768, patch=16, image=224,
                     classes=1000):
            super().__init__()
            tokens = (image // patch) ** 2 + 1
            # timm's trunc_normal(std=.02) in spirit: not zero, so that the check sees them
            self.cls_token = nn.Parameter(torch.randn(1, 1, width) * 0.02)
            self.pos_embed = nn.Parameter(torch.randn(1, tokens, width) * 0.02)
            self.patch_embed = nn.Conv2d(3, width, patch, stride=patch)
            self.blocks = nn.ModuleList([
                nn.TransformerEncoderLayer(width, heads, mlp, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
                for _ in range(depth)])
            self.norm = nn.LayerNorm(width)
            self.head = nn.Linear(width, classes)

        def forward(self, x):
            x = self.patch_embed(x).flatten(2).transpose(1, 2)
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
            for blk in self.blocks:
                x = blk(x)
            return self.head(self.norm(x[:, 0]))

    # nanoGPT (model.py) as tools/gen_fixtures.py writes it for test/e2e/gpt.test
    # (the explicit causal softmax attention, flat state names, no weight
    # tying), at nanoGPT's shakespeare_char configuration (gpt_char.mdl).
    sys.path.insert(0, str(REPO / "tools"))
    import gen_fixtures

    class GPT(gen_fixtures.GPT):
        def __init__(self):
            super().__init__(vocab_size=65, block_size=256, n_layer=6, n_head=6, n_embd=384)

    class Attention1024(nn.Module):  # attention_1024.mdl
        def forward(self, q, k, v):
            return nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)

    return dict(TinyModel=TinyModel, MLP=MLP, ResNet18=ResNet18, MobileNetV2=MobileNetV2,
                ViTTiny=ViTTiny, GPT=GPT, Attention1024=Attention1024)


def randomize_state(model):
    """As tools/gen_fixtures.py: BatchNorm statistics and affine parameters
    random (running_var positive), num_batches_tracked >= 1, so that no
    BatchNorm is the identity; LayerNorm's affine parameters likewise."""
    nn = torch.nn
    with torch.no_grad():
        for key, t in model.state_dict().items():
            owner_name, _, leaf = key.rpartition(".")
            owner = model.get_submodule(owner_name) if owner_name else model
            is_norm = isinstance(owner, (nn.modules.batchnorm._NormBase, nn.LayerNorm))
            if leaf == "num_batches_tracked":
                t.fill_(int(torch.randint(1, 10, ())))
            elif leaf == "running_var":
                t.uniform_(0.5, 2.0)
            elif leaf == "running_mean":
                t.copy_(torch.randn_like(t) * 0.5)
            elif is_norm and leaf == "weight":
                t.uniform_(0.5, 1.5)
            elif is_norm and leaf == "bias":
                t.copy_(torch.randn_like(t) * 0.2)


# --------------------------------------------------------------------------
# modelc's own view of a model (`--emit=mdl`), as tools/gen_fixtures.py reads it
# --------------------------------------------------------------------------

MLIR_DTYPES = {"f32": "float32", "f64": "float64", "f16": "float16", "bf16": "bfloat16",
               "i32": "int32", "i64": "int64", "i1": "bool"}


def parse_tensor_type(text):
    m = re.fullmatch(r"tensor<(.*)>", text.strip())
    parts = m.group(1).split("x")
    return [None if d == "?" else int(d) for d in parts[:-1]], MLIR_DTYPES[parts[-1]]


def parse_mdl_view(text):
    """The state entries and forward_eval inputs of `modelc --emit=mdl` text:
    [(name, dtype, shape)], inputs None when there is no forward_eval."""
    state, inputs = [], None
    for line in text.splitlines():
        line = line.strip()
        m = re.match(r'mdl\.(param|buffer) @"?([^":\s]+)"? : (tensor<[^>]*>)(.*)', line)
        if m:
            kind, name, ty, rest = m.groups()
            if not (kind == "buffer" and "non_persistent" in rest):
                state.append((name, *parse_tensor_type(ty)))
            continue
        m = re.match(r"func\.func @forward_eval\((.*)\) -> (.*) \{$", line)
        if m:
            # Each argument's attributes: {mdl.dims = [...], mdl.name = "x"}.
            inputs = [(n, *parse_tensor_type(t)) for t, n in
                      re.findall(r'(tensor<[^>]*>) \{[^}]*mdl\.name = "([^"]+)"[^}]*\}', m.group(1))]
    return state, inputs


def library_name(key):
    """A compiled library's key ("resnet18@x86-64-v4") as its command line."""
    name, cpu = key.split("@", 1)
    return f"bench/models/{name}.mdl --cpu {cpu}"


def runs_avx512():
    """Whether this machine runs x86-64-v4 code (AVX-512 F, VL, BW, DQ, CD)."""
    try:
        flags = next((l.split(":", 1)[1].split() for l in open("/proc/cpuinfo")
                      if l.startswith("flags")), [])
    except OSError:
        return False
    return {"avx512f", "avx512vl", "avx512bw", "avx512dq", "avx512cd"} <= set(flags)


def modelc_view(modelc, mdl):
    proc = subprocess.run([modelc, str(mdl), "--emit=mdl"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"FATAL: modelc --emit=mdl rejected {mdl}:\n{proc.stderr}")
    state, inputs = parse_mdl_view(proc.stdout)
    if inputs is None:
        raise SystemExit(f"FATAL: no @forward_eval in modelc --emit=mdl of {mdl}")
    return state, inputs


TORCHVISION_TWINS = dict(ResNet18="resnet18", MobileNetV2="mobilenet_v2")


def check_torchvision_keys(cls_name, model):
    """Where torchvision is importable, the torch.nn class written here must
    have the state dict (keys, order, shapes) of its torchvision twin."""
    twin = TORCHVISION_TWINS.get(cls_name)
    if not twin or missing_modules(["torchvision"]):
        return None
    import torchvision
    want = [(k, list(v.shape)) for k, v in getattr(torchvision.models, twin)().state_dict().items()]
    have = [(k, list(v.shape)) for k, v in model.state_dict().items()]
    if want != have:
        diff = [f"  torchvision {w}\n  here        {h}" for w, h in zip(want, have) if w != h]
        raise SystemExit(f"FATAL: {cls_name}: the state dict differs from torchvision.models."
                         f"{twin}()'s ({len(want)} vs {len(have)} entries):\n" +
                         "\n".join(diff[:10]))
    return twin


def check_state_keys(name, view_state, model):
    want = [(k, s, d) for k, s, d in view_state]
    have = [(k, list(v.shape), str(v.dtype).replace("torch.", ""))
            for k, v in model.state_dict().items()]
    if want != have:
        diff = [f"  modelc {w}\n  torch  {h}" for w, h in zip(want, have) if w != h]
        raise SystemExit(f"FATAL: {name}: the torch module's state dict differs from modelc "
                         f"--emit=mdl ({len(want)} vs {len(have)} entries):\n" + "\n".join(diff[:10]))


# --------------------------------------------------------------------------
# safetensors without numpy/torch (for --quick without torch)
# --------------------------------------------------------------------------

def write_f32_safetensors(path, tensors):
    """tensors: name -> (shape, list of floats) or (shape, list of ints, "int64")."""
    header, blobs, offset = {}, [], 0
    for name, (shape, values, *dtype) in tensors.items():
        i64 = dtype == ["int64"]
        blob = struct.pack(f"<{len(values)}{'q' if i64 else 'f'}", *values)
        header[name] = {"dtype": "I64" if i64 else "F32", "shape": shape,
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


# --------------------------------------------------------------------------
# Running modelc
# --------------------------------------------------------------------------

BENCH_RE = re.compile(r"bench: (\d+) calls.*?min ([0-9.]+) ms, median ([0-9.]+) ms, max ([0-9.]+) ms")


def modelc_env(threads):
    env = dict(os.environ)
    env["MODELC_NUM_THREADS"] = str(threads)
    return env


# A small Python process that runs the command as its child and writes that
# child's max RSS (KiB) to a file. Linux carries a process's high-water RSS
# across fork and exec, so a command started straight from this script (a few
# hundred MiB once torch is loaded) would report at least this script's RSS.
RSS_LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, ru = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(str(ru.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status) & 0xFF)
"""


def run_rss(cmd, env=None, timeout=None):
    """Runs cmd; returns (returncode, stdout, stderr, max RSS of that process in
    KiB, measured by GNU time or else by RSS_LAUNCHER)."""
    with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe, \
            tempfile.NamedTemporaryFile("r", suffix=".rss") as fr:
        if os.access("/usr/bin/time", os.X_OK):  # GNU time: a smaller parent than Python
            wrap = ["/usr/bin/time", "-f", "%M", "-o", fr.name]
        else:
            wrap = [sys.executable, "-c", RSS_LAUNCHER, fr.name]
        p = subprocess.Popen(wrap + [str(c) for c in cmd], stdout=fo, stderr=fe, env=env,
                             start_new_session=True)
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, 9)
            p.wait()
            raise
        fo.seek(0)
        fe.seek(0)
        rss = fr.read().strip().splitlines()
        rss = rss[-1] if rss and rss[-1].isdigit() else None
        return (p.returncode, fo.read().decode(errors="replace"),
                fe.read().decode(errors="replace"), int(rss) if rss else None)


def run_modelc(runner, so, inputs, state, outputs, bench, threads, timeout, train=False,
               save_state=None):
    """Returns ({n, min, median, max} or None without --bench, wall s, max RSS KiB)."""
    cmd = [runner, str(so), "--inputs", str(inputs)]
    if state:
        cmd += ["--load-state", str(state)]
    if outputs:
        cmd += ["--outputs", str(outputs)]
    if save_state:
        cmd += ["--save-state", str(save_state)]
    if train:
        cmd += ["--train"]
    if bench:
        cmd += ["--bench", str(bench)]
    t0 = time.perf_counter()
    rc, out, err, rss = run_rss(cmd, env=modelc_env(threads), timeout=timeout)
    wall = time.perf_counter() - t0
    if rc != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({rc}):\n{err}")
    if not bench:
        return None, wall, rss
    m = BENCH_RE.search(out)
    if not m:
        raise RuntimeError(f"cannot parse modelc-run --bench output:\n{out}")
    return dict(n=int(m.group(1)), min=float(m.group(2)), median=float(m.group(3)),
                max=float(m.group(4))), wall, rss


def choose_reps(one_call_ms, budget_s, min_reps, max_reps):
    if one_call_ms > 60_000:          # > 1 min a call: 1-3 repetitions only
        return max(1, min(3, int(budget_s * 1000 / one_call_ms)))
    return int(max(min_reps, min(max_reps, budget_s * 1000 / max(one_call_ms, 1e-3))))


def _busy_s():
    """CPU seconds the whole machine has spent busy (/proc/stat), or None."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        busy = sum(v[:8]) - v[3] - v[4]  # all but idle and iowait (guest is in user)
        return busy / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _own_s():
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def with_other_load(row, fn, *a, **kw):
    """Runs fn and records in row["other"] (the max over calls) how many cores
    other processes kept busy meanwhile: the machine's busy time minus this
    script's and its children's, over the wall time."""
    b0, o0, w0 = _busy_s(), _own_s(), time.perf_counter()
    out = fn(*a, **kw)
    b1, o1, w1 = _busy_s(), _own_s(), time.perf_counter()
    if b0 is not None and b1 is not None and w1 - w0 >= 0.5:  # jiffies: 10 ms granularity
        other = ((b1 - b0) - (o1 - o0)) / (w1 - w0)
        other = min(float(os.cpu_count() or 1), max(0.0, other))
        row["other"] = max(row.get("other") or 0.0, other)
    return out


def best_round(rounds, measure):
    """Calls measure() -> (result, max RSS or None) `rounds` times and keeps
    the result with the lowest median, and the highest max RSS seen. The
    machine is shared: another tenant's load comes and goes over seconds,
    so a single block of calls can land in a slow stretch; every framework
    gets the same number of rounds, spread over its part of the run."""
    best, rss = None, None
    for _ in range(rounds):
        res, r = measure()
        if r is not None:
            rss = max(rss or 0, r)
        if best is None or res["median"] < best["median"]:
            best = res
    return best, rss


def grad_ctx(train):
    """Evaluation: torch.inference_mode(); training-mode forward: torch.no_grad()
    (BatchNorm still updates its running statistics)."""
    return torch.no_grad() if train else torch.inference_mode()


def time_fn(fn, reps, threads, train=False):
    """Median of reps calls of fn() after warm-up calls, with `threads` PyTorch threads."""
    torch.set_num_threads(threads)
    with grad_ctx(train):
        for _ in range(3 if reps > 3 else 1):
            fn()
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return dict(n=reps, min=times[0], median=statistics.median(times), max=times[-1])


def torch_compile(model, xs, threads, train):
    """torch.compile (default mode) of a fresh copy of model, compiled for
    `threads` threads (inductor writes the thread count into its kernels, so
    each thread count gets its own compile). Returns (compiled, the copy, the
    output of its first call on the inputs xs, compile + first-call seconds)."""
    torch._dynamo.reset()
    torch.set_num_threads(threads)
    m = copy.deepcopy(model).train(train)
    cm = torch.compile(m)
    t0 = time.perf_counter()
    with grad_ctx(train):
        out = cm(*xs)
    return cm, m, out, time.perf_counter() - t0


def export_onnx(model, xs, path, in_names):
    """torch.onnx.export of the evaluation-mode module (inputs xs, named
    in_names): the TorchScript exporter (dynamo=False) first, the dynamo
    exporter if that fails. Returns how."""
    errors = []
    for dynamo in (False, True):
        kw = dict(dynamo=dynamo) if dynamo else dict(dynamo=False, opset_version=17)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(model, tuple(xs), str(path), input_names=list(in_names),
                                  output_names=["output"], **kw)
            return f"torch.onnx.export(dynamo={dynamo})"
        except Exception as e:  # noqa: BLE001 - reported in the table
            errors.append(f"dynamo={dynamo}: {short(e, 200)}")
    raise RuntimeError("; ".join(errors))


def ort_session(ort, path, threads):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def count_flops(model, xs):
    """FLOPs of one forward call on the inputs xs, counted analytically:
    2*M*N*K per Linear, 2*Cout*(Cin/groups)*kh*kw*Hout*Wout*N per Conv2d, and
    MultiheadAttention's input and output projections as the Linears they are
    (2*tokens*E*3E + 2*tokens*E*E). Not counted: the attention's own matmuls
    (q kᵀ, att v), in MultiheadAttention, scaled_dot_product_attention or written
    out (GPT), and every other layer."""
    nn = torch.nn
    total = [0]

    def hook(mod, inp, out):
        if isinstance(mod, nn.MultiheadAttention):  # calls F.linear, not its out_proj module
            tokens = inp[0].numel() // mod.embed_dim
            total[0] += 2 * tokens * mod.embed_dim * (3 * mod.embed_dim + mod.embed_dim)
        elif isinstance(mod, nn.Linear):
            total[0] += 2 * out.numel() * mod.in_features
        elif isinstance(mod, nn.Conv2d):
            kh, kw = mod.kernel_size
            total[0] += 2 * out.numel() * (mod.in_channels // mod.groups) * kh * kw

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Linear, nn.Conv2d, nn.MultiheadAttention))]
    try:
        # Gradients on (and thrown away): under inference_mode an evaluation-mode
        # TransformerEncoderLayer takes its fused fast path, which calls no
        # submodule, so no hook would see its Linears.
        with torch.enable_grad():
            model(*xs)
    finally:
        for h in handles:
            h.remove()
    return total[0]


def torch_rss_child(argv):
    """`run.py --rss-child CLASS STATE INPUTS INPUT_NAMES MODE THREADS REPS`: a
    PyTorch eager process doing what the modelc-run process does (load the
    state and the inputs, warm-up and REPS calls), for its max RSS.
    INPUT_NAMES: the forward's arguments, comma-separated."""
    global torch
    cls, state, inputs, in_names, mode, threads, reps = argv
    import torch as _t
    torch = _t
    from safetensors.torch import load_file
    torch.set_num_threads(int(threads))
    model = torch_modules()[cls]()
    model.load_state_dict(load_file(state))
    loaded = load_file(inputs)
    xs = [loaded[n] for n in in_names.split(",")]
    train = mode == "train"
    model.train(train)
    with grad_ctx(train):
        for _ in range(1 + int(reps)):
            model(*xs)
    return 0


def _vm_kib(field):
    """This process's /proc/self/status field (VmRSS, VmHWM) in KiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def sdpa_rss_child(argv):
    """`run.py --sdpa-rss-child SHAPE THREADS`: how much PyTorch's
    F.scaled_dot_product_attention(q, k, v, is_causal=True) adds to this
    process's peak RSS. q, k and v (SHAPE, "1,8,1024,64", float32) are made
    and touched and a small call warms the code up first; then the peak is
    reset (/proc/self/clear_refs 5, else it is the peak so far) and the
    call made under inference_mode. Prints `rss_before peak_after` in KiB:
    the call's addition is their difference (its output included)."""
    import torch as _t
    shape = [int(d) for d in argv[0].split(",")]
    _t.set_num_threads(int(argv[1]))
    F = _t.nn.functional
    g = _t.Generator().manual_seed(0)
    q, k, v = (_t.randn(shape, generator=g) for _ in range(3))
    with _t.inference_mode():
        small = [t[..., :16, :].contiguous() for t in (q, k, v)]
        F.scaled_dot_product_attention(*small, is_causal=True)
        del small
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            pass
        before = _vm_kib("VmRSS")
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        peak = _vm_kib("VmHWM")
    print(before, peak, float(out.abs().sum()) > 0)
    return 0


# --------------------------------------------------------------------------
# Peak memory of causal attention (issue 18: "attention at T=1024: peak memory
# <= PyTorch's scaled_dot_product_attention")
# --------------------------------------------------------------------------

BASELINE_MDL = """# bench/run.py's baseline for the peak memory of {model}: the same inputs,
# a scalar result (what modelc-run costs without the attention).
model MemoryBaseline {{
  forward({args}) {{
    return {body}
  }}
}}
"""


def sdpa_memory(runner, modelc, work, so, key, in_names, full_shape, in_path, thread_list,
                use_torch, timeout):
    """{threads: dict(modelc, baseline, torch_before, torch_peak)} in KiB.
    modelc: the max RSS of `modelc-run model.so --inputs in` (one call, no
    outputs written) and of the same with a baseline model that takes the
    same inputs and returns sum(q) + sum(k) + sum(v): the difference is what
    the attention adds (its code and constants, scratch and output).
    PyTorch: a child process (--sdpa-rss-child) makes and touches q, k, v,
    warms up on a slice, then reads its RSS, makes the call and reads its
    peak RSS (reset first): the difference is what the call adds (its output
    included)."""
    model, cpu = key.split("@", 1)
    base_so = work / f"memory-baseline.{model}.{cpu}.so"
    if not base_so.exists():
        dims = ", ".join(["B"] + [str(d) for d in full_shape[1:]])
        src = work / f"memory-baseline.{model}.mdl"
        src.write_text(BASELINE_MDL.format(
            model=f"bench/models/{model}.mdl",
            args=", ".join(f"{n}: f32[{dims}]" for n in in_names),
            body=" + ".join(f"sum({n})" for n in in_names)))
        proc = subprocess.run([modelc, str(src), "--cpu", cpu, "-o", str(base_so)],
                              capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"modelc {src.name} failed: {proc.stderr.strip()}")
    out = {}
    for n in thread_list:
        m = dict()
        for what, lib in (("modelc", so), ("baseline", base_so)):
            rc, _, err, rss = run_rss([runner, lib, "--inputs", in_path], env=modelc_env(n),
                                      timeout=3600)
            if rc != 0 or not rss:
                raise RuntimeError(f"modelc-run {Path(lib).name} failed ({rc}): {err.strip()}")
            m[what] = rss
        if use_torch:
            proc = subprocess.run([sys.executable, str(Path(__file__).resolve()),
                                   "--sdpa-rss-child", ",".join(map(str, full_shape)), str(n)],
                                  capture_output=True, text=True, timeout=3600)
            vals = proc.stdout.split()
            if proc.returncode != 0 or len(vals) < 2:
                raise RuntimeError(f"--sdpa-rss-child failed ({proc.returncode}): "
                                   f"{short(proc.stderr)}")
            m["torch_before"], m["torch_peak"] = int(vals[0]), int(vals[1])
        out[n] = m
        log(f"  peak memory, {n} thr: modelc-run {m['modelc'] / 1024:.1f} MiB - baseline "
            f"{m['baseline'] / 1024:.1f} MiB = {(m['modelc'] - m['baseline']) / 1024:.1f} MiB"
            + (f"; PyTorch sdpa adds {(m['torch_peak'] - m['torch_before']) / 1024:.1f} MiB "
               f"({m['torch_before'] / 1024:.0f} -> {m['torch_peak'] / 1024:.0f} MiB)"
               if "torch_peak" in m else ""))
    return out


def sdpa_mem_added(m):
    """(modelc's addition, PyTorch's or None) in KiB."""
    return (m["modelc"] - m["baseline"],
            m["torch_peak"] - m["torch_before"] if "torch_peak" in m else None)


# --------------------------------------------------------------------------
# The machine's fp32 peak: independent FMA chains on vector registers
# --------------------------------------------------------------------------

PEAK_C = r"""
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#if defined(__AVX512F__)
typedef __m512 V;
#define LANES 16
#define SET1 _mm512_set1_ps
#define FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define FIRST(v) _mm512_cvtss_f32(v)
#define ISA "avx512f fma"
#elif defined(__FMA__)
typedef __m256 V;
#define LANES 8
#define SET1 _mm256_set1_ps
#define FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define FIRST(v) _mm256_cvtss_f32(v)
#define ISA "avx2 fma"
#else
typedef __m128 V;
#define LANES 4
#define SET1 _mm_set1_ps
#define FMA(a, b, c) _mm_add_ps(_mm_mul_ps(a, b), c)
#define FIRST(v) _mm_cvtss_f32(v)
#define ISA "sse mul+add"
#endif
#define CHAINS 12 /* >= FMA latency x FMA pipes, and fits 16 registers */
static long iters;
static volatile float sink;
static void *work(void *arg) {
  (void)arg;
  V acc[CHAINS];
  V b = SET1(0.999999f), c = SET1(1e-6f);
  for (int j = 0; j < CHAINS; j++) acc[j] = SET1((float)j);
  for (long i = 0; i < iters; i++) {
#pragma GCC unroll 12
    for (int j = 0; j < CHAINS; j++) acc[j] = FMA(acc[j], b, c);
  }
  float s = 0;
  for (int j = 0; j < CHAINS; j++) s += FIRST(acc[j]);
  sink = s;
  return 0;
}
static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}
static double run(int threads) {
  pthread_t t[256];
  double t0 = now();
  for (int i = 0; i < threads; i++) pthread_create(&t[i], 0, work, 0);
  for (int i = 0; i < threads; i++) pthread_join(t[i], 0);
  return now() - t0;
}
int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 1;
  double seconds = argc > 2 ? atof(argv[2]) : 0.3;
  int repeats = argc > 3 ? atoi(argv[3]) : 3;
  if (threads < 1 || threads > 256) return 2;
  for (iters = 1 << 12;; iters *= 2) { /* size one run from one thread */
    double dt = run(1);
    if (dt > seconds / 4) { iters = (long)(iters * seconds / dt); break; }
  }
  double best = 0;
  for (int r = 0; r < repeats; r++) {
    double g = 2.0 * LANES * CHAINS * (double)iters * threads / run(threads) / 1e9;
    if (g > best) best = g;
  }
  printf("%.3f %s\n", best, ISA);
  return 0;
}
"""


def measure_peak(work, thread_counts, seconds, repeats):
    """{threads: GFLOP/s} (best of `repeats` runs), the ISA used, and an error or None."""
    src, exe = work / "peak.c", work / "peak"
    src.write_text(PEAK_C)
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        return {}, None, "no C compiler (cc/gcc/clang) found"
    proc = subprocess.run([cc, "-O3", "-march=native", "-pthread", str(src), "-o", str(exe)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return {}, None, f"{cc} -O3 -march=native failed: {short(proc.stderr)}"
    peak, isa = {}, None
    for n in thread_counts:
        proc = subprocess.run([str(exe), str(n), str(seconds), str(repeats)], capture_output=True,
                              text=True)
        if proc.returncode != 0 or not proc.stdout.strip():
            return peak, isa, f"peak microkernel failed ({proc.returncode}): {short(proc.stderr)}"
        gf, isa = proc.stdout.split(maxsplit=1)
        peak[n] = float(gf)
        isa = isa.strip()
    return peak, f"{isa}, {cc} -O3 -march=native", None


def worst_ratio(got, ref):
    """max over elements of |got-ref| / (atol + rtol*|ref|): <= 1 passes."""
    got, ref = got.double(), ref.double()
    if got.shape != ref.shape:
        return float("inf"), float("inf")
    err = (got - ref).abs()
    ratio = float((err / (ATOL + RTOL * ref.abs())).max())
    rel = float(err.max() / ref.abs().max().clamp_min(1e-30))
    return ratio, rel


def check_result(got, got_state, ref, ref_state):
    """(worst ratio, max|diff|/max|ref|, where) over the output and, for a
    training-mode call (ref_state given), every state entry after the call."""
    ratio, rel = worst_ratio(got, ref)
    where = "output"
    for k, r in (ref_state or {}).items():
        if got_state is None or k not in got_state:
            return float("inf"), float("inf"), f"state entry {k} (missing)"
        rk, relk = worst_ratio(got_state[k], r)
        if not rk <= ratio:
            ratio, rel, where = rk, relk, f"state entry {k}"
    return ratio, rel, where


def max_abs_diff(pairs):
    """max |a-b| over pairs of tensors (inf when shapes differ)."""
    worst = 0.0
    for a, b in pairs:
        if a.shape != b.shape:
            return float("inf")
        if a.numel():
            worst = max(worst, float((a.double() - b.double()).abs().max()))
    return worst


# --------------------------------------------------------------------------
# Environment
# --------------------------------------------------------------------------

def lscpu():
    info = {}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            k, _, v = line.partition(":")
            info[k.strip()] = v.strip()
    except OSError:
        pass
    return info


def git(*args):
    try:
        return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True,
                              text=True).stdout.strip()
    except OSError:
        return ""


def fmt_ms(v):
    if v is None:
        return "—"
    return f"{v:.4f}" if v < 1 else f"{v:.3f}" if v < 100 else f"{v:.1f}"


def fmt_ratio(a, b):
    return f"{a / b:.3f}" if a is not None and b else "—"


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

FRAMEWORKS = ["modelc", "eager", "compile", "ort"]
FW_NAME = dict(modelc="modelc", eager="PyTorch eager", compile="torch.compile", ort="onnxruntime")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--rss-child":
        return torch_rss_child(sys.argv[2:])
    if len(sys.argv) > 1 and sys.argv[1] == "--sdpa-rss-child":
        return sdpa_rss_child(sys.argv[2:])
    ap = argparse.ArgumentParser(
        description="modelc vs PyTorch eager, torch.compile and onnxruntime benchmark")
    ap.add_argument("--quick", action="store_true",
                    help="CI smoke test: small batches, few repetitions; PyTorch eager only if "
                         "installed, no torch.compile or onnxruntime; does not rewrite RESULTS.md")
    ap.add_argument("--modelc", help="modelc binary (default: $MODELC or build/bin/modelc)")
    ap.add_argument("--modelc-run", help="modelc-run binary (default: $MODELC_RUN or build/bin/modelc-run)")
    ap.add_argument("--compile-timeout", type=float, default=300,
                    help="seconds before a modelc compile counts as hung (default 300)")
    ap.add_argument("--threads", type=int, default=2, help="threads of every framework (default 2; "
                    "each workload is also run with 1)")
    ap.add_argument("--budget", type=float, default=None,
                    help="seconds of timed calls per workload, framework and thread count "
                         "(default 5, --quick 0)")
    ap.add_argument("--min-reps", type=int, default=None, help="default 7, --quick 3")
    ap.add_argument("--only", nargs="+", help="workloads whose name contains one of these strings")
    ap.add_argument("--cpu", nargs="+", default=None,
                    help="modelc --cpu of the libraries, one row per workload and CPU (default: "
                         "x86-64-v3, and x86-64-v4 where this machine runs AVX-512)")
    ap.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    ap.add_argument("--no-ort", action="store_true", help="skip onnxruntime (and installing it)")
    ap.add_argument("--workdir", help="keep the generated files here (default: a temporary directory)")
    ap.add_argument("--results", default=None,
                    help="write the Markdown report here (default: bench/RESULTS.md, none with --quick)")
    args = ap.parse_args()
    budget = args.budget if args.budget is not None else (0.0 if args.quick else 5.0)
    min_reps = args.min_reps if args.min_reps is not None else (3 if args.quick else 7)
    max_reps = 20 if args.quick else 5000
    # Each timing is the best (lowest median) of `rounds` blocks of calls,
    # the budget and the minimum number of calls shared among them.
    rounds = rounds_of(args)
    round_budget = budget / rounds
    round_min_reps = max(3, -(-min_reps // rounds))
    results_path = Path(args.results) if args.results else (None if args.quick else RESULTS)
    thread_list = [args.threads] + ([1] if args.threads != 1 else [])

    load_start = " ".join(f"{v:.2f}" for v in os.getloadavg())
    use_torch = False if args.no_torch else import_torch(args.quick)
    if not use_torch:
        log("PyTorch: SKIPPED (" + ("--no-torch" if args.no_torch else
            "torch/numpy/safetensors not installed; --quick installs nothing") +
            "): modelc is compiled and timed on random inputs, nothing is compared")
    skip = {}  # framework -> why it is not run at all
    if not use_torch:
        skip.update(eager="skipped (no PyTorch)", compile="skipped (no PyTorch)",
                    ort="skipped (no PyTorch to export from)")
    else:
        if args.quick or args.no_compile:
            skip["compile"] = "skipped (--quick)" if args.quick else "skipped (--no-compile)"
        if args.quick or args.no_ort:
            skip["ort"] = "skipped (--quick)" if args.quick else "skipped (--no-ort)"
    ort = None
    if "ort" not in skip:
        ort, why = import_ort(args.quick)
        if ort is None:
            skip["ort"] = why
            log(f"onnxruntime: {why}")

    def find(explicit, env, default):
        for cand in [explicit, os.environ.get(env), str(REPO / "build" / "bin" / default)]:
            if cand and Path(cand).is_file() and os.access(cand, os.X_OK):
                return cand
        raise SystemExit(f"FATAL: {default} not found (build it: ninja -C build modelc modelc-run, "
                         f"or pass --{default} / set ${env})")

    work_ctx = None
    if args.workdir:
        work = Path(args.workdir)
        work.mkdir(parents=True, exist_ok=True)
    else:
        work_ctx = tempfile.TemporaryDirectory(prefix="modelc-bench-")
        work = Path(work_ctx.name)
    # torch.compile's compile time is measured cold: its own cache in the work directory.
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(work / "inductor-cache"))
    # Private copies: a rebuild of build/bin in the middle of the run must not
    # mix two compilers in one table.
    # modelc finds its runtime in ../lib next to itself (or $MODELC_RUNTIME_DIR).
    modelc_src = Path(find(args.modelc, "MODELC", "modelc"))
    runner_src = find(args.modelc_run, "MODELC_RUN", "modelc-run")
    (work / "bin").mkdir(exist_ok=True)
    runner = shutil.copy2(runner_src, work / "bin" / "modelc-run")
    rt_src = modelc_src.parent.parent / "lib"
    rt_files = ["libmodelc_runtime.a", "modelc_runtime.symbols", "modelc_runtime.map.in"]
    if all((rt_src / f).is_file() for f in rt_files):
        (work / "lib").mkdir(exist_ok=True)
        for f in rt_files:
            shutil.copy2(rt_src / f, work / "lib" / f)
        modelc = shutil.copy2(modelc_src, work / "bin" / "modelc")
    else:
        modelc = str(modelc_src)  # its runtime lives elsewhere: use it in place
    built = datetime.datetime.fromtimestamp(modelc_src.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
    modelc_version = subprocess.run([modelc, "--version"], capture_output=True,
                                    text=True).stdout.strip().splitlines()
    modelc_version = next((l.strip() for l in modelc_version if l.strip().startswith("modelc")),
                          " / ".join(l.strip() for l in modelc_version))

    cpus = args.cpu or (["x86-64-v3"] + (["x86-64-v4"] if runs_avx512() else []))
    log("modelc libraries for: " + ", ".join(cpus))
    workloads, seen, sources = [], set(), {}
    for name, mdl_name, cls_name, in_name, shape, b_full, b_quick, mode, *opts in WORKLOADS:
        batch = b_quick if args.quick else b_full
        if batch is None:  # not run by --quick
            continue
        label = f"{name} b{batch}" + (" train" if mode == "train" else "")
        if label in seen:  # --quick runs ResNet-18 224x224 at batch 1 once
            continue
        seen.add(label)
        if not args.only or any(s in label for s in args.only):
            # One row per CPU variant, labelled with it: the instruction set
            # every number of the row comes from.
            for cpu in cpus:
                key = f"{mdl_name}@{cpu}"
                sources[key] = mdl_name
                workloads.append((f"{label} [{cpu}]", key, cls_name, in_name.split(","), shape,
                                  batch, mode, opts[0] if opts else {}))
    if use_torch:
        torch.set_num_threads(args.threads)
        classes = torch_modules()

    # ---- the machine's fp32 peak (before anything else loads it) -----------
    peak, peak_how, peak_err = measure_peak(work, thread_list, 0.05 if args.quick else 0.3,
                                            1 if args.quick else 5)
    if peak_err:
        log(f"fp32 peak: NOT MEASURED ({peak_err})")
    log("fp32 peak: " + ", ".join(f"{peak[n]:.1f} GFLOP/s with {n} thread(s)" for n in peak) +
        (f" ({peak_how}, best of {1 if args.quick else 5})" if peak else ""))

    # ---- compile ---------------------------------------------------------
    compiled = OrderedDict()
    for _, key, cls_name, *_ in workloads:
        if key in compiled:
            continue
        mdl_name, cpu = sources[key], key.split("@", 1)[1]
        mdl = MODELS_DIR / f"{mdl_name}.mdl"
        so = work / f"{mdl_name}.{cpu}.so"
        # The best of `rounds` compiles, like the call timings. A round that
        # times out ends them; the library of an earlier round stays (modelc
        # renames its output into place only when done), and so does its time.
        dt = None
        for _ in range(rounds):
            t0 = time.perf_counter()
            try:
                proc = subprocess.run([modelc, str(mdl), "--cpu", cpu, "-o", str(so)], capture_output=True,
                                      text=True, timeout=args.compile_timeout)
            except subprocess.TimeoutExpired:
                if dt is not None:
                    log(f"a compile of {mdl.relative_to(REPO)} after the first timed out "
                        f"({args.compile_timeout:g} s); the rounds before it count")
                break
            if proc.returncode != 0:
                raise SystemExit(f"FATAL: modelc {mdl} failed:\n{proc.stderr}")
            dt = min(dt or float("inf"), time.perf_counter() - t0)
        if dt is None:
            msg = (f"modelc {mdl.relative_to(REPO)} -o model.so did not finish within "
                   f"{args.compile_timeout:g} s: its workloads are skipped")
            log("COMPILE TIMEOUT: " + msg)
            compiled[key] = dict(timeout=msg, compile_s=None, size=None)
            continue
        # The runtime's thread pool reads MODELC_NUM_THREADS (runtime/src/Parallel.cpp);
        # a library without that string is single-threaded.
        entry = dict(so=so, compile_s=dt, size=so.stat().st_size, cls=cls_name,
                     threaded=b"MODELC_NUM_THREADS" in so.read_bytes())
        log(f"compiled {mdl.relative_to(REPO)} --cpu {cpu}: {dt:.2f} s, model.so {entry['size'] / 1024:.0f} KiB")
        if use_torch:
            view_state, view_inputs = modelc_view(modelc, mdl)
            seed = sum(map(ord, mdl_name))
            torch.manual_seed(seed)
            model = classes[cls_name]()
            check_state_keys(mdl_name, view_state, model)
            twin = check_torchvision_keys(cls_name, model)
            randomize_state(model)
            model.eval()
            state_path = work / f"{mdl_name}.state.safetensors"
            from safetensors.torch import save_file
            save_file(OrderedDict((k, v.contiguous()) for k, v in model.state_dict().items()),
                      str(state_path))
            m64 = type(model)()
            m64.load_state_dict(model.state_dict())
            m64 = m64.double().eval()
            entry.update(model=model, m64=m64, state=state_path, inputs=view_inputs,
                         nstate=len(view_state))
            log(f"  state dict: {len(view_state)} entries, keys/shapes/dtypes match modelc --emit=mdl"
                + (f" and torchvision.models.{twin}()" if twin else ""))
        compiled[key] = entry

    torch_base_rss = None
    if use_torch:  # what `import torch` alone costs a process (context for the RSS column)
        torch_base_rss = run_rss([sys.executable, "-c", "import torch"])[3]

    # ---- run -------------------------------------------------------------
    rows, failures = [], []
    for label, mdl_name, _, in_names, shape, batch, mode, opts in workloads:
        # (mdl_name is the library's key: the model @ its CPU.)
        train = mode == "train"
        c = compiled[mdl_name]
        row = dict(label=label, batch=batch, mode=mode, status="ok", err=None, rel=None,
                   res={fw: {} for fw in FRAMEWORKS}, fail={}, fw_err={}, compile_s={},
                   other=None, flops=None, thread_diff=None, rss_modelc=None, rss_torch=None,
                   export_s=None)
        rows.append(row)
        if "timeout" in c:
            row["status"] = "COMPILE TIMEOUT"
            failures.append(f"{label}: {c['timeout']}")
            continue
        full_shape = [batch] + shape
        tag = f"{mdl_name}.b{batch}.{mode}"
        in_path = work / f"{tag}.inputs.safetensors"
        out_path = work / f"{tag}.out.safetensors"
        state = c.get("state")
        int_high = opts.get("high") if opts.get("dtype") == "int64" else None
        in_type = (f"i64{full_shape} in [0, {int_high})" if int_high is not None
                   else f"f32{full_shape}")
        log(f"\n== {label} (input {', '.join(in_names)}: {in_type}"
            f"{'; training-mode forward, BatchNorm statistics updated' if train else ''})")
        probe = None
        if use_torch:
            from safetensors.torch import load_file, save_file
            if [n for n, _, _ in c["inputs"]] != in_names:
                raise SystemExit(f"FATAL: {mdl_name}: modelc's forward takes {c['inputs']}")
            g = torch.Generator().manual_seed(1234 + batch)
            xs = [torch.randint(0, int_high, full_shape, generator=g, dtype=torch.int64)
                  if int_high is not None else torch.randn(full_shape, generator=g)
                  for _ in in_names]
            save_file(dict(zip(in_names, xs)), str(in_path))
            # 1. correctness: modelc vs float64 reference (and PyTorch f32 for
            #    context). Evaluation: its one --bench call sizes the timed run
            #    below. Training mode: exactly one call from the saved state,
            #    then the state it leaves (running statistics) is compared too.
            state_after = work / f"{tag}.state-after.safetensors" if train else None
            probe, _, _ = run_modelc(runner, c["so"], in_path, state, out_path,
                                     None if train else 1, args.threads, 3600, train=train,
                                     save_state=state_after)
            got = load_file(str(out_path))["output"]
            got_state = load_file(str(state_after)) if train else None
            ref_model = copy.deepcopy(c["m64"]).train(train)
            t32_model = copy.deepcopy(c["model"]).train(train)
            with grad_ctx(train):
                ref = ref_model(*[t.double() if t.is_floating_point() else t for t in xs])
                t32 = t32_model(*xs)
            ref_state = ref_model.state_dict() if train else None
            t32_state = t32_model.state_dict() if train else None
            row["err"], row["rel"], where = check_result(got, got_state, ref, ref_state)
            row["torch_err"] = check_result(t32, t32_state, ref, ref_state)[0]
            # Where PyTorch's own float32 result misses the tolerance (deep
            # training-mode networks), a result passes within twice its error.
            allowed = 1.0 if row["torch_err"] <= 1.0 else 2.0 * row["torch_err"]
            row["allowed"] = allowed
            log(f"  modelc vs float64 reference: worst {row['err']:.3g} x tolerance in {where} "
                f"(max |diff| / max |ref| = {row['rel']:.3g}); PyTorch f32: {row['torch_err']:.3g} x"
                + (f"; allowed: {allowed:.3g} x" if allowed > 1.0 else ""))
            if not row["err"] <= allowed:
                row["status"] = "WRONG"
                g_t, r_t = ((got, ref) if where == "output" else
                            (got_state.get(where.split()[-1]), ref_state[where.split()[-1]]))
                t_t = t32 if where == "output" else t32_state[where.split()[-1]]
                if g_t is not None and g_t.shape == r_t.shape:
                    r64 = r_t.double()
                    bad = ((g_t.double() - r64).abs() / (ATOL + RTOL * r64.abs())).flatten()
                    i = int(bad.argmax())
                    elem = (f"worst element [{i}] modelc {g_t.flatten()[i].item():.7g} vs reference "
                            f"{r_t.flatten()[i].item():.7g} (PyTorch f32 "
                            f"{t_t.flatten()[i].item():.7g}); ")
                else:
                    elem = "missing or of another shape; "
                detail = (f"{label}: modelc {where} differs from PyTorch: {elem}"
                          f"{row['err']:.3g} x the tolerance rtol={RTOL} atol={ATOL} (allowed: "
                          f"{allowed:.3g} x)")
                failures.append(detail)
                log("  WRONG RESULT, not timed: " + detail)
                continue
            # the same result with 1 thread (issue 4: within 1e-5)
            if c["threaded"] and args.threads != 1:
                out1 = work / f"{tag}.out1.safetensors"
                state1 = work / f"{tag}.state-after1.safetensors" if train else None
                run_modelc(runner, c["so"], in_path, state, out1, None, 1, 3600, train=train,
                           save_state=state1)
                pairs = [(got, load_file(str(out1))["output"])]
                if train:
                    s1 = load_file(str(state1))
                    pairs += [(v, s1[k]) for k, v in got_state.items()]
                row["thread_diff"] = max_abs_diff(pairs)
                log(f"  modelc 1 thread vs {args.threads}: max |diff| {row['thread_diff']:.3g}")
                if not row["thread_diff"] <= THREAD_TOL:
                    failures.append(f"{label}: modelc's result with 1 thread differs from "
                                    f"{args.threads} threads by {row['thread_diff']:.3g} "
                                    f"(> {THREAD_TOL:g})")
            row["flops"] = count_flops(c["model"], xs)
        else:
            rng = random.Random(1234 + batch)
            n = 1
            for d in full_shape:
                n *= d
            write_f32_safetensors(in_path, {
                name: (full_shape, [rng.randrange(int_high) for _ in range(n)], "int64")
                if int_high is not None else (full_shape, [rng.gauss(0, 1) for _ in range(n)])
                for name in in_names})

        # 2. modelc timing: --bench N, N sized from one call (--quick: min_reps),
        #    best of `rounds` runs
        def modelc_rounds(n, threads):
            def measure():
                res, _, rss = with_other_load(row, run_modelc, runner, c["so"], in_path, state,
                                              None, n, threads, 3600, train=train)
                return res, rss
            return best_round(rounds, measure)

        if args.quick:
            reps = min_reps
        else:
            if probe is None:
                probe, _, _ = run_modelc(runner, c["so"], in_path, state, None, 1, args.threads,
                                         3600, train=train)
            reps = choose_reps(probe["median"], round_budget, round_min_reps, max_reps)
        res, rss = modelc_rounds(reps, args.threads)
        row["res"]["modelc"][args.threads] = res
        row["rss_modelc"] = rss
        log(f"  modelc {args.threads} thr: best of {rounds} x {reps} calls, median "
            f"{fmt_ms(res['median'])} ms (min {fmt_ms(res['min'])}, max {fmt_ms(res['max'])}); "
            f"max RSS {rss / 1024:.0f} MiB")
        if c["threaded"] and args.threads != 1:
            # 1 thread: at most `threads` times slower, so size N from that
            reps1 = min_reps if args.quick else choose_reps(
                res["median"] * args.threads, round_budget, round_min_reps, max_reps)
            res1, _ = modelc_rounds(reps1, 1)
            row["res"]["modelc"][1] = res1
            log(f"  modelc 1 thr: best of {rounds} x {reps1} calls, median "
                f"{fmt_ms(res1['median'])} ms (min {fmt_ms(res1['min'])}, "
                f"max {fmt_ms(res1['max'])})")
        else:
            row["res"]["modelc"][1] = res
        if opts.get("memory") == "sdpa":
            try:
                row["sdpa_mem"] = sdpa_memory(runner, modelc, work, c["so"], mdl_name,
                                              in_names, full_shape, in_path, thread_list,
                                              use_torch, args.compile_timeout)
            except Exception as e:  # noqa: BLE001 - reported, the run goes on
                row["sdpa_mem_err"] = short(e)
                failures.append(f"{label}: peak memory not measured: {short(e)}")
                log(f"  peak memory: FAILED: {short(e)}")
        if not use_torch:
            continue

        def timed(fw, fn, threads):
            """Sizes N from one call, times N calls, records and logs the median."""
            p = time_fn(fn, 1, threads, train)
            treps = choose_reps(p["median"], round_budget, round_min_reps, max_reps)
            if args.quick:
                treps = min(treps, 3)
            r, _ = best_round(rounds, lambda: (with_other_load(row, time_fn, fn, treps, threads,
                                                               train), None))
            row["res"][fw][threads] = r
            log(f"  {FW_NAME[fw]} {threads} thr: best of {rounds} x {treps} calls, median "
                f"{fmt_ms(r['median'])} ms (min {fmt_ms(r['min'])}, max {fmt_ms(r['max'])})")

        # 3. PyTorch eager, --threads threads and 1 thread (training mode: a
        #    copy, so that the shared module keeps its state)
        eager = copy.deepcopy(c["model"]).train() if train else c["model"]
        for threads in thread_list:
            timed("eager", lambda: eager(*xs), threads)
        rc, _, err, rss = run_rss([sys.executable, str(Path(__file__).resolve()), "--rss-child",
                                   c["cls"], str(state), str(in_path), ",".join(in_names), mode,
                                   str(args.threads), "3"], timeout=3600)
        if rc == 0 and rss:
            row["rss_torch"] = rss
            log(f"  PyTorch eager process: max RSS {rss / 1024:.0f} MiB")
        else:
            log(f"  PyTorch eager process for max RSS failed ({rc}): {short(err)}")

        # 4. torch.compile (default mode), one compile per thread count
        if "compile" in skip:
            row["fail"]["compile"] = skip["compile"]
        for threads in ([] if "compile" in skip else thread_list):
            try:
                cm, cmod, out, secs = torch_compile(c["model"], xs, threads, train)
            except Exception as e:  # noqa: BLE001 - e.g. no C++ compiler for inductor
                row["fail"]["compile"] = f"FAILED: {short(e)}"
                log(f"  torch.compile {threads} thr: {row['fail']['compile']}")
                break
            row["compile_s"][threads] = secs
            err = check_result(out, cmod.state_dict() if train else None, ref, ref_state)[0]
            row["fw_err"]["compile"] = max(row["fw_err"].get("compile", 0.0), err)
            log(f"  torch.compile {threads} thr: compile + first call {secs:.1f} s; "
                f"{err:.3g} x tolerance")
            if not err <= allowed:
                row["fail"]["compile"] = f"WRONG ({err:.3g} x tol)"
                break
            timed("compile", lambda: cm(*xs), threads)
            cm = cmod = None  # free the compiled graph before the next compile
            torch._dynamo.reset()

        # 5. onnxruntime (evaluation only), one session per thread count
        if train:
            row["fail"]["ort"] = "n/a (training mode)"
        elif "ort" in skip:
            row["fail"]["ort"] = skip["ort"]
        else:
            try:
                onnx_path = work / f"{tag}.onnx"
                t0 = time.perf_counter()
                how = export_onnx(c["model"], xs, onnx_path, in_names)
                row["export_s"] = time.perf_counter() - t0
                row["export_how"] = how
                feed = {n: t.numpy() for n, t in zip(in_names, xs)}
                for threads in thread_list:
                    sess = ort_session(ort, onnx_path, threads)
                    out = torch.from_numpy(sess.run(None, feed)[0])
                    err = check_result(out, None, ref, None)[0]
                    row["fw_err"]["ort"] = max(row["fw_err"].get("ort", 0.0), err)
                    log(f"  onnxruntime {threads} thr ({how}): {err:.3g} x tolerance")
                    if not err <= allowed:
                        row["fail"]["ort"] = f"WRONG ({err:.3g} x tol)"
                        break
                    timed("ort", lambda: sess.run(None, feed), threads)
                    sess = None
            except Exception as e:  # noqa: BLE001 - reported in the table
                row["fail"]["ort"] = f"FAILED: {short(e)}"
                log(f"  onnxruntime: {row['fail']['ort']}")
        torch.set_num_threads(args.threads)

    # ---- report ----------------------------------------------------------
    cpu = lscpu()
    machine = dict(
        cpu=cpu.get("Model name", platform.processor() or "unknown"),
        cpus=cpu.get("CPU(s)", str(os.cpu_count())),
        cores=cpu.get("Core(s) per socket", "?"), sockets=cpu.get("Socket(s)", "?"),
        tpc=cpu.get("Thread(s) per core", "?"),
        flags=" ".join(f for f in ["avx2", "avx512f", "fma"] if f in cpu.get("Flags", "").split()),
        kernel=platform.release(), load_start=load_start,
        load=" ".join(f"{v:.2f}" for v in os.getloadavg()),
        peak=peak, peak_how=peak_how, peak_err=peak_err)
    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench")
    log_lines = git("log", "--oneline", "-3").splitlines()
    versions = dict(log="; ".join(f"`{l}`" for l in log_lines),
        python=platform.python_version(),
        torch=torch.__version__ if use_torch else "not used",
        ort=(ort.__version__ if ort else skip.get("ort", "not used")),
        onnx=(importlib.import_module("onnx").__version__ if ort else "not used"),
        modelc=f"{modelc_version}, git {commit}, binary built {built}" + (
            " (working tree has uncommitted changes outside bench/; binaries built from it)"
            if dirty else ""))

    tables = result_tables(rows, args.threads, thread_list, peak, compiled, use_torch,
                           torch_base_rss)
    log(f"\nmachine: {machine['cpu']}, {machine['cpus']} CPUs, flags: {machine['flags'] or '-'}; "
        "fp32 peak: " + (", ".join(f"{peak[n]:.1f} GFLOP/s ({n} thr)" for n in peak)
                         if peak else f"not measured ({peak_err})"))
    for title, header, table in tables:
        log(f"\n{title}\n" + text_table(header, table))
    log("\ncompile: " + ", ".join(
        f"{k} {c['compile_s']:.2f} s / {c['size'] / 1024:.0f} KiB" if c["size"] else f"{k} TIMEOUT"
        for k, c in compiled.items()))
    targets = [] if args.quick else evaluate_targets(rows, compiled, peak, thread_list)
    if targets:
        log("\nTargets of issues 4 and 18\n" + text_table(TARGET_HEADER, targets))
    if not use_torch:
        log("PyTorch was skipped: no comparison and no correctness check were made.")
    for f in failures:
        log("FAILED: " + f)

    if results_path:
        write_report(results_path, args, machine, versions, tables, targets, rows, compiled,
                     failures, use_torch, budget, min_reps, torch_base_rss)
        log(f"\nwrote {results_path}")
    if work_ctx:
        work_ctx.cleanup()
    return 1 if failures else 0


# --------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------

def text_table(header, table):
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(header)]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in [header] + table)


def md_table(header, table):
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    return out + ["| " + " | ".join(v.replace("|", "/") for v in r) + " |" for r in table]


def res_of(row, fw, threads):
    return row["res"][fw].get(threads)


def cell(row, fw, threads, width=48):
    r = res_of(row, fw, threads)
    if r:
        return fmt_ms(r["median"])
    if fw == "modelc":
        return row["status"] if row["status"] != "ok" else "—"
    why = row["fail"].get(fw, "—" if row["status"] != "ok" else "skipped")
    return why if len(why) <= width else why[:width - 3] + "..."


def gflops_cell(row, fw, threads, peak):
    r = res_of(row, fw, threads)
    if not r or not row["flops"] or row["flops"] < MIN_FLOPS:
        return "—"
    g = row["flops"] / (r["median"] * 1e-3) / 1e9
    return f"{g:.1f} ({100 * g / peak[threads]:.0f} %)" if threads in peak else f"{g:.1f}"


def fmt_mib(kib):
    return "—" if kib is None else f"{kib / 1024:.0f}"


def result_tables(rows, nthreads, thread_list, peak, compiled, use_torch, torch_base_rss):
    """[(title, header, rows)]: one table of medians per thread count, then
    correctness, memory and set-up times."""
    tables = []
    for n in thread_list:
        header = ["workload", "modelc (ms)", "PyTorch eager (ms)", "torch.compile (ms)",
                  "onnxruntime (ms)", "eager / modelc", "compile / modelc", "ORT / modelc",
                  "modelc GFLOP/s (% peak)", "eager GFLOP/s (% peak)",
                  "reps modelc/eager/compile/ORT", "other load (cores)"]
        table = []
        for r in rows:
            m = res_of(r, "modelc", n)
            ratios = [fmt_ratio(res_of(r, fw, n)["median"], m["median"])
                      if (m and res_of(r, fw, n)) else "—" for fw in ("eager", "compile", "ort")]
            table.append([r["label"]] + [cell(r, fw, n) for fw in FRAMEWORKS] + ratios + [
                gflops_cell(r, "modelc", n, peak), gflops_cell(r, "eager", n, peak),
                "/".join(str(res_of(r, fw, n)["n"]) if res_of(r, fw, n) else "—"
                         for fw in FRAMEWORKS),
                "—" if r.get("other") is None else f"{r['other']:.2f}"])
        tables.append((f"Medians with {n} thread{'s' if n > 1 else ''} (ms per call; "
                       f"ratio = other / modelc, > 1: modelc is faster)", header, table))
    header = ["workload", "modelc error (x tol)", "PyTorch f32 error (x tol)",
              "torch.compile error (x tol)", "onnxruntime error (x tol)",
              f"modelc 1 vs {nthreads} thr max abs diff", "modelc-run max RSS (MiB)",
              "PyTorch eager max RSS (MiB)", "torch.compile compile s (" +
              " / ".join(f"{n} thr" for n in thread_list) + ")", "ONNX export (s)", "GFLOP per call"]
    table = []
    for r in rows:
        def err(v, wrong=False):
            return "—" if v is None else f"{v:.2g}" + (" WRONG" if wrong else "")
        table.append([
            r["label"], err(r["err"], r["status"] == "WRONG"), err(r.get("torch_err")),
            err(r["fw_err"].get("compile"), "WRONG" in r["fail"].get("compile", "")),
            err(r["fw_err"].get("ort"), "WRONG" in r["fail"].get("ort", "")),
            "—" if r["thread_diff"] is None else f"{r['thread_diff']:.2g}",
            fmt_mib(r["rss_modelc"]), fmt_mib(r["rss_torch"]),
            " / ".join(f"{r['compile_s'][n]:.1f}" for n in thread_list if n in r["compile_s"])
            or "—",
            "—" if r["export_s"] is None else f"{r['export_s']:.1f}",
            "—" if not r["flops"] else f"{r['flops'] / 1e9:.4g}"])
    tables.append(("Correctness, memory and set-up" + (
        f" (a process that only imports torch: {torch_base_rss / 1024:.0f} MiB)"
        if torch_base_rss else ""), header, table))
    header = ["workload", "threads", "modelc-run max RSS (MiB)", "baseline model (MiB)",
              "modelc adds (MiB)", "PyTorch before / peak (MiB)", "PyTorch sdpa adds (MiB)",
              "modelc / PyTorch"]
    table = []
    for r in rows:
        for n, m in sorted((r.get("sdpa_mem") or {}).items(), reverse=True):
            mc, pt = sdpa_mem_added(m)
            table.append([r["label"], str(n), f"{m['modelc'] / 1024:.1f}",
                          f"{m['baseline'] / 1024:.1f}", f"{mc / 1024:.1f}",
                          f"{m['torch_before'] / 1024:.1f} / {m['torch_peak'] / 1024:.1f}"
                          if pt is not None else "—",
                          "—" if pt is None else f"{pt / 1024:.1f}",
                          "—" if not pt else f"{mc / pt:.2f}"])
        if r.get("sdpa_mem_err"):
            table.append([r["label"], "—", "FAILED: " + r["sdpa_mem_err"]] + ["—"] * 5)
    if table:
        tables.append(("Peak memory of causal attention (issue 18; what one call adds to a "
                       "process's peak RSS)", header, table))
    return tables


TARGET_HEADER = ["target (issue 4 unless it says otherwise)", "measured", "verdict"]


def evaluate_targets(rows, compiled, peak, thread_list):
    """[target, measured, verdict] for each target of issue 4 that this run measures."""
    out = []

    def per_threads(base, what, value, goal, unit):
        """value(row, threads) -> float or None; met when >= goal at each thread
        count; for each CPU variant of the workload `base` ("MLP b64 [x86-64-v3]")."""
        for r in rows:
            if r["label"].startswith(base + " ["):
                per_row(r, what, value, goal, unit)

    def per_row(r, what, value, goal, unit):
        label = r["label"]
        vals = [(n, value(r, n) if r else None) for n in thread_list]
        got = [(n, v) for n, v in vals if v is not None]
        measured = "; ".join(f"{n} thr: {v:.3g}{unit}" for n, v in got) or "not measured"
        ok = [n for n, v in got if v >= goal]
        if not got:
            verdict = "not measured"
        elif len(ok) == len(got):
            verdict = "met"
        elif not ok:
            verdict = "missed"
        else:
            verdict = "met with " + ", ".join(f"{n} thr" for n in ok) + " only"
        out.append([f"{label}: {what}", measured, verdict])

    def ratio(fw):
        def f(r, n):
            m, o = res_of(r, "modelc", n), res_of(r, fw, n)
            return o["median"] / m["median"] if (m and o) else None
        return f

    def pct(r, n):
        m = res_of(r, "modelc", n)
        if not (m and r["flops"] and n in peak):
            return None
        return 100 * r["flops"] / (m["median"] * 1e-3) / 1e9 / peak[n]

    per_threads("TinyModel b1", "≥ 10× PyTorch eager", ratio("eager"), 10, "×")
    per_threads("TinyModel b1", "≥ 3× torch.compile", ratio("compile"), 3, "×")
    for label in ("TinyModel b256", "MLP b64"):
        per_threads(label, "≥ 1.2× PyTorch eager", ratio("eager"), 1.2, "×")
        per_threads(label, "matmuls ≥ 70 % of measured peak (whole call)", pct, 70, " %")
    for label in ("ResNet-18 224x224 b1", "ResNet-18 224x224 b8"):
        per_threads(label, "≥ 1.2× PyTorch eager", ratio("eager"), 1.2, "×")
        per_threads(label, "≥ 1.0× torch.compile", ratio("compile"), 1.0, "×")
    per_threads("ResNet-18 32x32 b32 train", "≥ 1.2× PyTorch eager", ratio("eager"), 1.2, "×")
    for r in rows:  # issue 18
        got = [(n, *sdpa_mem_added(m)) for n, m in sorted((r.get("sdpa_mem") or {}).items(),
                                                          reverse=True)]
        got = [(n, mc, pt) for n, mc, pt in got if pt is not None]
        if got:
            out.append([f"{r['label']}: peak memory ≤ PyTorch's scaled_dot_product_attention "
                        f"(issue 18)",
                        "; ".join(f"{n} thr: modelc +{mc / 1024:.1f} vs PyTorch +{pt / 1024:.1f} "
                                  f"MiB" for n, mc, pt in got),
                        "met" if all(mc <= pt for _, mc, pt in got) else "missed"])
    for k, c in compiled.items():
        if k.startswith("resnet18") and c.get("compile_s") is not None:
            out.append([f"compile time of {library_name(k)} ≤ 5 s", f"{c['compile_s']:.2f} s",
                        "met" if c["compile_s"] <= 5 else "missed"])
    # issue 4's models only (issue 18's attention_1024 keeps its 4 MiB causal mask
    # as a constant; the Compilation table gives every size)
    issue4 = ("tiny@", "mlp@", "resnet18@", "resnet18_cifar@")
    sizes = [(k, c["size"]) for k, c in compiled.items() if c.get("size") and k.startswith(issue4)]
    if sizes:
        out.append(["model.so without weights ≤ 2 MB (2,000,000 bytes)",
                    ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in sizes),
                    "met" if all(v <= 2e6 for _, v in sizes) else "missed"])
    for r in rows:
        if r["rss_modelc"] and r["rss_torch"]:
            out.append([f"{r['label']}: peak memory ≤ PyTorch eager's",
                        f"{r['rss_modelc'] / 1024:.0f} vs {r['rss_torch'] / 1024:.0f} MiB",
                        "met" if r["rss_modelc"] <= r["rss_torch"] else "missed"])
    diffs = [(r["label"], r["thread_diff"]) for r in rows if r["thread_diff"] is not None]
    if diffs:
        worst = max(diffs, key=lambda d: d[1])
        out.append([f"same results (within {THREAD_TOL:g}) with 1 and {max(thread_list)} threads",
                    f"max abs diff {worst[1]:.2g} ({worst[0]})",
                    "met" if worst[1] <= THREAD_TOL else "missed"])
    return out


def write_report(path, args, machine, versions, tables, targets, rows, compiled, failures,
                 use_torch, budget, min_reps, torch_base_rss):
    md = []
    md.append("# modelc vs PyTorch eager, torch.compile and onnxruntime — benchmark results\n")
    cmdline = " ".join(["python3 bench/run.py"] + sys.argv[1:])
    md.append(f"Written by `{cmdline}` on "
              f"{datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}; rerun it to refresh this "
              f"file (bench/README.md explains the method).\n")
    md.append("## Machine and versions\n")
    md.append(f"- CPU: {machine['cpu']} — {machine['cpus']} logical CPUs "
              f"({machine['sockets']} socket(s) x {machine['cores']} core(s) x "
              f"{machine['tpc']} thread(s)); flags: {machine['flags'] or 'no avx2/avx512f/fma'}")
    peak = machine["peak"]
    if peak:
        md.append("- Measured fp32 peak: " + ", ".join(
            f"**{peak[n]:.1f} GFLOP/s with {n} thread{'s' if n > 1 else ''}**" for n in peak) +
            f" ({machine['peak_how']}; 12 independent FMA chains per thread, best of 5 runs)")
    else:
        md.append(f"- fp32 peak: not measured ({machine['peak_err']})")
    md.append(f"- Linux {machine['kernel']}; load average (1/5/15 min) at the start of the run: "
              f"{machine['load_start']}, at the end: {machine['load']} (the machine is shared, so a concurrent build can inflate any number)")
    md.append(f"- modelc: {versions['modelc']}; default optimization (-O2)")
    if versions.get("log"):
        md.append(f"- recent commits: {versions['log']}")
    md.append(f"- PyTorch {versions['torch']} (eager and torch.compile, default mode, inductor); "
              f"onnxruntime {versions['ort']} (onnx {versions['onnx']}); Python {versions['python']}")
    threaded = [k for k, c in compiled.items() if c.get("threaded")]
    if threaded:
        md.append(f"- Threads: PyTorch `torch.set_num_threads(n)`; onnxruntime "
                  f"`intra_op_num_threads = n`; modelc `MODELC_NUM_THREADS=n` (read by its "
                  f"runtime's thread pool, runtime/src/Parallel.cpp), with n = {args.threads} "
                  f"and n = 1.\n")
    else:
        md.append(f"- Threads: n = {args.threads} and 1 for PyTorch and onnxruntime. These modelc "
                  f"libraries are single-threaded (no MODELC_NUM_THREADS in model.so), so both "
                  f"modelc columns are one thread.\n")
    md.append("## Results (float32)\n")
    md.append("Median wall time of one `forward` call; ratio = other / modelc: above 1 means "
              "modelc is faster. Evaluation mode unless the workload says `train`: a "
              "training-mode forward (`modelc-run --train`; PyTorch `model.train()` under "
              "`torch.no_grad()`), BatchNorm running statistics updated at every call. modelc is "
              "timed by `modelc-run --bench N --load-state ...` (N calls after one warm-up); "
              "PyTorch eager under `torch.inference_mode()`, torch.compile (default mode, "
              "compiled once per thread count; the compile is not timed) and onnxruntime (the "
              "module exported by `torch.onnx.export`, one InferenceSession per thread count) "
              "after warm-up calls, all in the same run of the script. Each median is the "
              f"lowest of {rounds_of(args)} rounds of calls (the machine is shared and another tenant's "
              "load comes and goes; every framework gets the same rounds). Repetitions come from "
              f"a budget of {budget:g} s of calls per workload, framework and thread count, "
              f"shared by the rounds (at least {min_reps} in all, at most 1-3 when one call "
              "takes over a minute). GFLOP/s counts "
              "the Linear and Conv2d FLOPs analytically (2·M·N·K; 2·Cout·Cin·kh·kw·Hout·Wout·N) "
              "over the median of the whole call, as a percentage of the measured peak at the "
              "same thread count; workloads under 1 MFLOP show none. For ResNet these are the "
              "direct convolution's FLOPs: modelc computes 3x3 stride-1 convolutions as "
              "Winograd F(2x2, 3x3), 2.25x fewer multiplications, so its figure is an effective "
              "rate. \"other load\" is the most "
              "cores that other processes kept busy during any of the workload's timed runs "
              "(/proc/stat busy time minus this script's and its children's CPU time): with 2 "
              "cores, anything near or above 1 means the 2-thread columns measured contention "
              "more than the code.\n")
    for title, header, table in tables:
        md.append(f"### {title}\n")
        md += md_table(header, table)
        md.append("")
    md.append("Errors are the worst element against a float64 PyTorch reference, in units of "
              f"the tolerance |diff| <= {ATOL:g} + {RTOL:g}·|ref| (≤ 1 passes; a framework "
              "whose result fails is not timed); for `train` rows they also cover every state "
              "entry after one call from the same state (running_mean, running_var, "
              "num_batches_tracked). Max RSS is the peak resident memory of the `modelc-run` "
              "process of the timed run (state, inputs and N calls) and of a separate Python "
              "process that loads the same state and inputs into the PyTorch eager module and "
              "makes 4 calls.\n")
    if any(r.get("sdpa_mem") for r in rows):
        md.append("Peak memory of causal attention (issue 18): for modelc, the max RSS of "
                  "`modelc-run model.so --inputs qkv` (one call, nothing written) minus that of "
                  "the same with a baseline model taking the same q, k, v and returning "
                  "sum(q) + sum(k) + sum(v), so both include the runner, the runtime and the "
                  "inputs; the difference is the attention's code and constants, scratch and "
                  "output. For PyTorch, a child process makes and touches q, k, v (float32), "
                  "warms up on a 16-token slice, resets its peak RSS (/proc/self/clear_refs), "
                  "and calls F.scaled_dot_product_attention(q, k, v, is_causal=True) once under "
                  "inference_mode: its peak RSS minus its RSS before the call (the output "
                  "included).\n")
    md.append("## Compilation\n")
    md.append("| model | compile time (s) | model.so size | state dict |")
    md.append("|---|---:|---:|---:|")
    for k, c in compiled.items():
        st = f"{c['nstate']} entries" if "nstate" in c else "—"
        if c["size"] is None:
            md.append(f"| {library_name(k)} | > {args.compile_timeout:g} (timed out) | — | — |")
            continue
        md.append(f"| {library_name(k)} | {c['compile_s']:.2f} | "
                  f"{c['size'] / 1024:.0f} KiB ({c['size']:,} bytes) | {st} |")
    md.append("\nThe weights are not baked in (no `--weights`): they are loaded with "
              "`--load-state` at run time, so model.so holds only code and the runtime. "
              f"The compile time is the wall time of `modelc model.mdl -o model.so`, the best "
              f"of {rounds_of(args)} compiles on this shared machine.\n")
    if targets:
        md.append("## Targets of issues 4 and 18\n")
        md.append("Ratios at each thread count of this run; \"met\" only where every thread "
                  "count meets the target. The percent-of-peak figure divides the matmul FLOPs "
                  "by the whole call's time (bias, ReLU, softmax included), so it understates "
                  "the matmuls' own efficiency a little.\n")
        md += md_table(TARGET_HEADER, targets)
        md.append("")
    md.append("## Notes\n")
    notes = []
    if not use_torch:
        notes.append("PyTorch was skipped: no comparison and no correctness check were made.")
    for f in failures:
        notes.append("**FAILED** — " + f)
    for r in rows:
        for fw in ("compile", "ort"):
            why = r["fail"].get(fw, "")
            if why.startswith("FAILED") or why.startswith("WRONG"):
                notes.append(f"{r['label']}: {FW_NAME[fw]} {why}")
        if r.get("export_how"):
            notes.append(f"{r['label']}: ONNX model written by {r['export_how']}.")
    for r in rows:
        m, m1 = res_of(r, "modelc", args.threads), res_of(r, "modelc", 1)
        if m and m["median"] > 60_000:
            notes.append(f"{r['label']}: one modelc call takes {m['median'] / 1000:.0f} s, so it "
                         f"was timed over only {m['n']} call(s).")
        if m and m["n"] < 10 and not args.quick:
            notes.append(f"{r['label']}: modelc timed over {m['n']} calls only "
                         f"(one call is {m['median']:.0f} ms); its median is less settled than "
                         f"the others.")
        if m and m["max"] > 1.5 * m["median"] and m["n"] >= 10:
            notes.append(f"{r['label']}: modelc's slowest call took {m['max']:.3g} ms, "
                         f"{m['max'] / m['median']:.1f} x the median (noise from the shared machine).")
        if m and m1 and m is not m1 and m["median"] > 1.2 * m1["median"]:
            notes.append(f"{r['label']}: modelc with {args.threads} threads "
                         f"({m['median']:.3g} ms) is slower than with 1 ({m1['median']:.3g} ms).")
        t, t1 = res_of(r, "eager", args.threads), res_of(r, "eager", 1)
        if t and t1 and args.threads != 1 and t["median"] > 1.2 * t1["median"]:
            notes.append(f"{r['label']}: PyTorch with {args.threads} threads "
                         f"({t['median']:.3g} ms) is slower than with 1 ({t1['median']:.3g} ms): "
                         f"a sign that another process held a core during the run (PyTorch's "
                         f"threads wait for each other at every operator).")
        if r.get("torch_err") is not None and r["torch_err"] > 1:
            notes.append(f"{r['label']}: PyTorch's own float32 result is {r['torch_err']:.3g} x the "
                         f"tolerance away from the float64 reference, so modelc, torch.compile "
                         f"and onnxruntime passed within twice that ({r['allowed']:.3g} x).")
    n = args.threads
    if n in peak and 1 in peak and n != 1 and peak[n] < 0.8 * n * peak[1]:
        notes.append(f"The {n}-thread peak ({peak[n]:.1f} GFLOP/s) is under 0.8 x {n} x the "
                     f"1-thread peak ({peak[1]:.1f}): another process held a core while it was "
                     f"measured, so the {n}-thread percentages of peak are overstated; "
                     f"{n} x the 1-thread peak ({n * peak[1]:.1f} GFLOP/s) is the better "
                     f"estimate of the machine's.")
    busiest = max((r.get("other") or 0.0 for r in rows), default=0.0)
    if busiest >= 0.5:
        notes.insert(0, f"Other processes kept up to {busiest:.2f} of the {machine['cpus']} "
                        f"cores busy during the timed runs (column \"other load\"): every number "
                        f"here is an upper bound, the 2-thread columns most of all; the 1-thread "
                        f"columns are the fairer comparison.")
    md += [f"- {n}" for n in notes] or ["- none"]
    md.append("")
    path.write_text("\n".join(md) + "\n")


if __name__ == "__main__":
    sys.exit(main())
