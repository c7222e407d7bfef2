#!/usr/bin/env python3
"""modelc vs PyTorch eager: a first CPU benchmark.

    python3 bench/run.py            # full run; rewrites bench/RESULTS.md
    python3 bench/run.py --quick    # CI smoke test: small batches, few reps

For each workload it compiles bench/models/<model>.mdl with modelc (recording
the compile time and the size of model.so), builds the equivalent torch.nn
module, checks that its state dict has exactly the keys, order, shapes and
dtypes that `modelc --emit=mdl` declares, randomizes that state, writes it and
the inputs to safetensors, and then, in the same run:

  1. runs `modelc-run --load-state ... --outputs ...` once and checks the
     result against a float64 PyTorch reference (rtol 1e-4, atol 1e-5, as the
     e2e tests do). A workload whose result is wrong is NOT timed;
  2. times modelc with `modelc-run --bench N` (evaluation mode);
  3. times PyTorch eager (model.eval(), torch.inference_mode()) with
     torch.set_num_threads(2), and again with 1 thread;
  4. prints a table of medians and the ratio PyTorch / modelc (> 1: modelc
     is faster).

The number of repetitions is chosen per workload from a time budget (one
call is timed first), so that fast workloads get thousands of repetitions
and slow ones a handful (at least --min-reps, fewer only when one call takes
more than a minute).

PyTorch is only needed for the comparison. `--quick` never installs anything:
without torch it compiles the models, runs `modelc-run --bench` on random
inputs written by this script (no numpy either), and says that it skipped
PyTorch. Without --quick, torch, numpy and safetensors are pip-installed if
missing.

Threads: PyTorch runs with torch.set_num_threads(n) and modelc with
MODELC_NUM_THREADS=n (the runtime's thread pool reads it; a model.so that does
not contain that string is single-threaded and is timed once), for n = --threads
(default 2) and n = 1.
"""

import argparse
import datetime
import json
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
from collections import OrderedDict
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
MODELS_DIR = BENCH / "models"
RESULTS = BENCH / "RESULTS.md"
RTOL, ATOL = 1e-4, 1e-5

# name, model file, torch class name, input name, input shape without the
# batch, batch (full), batch (--quick)
WORKLOADS = [
    ("TinyModel", "tiny", "TinyModel", "x", [100], 1, 1),
    ("TinyModel", "tiny", "TinyModel", "x", [100], 256, 8),
    ("MLP", "mlp", "MLP", "x", [1024], 64, 2),
    ("ResNet-18 224x224", "resnet18", "ResNet18", "x", [3, 224, 224], 1, 1),
]

torch = None  # imported lazily: --quick must work without it


def log(msg=""):
    print(msg, flush=True)


# --------------------------------------------------------------------------
# Dependencies
# --------------------------------------------------------------------------

def have_torch_stack():
    try:
        import numpy  # noqa: F401
        import safetensors  # noqa: F401
        import torch as _t  # noqa: F401
        return True
    except ImportError:
        return False


def import_torch(quick):
    """Returns True when PyTorch can be used."""
    global torch
    if not have_torch_stack():
        if quick:
            return False
        log("torch/numpy/safetensors missing: pip install torch numpy safetensors")
        subprocess.run([sys.executable, "-m", "pip", "install", "torch", "numpy", "safetensors"],
                       check=True)
        if not have_torch_stack():
            raise SystemExit("FATAL: torch/numpy/safetensors still not importable after pip install")
    import torch as _t
    torch = _t
    return True


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

    return dict(TinyModel=TinyModel, MLP=MLP, ResNet18=ResNet18)


def randomize_state(model):
    """As tools/gen_fixtures.py: BatchNorm statistics and affine parameters
    random (running_var positive), num_batches_tracked >= 1, so that no
    BatchNorm is the identity."""
    nn = torch.nn
    with torch.no_grad():
        for key, t in model.state_dict().items():
            owner_name, _, leaf = key.rpartition(".")
            owner = model.get_submodule(owner_name) if owner_name else model
            is_norm = isinstance(owner, nn.modules.batchnorm._NormBase)
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


