"""train_ref.py: the training of fake_train.c, in float32 arithmetic
emulated in Python, with torch.optim's single-tensor SGD, Adam and AdamW
formulas (torch/optim/sgd.py, adam.py), to check the runtime's optimizers
bit for bit without PyTorch.

  python3 train_ref.py STATE.safetensors OUT.safetensors K OPTIMIZER JSON \
      INPUTS.safetensors...

STATE holds the initial parameters (modelc-run --save-state of a model that
did not train); OUT gets the K losses ('loss') and the parameters after K
steps. JSON holds the options (lr, momentum, ..., betas, groups).

Every float32 operation is computed in double and rounded to float32:
exact for +, -, *, / and sqrt (double has more than twice float's digits).
"""
import fnmatch
import json
import math
import struct
import sys

sys.path.insert(0, __import__("os").path.dirname(__file__))
import st  # noqa: E402


def f(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def read(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        out[name] = list(st.decode(e["dtype"], data[8 + n + b:8 + n + end]))
    return out


def loss_backward(p, x, y):
    w, b, t = p["lin.weight"], p["lin.bias"], p["temp"][0]
    n = len(x) // 3
    pred = []
    for i in range(n):
        for j in range(2):
            acc = b[j]
            for k in range(3):
                acc = f(acc + f(x[i * 3 + k] * w[j * 3 + k]))
            pred.append(f(acc / t))
    loss = 0.0
    dw, db = [0.0] * 6, [0.0] * 2
    for i in range(n):
        for j in range(2):
            r = f(pred[i * 2 + j] - y[i * 2 + j])
            loss = f(loss + f(r * r))
            g = f(f(f(2 * r) / f(2 * n)) / t)
            for k in range(3):
                dw[j * 3 + k] = f(dw[j * 3 + k] + f(g * x[i * 3 + k]))
            db[j] = f(db[j] + g)
    return f(loss / f(2 * n)), {"lin.weight": dw, "lin.bias": db}


def lerp(a, b, wt):
    return f(a + f(wt * f(b - a))) if abs(wt) < 0.5 else f(b - f(f(b - a) * f(1 - wt)))


def sgd(h, p, g, s):
    g = [f(-v) for v in g] if h["maximize"] else list(g)
    if h["weight_decay"] != 0:
        g = [f(gi + f(f(h["weight_decay"]) * pi)) for gi, pi in zip(g, p)]
    if h["momentum"] != 0:
        m = f(h["momentum"])
        if "momentum_buffer" not in s:
            s["momentum_buffer"] = list(g)
        else:
            a = f(1 - h["dampening"])
            s["momentum_buffer"] = [f(f(bi * m) + f(a * gi)) for bi, gi in zip(s["momentum_buffer"], g)]
        buf = s["momentum_buffer"]
        g = [f(gi + f(m * bi)) for gi, bi in zip(g, buf)] if h["nesterov"] else list(buf)
    a = f(-h["lr"])
    return [f(pi + f(a * gi)) for pi, gi in zip(p, g)]


def adam(h, p, g, s, decoupled):
    n = len(p)
    if "step" not in s:
        s.update(step=0.0, exp_avg=[0.0] * n, exp_avg_sq=[0.0] * n)
    if h["amsgrad"] and "max_exp_avg_sq" not in s:
        s["max_exp_avg_sq"] = [0.0] * n
    g = [f(-v) for v in g] if h["maximize"] else list(g)
    s["step"] = f(s["step"] + 1)
    if h["weight_decay"] != 0:
        if decoupled:
            c = f(1 - h["lr"] * h["weight_decay"])
            p = [f(pi * c) for pi in p]
        else:
            g = [f(gi + f(f(h["weight_decay"]) * pi)) for gi, pi in zip(g, p)]
    b1, b2 = h["betas"]
    wt, fb2, v = f(1 - b1), f(b2), f(1 - b2)
    s["exp_avg"] = [lerp(a, gi, wt) for a, gi in zip(s["exp_avg"], g)]
    s["exp_avg_sq"] = [f(f(q * fb2) + f(f(v * gi) * gi)) for q, gi in zip(s["exp_avg_sq"], g)]
    step = s["step"]
    bc1 = 1 - b1 ** step
    bc2 = 1 - b2 ** step
    step_size = h["lr"] / bc1
    bc2s = f(math.sqrt(bc2))
    second = s["exp_avg_sq"]
    if h["amsgrad"]:
        s["max_exp_avg_sq"] = [max(a, b) for a, b in zip(s["max_exp_avg_sq"], s["exp_avg_sq"])]
        second = s["max_exp_avg_sq"]
    eps, ns = f(h["eps"]), f(-step_size)
    return [f(pi + f(f(ns * a) / f(f(f(math.sqrt(q)) / bc2s) + eps)))
            for pi, a, q in zip(p, s["exp_avg"], second)]


def main():
    state_path, out, k, name, options = sys.argv[1:6]
    batches = [read(path) for path in sys.argv[6:]]
    p = read(state_path)
    options = json.loads(options)
    defaults = {"lr": 0.001, "momentum": 0, "dampening": 0, "weight_decay": 0.01 if name == "adamw" else 0,
                "nesterov": False, "maximize": False, "betas": [0.9, 0.999], "eps": 1e-8, "amsgrad": False}
    defaults.update({key: v for key, v in options.items() if key != "groups"})
    groups = []
    for group in options.get("groups", []):
        h = dict(defaults)
        h.update({key: v for key, v in group.items() if key != "params"})
        groups.append((group["params"], h))

    def hyper(param):
        for globs, h in groups:
            if any(fnmatch.fnmatchcase(param, g) for g in ([globs] if isinstance(globs, str) else globs)):
                return h
        return defaults

    states = {}
    losses = []
    for i in range(int(k)):
        batch = batches[i % len(batches)]
        loss, grads = loss_backward(p, batch["x"], batch["y"])
        losses.append(loss)
        for param, g in grads.items():
            s = states.setdefault(param, {})
            if name == "sgd":
                p[param] = sgd(hyper(param), p[param], g, s)
            else:
                p[param] = adam(hyper(param), p[param], g, s, name == "adamw")
    st.write(out, ["loss:F32:%d:%s" % (len(losses), ",".join(repr(v) for v in losses))] +
             ["%s:F32:%s:%s" % (param, {"lin.weight": "2,3", "lin.bias": "2"}[param],
                                 ",".join(repr(v) for v in p[param]))
              for param in ("lin.weight", "lin.bias")])


main()
