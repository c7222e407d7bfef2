#!/usr/bin/env python3
"""Training steps: modelc against PyTorch eager and torch.compile, side by side.

    python3 bench/train.py                     # both workloads, 1 and 2 threads
    python3 bench/train.py --only MLP --reps 20 --threads 2

Workloads (issue 14's targets):
  MLP       bench/models/mlp_train.mdl: 4 x Linear(1024, 1024), ReLU between,
            mse_loss; batch 64
  ResNet-18 bench/models/resnet18_cifar_train.mdl: torchvision's ResNet-18 at
            32x32 (1000 classes), cross_entropy; batch 32, training mode

A step is zero_grad, the loss's forward and backward, and SGD (lr 0.01,
momentum 0.9) on every side. modelc's is `modelc-run --train-steps 1 --bench
N` (N steps after one warm-up, min / median / max); PyTorch's are timed in
this process with torch.set_num_threads(T) (eager, and the model's loss
compiled with torch.compile, the optimizer step eager). Each side starts from
the same state and inputs, and the first step's losses are compared. Peak
memory is the maximum resident set size of a separate process doing the
steps (modelc-run's, and a Python process's for PyTorch, which includes the
interpreter and torch itself). Ratios are other / modelc (> 1: modelc is
faster). The compile time and the library's size are reported too.

Needs build/bin/modelc and build/bin/modelc-run, torch, numpy, safetensors.
The machines are shared: quote medians and ratios from one run.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))


def torch_models():
    """bench/run.py's torch modules (the state names of mlp.mdl and
    resnet18*.mdl), with the losses of the *_train.mdl models."""
    import torch
    import torch.nn.functional as F
    import run as bench_run

    bench_run.torch = torch  # run.py imports torch lazily
    base = bench_run.torch_modules()

    class MLP(base["MLP"]):
        def loss(self, x, t):
            return F.mse_loss(self(x), t)

    class ResNet18(base["ResNet18"]):
        def loss(self, x, y):
            return F.cross_entropy(self(x), y)

    return MLP, ResNet18


def workloads():
    import torch
    MLP, ResNet18 = torch_models()
    return {
        "MLP": dict(mdl="mlp_train.mdl", cls=MLP, batch=64,
                    inputs=lambda n: {"x": torch.randn(n, 1024), "t": torch.randn(n, 1024)}),
        "ResNet-18": dict(mdl="resnet18_cifar_train.mdl", cls=ResNet18, batch=32,
                          inputs=lambda n: {"x": torch.randn(n, 3, 32, 32),
                                            "y": torch.randint(0, 1000, (n,))}),
    }


def torch_state(model):
    return {k: v.detach().contiguous() for k, v in model.state_dict().items()}


def time_torch(model, inputs, reps, compiled):
    import torch
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.compile(model.loss) if compiled else model.loss

    def step():
        opt.zero_grad()
        loss = loss_fn(**inputs)
        loss.backward()
        opt.step()
        return loss

    first = step().item()
    if compiled:
        for _ in range(2):  # compilation of backward and recompiles
            step()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return first, times[len(times) // 2]


PEAK_SCRIPT = r"""
import resource, sys, torch
sys.path.insert(0, sys.argv[1])
import train
name, threads, reps = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
w = train.workloads()[name]
torch.manual_seed(0)
model = w["cls"]().train()
inputs = w["inputs"](w["batch"])
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
for _ in range(reps):
    opt.zero_grad(); model.loss(**inputs).backward(); opt.step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_torch_mib(name, threads, reps):
    out = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(REPO / "bench"), name, str(threads),
                          str(reps)], check=True, capture_output=True, text=True).stdout
    return int(out.split()[-1]) / 1024


