#!/usr/bin/env python3
"""Data-parallel scaling: 1 rank against 2 ranks of 1 thread each, modelc
(`mpirun -np W modelc-run --distributed`) and PyTorch DDP over gloo, side by
side in one run.

    python3 bench/dist.py                  # ResNet-18 (CIFAR) and MLP
    python3 bench/dist.py --only ResNet-18 --reps 5

Workloads are bench/train.py's (a step: zero_grad, loss forward and
backward, gradients averaged over the ranks, SGD with momentum):
  weak    every rank has the workload's batch (ResNet-18: 32, MLP: 64), so
          2 ranks train twice the images per step: the speed-up is images
          per second, 2 x t(1 rank) / t(2 ranks). This is issue 15's target
          (>= 1.7x for ResNet-18 with 2 ranks of 1 thread).
  strong  the same global batch split over the ranks: the speed-up is
          steps per second, t(1 rank) / t(2 ranks).
The 1-rank runs are `modelc-run --train-steps` without MPI (what a
single-machine user runs) and one PyTorch process without DDP. Times are
the median step of rank 0 after a warm-up step (the ranks step in lockstep).
MODELC_NUM_THREADS=1 and torch.set_num_threads(1) on every rank; the ranks
are not pinned. Needs build/ with libmodelc_dist (Open MPI), torch,
safetensors.
"""

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

MPIRUN = ["mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "-np"]


def modelc_step_ms(run, lib, state, inputs_file, reps, ranks):
    env = dict(os.environ, MODELC_NUM_THREADS="1")
    cmd = [run, str(lib), "--load-state", str(state), "--train-steps", "1", "--inputs", str(inputs_file),
           "--optimizer", "sgd", "--lr", "0.01", "--momentum", "0.9", "--bench", str(reps)]
    if ranks > 1:
        cmd = MPIRUN + [str(ranks)] + cmd + ["--distributed"]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"modelc-run failed: {p.stderr}")
    line = next(l for l in p.stdout.splitlines() if l.startswith("bench:") and "median" in l)
    return float(line.split("median ")[1].split(" ms")[0])


