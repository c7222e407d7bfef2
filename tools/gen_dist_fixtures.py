#!/usr/bin/env python3
"""PyTorch DistributedDataParallel references for test/Distributed/.

Each case trains one of the training tests' models (test/e2e/train/models/,
its initial state and batches from test/e2e/train/fixtures/) with W ranks of
torch.nn.parallel.DistributedDataParallel over gloo, with DDP's defaults
(broadcast_buffers=True, gradients averaged), each rank on rows
[r*B/W, (r+1)*B/W) of every batch, as `modelc-run --distributed` and
libmodelc_dist do. Under test/Distributed/fixtures/ it writes, per case and
optimizer configuration:

  <case>.<opt>.losses.safetensors   rank 0's losses ("loss", F32 [K])
  <case>.<opt>.grads.safetensors    the averaged gradients of the last step
  <case>.<opt>.state.safetensors    rank 0's state dict after K steps
  <case>.<opt>.optim.safetensors    rank 0's optimizer state (tools/optim_state.py)
  <case>.<opt>.rank1.state.safetensors  rank 1's state dict: its buffers are
                                    rank 0's before its last forward, updated
                                    by its own shard (DDP broadcasts buffers
                                    before each forward)

and the SyncBatchNorm cases (`sync_*`, models with BatchNorm compiled with
`modelc --sync-batchnorm`): torch.nn.SyncBatchNorm computes the batch mean
and variance over all ranks; PyTorch runs it on GPUs only, so the reference
here is its CPU equivalent, checked against the identity that makes it
exact: with equal shards and mean-reduced losses, W ranks of DDP with
SyncBatchNorm take the same steps as one process on the whole batch.
Rank 0's loss is then the loss of its shard under the global statistics.

As tools/gen_train_fixtures.py, the references are run in float64 (gloo
reduces float64) and rounded once to float32; the float32 DDP run must be
within a quarter of the tests' tolerances, and runs that leave out a part of
DDP (no averaging, no buffer broadcast) must fail them.

Usage (PyTorch needed; CI never runs this):
    python tools/gen_dist_fixtures.py                  # every case
    python tools/gen_dist_fixtures.py --only mlp_w4
"""

import os
import warnings
import sys
import tempfile
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file
from torch.nn.parallel import DistributedDataParallel as DDP

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_train_fixtures as T  # noqa: E402
import optim_state  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "test" / "Distributed" / "fixtures"

# name -> (training case, world size, steps, {config: (optimizer, options)}, sync_batchnorm)
CASES = {
    "cnn_bn": ("cnn_bn", 2, 3, {
        "sgd_momentum": T.opt("sgd", lr=0.05, momentum=0.9),
        "adam": T.opt("adam", lr=1e-2),
    }, False),
    "mlp": ("mlp", 2, 4, {
        "adamw_groups": T.opt("adamw", lr=1e-2, weight_decay=0.1,
                              groups=[{"params": "*.bias", "weight_decay": 0}]),
    }, False),
    # Four ranks of 4 rows: each gradient divided by 4 before the sum, as
    # DDP's reducer does (for 2 ranks the order cannot show).
    "mlp_w4": ("mlp", 4, 4, {
        "sgd_momentum": T.opt("sgd", lr=0.05, momentum=0.9),
    }, False),
    "sync_cnn_bn": ("cnn_bn", 2, 3, {
        "sgd_momentum": T.opt("sgd", lr=0.05, momentum=0.9),
    }, True),
}


