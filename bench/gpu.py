#!/usr/bin/env python3
"""modelc on a GPU vs PyTorch CUDA eager and torch.compile (issue 5 item 5).

    python3 bench/gpu.py                       # on a GPU machine; writes bench/GPU-RESULTS.md
    python3 bench/gpu.py --device cpu --quick  # dry run anywhere: tiny sizes, the CPU device
    python3 bench/gpu.py --prepare DIR         # compile every model here (--target=cuda) for
                                               # a GPU machine whose modelc cannot run
    python3 bench/gpu.py --prebuilt DIR        # use those libraries (compile what is missing)

Workloads (bench/models/): ResNet-18 224x224 batch 64 eval, ResNet-50 224x224
batch 32 eval, ResNet-18 32x32 (CIFAR) batch 128 training-mode forward,
TinyModel batch 1; and two kernel models written by this script: one fused
elementwise chain (out <- relu(data * 2 + 1)) and one BatchNorm2d in training
mode, each on a 512 MiB device-resident buffer, whose effective bandwidth is
compared with the card's device-to-device copy bandwidth measured in the
same run.

For each workload, in one run: the model is compiled with `--target=cuda`
(or taken from --prebuilt), the torch.nn module (bench/run.py's, plus
ResNet-50 here) is checked key by key against `modelc --emit=mdl` (and
ResNet-50 against torchvision.models.resnet50() when torchvision is there),
its state randomized as bench/run.py does, then

  1. modelc on the device (`modelc-run --device cuda`) is checked against a
     float64 PyTorch CPU reference with bench/run.py's rule (|diff| <= 1e-5 +
     1e-4·|ref|, or within twice PyTorch's own float32 error where PyTorch
     misses that); training mode: exactly one call, the output and the state
     after it (running statistics, num_batches_tracked). A wrong result is
     not timed and makes the script exit 1;
  2. modelc is timed with `modelc-run --device cuda --bench N`: N calls after
     a warm-up, each call copying the input to the device and the output back;
  3. PyTorch eager (eval() + inference_mode(); train() + no_grad() for the
     training row) and torch.compile (default mode) are timed on the same
     device with torch.cuda.synchronize() around every call: with the input
     already on the device, and eager also host to host (input copied in,
     output copied out, as modelc-run's call does). TF32 is off (fp32
     everywhere, as modelc computes and as the tolerance needs).

Repetitions come from a time budget per measurement (--budget); a global
deadline (--time-limit, default 300 s) skips what would not fit (said in the
report) rather than running over.
"""

import argparse
import copy
import datetime
import gzip
import hashlib
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
import run as cpu  # noqa: E402  bench/run.py: torch modules, state checks, tolerances

MODELS_DIR = BENCH / "models"
RESULTS = BENCH / "GPU-RESULTS.md"
RTOL, ATOL = cpu.RTOL, cpu.ATOL

# label, model file, torch class, input shape without the batch, batch (full),
# batch (--quick; None: not in --quick), mode
WORKLOADS = [
    ("ResNet-18 224x224", "resnet18", "ResNet18", [3, 224, 224], 64, None, "eval"),
    ("ResNet-50 224x224", "resnet50", "ResNet50", [3, 224, 224], 32, None, "eval"),
    ("ResNet-18 32x32", "resnet18_cifar", "ResNet18", [3, 32, 32], 128, 2, "train"),
    ("TinyModel", "tiny", "TinyModel", [100], 1, 1, "eval"),
]

# Kernel models: a buffer `data` that stays on the device, a result buffer
# `out` written by the kernel, and a 1-element input/output so that a call
# moves (almost) nothing between host and device. `Empty` measures that
# per-call overhead, which is subtracted.
KERNEL_MODELS = {
    "ew_chain": """\
# Written by bench/gpu.py: one fused elementwise chain on a device-resident buffer.
model EwChain {{
  buffer data: f32[{shape}] = uniform(-1.0, 1.0)
  buffer out: f32[{shape}] = zeros()
  forward(x: f32[1]) -> f32[1] {{
    out <- relu(data * 2.0 + 1.0)
    return x
  }}
}}
""",
    "bn_train": """\
# Written by bench/gpu.py: BatchNorm2d (training mode: batch statistics, running
# statistics updated) on a device-resident buffer.
model BnTrain {{
  bn = BatchNorm2d({channels})
  buffer data: f32[{shape}] = uniform(-1.0, 1.0)
  buffer out: f32[{shape}] = zeros()
  forward(x: f32[1]) -> f32[1] {{
    out <- bn(data)
    return x
  }}
}}
""",
    "empty": """\
# Written by bench/gpu.py: the per-call overhead of modelc-run (1-element input and output).
model Empty {{
  forward(x: f32[1]) -> f32[1] {{
    return x
  }}
}}
""",
}
KERNEL_SHAPES = {  # 2^27 floats = 512 MiB per buffer (many times the H200's 60 MB L2)
    False: {"ew_chain": [128, 1048576], "bn_train": [32, 64, 256, 256]},
    True: {"ew_chain": [4, 4096], "bn_train": [4, 8, 16, 16]},
}