def torch_worker(rank, world, port, name, batch, reps, out):
    import torch
    import torch.distributed as dist
    import train
    torch.set_num_threads(1)
    w = train.workloads()[name]
    torch.manual_seed(0)
    model = w["cls"]().train()
    inputs = w["inputs"](batch)
    if world > 1:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
        from torch.nn.parallel import DistributedDataParallel as DDP

        class LossOf(torch.nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, **kw):
                return self.m.loss(**kw)
        step_model = DDP(LossOf(model))
    else:
        step_model = lambda **kw: model.loss(**kw)  # noqa: E731
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    times = []
    for i in range(reps + 1):
        t0 = time.perf_counter()
        opt.zero_grad()
        step_model(**inputs).backward()
        opt.step()
        times.append((time.perf_counter() - t0) * 1e3)
    if world > 1:
        dist.destroy_process_group()
    if rank == 0:
        times = sorted(times[1:])
        Path(out).write_text(str(times[len(times) // 2]))


def torch_step_ms(name, batch, reps, ranks, port):
    import torch.multiprocessing as mp
    with tempfile.NamedTemporaryFile(suffix=".txt") as out:
        mp.spawn(torch_worker, args=(ranks, port, name, batch, reps, out.name), nprocs=ranks)
        return float(Path(out.name).read_text())


# The cost model of docs/DISTRIBUTED.md: parameters (float32 gradient bytes)
# and a training step's compute per machine, backward ~ 2/3 of it.
MODEL_NETS = {"ResNet-18": 11_689_512, "ResNet-50": 25_557_032}
# Step compute time (s) of one machine at batch 32, 224x224: "CPU" is this
# 2-core machine's (ResNet-18 forward b8 225 ms in bench/RESULTS.md, x4 for
# b32, x3 for forward + backward; ResNet-50 x 4.1/1.8 GMACs); "GPU" an
# H100-class machine (about 0.03 / 0.07 s).
MODEL_MACHINES = {"CPU": {"ResNet-18": 2.7, "ResNet-50": 6.2}, "GPU": {"ResNet-18": 0.03, "ResNet-50": 0.07}}


def model_table(buckets_mb=25.0, latency_s=15e-6, global_batch=1024):
    """docs/DISTRIBUTED.md's table. A ring all-reduce of G bytes over N
    machines takes 2(N-1)/N x G / bandwidth, plus 2(N-1) latencies per
    bucket. Not overlapped (modelc today: the all-reduce starts when the
    backward ends) it adds to the step; overlapped with the backward (DDP's
    buckets) only what exceeds the backward, and at least the last bucket's
    share, is exposed. Weak scaling: batch 32 on every machine, efficiency
    = compute / step. Strong scaling: a global batch of 1024 split over the
    machines, so the compute shrinks as 1/N while the all-reduce does not:
    the speed-up peaks where they meet."""
    def allreduce(n, grad, bw):
        buckets = max(1, math.ceil(grad / (buckets_mb * 1e6)))
        return 2 * (n - 1) / n * grad / bw + 2 * (n - 1) * latency_s * buckets

    def exposed(n, grad, bw, backward, overlap):
        ar = allreduce(n, grad, bw)
        if not overlap:
            return ar
        return max(ar - backward, ar * min(1.0, buckets_mb * 1e6 / grad))

    print("| machine | model | Gb/s | all-reduce ms, N=100 | weak: efficiency at N=100, no overlap / overlap "
          "| strong (global batch 1024): best speed-up and its N, no overlap / overlap |")
    print("|---|---|---:|---:|---|---|")
    for machine, times in MODEL_MACHINES.items():
        for net, params in MODEL_NETS.items():
            grad = params * 4
            for gbps in (10, 25, 100):
                bw = gbps * 1e9 / 8
                c32 = times[net]
                weak = [c32 / (c32 + exposed(100, grad, bw, c32 * 2 / 3, o)) for o in (False, True)]
                strong = []
                for o in (False, True):
                    whole = c32 * global_batch / 32
                    best = max(((whole / (whole / n + exposed(n, grad, bw, whole / n * 2 / 3, o)), n)
                                for n in range(1, global_batch + 1)))
                    strong.append(f"{best[0]:.0f}x at N={best[1]}")
                print(f"| {machine} | {net} | {gbps} | {allreduce(100, grad, bw) * 1e3:.0f} | "
                      f"{weak[0]:.0%} / {weak[1]:.0%} | {strong[0]} / {strong[1]} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", help="workloads (MLP, ResNet-18)")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--modelc", default=str(REPO / "build" / "bin" / "modelc"))
    ap.add_argument("--modelc-run", default=str(REPO / "build" / "bin" / "modelc-run"))
    ap.add_argument("--model", action="store_true", help="print docs/DISTRIBUTED.md's cost model and stop")
    args = ap.parse_args()
    if args.model:
        model_table()
        return 0
    import torch
    import train
    from safetensors.torch import save_file

    rows = []
    port = 29700
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, w in train.workloads().items():
            if args.only and name not in args.only:
                continue
            lib = tmp / f"{name}.so"
            subprocess.run([args.modelc, str(REPO / "bench" / "models" / w["mdl"]), "-o", str(lib)], check=True)
            torch.manual_seed(0)
            model = w["cls"]().train()
            state = tmp / f"{name}.state.safetensors"
            save_file(train.torch_state(model), str(state))
            b = w["batch"]
            files = {}
            for n in (b // 2, b, 2 * b):
                files[n] = tmp / f"{name}.{n}.safetensors"
                save_file({k: v.contiguous() for k, v in w["inputs"](n).items()}, str(files[n]))
            m1 = modelc_step_ms(args.modelc_run, lib, state, files[b], args.reps, 1)
            m2w = modelc_step_ms(args.modelc_run, lib, state, files[2 * b], args.reps, 2)
            m2s = modelc_step_ms(args.modelc_run, lib, state, files[b], args.reps, 2)
            port += 3
            t1 = torch_step_ms(name, b, args.reps, 1, port)
            t2w = torch_step_ms(name, b, args.reps, 2, port + 1)
            t2s = torch_step_ms(name, b // 2, args.reps, 2, port + 2)
            rows.append((name, b, m1, m2w, m2s, t1, t2w, t2s))
            print(f"{name} (batch {b} a rank): modelc 1 rank {m1:.1f} ms, 2 ranks {m2w:.1f} ms "
                  f"(weak x{2 * m1 / m2w:.2f}), 2 ranks of {b // 2} {m2s:.1f} ms (strong x{m1 / m2s:.2f}); "
                  f"PyTorch DDP 1 rank {t1:.1f} ms, 2 ranks {t2w:.1f} ms (weak x{2 * t1 / t2w:.2f}), "
                  f"strong {t2s:.1f} ms (x{t1 / t2s:.2f})", flush=True)
    print()
    print("| workload | per-rank batch | modelc 1 rank ms | modelc 2 ranks ms | weak speed-up | strong speed-up "
          "| PyTorch 1 rank ms | PyTorch 2 ranks ms | weak speed-up | strong speed-up | modelc / PyTorch step (2 ranks) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, b, m1, m2w, m2s, t1, t2w, t2s in rows:
        print(f"| {name} | {b} | {m1:.1f} | {m2w:.1f} | {2 * m1 / m2w:.2f} | {m1 / m2s:.2f} | {t1:.1f} | "
              f"{t2w:.1f} | {2 * t1 / t2w:.2f} | {t1 / t2s:.2f} | {t2w / m2w:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
