#!/usr/bin/env python3
"""Convert modelc's optimizer-state safetensors files to and from torch.optim
state_dict()s (TRAINING.md, "Optimizers").

modelc's file: one tensor per (parameter, state) pair, key
"<parameter name>.<state>", with torch.optim's state names (momentum_buffer,
exp_avg, exp_avg_sq, max_exp_avg_sq, step; `step` as an F32 scalar of shape
[]), all F32, and `__metadata__` {"optimizer": "<sgd|adam|adamw>",
"hyperparameters": "<JSON of the options, as set_optimizer takes them>"}
(what the runtime writes, runtime/src/Optimizer.cpp). The options JSON
is the same object as set_optimizer's: hyperparameters at the top level, and
"groups": [{"params": "<glob>", <hyperparameter>: value, ...}] for parameter
groups (the first group whose glob matches a parameter's name wins).

torch.optim's state_dict() numbers the parameters by their position in the
optimizer's param_groups (group by group); `names` below is the list of
parameter names in that order. `group_params(model_names, options)` gives the
grouping that modelc's options imply (default group first, then one torch
group per entry of "groups", in order), so a torch optimizer built with
`torch_param_groups(model, options)` has the same numbering.

Usage (PyTorch needed; CI does not run this):
    python tools/optim_state.py --self-check
        round-trips SGD (momentum, nesterov), Adam (amsgrad) and AdamW states of a
        small model through torch and back, bit for bit
The functions are used by tools/gen_train_fixtures.py.
"""

import argparse
import fnmatch
import json
import sys

import torch
from safetensors.torch import load_file, save_file

STATE_NAMES = ("momentum_buffer", "exp_avg", "exp_avg_sq", "max_exp_avg_sq", "step")
TORCH_CLASSES = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
HYPERPARAMETERS = {
    "sgd": ("lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize"),
    "adam": ("lr", "betas", "eps", "weight_decay", "amsgrad", "maximize"),
    "adamw": ("lr", "betas", "eps", "weight_decay", "amsgrad", "maximize"),
}


def group_index(name, options):
    """0 for the default group, 1 + i for options["groups"][i]."""
    for i, group in enumerate(options.get("groups", [])):
        if fnmatch.fnmatchcase(name, group["params"]):
            return 1 + i
    return 0


def group_params(names, options):
    """The parameter names of each torch param group, default group first.
    Empty groups are dropped (torch rejects them), as are their options."""
    groups = [[] for _ in range(1 + len(options.get("groups", [])))]
    for name in names:
        groups[group_index(name, options)].append(name)
    return groups


def torch_options(optimizer, options):
    """set_optimizer's top-level options as torch.optim keyword arguments."""
    out = {}
    for key, value in options.items():
        if key == "groups":
            continue
        if key not in HYPERPARAMETERS[optimizer]:
            raise ValueError(f"{optimizer} has no hyperparameter '{key}'")
        out[key] = tuple(value) if key == "betas" else value
    return out


def torch_param_groups(named_parameters, optimizer, options):
    """[(names, torch param group dict)] as torch.optim takes them."""
    named = dict(named_parameters)
    result = []
    specs = [{}] + [dict(g) for g in options.get("groups", [])]
    for names, spec in zip(group_params(list(named), options), specs):
        if not names:
            continue
        spec.pop("params", None)
        group = {"params": [named[n] for n in names]}
        group.update(torch_options(optimizer, spec))
        result.append((names, group))
    return result


def make_torch_optimizer(named_parameters, optimizer, options, **extra):
    """The torch.optim optimizer that modelc's (optimizer, options) describe,
    and the parameter names in its state_dict() numbering."""
    groups = torch_param_groups(named_parameters, optimizer, options)
    names = [n for ns, _ in groups for n in ns]
    opt = TORCH_CLASSES[optimizer]([g for _, g in groups], **torch_options(optimizer, options), **extra)
    return opt, names


def to_safetensors_dict(torch_state_dict, names):
    """torch.optim state_dict() -> {"<name>.<state>": F32 tensor}."""
    out = {}
    for index, state in torch_state_dict["state"].items():
        name = names[index]
        for key, value in state.items():
            if key not in STATE_NAMES:
                raise ValueError(f"unknown optimizer state '{key}' for '{name}'")
            if value is None:
                continue
            t = torch.as_tensor(value).detach().to(torch.float32).clone().contiguous()
            if key == "step":
                t = t.reshape(())
            out[f"{name}.{key}"] = t
    return out


def metadata(optimizer, options):
    return {"optimizer": optimizer, "hyperparameters": json.dumps(options, sort_keys=True)}


def save(path, torch_state_dict, names, optimizer, options):
    save_file(to_safetensors_dict(torch_state_dict, names), str(path), metadata=metadata(optimizer, options))