def modelc_view(modelc, mdl):
    proc = subprocess.run([modelc, str(mdl), "--emit=mdl"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"FATAL: modelc --emit=mdl rejected {mdl}:\n{proc.stderr}")
    state, inputs = [], None
    for line in proc.stdout.splitlines():
        line = line.strip()
        m = re.match(r'mdl\.(param|buffer) @"?([^":\s]+)"? : (tensor<[^>]*>)(.*)', line)
        if m:
            kind, name, ty, rest = m.groups()
            if not (kind == "buffer" and "non_persistent" in rest):
                state.append((name, *parse_tensor_type(ty)))
            continue
        m = re.match(r"func\.func @forward_eval\((.*)\) -> (.*) \{$", line)
        if m:
            inputs = [(n, *parse_tensor_type(t)) for t, n in
                      re.findall(r'(tensor<[^>]*>) \{mdl\.name = "([^"]+)"\}', m.group(1))]
    if inputs is None:
        raise SystemExit(f"FATAL: no @forward_eval in modelc --emit=mdl of {mdl}")
    return state, inputs


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
    """tensors: name -> (shape, list of floats)."""
    header, blobs, offset = {}, [], 0
    for name, (shape, values) in tensors.items():
        blob = struct.pack(f"<{len(values)}f", *values)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(blob)]}
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


def run_modelc(runner, so, inputs, state, outputs, bench, threads, timeout):
    cmd = [runner, str(so), "--inputs", str(inputs)]
    if state:
        cmd += ["--load-state", str(state)]
    if outputs:
        cmd += ["--outputs", str(outputs)]
    if bench:
        cmd += ["--bench", str(bench)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=modelc_env(threads),
                          timeout=timeout)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
    if not bench:
        return None, wall
    m = BENCH_RE.search(proc.stdout)
    if not m:
        raise RuntimeError(f"cannot parse modelc-run --bench output:\n{proc.stdout}")
    return dict(n=int(m.group(1)), min=float(m.group(2)), median=float(m.group(3)),
                max=float(m.group(4))), wall


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


def time_torch(model, x, reps, threads):
    torch.set_num_threads(threads)
    with torch.inference_mode():
        for _ in range(3 if reps > 3 else 1):
            model(x)
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return dict(n=reps, min=times[0], median=statistics.median(times), max=times[-1])


def worst_ratio(got, ref):
    """max over elements of |got-ref| / (atol + rtol*|ref|): <= 1 passes."""
    got, ref = got.double(), ref.double()
    if got.shape != ref.shape:
        return float("inf"), float("inf")
    err = (got - ref).abs()
    ratio = float((err / (ATOL + RTOL * ref.abs())).max())
    rel = float(err.max() / ref.abs().max().clamp_min(1e-30))
    return ratio, rel


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