class SyncBatchNormFunction(torch.autograd.Function):
    """torch.nn.modules._functions.SyncBatchNorm, on the CPU: the batch
    statistics from every rank's sum and sum of squared deviations (two
    all-reduces), the backward's two sums all-reduced as PyTorch's."""

    @staticmethod
    def forward(ctx, x, weight, bias, mean_out, var_out, eps):
        dims = [0] + list(range(2, x.dim()))
        count = torch.tensor([x.numel() / x.shape[1]], dtype=x.dtype)
        dist.all_reduce(count)
        total = x.sum(dims)
        dist.all_reduce(total)
        mean = total / count
        shape = [1, -1] + [1] * (x.dim() - 2)
        xmu = x - mean.reshape(shape)
        sq = (xmu * xmu).sum(dims)
        dist.all_reduce(sq)
        var = sq / count
        invstd = torch.rsqrt(var + eps)
        xhat = xmu * invstd.reshape(shape)
        ctx.save_for_backward(xhat, weight, invstd)
        ctx.count = count
        mean_out.copy_(mean)
        var_out.copy_(var * count / (count - 1))  # unbiased, as running_var
        return xhat * weight.reshape(shape) + bias.reshape(shape)

    @staticmethod
    def backward(ctx, gy):
        xhat, weight, invstd = ctx.saved_tensors
        dims = [0] + list(range(2, gy.dim()))
        shape = [1, -1] + [1] * (gy.dim() - 2)
        sum_dy = gy.sum(dims)
        sum_dy_xhat = (gy * xhat).sum(dims)
        grad_weight, grad_bias = sum_dy_xhat.clone(), sum_dy.clone()  # local, as PyTorch's
        both = torch.stack([sum_dy, sum_dy_xhat])
        dist.all_reduce(both)
        n = ctx.count
        gx = (weight * invstd).reshape(shape) * (
            gy - (both[0] / n).reshape(shape) - xhat * (both[1] / n).reshape(shape))
        return gx, grad_weight, grad_bias, None, None, None


class SyncBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training-mode statistics span the ranks."""

    def forward(self, x):
        if not self.training:
            return super().forward(x)
        mean, var = torch.empty(self.num_features, dtype=x.dtype), torch.empty(self.num_features, dtype=x.dtype)
        y = SyncBatchNormFunction.apply(x, self.weight, self.bias, mean, var, self.eps)
        with torch.no_grad():
            self.num_batches_tracked += 1
            m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
            self.running_mean.mul_(1 - m).add_(mean, alpha=m)
            self.running_var.mul_(1 - m).add_(var, alpha=m)
        return y


def to_sync(module):
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            sync = SyncBatchNorm2d(child.num_features, child.eps, child.momentum).to(child.weight.dtype)
            sync.load_state_dict(child.state_dict())
            setattr(module, name, sync)
        else:
            to_sync(child)
    return module


class LossOf(nn.Module):
    """The model's loss method as a forward, so that DDP's hooks (buffer
    broadcast before, gradient reduction after) wrap it."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, **batch):
        return self.model.loss(**batch)


def f32(d):
    return {k: (v.to(torch.float32) if v.is_floating_point() else v).detach().clone().contiguous()
            for k, v in d.items()}


def shard(batch, rank, world):
    out = {}
    for k, v in batch.items():
        rows = v.shape[0] // world
        out[k] = v[rank * rows:(rank + 1) * rows]
    return out


def worker(rank, world, port, job, out_dir):
    # (broadcast_buffers is being renamed; its meaning is DDP's default.)
    warnings.filterwarnings("ignore", category=FutureWarning)
    train_case, steps, optimizer, options, sync, dtype, variant = job
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    torch.manual_seed(0)
    spec = T.CASES[train_case]
    model = T.build(spec, dtype, T.load_fixture(f"{train_case}.state"))
    if sync:
        to_sync(model)
    ddp = DDP(LossOf(model), broadcast_buffers=variant != "no_broadcast")
    opt_, names = optim_state.make_torch_optimizer(model.named_parameters(), optimizer, options, foreach=False)
    batches = [T.cast_batch(b, dtype) for b in load_batches(train_case)]
    losses, grads = [], {}
    for i in range(steps):
        opt_.zero_grad()
        loss = ddp(**shard(batches[i % len(batches)], rank, world))
        loss.backward()
        if variant == "sum":
            for p in model.parameters():
                p.grad.mul_(world)
        losses.append(loss.detach().to(torch.float64))
        if i == steps - 1:
            grads = {n: p.grad.detach().to(torch.float32).clone() for n, p in model.named_parameters()}
        opt_.step()
    result = {"losses": {"loss": torch.stack(losses).to(torch.float32)}, "grads": grads,
              "state": f32(model.state_dict()),
              "optim": optim_state.to_safetensors_dict(opt_.state_dict(), names)}
    torch.save(result, os.path.join(out_dir, f"rank{rank}.pt"))
    dist.destroy_process_group()