def read_metadata(path):
    """__metadata__ of a safetensors file as a dict of strings."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    return header.get("__metadata__", {}) or {}


def parse_metadata(meta):
    """(optimizer, options) from __metadata__; accepts the runtime's
    {"optimizer": name, "hyperparameters": json}, {"optimizer": name,
    "options": json} and a single JSON object {"name"/"optimizer": ..., ...}."""
    for key in ("hyperparameters", "options"):
        if "optimizer" in meta and key in meta:
            return meta["optimizer"], json.loads(meta[key])
    for value in meta.values():
        try:
            obj = json.loads(value)
        except (TypeError, ValueError):
            continue
        if isinstance(obj, dict) and ("name" in obj or "optimizer" in obj):
            name = obj.pop("name", None) or obj.pop("optimizer")
            options = obj.pop("options", obj)
            return name, options
    raise ValueError(f"no optimizer name and options in __metadata__ {meta}")


def from_safetensors_dict(tensors, torch_state_dict_template, names):
    """{"<name>.<state>": tensor} -> a torch.optim state_dict() with the
    template's param_groups (from the torch optimizer of the same model)."""
    index = {n: i for i, n in enumerate(names)}
    state = {}
    for key, value in tensors.items():
        for s in STATE_NAMES:
            if key.endswith("." + s):
                name = key[: -len(s) - 1]
                break
        else:
            raise ValueError(f"key '{key}' is not <parameter>.<state>")
        if name not in index:
            raise ValueError(f"key '{key}': no parameter '{name}' in the optimizer")
        state.setdefault(index[name], {})[s] = value.clone()
    return {"state": state, "param_groups": torch_state_dict_template["param_groups"]}


def load_into(path, torch_optimizer, names):
    """Loads a modelc optimizer-state file into a torch optimizer built with
    make_torch_optimizer (same names order)."""
    sd = from_safetensors_dict(load_file(str(path)), torch_optimizer.state_dict(), names)
    torch_optimizer.load_state_dict(sd)


def self_check():
    import tempfile
    import os

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.ReLU(), torch.nn.Linear(4, 3))
    configs = [
        ("sgd", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3,
                 "groups": [{"params": "*.bias", "weight_decay": 0}]}),
        ("adam", {"lr": 1e-2, "amsgrad": True, "weight_decay": 1e-2}),
        ("adamw", {"lr": 1e-2, "weight_decay": 0.1, "groups": [{"params": "0.*", "lr": 1e-3}]}),
    ]
    x, y = torch.randn(8, 5), torch.randint(0, 3, (8,))
    with tempfile.TemporaryDirectory() as tmp:
        for name, options in configs:
            m = [p.detach().clone() for p in model.parameters()]
            opt, names = make_torch_optimizer(model.named_parameters(), name, options, foreach=False)
            for _ in range(3):
                opt.zero_grad()
                torch.nn.functional.cross_entropy(model(x), y).backward()
                opt.step()
            path = os.path.join(tmp, name + ".safetensors")
            save(path, opt.state_dict(), names, name, options)
            meta_name, meta_options = parse_metadata(read_metadata(path))
            assert (meta_name, meta_options) == (name, options), (meta_name, meta_options)
            opt2, names2 = make_torch_optimizer(model.named_parameters(), meta_name, meta_options, foreach=False)
            assert names2 == names
            load_into(path, opt2, names2)
            a, b = opt.state_dict(), opt2.state_dict()
            assert a["state"].keys() == b["state"].keys()
            for i in a["state"]:
                for k in a["state"][i]:
                    ta, tb = a["state"][i][k], b["state"][i][k]
                    if ta is None:
                        continue
                    assert torch.equal(torch.as_tensor(ta).float().reshape(()) if k == "step" else ta,
                                       tb.reshape(()) if k == "step" else tb), (name, i, k)
            # one more step from the reloaded state equals one more from the original
            saved = [p.detach().clone() for p in model.parameters()]
            for o in (opt, opt2):
                with torch.no_grad():
                    for p, s in zip(model.parameters(), saved):
                        p.copy_(s)
                o.zero_grad()
                torch.nn.functional.cross_entropy(model(x), y).backward()
                o.step()
                if o is opt:
                    after = [p.detach().clone() for p in model.parameters()]
            for p, q in zip(model.parameters(), after):
                assert torch.equal(p, q), name
            with torch.no_grad():
                for p, s in zip(model.parameters(), m):
                    p.copy_(s)
            print(f"optim_state self-check: {name} round-trips ({len(load_file(path))} tensors)")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--self-check", action="store_true")
    ap.add_argument("--show", metavar="FILE", help="print a modelc optimizer-state file as a torch state_dict")
    args = ap.parse_args()
    if args.self_check:
        return self_check()
    if args.show:
        tensors = load_file(args.show)
        print(parse_metadata(read_metadata(args.show)))
        for k in sorted(tensors):
            print(k, tuple(tensors[k].shape))
        return 0
    ap.print_help()
    return 1


if __name__ == "__main__":
    sys.exit(main())