torch = None


def log(msg=""):
    print(msg, flush=True)


def sha256(data):
    return hashlib.sha256(data if isinstance(data, bytes) else data.encode()).hexdigest()


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


class Deadline:
    def __init__(self, seconds):
        self.end = time.monotonic() + seconds
        self.skipped = []

    def left(self):
        return self.end - time.monotonic()

    def allows(self, seconds, what):
        if self.left() >= seconds:
            return True
        self.skipped.append(f"{what} (needs ~{seconds:.0f} s, {max(0.0, self.left()):.0f} s left)")
        log(f"  SKIPPED (time limit): {self.skipped[-1]}")
        return False


# --------------------------------------------------------------------------
# Models: sources, compiling, prebuilt libraries
# --------------------------------------------------------------------------

def model_sources(quick, only):
    """key -> (source text, label) of every model this run needs."""
    srcs = OrderedDict()
    for label, mdl, _cls, _shape, _b, bq, _mode in WORKLOADS:
        if quick and bq is None:
            continue
        if only and not any(s in label for s in only):
            continue
        srcs[mdl] = (MODELS_DIR.joinpath(f"{mdl}.mdl").read_text(), label)
    if not only or any(s in "kernels" for s in only):
        for key, shape in KERNEL_SHAPES[quick].items():
            text = KERNEL_MODELS[key].format(shape=", ".join(map(str, shape)), channels=shape[1])
            srcs[f"{key}.{'x'.join(map(str, shape))}"] = (text, "kernels")
        srcs["empty"] = (KERNEL_MODELS["empty"].format(), "kernels")
    return srcs