def load_batches(train_case):
    """The training case's batches, step0, step1, ... as they exist."""
    n = len(list(T.FIXTURES_DIR.glob(f"{train_case}.step*.inputs.safetensors")))
    return [T.load_fixture(f"{train_case}.step{i}.inputs") for i in range(n)]


PORT = [29600]


def run_ddp(job, world):
    PORT[0] += 1
    with tempfile.TemporaryDirectory() as d:
        mp.spawn(worker, args=(world, PORT[0], job, d), nprocs=world)
        return [torch.load(os.path.join(d, f"rank{r}.pt")) for r in range(world)]


def run_whole_batch(train_case, steps, optimizer, options):
    """One process on the whole batch, float64: what DDP with SyncBatchNorm
    must equal (up to rank 0's loss, which is its shard's)."""
    spec = T.CASES[train_case]
    state = T.load_fixture(f"{train_case}.state")
    return T.run({**spec, "steps": steps}, state,
                 load_batches(train_case),
                 optimizer, options, torch.float64, [])


def main():
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*", help="cases (default: all)")
    args = ap.parse_args()
    if optim_state.self_check() != 0:
        sys.exit("tools/optim_state.py self-check failed")
    OUT.mkdir(parents=True, exist_ok=True)
    tol = T.TOL
    for name, (train_case, world, steps, configs, sync) in CASES.items():
        if args.only and name not in args.only:
            continue
        for cname, (optimizer, options) in configs.items():
            job = lambda dtype, variant="ddp": (train_case, steps, optimizer, options, sync, dtype, variant)
            ref = run_ddp(job(torch.float64), world)
            low = run_ddp(job(torch.float32), world)
            files = {"losses": ref[0]["losses"], "grads": ref[0]["grads"], "state": ref[0]["state"],
                     "optim": ref[0]["optim"], "rank1.state": ref[1]["state"]}
            lows = {"losses": low[0]["losses"], "grads": low[0]["grads"], "state": low[0]["state"],
                    "optim": low[0]["optim"], "rank1.state": low[1]["state"]}
            for kind, tensors in files.items():
                rtol, atol = tol[kind.split(".")[-1]]
                w, where = T.worst(lows[kind], tensors, rtol, atol)
                if w > 1.0 / T.MARGIN:
                    sys.exit(f"{name}.{cname}.{kind}: float32 DDP is {w:.3g} of the tolerance "
                             f"from the float64 reference (at {where})")
                print(f"  {name}.{cname}.{kind}: float32 DDP at {w:.3f} of tolerance")
                meta = optim_state.metadata(optimizer, options) if kind == "optim" else None
                save_file(tensors, str(OUT / f"{name}.{cname}.{kind}.safetensors"), metadata=meta)
            # The tolerances must see each part of DDP.
            # (With SyncBatchNorm every rank has the same statistics, and a
            # model without buffers has nothing to broadcast.)
            has_buffers = any(k not in dict(T.build(T.CASES[train_case], torch.float64,
                                                   T.load_fixture(f"{train_case}.state")).named_parameters())
                              for k in ref[0]["state"])
            for variant in ("sum", "no_broadcast") if has_buffers and not sync else ("sum",):
                mut = run_ddp(job(torch.float64, variant), world)
                mutated = {"losses": mut[0]["losses"], "grads": mut[0]["grads"], "state": mut[0]["state"],
                           "optim": mut[0]["optim"], "rank1.state": mut[1]["state"]}
                caught = [k for k in files if T.worst(mutated[k], files[k], *tol[k.split(".")[-1]])[0] > 1.0]
                if not caught:
                    sys.exit(f"{name}.{cname}: the tolerances do not catch DDP without '{variant}'")
                print(f"  {name}.{cname}: catches '{variant}' in {','.join(caught)}")
            if sync:
                whole = run_whole_batch(train_case, steps, optimizer, options)
                for kind in ("grads", "state", "optim"):
                    w, where = T.worst(whole[kind], files[kind], *tol[kind])
                    if w > 1.0 / T.MARGIN:
                        sys.exit(f"{name}.{cname}.{kind}: SyncBatchNorm DDP differs from the whole "
                                 f"batch by {w:.3g} of the tolerance (at {where})")
                    print(f"  {name}.{cname}.{kind}: whole-batch identity at {w:.3g} of tolerance")


if __name__ == "__main__":
    main()