def run_modelc(run, lib, state, inputs_file, reps, threads):
    env = dict(os.environ, MODELC_NUM_THREADS=str(threads))
    cmd = [run, str(lib), "--load-state", str(state), "--train-steps", "1", "--inputs",
           str(inputs_file), "--optimizer", "sgd", "--lr", "0.01", "--momentum", "0.9",
           "--bench", str(reps)]
    with tempfile.NamedTemporaryFile(suffix=".safetensors") as losses:
        t0 = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-f", "maxrss %M"] + cmd + ["--losses", losses.name],
                           env=env, capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"modelc-run failed: {p.stderr}")
        from safetensors.numpy import load_file
        first = float(load_file(losses.name)["loss"][0])
    line = next(l for l in p.stdout.splitlines() if l.startswith("bench:"))
    median = float(line.split("median ")[1].split(" ms")[0])
    rss = int(next(l for l in p.stderr.splitlines() if l.startswith("maxrss")).split()[1]) / 1024
    return first, median, rss


def flops_per_step(name, batch):
    """Multiply-adds x 2 of forward, x 3 for a step (forward + two GEMMs of
    backward per layer), the usual estimate."""
    if name == "MLP":
        return 3 * 2 * 4 * batch * 1024 * 1024
    return 3 * 2 * 0.56e9 * batch * (32 * 32) / (224 * 224)  # ResNet-18: 0.56 GMACs at 224


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", help="workloads (MLP, ResNet-18)")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    ap.add_argument("--modelc", default=str(REPO / "build" / "bin" / "modelc"))
    ap.add_argument("--modelc-run", default=str(REPO / "build" / "bin" / "modelc-run"))
    args = ap.parse_args()
    import torch
    from safetensors.torch import save_file

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, w in workloads().items():
            if args.only and name not in args.only:
                continue
            lib = tmp / f"{name}.so"
            t0 = time.perf_counter()
            subprocess.run([args.modelc, str(REPO / "bench" / "models" / w["mdl"]), "-o", str(lib)],
                           check=True)
            compile_s = time.perf_counter() - t0
            size_mb = lib.stat().st_size / 1e6
            torch.manual_seed(0)
            model = w["cls"]().train()
            inputs = w["inputs"](w["batch"])
            state = tmp / f"{name}.state.safetensors"
            save_file(torch_state(model), str(state))
            inputs_file = tmp / f"{name}.inputs.safetensors"
            save_file({k: v.contiguous() for k, v in inputs.items()}, str(inputs_file))
            print(f"{name}: compiled in {compile_s:.2f} s, library {size_mb:.2f} MB", flush=True)
            for threads in args.threads:
                torch.set_num_threads(threads)
                m_first, m_ms, m_rss = run_modelc(args.modelc_run, lib, state, inputs_file, args.reps,
                                                  threads)
                eager = w["cls"]().train()
                eager.load_state_dict(model.state_dict())
                e_first, e_ms = time_torch(eager, inputs, args.reps, compiled=False)
                c_ms = None
                if not args.no_compile:
                    comp = w["cls"]().train()
                    comp.load_state_dict(model.state_dict())
                    _, c_ms = time_torch(comp, inputs, args.reps, compiled=True)
                e_rss = peak_torch_mib(name, threads, 3)
                rel = abs(m_first - e_first) / max(abs(e_first), 1e-12)
                gf = flops_per_step(name, w["batch"]) / (m_ms * 1e-3) / 1e9
                rows.append((name, threads, m_ms, e_ms, c_ms, m_rss, e_rss, rel, gf))
                print(f"  {threads} thread(s): modelc {m_ms:.2f} ms, eager {e_ms:.2f} ms "
                      f"(x{e_ms / m_ms:.2f})"
                      + (f", torch.compile {c_ms:.2f} ms (x{c_ms / m_ms:.2f})" if c_ms else "")
                      + f"; peak RSS modelc {m_rss:.0f} MiB, PyTorch {e_rss:.0f} MiB; "
                        f"first loss rel. diff {rel:.1e}; {gf:.1f} GFLOP/s", flush=True)
    print()
    print("| workload | threads | modelc ms | eager ms | eager / modelc | compile ms | compile / modelc "
          "| peak RSS modelc / PyTorch (MiB) | GFLOP/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---|---:|")
    for name, t, m, e, c, mr, er, rel, gf in rows:
        cs = f"{c:.2f} | {c / m:.2f}" if c else "- | -"
        print(f"| {name} | {t} | {m:.2f} | {e:.2f} | {e / m:.2f} | {cs} | {mr:.0f} / {er:.0f} | {gf:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