def modelc_runs(modelc):
    """None when `modelc --version` works here, else why not (missing shared
    libraries on a GPU machine built from another image, say)."""
    try:
        p = subprocess.run([modelc, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return cpu.short(e)
    return None if p.returncode == 0 else cpu.short(p.stderr or p.stdout or f"exit {p.returncode}")


def compile_model(modelc, key, text, flags, work, timeout):
    """Compiles; returns dict(so, emit, compile_s, size) or dict(error=...)."""
    src = work / f"{key}.mdl"
    src.write_text(text)
    so = work / f"{key}.so"
    t0 = time.perf_counter()
    try:
        p = subprocess.run([modelc, str(src), *flags, "-o", str(so)], capture_output=True,
                           text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return dict(error=f"modelc {key}.mdl {' '.join(flags)} did not finish in {timeout:g} s")
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        return dict(error=f"modelc {key}.mdl {' '.join(flags)} failed: {cpu.short(p.stderr, 600)}")
    e = subprocess.run([modelc, str(src), "--emit=mdl"], capture_output=True, text=True)
    if e.returncode != 0:
        return dict(error=f"modelc {key}.mdl --emit=mdl failed: {cpu.short(e.stderr)}")
    emit = work / f"{key}.emit.mlir"
    emit.write_text(e.stdout)
    return dict(so=so, emit=emit, compile_s=dt, size=so.stat().st_size, where="this run")


def parse_emit(path):
    """bench/run.py's modelc_view, on a saved `--emit=mdl` text."""
    return cpu.parse_mdl_view(Path(path).read_text())


def prepare(args, modelc, flags):
    """--prepare DIR: compile every model of a full run (and of --quick) into
    DIR with a manifest, for a GPU machine that cannot run modelc."""
    out = Path(args.prepare)
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    srcs = OrderedDict()
    for quick in (False, True):
        srcs.update(model_sources(quick, args.only))
    failed = 0
    for key, (text, _) in srcs.items():
        digest = sha256(text + "\0" + " ".join(flags))
        old = manifest.get(key)
        if old and old["sha256"] == digest and (out / old["so"]).is_file():
            log(f"prebuilt {key}: up to date ({old['compile_s']:.1f} s when compiled)")
            continue
        c = compile_model(modelc, key, text, flags, out, args.compile_timeout)
        if "error" in c:
            log(f"prebuilt {key}: FAILED: {c['error']}")
            failed += 1
            continue
        # One call on this machine's CPU (batch 1), so that a library linked
        # against a runtime caught mid-rebuild is not carried to the GPU.
        inputs = parse_emit(c["emit"])[1]
        probe_in = out / f"{key}.probe.safetensors"
        cpu.write_f32_safetensors(probe_in, {n: ([d or 1 for d in shp], [0.5] * numel(
            [d or 1 for d in shp])) for n, shp, _ in inputs})
        runner = str(Path(modelc).parent / "modelc-run")
        try:
            run_modelc(runner, c["so"], "cpu", probe_in, bench=1)
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            log(f"prebuilt {key}: FAILED: one call on the CPU: {cpu.short(e, 600)}")
            failed += 1
            continue
        finally:
            probe_in.unlink()
        gz = out / f"{key}.so.gz"  # model libraries compress ~6x: less to carry
        gz.write_bytes(gzip.compress(c["so"].read_bytes(), 6))
        c["so"].unlink()
        manifest[key] = dict(sha256=digest, so=gz.name, emit=c["emit"].name,
                             compile_s=c["compile_s"], size=c["size"], flags=flags,
                             host=platform.node(), cpus=os.cpu_count(),
                             when=datetime.datetime.now().strftime("%Y-%m-%d %H:%M"))
        manifest_path.write_text(json.dumps(manifest, indent=1))
        log(f"prebuilt {key}: {c['compile_s']:.1f} s, {c['size'] / 1024:.0f} KiB")
    return 1 if failed else 0


def get_model(key, text, args, modelc, modelc_ok, flags, work, deadline):
    if args.prebuilt:
        pre = Path(args.prebuilt)
        manifest_path = pre / "manifest.json"
        manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
        m = manifest.get(key)
        if m and m["sha256"] == sha256(text + "\0" + " ".join(flags)) and (pre / m["so"]).is_file():
            so = pre / m["so"]
            if so.suffix == ".gz":
                so = work / so.stem
                so.write_bytes(gzip.decompress((pre / m["so"]).read_bytes()))
                so.chmod(0o755)
            return dict(so=so, emit=pre / m["emit"], compile_s=m["compile_s"],
                        size=m["size"], where=f"prebuilt on {m['host']} ({m['cpus']} CPUs)")
    if modelc_ok is not None:
        return dict(error=f"no up-to-date prebuilt {key} and modelc cannot run here: {modelc_ok}")
    if not deadline.allows(60 if key.startswith("resnet") else 10, f"compiling {key}"):
        return dict(error="time limit reached before compiling")
    return compile_model(modelc, key, text, flags, work, args.compile_timeout)


# --------------------------------------------------------------------------
# PyTorch side
# --------------------------------------------------------------------------

def torch_classes():
    nn = torch.nn
    classes = cpu.torch_modules()

    class Bottleneck(nn.Module):  # torchvision's Bottleneck (stride on the 3x3 conv)
        expansion = 4

        def __init__(self, inplanes, planes, stride=1):
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(planes * 4)
            self.relu = nn.ReLU()
            self.has_downsample = stride != 1 or inplanes != planes * 4
            if self.has_downsample:
                self.downsample = nn.Sequential(
                    nn.Conv2d(inplanes, planes * 4, 1, stride=stride, bias=False),
                    nn.BatchNorm2d(planes * 4))

        def forward(self, x):
            identity = x
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            if self.has_downsample:
                identity = self.downsample(x)
            return self.relu(out + identity)

    class ResNet50(nn.Module):  # resnet50.mdl == torchvision.models.resnet50()
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU()
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
            inplanes, layers = 64, []
            for planes, blocks, stride in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]:
                mods = [Bottleneck(inplanes, planes, stride)]
                inplanes = planes * 4
                mods += [Bottleneck(inplanes, planes) for _ in range(blocks - 1)]
                layers.append(nn.Sequential(*mods))
            self.layer1, self.layer2, self.layer3, self.layer4 = layers
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(2048, 1000)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    classes["ResNet50"] = ResNet50
    return classes


def check_against_torchvision(mdl, model):
    """ResNet-50 (and -18): the state dict of torchvision's own model, if installed."""
    try:
        import torchvision
    except ImportError:
        return "torchvision not installed: checked against the torch.nn rewrite only"
    ctor = {"resnet50": "resnet50", "resnet18": "resnet18"}.get(mdl)
    if ctor is None:
        return None
    tv = getattr(torchvision.models, ctor)().state_dict()
    want = [(k, list(v.shape)) for k, v in tv.items()]
    have = [(k, list(v.shape)) for k, v in model.state_dict().items()]
    if want != have:
        raise SystemExit(f"FATAL: {mdl}: state dict differs from torchvision.models.{ctor}()")
    return f"matches torchvision.models.{ctor}() ({len(want)} entries)"


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def time_torch(fn, dev, budget, min_reps, max_reps, train):
    """Median (ms) of calls of fn(), synchronized before and after each call,
    after warm-up calls; N from a time budget."""
    ctx = torch.no_grad() if train else torch.inference_mode()
    with ctx:
        for _ in range(3):
            fn()
        sync(dev)
        t0 = time.perf_counter()
        fn()
        sync(dev)
        one = time.perf_counter() - t0
        reps = int(max(min_reps, min(max_reps, budget / max(one, 1e-6))))
        times = []
        for _ in range(reps):
            sync(dev)
            t0 = time.perf_counter()
            fn()
            sync(dev)
            times.append((time.perf_counter() - t0) * 1e3)
    return dict(n=reps, min=min(times), median=statistics.median(times), max=max(times))


def copy_bandwidth(dev, nbytes, budget):
    """Device-to-device copy bandwidth in GB/s, bytes read + written."""
    n = nbytes // 4
    src = torch.rand(n, device=dev)
    dst = torch.empty_like(src)
    r = time_torch(lambda: dst.copy_(src), dev, budget, 10, 200, False)
    return 2 * n * 4 / (r["median"] / 1e3) / 1e9, r


# --------------------------------------------------------------------------
# modelc side
# --------------------------------------------------------------------------

def run_modelc(runner, so, device, inputs, state=None, outputs=None, save_state=None,
               train=False, bench=None, timeout=600):
    cmd = [runner, str(so), "--device", device, "--inputs", str(inputs)]
    if state:
        cmd += ["--load-state", str(state)]
    if outputs:
        cmd += ["--outputs", str(outputs)]
    if save_state:
        cmd += ["--save-state", str(save_state)]
    if train:
        cmd.append("--train")
    if bench:
        cmd += ["--bench", str(bench)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {cpu.short(p.stderr, 800)}")
    if not bench:
        return None
    m = cpu.BENCH_RE.search(p.stdout)
    if not m:
        raise RuntimeError(f"cannot parse modelc-run --bench output: {p.stdout!r}")
    return dict(n=int(m.group(1)), min=float(m.group(2)), median=float(m.group(3)),
                max=float(m.group(4)))


def time_modelc(runner, so, device, inputs, state, train, budget, min_reps, max_reps, probe_ms):
    reps = int(max(min_reps, min(max_reps, budget * 1e3 / max(probe_ms, 1e-3))))
    return run_modelc(runner, so, device, inputs, state, train=train, bench=reps)


def one_input(path):
    cpu.write_f32_safetensors(path, {"x": ([1], [1.0])})


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

def main():
    global torch
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu (dry run)")
    ap.add_argument("--target", default=None, choices=["cuda", "cpu"],
                    help="modelc --target (default: cuda; cpu with --device cpu --quick)")
    ap.add_argument("--gpu-arch", help="passed to modelc --gpu-arch (default: modelc's)")
    ap.add_argument("--quick", action="store_true",
                    help="tiny sizes, few calls, no torch.compile, no ResNet at 224x224; "
                         "no results file")
    ap.add_argument("--modelc", help="default: $MODELC or build/bin/modelc")
    ap.add_argument("--modelc-run", help="default: $MODELC_RUN or build/bin/modelc-run")
    ap.add_argument("--prepare", metavar="DIR", help="only compile every model into DIR, then exit")
    ap.add_argument("--prebuilt", metavar="DIR", help="libraries from --prepare (used when their "
                    "source and flags match; anything else is compiled here)")
    ap.add_argument("--only", nargs="+", help="workloads whose label contains one of these "
                    "('kernels': the bandwidth models)")
    ap.add_argument("--budget", type=float, default=None,
                    help="seconds of timed calls per measurement (default 2, --quick 0)")
    ap.add_argument("--time-limit", type=float, default=300,
                    help="seconds for the whole run; what would not fit is skipped (default 300)")
    ap.add_argument("--compile-timeout", type=float, default=300)
    ap.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    ap.add_argument("--with-compile", action="store_true",
                    help="run torch.compile even with --quick (to test that path on the CPU)")
    ap.add_argument("--workdir", help="keep the generated files here")
    ap.add_argument("--results", help="Markdown report (default: bench/GPU-RESULTS.md on a GPU "
                    "without --quick; none otherwise)")
    args = ap.parse_args()
    t_start = time.monotonic()
    deadline = Deadline(args.time_limit)
    on_gpu = args.device.startswith("cuda")
    target = args.target or ("cpu" if (not on_gpu and args.quick) else "cuda")
    flags = ["--target=cuda"] + ([f"--gpu-arch={args.gpu_arch}"] if args.gpu_arch else []) \
        if target == "cuda" else []
    budget = args.budget if args.budget is not None else (0.0 if args.quick else 2.0)
    min_reps = 3 if args.quick else 10
    max_reps = 5 if args.quick else 2000

    def find(explicit, env, default):
        for cand in [explicit, os.environ.get(env), str(REPO / "build" / "bin" / default)]:
            if cand and Path(cand).is_file() and os.access(cand, os.X_OK):
                return cand
        raise SystemExit(f"FATAL: {default} not found (pass --{default} or set ${env})")

    modelc = find(args.modelc, "MODELC", "modelc")
    if args.prepare:
        why = modelc_runs(modelc)
        if why:
            raise SystemExit(f"FATAL: {modelc} does not run here: {why}")
        return prepare(args, modelc, flags)
    runner = find(args.modelc_run, "MODELC_RUN", "modelc-run")
    modelc_ok = modelc_runs(modelc)
    if modelc_ok:
        log(f"note: modelc cannot run on this machine ({modelc_ok}); only --prebuilt libraries "
            "can be used")

    use_torch = False
    if args.no_torch:
        log("PyTorch: SKIPPED (--no-torch): modelc is timed on random inputs, nothing is compared")
    else:
        missing = cpu.missing_modules(cpu.TORCH_STACK)
        if missing:
            log(f"PyTorch: SKIPPED ({', '.join(missing)} not installed; nothing is installed here):"
                " modelc is compiled and timed on random inputs, nothing is compared")
        else:
            import torch as _torch
            torch = cpu.torch = _torch
            use_torch = True
    if on_gpu and use_torch and not torch.cuda.is_available():
        raise SystemExit("FATAL: --device cuda but torch.cuda.is_available() is False "
                         "(no GPU or no driver here; use --device cpu --quick for a dry run)")
    dev = torch.device(args.device) if use_torch else None
    if use_torch:
        torch.backends.cuda.matmul.allow_tf32 = False   # fp32 as modelc; the tolerance needs it
        torch.backends.cudnn.allow_tf32 = False
        torch.set_num_threads(os.cpu_count() or 1)      # the float64 CPU reference

    work_ctx = None
    if args.workdir:
        work = Path(args.workdir)
        work.mkdir(parents=True, exist_ok=True)
    else:
        work_ctx = tempfile.TemporaryDirectory(prefix="modelc-gpu-bench-")
        work = Path(work_ctx.name)
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(work / "inductor-cache"))
    x1 = work / "x1.safetensors"
    one_input(x1)

    env_lines = [f"device: {args.device}; modelc --target: {target}"
                 + (f" ({' '.join(flags)})" if flags else "")]
    if use_torch:
        env_lines.append(f"PyTorch {torch.__version__} (CUDA {torch.version.cuda})")
        if on_gpu:
            p = torch.cuda.get_device_properties(dev)
            env_lines.append(f"GPU: {p.name}, {p.total_memory / 2**30:.0f} GiB, "
                             f"{p.multi_processor_count} SMs, compute capability {p.major}.{p.minor}")
    env_lines.append(f"modelc: git {cpu.git('rev-parse', '--short', 'HEAD') or 'unknown'}; "
                     f"Python {platform.python_version()}; {os.cpu_count()} CPUs")
    for line in env_lines:
        log(line)

    # ---- models ------------------------------------------------------------
    srcs = model_sources(args.quick, args.only)
    models, failures = OrderedDict(), []
    for key, (text, _label) in srcs.items():
        c = get_model(key, text, args, modelc, modelc_ok, flags, work, deadline)
        models[key] = c
        if "error" in c:
            failures.append(f"{key}: {c['error']}")
            log(f"model {key}: FAILED: {c['error']}")
        else:
            log(f"model {key}: {c['where']}, compile {c['compile_s']:.1f} s, "
                f"{c['size'] / 1024:.0f} KiB")

    classes = torch_classes() if use_torch else {}
    rows = []
    skip_compile = ("skipped (--quick)" if args.quick and not args.with_compile else
                    "skipped (--no-compile)" if args.no_compile else None)

    # ---- network workloads -----------------------------------------------
    for label, mdl, cls_name, shape, b_full, b_quick, mode in WORKLOADS:
        if mdl not in models:
            continue
        batch = b_quick if args.quick else b_full
        train = mode == "train"
        name = f"{label} b{batch}" + (" train" if train else "")
        row = dict(label=name, status="ok", res={}, err={}, notes=[])
        rows.append(row)
        c = models[mdl]
        log(f"\n== {name}")
        if "error" in c:
            row["status"] = "NOT RUN: " + c["error"]
            continue
        if not deadline.allows(20, name):
            row["status"] = "skipped (time limit)"
            continue
        full_shape = [batch] + shape
        tag = f"{mdl}.b{batch}.{mode}"
        in_path, out_path = work / f"{tag}.in.safetensors", work / f"{tag}.out.safetensors"
        state = None
        try:
            if use_torch:
                from safetensors.torch import load_file, save_file
                view_state, view_inputs = parse_emit(c["emit"])
                torch.manual_seed(sum(map(ord, mdl)))
                model = classes[cls_name]()
                cpu.check_state_keys(mdl, view_state, model)
                tv = check_against_torchvision(mdl, model)
                log(f"  state dict: {len(view_state)} entries match modelc --emit=mdl"
                    + (f"; {tv}" if tv else ""))
                cpu.randomize_state(model)
                state = work / f"{mdl}.state.safetensors"
                save_file(OrderedDict((k, v.contiguous()) for k, v in model.state_dict().items()),
                          str(state))
                in_name = view_inputs[0][0]
                x = torch.randn(full_shape, generator=torch.Generator().manual_seed(1234 + batch))
                save_file({in_name: x}, str(in_path))
                # 1. correctness: one call on the device vs a float64 CPU reference
                after = work / f"{tag}.after.safetensors" if train else None
                t0 = time.perf_counter()
                probe = run_modelc(runner, c["so"], args.device, in_path, state, out_path,
                                   save_state=after, train=train, bench=None if train else 1)
                probe_ms = probe["median"] if probe else (time.perf_counter() - t0) * 1e3
                got = load_file(str(out_path))["output"]
                got_state = load_file(str(after)) if train else None
                m64 = copy.deepcopy(model).double().train(train)
                m32 = copy.deepcopy(model).to(dev).train(train)
                with torch.no_grad():
                    ref = m64(x.double())
                    t32 = m32(x.to(dev)).cpu()
                ref_state = m64.state_dict() if train else None
                t32_state = ({k: v.cpu() for k, v in m32.state_dict().items()}
                             if train else None)
                err, rel, where = cpu.check_result(got, got_state, ref, ref_state)
                terr = cpu.check_result(t32, t32_state, ref, ref_state)[0]
                allowed = 1.0 if terr <= 1.0 else 2.0 * terr
                row["err"] = dict(modelc=err, eager=terr, allowed=allowed)
                log(f"  modelc ({args.device}) vs float64 reference: {err:.3g} x tolerance in "
                    f"{where} (max|diff|/max|ref| {rel:.3g}); PyTorch f32 on {args.device}: "
                    f"{terr:.3g} x" + (f"; allowed {allowed:.3g} x" if allowed > 1 else ""))
                if not err <= allowed:
                    row["status"] = f"WRONG ({err:.3g} x tolerance in {where})"
                    failures.append(f"{name}: modelc's result differs from PyTorch: {err:.3g} x "
                                    f"the tolerance (allowed {allowed:.3g}) in {where}")
                    continue
            else:
                import random
                rng = random.Random(1234 + batch)
                cpu.write_f32_safetensors(in_path, {"x": (full_shape, [rng.gauss(0, 1) for _ in
                                                                      range(numel(full_shape))])})
                probe = run_modelc(runner, c["so"], args.device, in_path, bench=1, train=train)
                probe_ms = probe["median"]
            # 2. modelc timing
            r = time_modelc(runner, c["so"], args.device, in_path, state, train, budget,
                            min_reps, max_reps, probe_ms)
            row["res"]["modelc"] = r
            log(f"  modelc: {r['n']} calls, median {cpu.fmt_ms(r['median'])} ms")
            if not use_torch:
                continue
            # 3. PyTorch eager on the device (input resident; and host to host)
            eager = copy.deepcopy(model).to(dev).train(train)
            xd = x.to(dev)
            row["res"]["eager"] = time_torch(lambda: eager(xd), dev, budget, min_reps, max_reps,
                                             train)
            row["res"]["eager_h2h"] = time_torch(lambda: eager(x.to(dev)).cpu(), dev, budget,
                                                 min_reps, max_reps, train)
            log(f"  PyTorch eager: median {cpu.fmt_ms(row['res']['eager']['median'])} ms "
                f"(host to host {cpu.fmt_ms(row['res']['eager_h2h']['median'])} ms)")
            # 4. torch.compile
            if skip_compile:
                row["res"]["compile"] = skip_compile
            elif deadline.allows(90, f"torch.compile of {name}"):
                try:
                    cm_model = copy.deepcopy(model).to(dev).train(train)
                    cm = torch.compile(cm_model)
                    t0 = time.perf_counter()
                    with (torch.no_grad() if train else torch.inference_mode()):
                        out = cm(xd)
                        sync(dev)
                    secs = time.perf_counter() - t0
                    cstate = ({k: v.cpu() for k, v in cm_model.state_dict().items()}
                              if train else None)
                    cerr = cpu.check_result(out.cpu(), cstate, ref, ref_state)[0]
                    row["err"]["compile"] = cerr
                    log(f"  torch.compile: compile + first call {secs:.1f} s; {cerr:.3g} x "
                        "tolerance")
                    if cerr <= allowed:
                        row["res"]["compile"] = time_torch(lambda: cm(xd), dev, budget, min_reps,
                                                           max_reps, train)
                        row["res"]["compile"]["setup_s"] = secs
                        log(f"  torch.compile: median "
                            f"{cpu.fmt_ms(row['res']['compile']['median'])} ms")
                    else:
                        row["res"]["compile"] = f"WRONG ({cerr:.3g} x tol)"
                    cm = cm_model = None
                    torch._dynamo.reset()
                except Exception as e:  # noqa: BLE001 - reported in the table
                    row["res"]["compile"] = f"FAILED: {cpu.short(e, 120)}"
                    log(f"  torch.compile: {row['res']['compile']}")
            else:
                row["res"]["compile"] = "skipped (time limit)"
            eager = xd = None
            if on_gpu:
                torch.cuda.empty_cache()
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            row["status"] = f"FAILED: {cpu.short(e, 300)}"
            failures.append(f"{name}: {cpu.short(e, 800)}")
            log(f"  {row['status']}")

    # ---- kernels: effective bandwidth ------------------------------------
    kernels = []
    if "empty" in models and deadline.allows(20, "kernel bandwidth"):
        kernels = bench_kernels(args, models, runner, x1, work, dev, use_torch, on_gpu, budget,
                                min_reps, max_reps, skip_compile, deadline, failures)

    # ---- report ------------------------------------------------------------
    elapsed = time.monotonic() - t_start
    md = report(args, env_lines, models, rows, kernels, failures, deadline, elapsed, use_torch)
    log("\n" + "\n".join(md))
    results = Path(args.results) if args.results else (RESULTS if on_gpu and not args.quick
                                                         else None)
    if results:
        results.write_text("\n".join(md) + "\n")
        log(f"\nwrote {results}")
    if work_ctx:
        work_ctx.cleanup()
    for f in failures:
        log("FAILED: " + f)
    return 1 if failures else 0


def bench_kernels(args, models, runner, x1, work, dev, use_torch, on_gpu, budget, min_reps,
                  max_reps, skip_compile, deadline, failures):
    log("\n== kernels: effective bandwidth")
    out = []
    try:
        base = time_modelc(runner, models["empty"]["so"], args.device, x1, None, False, budget,
                           min_reps, max_reps, 0.05)
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        failures.append(f"kernels: {cpu.short(e, 800)}")
        return out
    log(f"  modelc-run per-call overhead (Empty model): median {cpu.fmt_ms(base['median'])} ms")
    copy_bw = None
    # The copy is of the elementwise chain's tensor, whichever kernels run.
    copy_bytes = 4 * numel(KERNEL_SHAPES[args.quick]["ew_chain"])
    if use_torch:
        nbytes = copy_bytes
        copy_bw, cr = copy_bandwidth(dev, nbytes, budget)
        log(f"  PyTorch device-to-device copy of {nbytes / 2**20:.0f} MiB: median "
            f"{cpu.fmt_ms(cr['median'])} ms = {copy_bw:.0f} GB/s (read + write)")
    for kind, passes, what in [("ew_chain", 2, "relu(x * 2 + 1), fused: read x, write out"),
                               ("bn_train", 3, "BatchNorm2d training mode: read x for the "
                                "statistics, read x and write out to normalize")]:
        shape = KERNEL_SHAPES[args.quick][kind]
        key = f"{kind}.{'x'.join(map(str, shape))}"
        c = models.get(key)
        if not c or "error" in c:
            continue
        nbytes = 4 * numel(shape) * passes
        k = dict(kind=kind, what=what, shape=shape, bytes=nbytes, base=base["median"], res={},
                 copy_bw=copy_bw, copy_bytes=copy_bytes)
        out.append(k)
        train = kind == "bn_train"
        try:
            if use_torch:  # correctness: one call from the initial state, on the device
                from safetensors.torch import load_file
                after = work / f"{key}.after.safetensors"
                run_modelc(runner, c["so"], args.device, x1, save_state=after, train=train)
                s = load_file(str(after))
                data = s["data"].double()
                if kind == "ew_chain":
                    ref = torch.relu(data * 2 + 1)
                    refs = {"out": ref}
                else:
                    c_ = shape[1]
                    rm, rv = torch.zeros(c_, dtype=torch.float64), torch.ones(c_, dtype=torch.float64)
                    ref = torch.nn.functional.batch_norm(data, rm, rv, torch.ones(c_, dtype=torch.float64),
                                                         torch.zeros(c_, dtype=torch.float64),
                                                         training=True, momentum=0.1, eps=1e-5)
                    refs = {"out": ref, "bn.running_mean": rm, "bn.running_var": rv}
                err = max(cpu.worst_ratio(s[n], r)[0] for n, r in refs.items())
                k["err"] = err
                log(f"  {kind}: modelc vs float64 reference: {err:.3g} x tolerance")
                del s, data, ref, refs
                if not err <= 1.0:
                    failures.append(f"kernel {kind}: modelc's result is wrong ({err:.3g} x tol)")
                    k["status"] = f"WRONG ({err:.3g} x tol)"
                    continue
            probe = run_modelc(runner, c["so"], args.device, x1, train=train, bench=1)
            r = time_modelc(runner, c["so"], args.device, x1, None, train, budget, min_reps,
                            max_reps, probe["median"])
            k["res"]["modelc"] = r
            net = r["median"] - base["median"]
            log(f"  {kind}: modelc median {cpu.fmt_ms(r['median'])} ms (net of the per-call "
                f"overhead {cpu.fmt_ms(net)} ms)")
            if use_torch:
                xd = torch.rand(shape, device=dev) * 2 - 1
                if kind == "ew_chain":
                    def fn(xd=xd):
                        return torch.relu(xd * 2 + 1)
                else:
                    bn = torch.nn.BatchNorm2d(shape[1]).to(dev).train()

                    def fn(xd=xd, bn=bn):
                        return bn(xd)
                k["res"]["eager"] = time_torch(fn, dev, budget, min_reps, max_reps, True)
                if skip_compile:
                    k["res"]["compile"] = skip_compile
                elif deadline.allows(60, f"torch.compile of {kind}"):
                    try:
                        cfn = torch.compile(fn)
                        with torch.no_grad():
                            cfn()
                        k["res"]["compile"] = time_torch(cfn, dev, budget, min_reps, max_reps,
                                                         True)
                        torch._dynamo.reset()
                    except Exception as e:  # noqa: BLE001
                        k["res"]["compile"] = f"FAILED: {cpu.short(e, 120)}"
                else:
                    k["res"]["compile"] = "skipped (time limit)"
                xd = bn = fn = cfn = None
                if on_gpu:
                    torch.cuda.empty_cache()
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            k["status"] = f"FAILED: {cpu.short(e, 300)}"
            failures.append(f"kernel {kind}: {cpu.short(e, 800)}")
            log(f"  {k['status']}")
    return out


def report(args, env_lines, models, rows, kernels, failures, deadline, elapsed, use_torch):
    md = ["# modelc on a GPU vs PyTorch CUDA eager and torch.compile", ""]
    md.append(f"Written by `python3 bench/gpu.py {' '.join(sys.argv[1:])}` on "
              f"{datetime.datetime.now().strftime('%Y-%m-%d %H:%M')} in {elapsed:.0f} s "
              "(bench/README.md explains the method).")
    md.append("")
    md += [f"- {line}" for line in env_lines]
    md.append("")
    md.append("## Workloads (float32, TF32 off)")
    md.append("")
    md.append("Median milliseconds per call; ratio = PyTorch / modelc (> 1: modelc faster). "
              "modelc: `modelc-run --device D --bench N`, each call copying the input to the "
              "device and the output back. PyTorch eager: input already on the device; "
              "\"h2h\": input copied in and output copied out in the call, as modelc's. Errors: "
              "worst element against a float64 CPU reference in units of the tolerance "
              f"{ATOL:g} + {RTOL:g}·|ref| (≤ 1 passes; training rows include the state after one "
              "call).")
    md.append("")
    md.append("| workload | modelc | eager | eager h2h | torch.compile | eager / modelc | "
              "eager h2h / modelc | compile / modelc | error modelc / eager | status |")
    md.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")

    def med(v):
        return v["median"] if isinstance(v, dict) else None

    def cellv(v):
        return cpu.fmt_ms(v["median"]) if isinstance(v, dict) else (v or "—")

    def ratio(a, b):
        return f"{a / b:.2f}" if a and b else "—"

    for row in rows:
        r = row["res"]
        m = med(r.get("modelc"))
        e = row.get("err") or {}
        errs = (f"{e['modelc']:.2g} / {e['eager']:.2g}" if "modelc" in e else "—")
        md.append(f"| {row['label']} | {cellv(r.get('modelc'))} | {cellv(r.get('eager'))} | "
                  f"{cellv(r.get('eager_h2h'))} | {cellv(r.get('compile'))} | "
                  f"{ratio(med(r.get('eager')), m)} | {ratio(med(r.get('eager_h2h')), m)} | "
                  f"{ratio(med(r.get('compile')), m)} | {errs} | {row['status']} |")
    md.append("")
    if kernels:
        md.append("## Kernels: effective bandwidth")
        md.append("")
        cb = kernels[0].get("copy_bw")
        cbytes = kernels[0]["copy_bytes"]
        md.append("Copy bandwidth: " + (f"**{cb:.0f} GB/s** (PyTorch device-to-device copy of "
                                         f"a {cbytes / 2**20:.3g} MiB tensor, bytes read + "
                                         "written, median)"
                                         if cb else "not measured (no PyTorch)") +
                  f". modelc per-call overhead (the `Empty` model, 1-element input/output): "
                  f"{cpu.fmt_ms(kernels[0]['base'])} ms, subtracted for \"net\". Bytes: the "
                  "compulsory traffic of the operation (elementwise: read + write; BatchNorm "
                  "training: two reads + one write, as any two-pass kernel on a tensor larger "
                  "than L2 needs).")
        md.append("")
        md.append("| kernel | tensor | bytes | modelc ms | modelc net ms | modelc GB/s (net) | "
                  "% of copy | eager ms | eager GB/s | compile ms | compile GB/s | status |")
        md.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for k in kernels:
            r = k["res"]
            m = med(r.get("modelc"))
            net = m - k["base"] if m is not None else None
            gbs = k["bytes"] / (net / 1e3) / 1e9 if net and net > 0 else None

            def bw(v):
                t = med(v)
                return f"{k['bytes'] / (t / 1e3) / 1e9:.0f}" if t else "—"
            pct = f"{100 * gbs / k['copy_bw']:.0f} %" if gbs and k.get("copy_bw") else "—"
            md.append(f"| {k['what']} | f32{k['shape']} | {k['bytes'] / 2**20:.3g} MiB | "
                      f"{cellv(r.get('modelc'))} | {cpu.fmt_ms(net)} | "
                      f"{f'{gbs:.0f}' if gbs else '—'} | {pct} | {cellv(r.get('eager'))} | "
                      f"{bw(r.get('eager'))} | {cellv(r.get('compile'))} | "
                      f"{bw(r.get('compile'))} | {k.get('status', 'ok')} |")
        md.append("")
    md.append("## Compilation")
    md.append("")
    md.append("| model | where | compile s | model.so |")
    md.append("|---|---|---:|---:|")
    for key, c in models.items():
        if "error" in c:
            md.append(f"| {key} | — | — | {c['error']} |")
        else:
            md.append(f"| {key} | {c['where']} | {c['compile_s']:.1f} | "
                      f"{c['size'] / 1024:.0f} KiB |")
    md.append("")
    if not use_torch:
        md.append("PyTorch was not used: nothing was compared and nothing was checked.")
        md.append("")
    if deadline.skipped:
        md.append("Skipped for the time limit: " + "; ".join(deadline.skipped) + ".")
        md.append("")
    if failures:
        md.append("## Failures")
        md.append("")
        md += [f"- {f}" for f in failures]
        md.append("")
    return md


if __name__ == "__main__":
    sys.exit(main())