def main():
    ap = argparse.ArgumentParser(description="modelc vs PyTorch eager benchmark")
    ap.add_argument("--quick", action="store_true",
                    help="CI smoke test: small batches, few repetitions; PyTorch only if installed; "
                         "does not rewrite RESULTS.md")
    ap.add_argument("--modelc", help="modelc binary (default: $MODELC or build/bin/modelc)")
    ap.add_argument("--modelc-run", help="modelc-run binary (default: $MODELC_RUN or build/bin/modelc-run)")
    ap.add_argument("--compile-timeout", type=float, default=300,
                    help="seconds before a modelc compile counts as hung (default 300)")
    ap.add_argument("--threads", type=int, default=2, help="PyTorch threads (default 2)")
    ap.add_argument("--budget", type=float, default=None,
                    help="seconds of timed calls per workload and framework (default 8, --quick 0)")
    ap.add_argument("--min-reps", type=int, default=None, help="default 7, --quick 3")
    ap.add_argument("--only", nargs="+", help="workloads whose name contains one of these strings")
    ap.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    ap.add_argument("--workdir", help="keep the generated files here (default: a temporary directory)")
    ap.add_argument("--results", default=None,
                    help="write the Markdown report here (default: bench/RESULTS.md, none with --quick)")
    args = ap.parse_args()
    budget = args.budget if args.budget is not None else (0.0 if args.quick else 8.0)
    min_reps = args.min_reps if args.min_reps is not None else (3 if args.quick else 7)
    max_reps = 20 if args.quick else 5000
    results_path = Path(args.results) if args.results else (None if args.quick else RESULTS)

    load_start = " ".join(f"{v:.2f}" for v in os.getloadavg())
    use_torch = False if args.no_torch else import_torch(args.quick)
    if not use_torch:
        log("PyTorch: SKIPPED (" + ("--no-torch" if args.no_torch else
            "torch/numpy/safetensors not installed; --quick installs nothing") +
            "): modelc is compiled and timed on random inputs, nothing is compared")

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

    workloads = [(f"{w[0]} b{w[6] if args.quick else w[5]}", *w[1:]) for w in WORKLOADS]
    workloads = [w for w in workloads if not args.only or any(s in w[0] for s in args.only)]
    if use_torch:
        torch.set_num_threads(args.threads)
        classes = torch_modules()

    # ---- compile ---------------------------------------------------------
    compiled = OrderedDict()
    for _, mdl_name, cls_name, *_ in workloads:
        if mdl_name in compiled:
            continue
        mdl = MODELS_DIR / f"{mdl_name}.mdl"
        so = work / f"{mdl_name}.so"
        t0 = time.perf_counter()
        try:
            proc = subprocess.run([modelc, str(mdl), "-o", str(so)], capture_output=True,
                                  text=True, timeout=args.compile_timeout)
        except subprocess.TimeoutExpired:
            msg = (f"modelc {mdl.relative_to(REPO)} -o model.so did not finish within "
                   f"{args.compile_timeout:g} s: its workloads are skipped")
            log("COMPILE TIMEOUT: " + msg)
            compiled[mdl_name] = dict(timeout=msg, compile_s=None, size=None)
            continue
        dt = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"FATAL: modelc {mdl} failed:\n{proc.stderr}")
        # The runtime's thread pool reads MODELC_NUM_THREADS (runtime/src/Parallel.cpp);
        # a library without that string is single-threaded.
        entry = dict(so=so, compile_s=dt, size=so.stat().st_size, cls=cls_name,
                     threaded=b"MODELC_NUM_THREADS" in so.read_bytes())
        log(f"compiled {mdl.relative_to(REPO)}: {dt:.2f} s, model.so {entry['size'] / 1024:.0f} KiB")
        if use_torch:
            view_state, view_inputs = modelc_view(modelc, mdl)
            seed = sum(map(ord, mdl_name))
            torch.manual_seed(seed)
            model = classes[cls_name]()
            check_state_keys(mdl_name, view_state, model)
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
            log(f"  state dict: {len(view_state)} entries, keys/shapes/dtypes match modelc --emit=mdl")
        compiled[mdl_name] = entry

    # ---- run -------------------------------------------------------------
    rows, failures = [], []
    for label, mdl_name, _, in_name, shape, batch_full, batch_quick in workloads:
        batch = batch_quick if args.quick else batch_full
        c = compiled[mdl_name]
        if "timeout" in c:
            rows.append(dict(label=label, batch=batch, status="COMPILE TIMEOUT", err=None,
                             rel=None, modelc=None, modelc1=None, torch=None, torch1=None))
            failures.append(f"{label}: {c['timeout']}")
            continue
        full_shape = [batch] + shape
        in_path = work / f"{mdl_name}.b{batch}.inputs.safetensors"
        out_path = work / f"{mdl_name}.b{batch}.out.safetensors"
        row = dict(label=label, batch=batch, status="ok", err=None, rel=None,
                   modelc=None, modelc1=None, torch=None, torch1=None, other=None)
        rows.append(row)
        log(f"\n== {label} (input {in_name}: f32{full_shape})")
        if use_torch:
            from safetensors.torch import load_file, save_file
            if [n for n, _, _ in c["inputs"]] != [in_name]:
                raise SystemExit(f"FATAL: {mdl_name}: modelc's forward takes {c['inputs']}")
            g = torch.Generator().manual_seed(1234 + batch)
            x = torch.randn(full_shape, generator=g)
            save_file({in_name: x}, str(in_path))
            # 1. correctness: modelc vs float64 reference (and PyTorch f32 for context);
            #    its one --bench call sizes the timed run below
            probe, _ = run_modelc(runner, c["so"], in_path, c["state"], out_path, 1,
                                  args.threads, 3600)
            got = load_file(str(out_path))["output"]
            with torch.inference_mode():
                ref = c["m64"](x.double())
                t32 = c["model"](x)
            row["err"], row["rel"] = worst_ratio(got, ref)
            row["torch_err"], _ = worst_ratio(t32, ref)
            log(f"  modelc vs float64 reference: worst {row['err']:.3g} x tolerance "
                f"(max |diff| / max |ref| = {row['rel']:.3g}); PyTorch f32: {row['torch_err']:.3g} x")
            if not row["err"] <= 1.0:
                row["status"] = "WRONG"
                bad = (got.double() - ref).abs().flatten()
                i = int(bad.argmax())
                detail = (f"{label}: modelc output differs from PyTorch: worst element [{i}] "
                          f"modelc {got.flatten()[i].item():.7g} vs reference "
                          f"{ref.flatten()[i].item():.7g} (PyTorch f32 "
                          f"{t32.flatten()[i].item():.7g}); {row['err']:.3g} x the tolerance "
                          f"rtol={RTOL} atol={ATOL}")
                failures.append(detail)
                log("  WRONG RESULT, not timed: " + detail)
                continue
        else:
            rng = random.Random(1234 + batch)
            n = 1
            for d in full_shape:
                n *= d
            write_f32_safetensors(in_path, {in_name: (full_shape, [rng.gauss(0, 1) for _ in range(n)])})

        # 2. modelc timing: --bench N, N sized from one call (--quick: min_reps)
        state = c.get("state")
        if args.quick:
            reps = min_reps
        else:
            if not use_torch:
                probe, _ = run_modelc(runner, c["so"], in_path, state, None, 1, args.threads, 3600)
            reps = choose_reps(probe["median"], budget, min_reps, max_reps)
        res, wall = with_other_load(row, run_modelc, runner, c["so"], in_path, state, None, reps,
                                    args.threads, 3600)
        row["modelc"] = res
        log(f"  modelc {args.threads} thr: {reps} calls, median {fmt_ms(res['median'])} ms "
            f"(min {fmt_ms(res['min'])}, max {fmt_ms(res['max'])}); {wall:.1f} s wall")
        if c["threaded"] and args.threads != 1:
            # 1 thread: at most `threads` times slower, so size N from that
            reps1 = min_reps if args.quick else choose_reps(
                res["median"] * args.threads, budget, min_reps, max_reps)
            res1, wall = with_other_load(row, run_modelc, runner, c["so"], in_path, state, None,
                                         reps1, 1, 3600)
            row["modelc1"] = res1
            log(f"  modelc 1 thr: {reps1} calls, median {fmt_ms(res1['median'])} ms "
                f"(min {fmt_ms(res1['min'])}, max {fmt_ms(res1['max'])}); {wall:.1f} s wall")
        else:
            row["modelc1"] = res

        # 3. PyTorch eager timing, --threads threads and 1 thread
        if use_torch:
            for key, threads in (("torch", args.threads), ("torch1", 1)):
                p = time_torch(c["model"], x, 1, threads)
                treps = choose_reps(p["median"], budget, min_reps, max_reps)
                if args.quick:
                    treps = min(treps, 3)
                row[key] = with_other_load(row, time_torch, c["model"], x, treps, threads)
                r = row[key]
                log(f"  PyTorch {threads} thr: {treps} calls, median {fmt_ms(r['median'])} ms "
                    f"(min {fmt_ms(r['min'])}, max {fmt_ms(r['max'])})")
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
        load=" ".join(f"{v:.2f}" for v in os.getloadavg()))
    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench")
    log_lines = git("log", "--oneline", "-3").splitlines()
    versions = dict(log="; ".join(f"`{l}`" for l in log_lines),
        python=platform.python_version(),
        torch=torch.__version__ if use_torch else "not used",
        modelc=f"{modelc_version}, git {commit}, binary built {built}" + (
            " (working tree has uncommitted changes outside bench/; binaries built from it)"
            if dirty else ""))

    th = args.threads
    header = ["workload", f"modelc median (ms, {th} thr)", f"PyTorch median (ms, {th} thr)",
              "ratio PyTorch/modelc", "modelc median (ms, 1 thr)", "PyTorch median (ms, 1 thr)",
              "ratio (1 thr)", "reps modelc / PyTorch", "modelc error (x tol)",
              "other load (cores)"]
    table = []
    for r in rows:
        m, m1, t, t1 = r["modelc"], r["modelc1"], r["torch"], r["torch1"]
        table.append([
            r["label"],
            fmt_ms(m["median"]) if m else r["status"],
            fmt_ms(t["median"]) if t else ("skipped" if not use_torch else "—"),
            fmt_ratio(t["median"], m["median"]) if (m and t) else "—",
            fmt_ms(m1["median"]) if m1 else "—",
            fmt_ms(t1["median"]) if t1 else "—",
            fmt_ratio(t1["median"], m1["median"]) if (m1 and t1) else "—",
            f"{m['n'] if m else '—'} / {t['n'] if t else '—'}",
            "—" if r["err"] is None else f"{r['err']:.2g}" + ("" if r["status"] == "ok" else " WRONG"),
            "—" if r.get("other") is None else f"{r['other']:.2f}",
        ])
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(header)]
    log("\n" + "  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for row in table:
        log("  ".join(v.ljust(w) for v, w in zip(row, widths)))
    log("\ncompile: " + ", ".join(
        f"{k} {c['compile_s']:.2f} s / {c['size'] / 1024:.0f} KiB" if c["size"] else f"{k} TIMEOUT"
        for k, c in compiled.items()))
    if not use_torch:
        log("PyTorch was skipped: no comparison and no correctness check were made.")
    for f in failures:
        log("FAILED: " + f)

    if results_path:
        write_report(results_path, args, machine, versions, header, table, rows, compiled,
                     failures, use_torch, budget, min_reps)
        log(f"\nwrote {results_path}")
    if work_ctx:
        work_ctx.cleanup()
    return 1 if failures else 0


def write_report(path, args, machine, versions, header, table, rows, compiled, failures,
                 use_torch, budget, min_reps):
    md = []
    md.append("# modelc vs PyTorch eager — benchmark results\n")
    md.append(f"Written by `python3 bench/run.py{' --quick' if args.quick else ''}` on "
              f"{datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}; rerun it to refresh this "
              f"file (bench/README.md explains the method).\n")
    md.append("## Machine and versions\n")
    md.append(f"- CPU: {machine['cpu']} — {machine['cpus']} logical CPUs "
              f"({machine['sockets']} socket(s) x {machine['cores']} core(s) x "
              f"{machine['tpc']} thread(s)); flags: {machine['flags'] or 'no avx2/avx512f/fma'}")
    md.append(f"- Linux {machine['kernel']}; load average (1/5/15 min) at the start of the run: "
              f"{machine['load_start']}, at the end: {machine['load']} (the machine is shared, so a concurrent build can inflate any number)")
    md.append(f"- modelc: {versions['modelc']}; default optimization (-O2)")
    if versions.get("log"):
        md.append(f"- recent commits: {versions['log']}")
    md.append(f"- PyTorch: {versions['torch']}; Python {versions['python']}")
    threaded = [k for k, c in compiled.items() if c.get("threaded")]
    if threaded:
        md.append(f"- Threads: PyTorch `torch.set_num_threads(n)`; modelc `MODELC_NUM_THREADS=n` "
                  f"(read by its runtime's thread pool, runtime/src/Parallel.cpp), with n = "
                  f"{args.threads} and n = 1.\n")
    else:
        md.append(f"- Threads: PyTorch `torch.set_num_threads(n)`, n = {args.threads} and 1. "
                  f"These modelc libraries are single-threaded (no MODELC_NUM_THREADS in "
                  f"model.so), so both modelc columns are one thread.\n")
    md.append("## Results (evaluation mode, float32)\n")
    md.append("Median wall time of one `forward` call. ratio = PyTorch / modelc: above 1 means "
              "modelc is faster. modelc is timed by `modelc-run --bench N --load-state ...` "
              "(N calls after one warm-up); PyTorch eager under `torch.inference_mode()` with "
              "`model.eval()` after warm-up calls, both in the same run of the script. "
              f"Repetitions come from a budget of {budget:g} s of calls per workload and "
              f"framework (at least {min_reps}, at most 1-3 when one call takes over a minute). "
              "The error column is modelc's worst element against a float64 PyTorch "
              f"reference, in units of the tolerance |diff| <= {ATOL:g} + {RTOL:g}·|ref| "
              "(≤ 1 passes; a failing workload is not timed). \"other load\" is the most "
              "cores that other processes kept busy during any of the workload's timed runs "
              "(/proc/stat busy time minus this script's and modelc-run's own CPU time): with "
              "2 cores, anything near or above 1 means the 2-thread columns measured contention "
              "more than the code.\n")
    md.append("| " + " | ".join(header) + " |")
    md.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|")
    for row in table:
        md.append("| " + " | ".join(row) + " |")
    md.append("")
    md.append("## Compilation\n")
    md.append("| model | compile time (s) | model.so size | state dict |")
    md.append("|---|---:|---:|---:|")
    for k, c in compiled.items():
        st = f"{c['nstate']} entries" if "nstate" in c else "—"
        if c["size"] is None:
            md.append(f"| bench/models/{k}.mdl | > {args.compile_timeout:g} (timed out) | — | — |")
            continue
        md.append(f"| bench/models/{k}.mdl | {c['compile_s']:.2f} | "
                  f"{c['size'] / 1024:.0f} KiB ({c['size']:,} bytes) | {st} |")
    md.append("\nThe weights are not baked in (no `--weights`): they are loaded with "
              "`--load-state` at run time, so model.so holds only code and the runtime.\n")
    md.append("## Notes\n")
    notes = []
    if not use_torch:
        notes.append("PyTorch was skipped: no comparison and no correctness check were made.")
    for f in failures:
        notes.append("**FAILED** — " + f)
    for r in rows:
        m = r["modelc"]
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
        t, t1 = r["torch"], r["torch1"]
        m1 = r["modelc1"]
        if m and m1 and m is not m1 and m["median"] > 1.2 * m1["median"]:
            notes.append(f"{r['label']}: modelc with {args.threads} threads "
                         f"({m['median']:.3g} ms) is slower than with 1 ({m1['median']:.3g} ms).")
        if t and t1 and t["median"] > 1.2 * t1["median"]:
            notes.append(f"{r['label']}: PyTorch with {args.threads} threads "
                         f"({t['median']:.3g} ms) is slower than with 1 ({t1['median']:.3g} ms): "
                         f"a sign that another process held a core during the run (PyTorch's "
                         f"threads wait for each other at every operator).")
        if "torch_err" in r and r["torch_err"] is not None and r["torch_err"] > 1:
            notes.append(f"{r['label']}: PyTorch's own float32 result is {r['torch_err']:.3g} x the "
                         f"tolerance away from the float64 reference.")
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
