"""`modelc.export`: a torch.nn.Module as a readable .mdl, through torch.export.

torch.export's graph keeps what this product is built on: its signature says
which inputs are parameters and which are buffers, and each node records the
stack of modules (`named_modules()` paths and classes) that called it. The
.mdl is rebuilt from that stack:

- every module of the tree is declared under its own name, so that the
  state-dict keys are the module's own: torch.nn built-ins as the built-in
  modules of the language (Linear(4, 8), BatchNorm2d(8, eps=0.001)),
  Sequential as Sequential, and user-defined classes as `module`
  definitions, one per distinct body (two instances that export the same
  text share it);
- the nodes a call of a module made become one call of that member; the rest
  of a module's nodes become its forward's statements (`x = relu(x + y)`);
- parameters and buffers declared directly on a user module become `param`
  and `buffer` (persistent or not), and an in-place update of a buffer
  becomes `buf <- ...`;
- a module whose forward differs between training and evaluation (exported
  once in each mode) gets `if training { ... } else { ... }`.

The batch dimension (dimension 0 of every input) is dynamic unless
`dynamic_batch=False`. What the language cannot express is an ExportError
naming the op and the module path.
"""
import collections
import inspect
import keyword
import operator
import os
import re

import numpy as np

from . import _safetensors


class ExportError(Exception):
    """The module uses something the .mdl language cannot express."""


_DTYPES = {"float32": "f32", "float64": "f64", "float16": "f16", "bfloat16": "bf16",
           "int32": "i32", "int64": "i64", "bool": "bool"}


def _dtype(t):
    name = str(t.dtype).replace("torch.", "")
    if name not in _DTYPES:
        raise ExportError(f"dtype {t.dtype} has no .mdl name")
    return _DTYPES[name]


def _lit(v):
    """A Python value as a .mdl literal."""
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if v == float("inf") or v == float("-inf") or v != v:
            raise ExportError(f"the value {v} has no .mdl literal")
        text = repr(v)
        return text if ("." in text or "e" in text) else text + ".0"
    if isinstance(v, str):
        return '"' + v + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_lit(x) for x in v) + "]"
    raise ExportError(f"the value {v!r} has no .mdl literal")


def _pair(v):
    """kernel_size (3, 3) as 3, (3, 1) as [3, 1]."""
    if isinstance(v, (list, tuple)):
        v = list(v)
        return v[0] if all(x == v[0] for x in v) else v
    return v


def _kwargs(pairs):
    """`name=value` for the arguments that differ from their defaults."""
    return [f"{k}={_lit(v)}" for k, v, default in pairs if v != default]


# -- built-in modules: constructor text from a torch.nn module -----------------

def _builtin_ctor(mod, path):
    import torch.nn as nn
    cls = type(mod)
    name = cls.__name__

    def fail(why):
        raise ExportError(f"{name} at '{path}': {why}")

    if cls is nn.Linear:
        args = [str(mod.in_features), str(mod.out_features)]
        args += _kwargs([("bias", mod.bias is not None, True)])
    elif cls in (nn.Conv1d, nn.Conv2d):
        if mod.padding_mode != "zeros":
            fail(f"padding_mode='{mod.padding_mode}' is not supported (only zeros)")
        if isinstance(mod.padding, str):
            fail(f"padding='{mod.padding}' is not supported; give the padding as numbers")
        args = [str(mod.in_channels), str(mod.out_channels), _lit(_pair(mod.kernel_size))]
        args += _kwargs([("stride", _pair(mod.stride), 1), ("padding", _pair(mod.padding), 0),
                         ("dilation", _pair(mod.dilation), 1), ("groups", mod.groups, 1),
                         ("bias", mod.bias is not None, True)])
    elif cls in (nn.BatchNorm1d, nn.BatchNorm2d):
        args = [str(mod.num_features)]
        args += _kwargs([("eps", float(mod.eps), 1e-5), ("momentum", mod.momentum, 0.1),
                         ("affine", mod.affine, True),
                         ("track_running_stats", mod.track_running_stats, True)])
    elif cls in (nn.LSTM, nn.GRU):
        if getattr(mod, "proj_size", 0) or mod.dropout:
            fail("proj_size and dropout between layers are not supported")
        args = [str(mod.input_size), str(mod.hidden_size)]
        args += _kwargs([("num_layers", mod.num_layers, 1), ("bias", mod.bias, True),
                         ("batch_first", mod.batch_first, False),
                         ("bidirectional", mod.bidirectional, False)])
    elif cls is nn.TransformerEncoderLayer:
        act = mod.activation
        act_name = act if isinstance(act, str) else getattr(act, "__name__", type(act).__name__)
        act_name = {"ReLU": "relu", "GELU": "gelu"}.get(act_name, act_name)
        if act_name not in ("relu", "gelu"):
            fail(f"activation {act_name} is not supported (relu or gelu)")
        attn = mod.self_attn
        args = [str(attn.embed_dim), str(attn.num_heads)]
        args += _kwargs([("dim_feedforward", mod.linear1.out_features, 2048),
                         ("dropout", float(mod.dropout.p), 0.1),
                         ("activation", act_name, "relu"),
                         ("layer_norm_eps", float(mod.norm1.eps), 1e-5),
                         ("batch_first", attn.batch_first, False),
                         ("norm_first", mod.norm_first, False),
                         ("bias", mod.linear1.bias is not None, True)])
    elif cls is nn.GroupNorm:
        args = [str(mod.num_groups), str(mod.num_channels)]
        args += _kwargs([("eps", float(mod.eps), 1e-5), ("affine", mod.affine, True)])
    elif cls in (nn.InstanceNorm1d, nn.InstanceNorm2d):
        if mod.track_running_stats and mod.momentum is None:
            fail("momentum=None is not supported")
        args = [str(mod.num_features)]
        args += _kwargs([("eps", float(mod.eps), 1e-5), ("momentum", mod.momentum, 0.1),
                         ("affine", mod.affine, False),
                         ("track_running_stats", mod.track_running_stats, False)])
    elif cls is nn.LayerNorm:
        shape = list(mod.normalized_shape)
        if mod.bias is None and mod.elementwise_affine:
            fail("bias=False is not supported")
        args = [_lit(shape[0] if len(shape) == 1 else shape)]
        args += _kwargs([("eps", float(mod.eps), 1e-5),
                         ("elementwise_affine", mod.elementwise_affine, True)])
    elif cls is nn.Embedding:
        if mod.padding_idx is not None or mod.max_norm is not None:
            fail("padding_idx and max_norm are not supported")
        args = [str(mod.num_embeddings), str(mod.embedding_dim)]
    elif cls in (nn.ReLU, nn.Sigmoid, nn.Tanh, nn.SiLU, nn.Identity, nn.ReLU6, nn.Hardswish,
                 nn.Hardsigmoid):
        args = []
    elif cls is nn.Upsample:
        if mod.mode != "nearest":
            fail(f"mode '{mod.mode}' is not supported (nearest)")
        args = []
        if mod.size is not None:
            args.append(f"size={_lit(mod.size)}")
        else:
            sf = mod.scale_factor
            args.append(f"scale_factor={_lit(list(sf) if isinstance(sf, tuple) else sf)}")
    elif cls is nn.PixelShuffle:
        args = [str(mod.upscale_factor)]
    elif cls is nn.Mish:
        args = []
    elif cls is nn.ELU:
        args = _kwargs([("alpha", float(mod.alpha), 1.0)])
    elif cls is nn.Softplus:
        args = _kwargs([("beta", float(mod.beta), 1.0), ("threshold", float(mod.threshold), 20.0)])
    elif cls is nn.PReLU:
        args = _kwargs([("num_parameters", mod.num_parameters, 1)])
    elif cls is nn.Hardtanh:
        args = _kwargs([("min_val", float(mod.min_val), -1.0),
                        ("max_val", float(mod.max_val), 1.0)])
    elif cls is nn.GELU:
        args = _kwargs([("approximate", mod.approximate, "none")])
    elif cls is nn.LeakyReLU:
        args = _kwargs([("negative_slope", float(mod.negative_slope), 0.01)])
    elif cls in (nn.Softmax, nn.LogSoftmax):
        args = [] if mod.dim is None else [f"dim={mod.dim}"]
    elif cls is nn.Dropout:
        args = _kwargs([("p", float(mod.p), 0.5)])
    elif cls is nn.Flatten:
        args = _kwargs([("start_dim", mod.start_dim, 1), ("end_dim", mod.end_dim, -1)])
    elif cls in (nn.MaxPool2d, nn.AvgPool2d, nn.MaxPool1d, nn.AvgPool1d):
        is_max = cls in (nn.MaxPool2d, nn.MaxPool1d)
        if getattr(mod, "ceil_mode", False):
            fail("ceil_mode=True is not supported")
        if is_max and _pair(mod.dilation) != 1:
            fail("dilation is not supported")
        if is_max and mod.return_indices:
            fail("return_indices=True is not supported")
        if cls is nn.AvgPool2d and mod.divisor_override:
            fail("divisor_override is not supported")
        kernel = _pair(mod.kernel_size)
        args = [_lit(kernel)]
        args += _kwargs([("stride", _pair(mod.stride), kernel), ("padding", _pair(mod.padding), 0)])
        if not is_max:
            args += _kwargs([("count_include_pad", mod.count_include_pad, True)])
    elif cls in (nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveMaxPool2d):
        if cls is nn.AdaptiveMaxPool2d and mod.return_indices:
            fail("return_indices=True is not supported")
        args = [_lit(_pair(mod.output_size))]
    else:
        return None
    return f"{name}({', '.join(args)})"


# Built-in modules whose call is many ops (written as one call of them).
_COMPOSITE_BUILTINS = {"TransformerEncoderLayer", "LSTM", "GRU"}

# What one call of each built-in module is in the graph: its aten ops.
_BUILTIN_OPS = {
    "Linear": {"linear"}, "Conv2d": {"conv2d"}, "BatchNorm1d": {"batch_norm"},
    "BatchNorm2d": {"batch_norm"}, "LayerNorm": {"layer_norm"}, "Embedding": {"embedding"},
    "ReLU": {"relu", "relu_"}, "Sigmoid": {"sigmoid"}, "Tanh": {"tanh"}, "SiLU": {"silu", "silu_"},
    "GELU": {"gelu"}, "LeakyReLU": {"leaky_relu", "leaky_relu_"}, "Softmax": {"softmax", "_softmax"},
    "LogSoftmax": {"log_softmax", "_log_softmax"}, "Dropout": {"dropout", "dropout_"},
    "Flatten": {"flatten"}, "MaxPool2d": {"max_pool2d"}, "AvgPool2d": {"avg_pool2d"},
    "AdaptiveAvgPool2d": {"adaptive_avg_pool2d"}, "Identity": set(),
    "GroupNorm": {"group_norm"}, "InstanceNorm1d": {"instance_norm"},
    "InstanceNorm2d": {"instance_norm"},
    "Conv1d": {"conv1d"}, "MaxPool1d": {"max_pool1d"}, "AvgPool1d": {"avg_pool1d"},
    "AdaptiveAvgPool1d": {"adaptive_avg_pool1d"},
    "ReLU6": {"hardtanh", "hardtanh_", "relu6"}, "Hardtanh": {"hardtanh", "hardtanh_"},
    "Hardswish": {"hardswish", "hardswish_"}, "Hardsigmoid": {"hardsigmoid", "hardsigmoid_"},
    "Mish": {"mish", "mish_"}, "ELU": {"elu", "elu_"}, "Softplus": {"softplus"},
    "PReLU": {"prelu", "_prelu_kernel"}, "PixelShuffle": {"pixel_shuffle"},
    "Upsample": {"upsample_nearest2d", "interpolate"},
    "AdaptiveMaxPool2d": {"adaptive_max_pool2d"},
}


def _op_name(node):
    target = node.target
    if target is operator.getitem:
        return "getitem"
    name = getattr(target, "__name__", str(target))
    # aten.add.Tensor -> add; aten.relu_.default -> relu_
    return name.split(".")[0]


# -- one exported graph, seen module by module ----------------------------------

class _Graph:
    """The nodes of one torch.export graph, with the module-call stack of each."""

    def __init__(self, ep):
        self.ep = ep
        sig = ep.graph_signature
        self.state = {}  # placeholder name -> (kind, state-dict name)
        self.inputs = []  # user input placeholders
        from torch.export.graph_signature import InputKind
        for spec in sig.input_specs:
            name = spec.arg.name
            if spec.kind == InputKind.PARAMETER:
                self.state[name] = ("param", spec.target)
            elif spec.kind == InputKind.BUFFER:
                self.state[name] = ("buffer", spec.target)
            elif spec.kind == InputKind.USER_INPUT:
                self.inputs.append(name)
            else:
                raise ExportError(f"an input of kind {spec.kind.name} ('{spec.target or name}') "
                                  "is not supported (tensor constants must be buffers)")
        self.nodes = []
        self.output = None
        for n in ep.graph.nodes:
            if n.op == "call_function":
                if _op_name(n) in ("_assert_scalar", "sym_constrain_range_for_size",
                                   "_assert_tensor_metadata"):
                    continue
                self.nodes.append(n)
            elif n.op == "output":
                self.output = n
            elif n.op not in ("placeholder",):
                raise ExportError(f"graph node {n.op} '{n.name}' is not supported")
        # The result of an in-place update of a state entry is that entry:
        # a later read of it (a second call of the module) reads the state.
        self.alias = {}
        for n in self.nodes:
            if _op_name(n).endswith("_") and n.args and hasattr(n.args[0], "op"):
                target = self.resolve(n.args[0])
                if target.op == "placeholder" and target.name in self.state:
                    self.alias[n.name] = target

    def resolve(self, node):
        return self.alias.get(node.name, node)

    def args(self, n):
        """The nodes `n` uses, state aliases resolved."""
        return [self.resolve(a) for a in _node_args(n)]

    @staticmethod
    def stack(node):
        """[(call key, module path, class name)] below the root."""
        st = node.meta.get("nn_module_stack") or {}
        out = []
        for key, (path, cls) in st.items():
            if path == "":
                continue
            cls_name = cls if isinstance(cls, str) else getattr(cls, "__qualname__", str(cls))
            out.append((key, path, cls_name.split(".")[-1]))
        return out


class _Namer:
    """Readable, unique names for the values of one forward body."""

    def __init__(self, taken):
        self.taken = set(taken)

    def fresh(self, hint):
        base = re.sub(r"[^A-Za-z0-9_]", "_", hint) or "v"
        if base[0].isdigit() or keyword.iskeyword(base):
            base = "v_" + base
        name, i = base, 1
        while name in self.taken:
            i += 1
            name = f"{base}{i}"
        self.taken.add(name)
        return name


class _Context:
    """The names of one forward body: fx value -> local name, and which fx
    values each local name holds (a name is reused only when all of them
    are dead)."""

    def __init__(self, namer):
        self.namer = namer
        self.names = {}
        self.holders = collections.defaultdict(set)
        self.last_use = {}
        self.state_locals = set()

    def hold(self, fx_name, local, replace=False):
        if replace:
            self.holders[local] = set()
        self.holders[local].add(fx_name)
        self.names[fx_name] = local


# A number of a module's text that may become a constructor argument: not
# part of a name (conv1) or of a larger number.
_NUMBER = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?(?:e-?\d+)?)(?![\w.])")
# The positional arguments' names of the built-in modules, to name the
# constructor arguments they become.
_POSITIONAL = {
    "Linear": ["in_features", "out_features"], "Conv2d": ["in_channels", "out_channels",
                                                          "kernel_size"],
    "BatchNorm1d": ["num_features"], "BatchNorm2d": ["num_features"],
    "InstanceNorm1d": ["num_features"], "InstanceNorm2d": ["num_features"],
    "GroupNorm": ["num_groups", "num_channels"],
    "LayerNorm": ["normalized_shape"], "Embedding": ["num_embeddings", "embedding_dim"],
    "Conv1d": ["in_channels", "out_channels", "kernel_size"],
    "MaxPool2d": ["kernel_size"], "AvgPool2d": ["kernel_size"], "MaxPool1d": ["kernel_size"],
    "AvgPool1d": ["kernel_size"], "AdaptiveAvgPool1d": ["output_size"],
    "AdaptiveAvgPool2d": ["output_size"], "Softmax": [], "LogSoftmax": [],
}


class _Definitions:
    """The `module` definitions of user classes. Each instance's body is
    collected first; then the instances of a class whose bodies differ only
    in numbers share one definition with those numbers as constructor
    arguments (BasicBlock(in_channels: int, out_channels: int)), and bodies
    that differ otherwise (a downsample member only some have) get
    definitions of their own (BasicBlock, BasicBlock_2)."""

    def __init__(self):
        self.instances = []  # (token, class name, body with tokens of its children)

    def add(self, cls, text):
        token = f"\x00{len(self.instances)}\x00"
        self.instances.append((token, cls, text))
        return token

    @staticmethod
    def substitute(text, calls):
        return re.sub("\x00\\d+\x00", lambda m: calls.get(m.group(0), m.group(0)), text)

    def finalize(self):
        """([(name, [(param, type)], text)] in dependency order, {token: call})."""
        calls, out, params_of = {}, [], {}
        taken = set()
        pending = list(self.instances)
        while pending:
            by_class = collections.OrderedDict()
            for token, cls, text in pending:
                by_class.setdefault(cls, []).append((token, self.substitute(text, calls)))
            ready = [cls for cls, insts in by_class.items()
                     if not any("\x00" in t for _, t in insts)]
            if not ready:
                raise ExportError("module definitions that contain each other")
            for cls in ready:
                groups = collections.OrderedDict()
                for token, text in by_class[cls]:
                    groups.setdefault(_NUMBER.sub("#", text), []).append((token, text))
                for members in groups.values():
                    name, i = cls, 1
                    while name in taken:
                        i += 1
                        name = f"{cls}_{i}"
                    taken.add(name)
                    params, text, args = self.parametrize(members, params_of)
                    params_of[name] = [p for p, _ in params]
                    out.append((name, params, text))
                    for token, values in args.items():
                        calls[token] = f"{name}({', '.join(values)})"
            pending = [p for p in pending if p[1] not in ready]
        return out, calls

    @staticmethod
    def parametrize(members, params_of):
        """One definition for bodies that differ only in numbers."""
        numbers = [[m.group(1) for m in _NUMBER.finditer(t)] for _, t in members]
        first = members[0][1]
        spans = [m.span(1) for m in _NUMBER.finditer(first)]
        identifiers = set(re.findall(r"[A-Za-z_]\w*", first))
        vectors = collections.OrderedDict()  # value vector -> parameter name
        param_at = {}
        for j in range(len(spans)):
            vector = tuple(nums[j] for nums in numbers)
            if len(set(vector)) == 1:
                continue
            if vector not in vectors:
                base = _Definitions.context_name(first, spans[j][0], params_of)
                name = base
                if base != "k" and (name in vectors.values() or name in identifiers):
                    # conv2_in_channels beside conv1's in_channels
                    member = re.match(r"\s*(\w+)", first[first.rfind("\n", 0, spans[j][0]) + 1:])
                    name = f"{member.group(1)}_{base}" if member else base
                k = 1
                while name in vectors.values() or name in identifiers:
                    k += 1
                    name = f"{base}{k}"
                vectors[vector] = name
            param_at[j] = vectors[vector]
        text = first
        for j in sorted(param_at, reverse=True):
            a, b = spans[j]
            text = text[:a] + param_at[j] + text[b:]
        params = [(name, "float" if any(("." in v or "e" in v) for v in vector) else "int")
                  for vector, name in vectors.items()]
        firsts = {name: next(j for j in sorted(param_at) if param_at[j] == name)
                  for name in vectors.values()}
        args = {token: [numbers[i][firsts[name]] for name, _ in params]
                for i, (token, _) in enumerate(members)}
        return params, text, args

    @staticmethod
    def context_name(text, at, params_of):
        """A name for the number at `at`: the argument it is of the innermost
        constructor call around it (`conv1 = Conv2d(8, 16, 3, stride=2)`:
        in_channels, out_channels, stride; inside Sequential(...) too), else
        k (a number of forward: k, k2, ...)."""
        line_start = text.rfind("\n", 0, at) + 1
        if not re.match(r"\s*\w+ = \w+\(", text[line_start:]):
            return "k"
        # The calls open at `at`: [name, argument index, argument start].
        stack = []
        i = line_start
        while i < at:
            c = text[i]
            if c == "(":
                name = re.search(r"(\w+)$", text[line_start:i])
                stack.append([name.group(1) if name else "", 0, i + 1])
            elif c == "[":
                stack.append(["[", 0, i + 1])
            elif c in ")]" and stack:
                stack.pop()
            elif c == "," and stack:
                stack[-1][1] += 1
                stack[-1][2] = i + 1
            i += 1
        if not stack or stack[-1][0] in ("", "["):
            return "k"
        ctor, index, arg_start = stack[-1]
        arg = text[arg_start:at].strip()
        kw = re.match(r"(\w+)=$", arg)
        if kw:
            return kw.group(1)
        names = _POSITIONAL.get(ctor) or params_of.get(ctor) or []
        return names[index] if index < len(names) else "k"


class _Emitter:
    """Writes the module definitions of one exported module tree."""

    def __init__(self, module, graphs, input_names, batch_dynamic, example_inputs):
        self.root = module
        self.graphs = graphs  # {"train": _Graph, "eval": _Graph}
        self.mods = dict(module.named_modules())
        self.input_names = input_names
        self.batch_dynamic = batch_dynamic
        self.examples = example_inputs
        self.definitions = _Definitions()

    # -- members -----------------------------------------------------------
    def member_decl(self, path, child_name, child):
        """`name = Ctor(...)` of a child module (its definition written first
        when it is a user module)."""
        import torch.nn as nn
        child_path = f"{path}.{child_name}" if path else child_name
        ctor = _builtin_ctor(child, child_path)
        if ctor is not None:
            return ctor
        if type(child) is nn.Sequential:
            parts = [self.member_decl(child_path, n, c) for n, c in child.named_children()]
            return "Sequential(" + ", ".join(parts) + ")"
        if type(child).__module__.startswith("torch.nn"):
            raise ExportError(f"{type(child).__name__} at '{child_path}' is a torch.nn module "
                              "that the .mdl language does not have")
        return self.define(child_path, child)

    def state_decls(self, path, mod):
        lines = []
        for name, p in mod.named_parameters(recurse=False):
            if p is None:
                continue
            lines.append(f"param {name}: {_dtype(p)}{list(p.shape)} = zeros()")
        persistent_skip = getattr(mod, "_non_persistent_buffers_set", set())
        for name, b in mod.named_buffers(recurse=False):
            if b is None:
                continue
            kind = "buffer(persistent=false)" if name in persistent_skip else "buffer"
            lines.append(f"{kind} {name}: {_dtype(b)}{list(b.shape)} = zeros()")
        return lines

    def define(self, path, mod):
        """The call of the user module at `path`: a token that finalize()
        replaces with `Name(args)` once every instance of its class is known
        (its definition's constructor arguments are what the instances'
        bodies differ in)."""
        return self.definitions.add(type(mod).__name__, self.module_body(path, mod))

    def module_body(self, path, mod):
        members = []
        for child_name, child in mod.named_children():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", child_name):
                raise ExportError(f"'{path or type(mod).__name__}' has a child named "
                                  f"'{child_name}', which cannot be a .mdl member (a "
                                  "Sequential or ModuleList as the model itself, or a "
                                  "ModuleList in a module): wrap it in a module of your own")
            members.append(f"{child_name} = {self.member_decl(path, child_name, child)}")
        members += self.state_decls(path, mod)
        forwards = {}
        for mode, g in self.graphs.items():
            keys = [None] if path == "" else self.call_keys(g, path)
            if not keys:
                # Never called: a forward that passes its input through, so
                # that the state stays declared (and in the state dict).
                forwards[mode] = ("forward(x)", ("return x",))
                continue
            texts = set()
            for key in keys:
                head, body = self.forward_text(g, path, mod, key)
                texts.add((head, tuple(body)))
            if len(texts) > 1:
                raise ExportError(f"'{path}' ({type(mod).__name__}) does different things in "
                                  f"its {len(keys)} calls ({mode} mode); .mdl modules have one "
                                  "forward")
            forwards[mode] = texts.pop()
        if len(set(forwards.values())) == 1:
            head, body = next(iter(forwards.values()))
        else:
            (head_t, body_t), (head_e, body_e) = forwards["train"], forwards["eval"]
            if head_t != head_e:
                raise ExportError(f"'{path or type(mod).__name__}': forward takes or returns "
                                  "different values in training and evaluation mode")
            indent = lambda lines: ["  " + l for l in lines]  # noqa: E731
            head = head_t
            # Only the statements that differ go under `if training`; what
            # both modes start and end with (the return) stays outside.
            pre = 0
            while pre < min(len(body_t), len(body_e)) and body_t[pre] == body_e[pre]:
                pre += 1
            post = 0
            while (post < min(len(body_t), len(body_e)) - pre and
                   body_t[len(body_t) - 1 - post] == body_e[len(body_e) - 1 - post]):
                post += 1
            mid_t = list(body_t[pre:len(body_t) - post])
            mid_e = list(body_e[pre:len(body_e) - post])
            branch = ["if training {"] + indent(mid_t)
            if mid_e:
                branch += ["} else {"] + indent(mid_e)
            branch.append("}")
            body = list(body_t[:pre]) + branch + list(body_t[len(body_t) - post:])
        body = list(body)
        lines = members + [""] if members else []
        lines.append(head + " {")
        lines += ["  " + l for l in body]
        lines.append("}")
        return "\n".join(lines)

    # -- forward ------------------------------------------------------------
    @staticmethod
    def call_keys(g, path):
        """The keys of the calls of module `path` in graph `g`, in order."""
        keys = []
        for n in g.nodes:
            for key, p, _ in g.stack(n):
                if p == path and key not in keys:
                    keys.append(key)
        return keys

    def scope_runs(self, g, path, key=None):
        """The nodes of the call `key` of module `path` ("" the root, whose
        one call has no key), grouped: [(None, [node])] for its own nodes,
        [(call, nodes)] for each call of a child, where call = (key, child
        path, class)."""
        depth = 0 if path == "" else path.count(".") + 1
        runs = []
        for n in g.nodes:
            # (torch.export may record a path that is no module, such as
            # _empty_nn_module_stack_from_metadata_hook for x.shape: skipped)
            st = [e for e in g.stack(n) if e[1] in self.mods]
            if path != "":
                # this call's node: an entry of this call of `path`
                if not any(p == path and k == key for k, p, _ in st):
                    continue
            # the entry just below this scope
            below = [e for e in st if e[1].count(".") + 1 == depth + 1 and
                     (path == "" or e[1].startswith(path + "."))]
            if not below:
                runs.append((None, [n]))
            else:
                call = below[0]
                if runs and runs[-1][0] is not None and runs[-1][0][0] == call[0]:
                    runs[-1][1].append(n)
                else:
                    runs.append((call, [n]))
        return runs

    def forward_text(self, g, path, mod, key=None):
        """(`forward(...)` head, body lines) of the call `key` of module
        `path` in graph `g`."""
        runs = self.scope_runs(g, path, key)
        in_scope = {n for _, ns in runs for n in ns}
        # This scope's inputs: values used inside and made outside (the
        # root's: the user inputs), in order of first use.
        if path == "":
            inputs = list(g.inputs)
        else:
            inputs = []
            for _, ns in runs:
                for n in ns:
                    for a in g.args(n):
                        if a.op == "placeholder" and a.name in g.state:
                            continue
                        if a not in in_scope and a.name not in inputs:
                            inputs.append(a.name)
        # Its results: values made inside and used outside.
        if path == "":
            outs = _flat(g.output.args[0])
        else:
            outs = []
            for _, ns in runs:
                for n in ns:
                    # (an updated state entry is the state, not a result)
                    if n.name in g.alias:
                        continue
                    if any(u not in in_scope for u in n.users) and n not in outs:
                        outs.append(n)
        member_names = {c for c, _ in mod.named_children()} | \
            {n for n, _ in mod.named_parameters(recurse=False)} | \
            {n for n, _ in mod.named_buffers(recurse=False)}
        order = [n for _, ns in runs for n in ns]
        ctx = _Context(_Namer(member_names | {"training"}))
        for i, n in enumerate(order):
            for a in g.args(n):
                ctx.last_use[a.name] = i
        for o in outs:
            ctx.last_use[o.name] = len(order) + 1
        # Input names: the forward's own parameter names when they match.
        try:
            params = [p for p in inspect.signature(mod.forward).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        except (TypeError, ValueError):
            params = []
        if path == "" and self.input_names:
            hints = list(self.input_names)
        elif len(params) == len(inputs):
            hints = [p.name for p in params]
        else:
            hints = ["x"] if len(inputs) == 1 else [f"x{i}" for i in range(len(inputs))]
        for name, hint in zip(inputs, hints):
            ctx.hold(name, ctx.namer.fresh(hint))
        # The state of this module, by its local name (never rebound).
        prefix = path + "." if path else ""
        for ph, (kind, target) in g.state.items():
            if target.startswith(prefix) and "." not in target[len(prefix):]:
                local = target[len(prefix):]
                ctx.names[ph] = local
                ctx.state_locals.add(local)
        body = []
        index = 0
        for call, ns in runs:
            start, index = index, index + len(ns)
            if call is None:
                stmt = self.statement(g, ns[0], ctx, start, path)
                if stmt:
                    body.append(stmt)
                continue
            stmt = self.call_statement(g, call, ns, ctx, outs, index - 1)
            body.extend(stmt if isinstance(stmt, list) else [stmt])
        # forward's head: the root's inputs typed.
        if path == "":
            typed = []
            for name, x in zip(inputs, self.examples):
                dims = [str(d) for d in x.shape]
                if self.batch_dynamic and dims:
                    dims[0] = "N"
                typed.append(f"{ctx.names[name]}: {_dtype(x)}[{', '.join(dims)}]")
            head = f"forward({', '.join(typed)})"
        else:
            head = f"forward({', '.join(ctx.names[i] for i in inputs)})"
        for o in outs:
            if o.name not in ctx.names:
                raise ExportError(f"the result '{o.name}' of '{path or 'the model'}' could not "
                                  "be expressed")
        body.append("return " + ", ".join(ctx.names[o.name] for o in outs))
        return head, body

    def call_statement(self, g, call, ns, ctx, outs, end):
        """`y = child(x)`: the nodes `ns` of one call of a child module."""
        key, child_path, cls = call
        child_name = child_path.split(".")[-1]
        run_set = set(ns)
        args, operands = [], []
        for n in ns:
            for a in g.args(n):
                if a.op == "placeholder" and a.name in g.state:
                    kind, target = g.state[a.name]
                    if not target.startswith(child_path + "."):
                        raise ExportError(f"'{child_path}' uses '{target}', the state of "
                                          "another module")
                    continue
                if a not in run_set and a.name not in args:
                    args.append(a.name)
                    operands.append(a)
        results = [n for n in ns if n.name not in g.alias and
                   (any(u not in run_set for u in n.users) or n in outs)]
        if cls in ("LSTM", "GRU"):
            return self.recurrent_call(g, cls, child_name, child_path, ns, args, operands, ctx)
        if cls in _COMPOSITE_BUILTINS:
            # Many ops inside; called with its one input (no masks). Sizes of
            # other values it reads (x.shape) are its own business.
            kept = [a for a, o in zip(args, operands) if _is_tensor(o)]
            operands = [o for o in operands if _is_tensor(o)]
            args = kept
            results = [r for r in results if _is_tensor(r)]
            if len(args) != 1 or len(results) != 1:
                raise ExportError(f"{cls} at '{child_path}': called with {len(args)} inputs; "
                                  "modelc.export writes it called with src alone")
        elif cls in _BUILTIN_OPS:
            # (BatchNorm's num_batches_tracked += 1 is the built-in's own.)
            ops = [_op_name(n) for n in ns if _op_name(n) not in ("sym_size", "getitem") and not (
                _op_name(n).endswith("_") and n.args and hasattr(n.args[0], "op") and
                n.args[0].name in g.state)]
            if len(ops) != 1 or ops[0] not in _BUILTIN_OPS[cls]:
                raise ExportError(f"{cls} at '{child_path}': called as "
                                  f"{', '.join(ops) or 'nothing'}, which the built-in module "
                                  "does not do")
        for a in args:
            if a not in ctx.names:
                raise ExportError(f"'{child_path}': its input '{a}' comes from an operation "
                                  "that could not be expressed")
        arg_text = ", ".join(ctx.names[a] for a in args)
        out_names = [self.bind(r, ctx, operands, end) for r in results]
        if not out_names:
            return f"{child_name}({arg_text})"
        return f"{', '.join(out_names)} = {child_name}({arg_text})"

    @staticmethod
    def recurrent_call(g, cls, child_name, child_path, ns, args, operands, ctx):
        """`y, state = lstm(x)` and `h, c = state` (GRU: `y, h = gru(x)`): the
        graph's getitems of the recurrent op's flat (output, h_n[, c_n])
        take those names."""
        tensors = [a for a, o in zip(args, operands) if _is_tensor(o)]
        if len(tensors) != 1:
            raise ExportError(f"{cls} at '{child_path}': called with {len(tensors)} inputs; "
                              "modelc.export writes it called with its input alone")
        x = ctx.names[tensors[0]]
        main = [n for n in ns if _op_name(n) in ("lstm", "gru")]
        if len(main) != 1:
            raise ExportError(f"{cls} at '{child_path}': its call is not one aten.{cls.lower()}")
        count = 3 if cls == "LSTM" else 2
        names = [ctx.namer.fresh("out") for _ in range(count)]
        for n in ns:
            if _op_name(n) == "getitem" and n.args[0] is main[0]:
                ctx.hold(n.name, names[n.args[1]])
        if cls == "GRU":
            return f"{names[0]}, {names[1]} = {child_name}({x})"
        state = ctx.namer.fresh("state")
        return [f"{names[0]}, {state} = {child_name}({x})", f"{names[1]}, {names[2]} = {state}"]

    @staticmethod
    def bind(node, ctx, operands, end):
        """A name for `node`'s value: an operand's when every value that name
        holds is used for the last time by index `end` (x = relu(x)), else a
        fresh one from the node's name."""
        for a in operands:
            local = ctx.names.get(a.name)
            if local is None or local in ctx.state_locals:
                continue
            if all(ctx.last_use.get(h, -1) <= end for h in ctx.holders.get(local, ())):
                ctx.hold(node.name, local, replace=True)
                return local
        # (A name of this scope's own, not the graph's: two instances of one
        # class then export the same text.)
        local = ctx.namer.fresh("out")
        ctx.hold(node.name, local, replace=True)
        return local

    def statement(self, g, n, ctx, index, path):
        """One node of this module's own, as `name = expression` (None when
        it needs no statement of its own)."""
        op = _op_name(n)
        names = ctx.names
        where = f"'{path}'" if path else "the model's forward"
        args = list(n.args)
        kwargs = dict(n.kwargs)

        def v(a):
            if hasattr(a, "op"):
                a = g.resolve(a)
                if not _is_tensor(a):
                    # (a size of x.shape: only reshape's own -1 can say it)
                    raise ExportError(f"{where}: a size known only at run time used as a value")
                if a.name not in names:
                    raise ExportError(f"{where}: a value of '{a.name}' comes from an operation "
                                      "that could not be expressed")
                return names[a.name]
            return _lit(a)

        operands = [a for a in g.args(n) if a.name in names]
        if op == "sym_size":  # read by reshape's sizes (as -1), nowhere else
            return None
        expr = None
        binops = {"add": "+", "sub": "-", "mul": "*", "div": "/", "matmul": "@"}
        if op in binops or op in ("add_", "sub_", "mul_", "div_"):
            sym = binops[op.rstrip("_")]
            alpha = kwargs.get("alpha", 1)
            if alpha != 1:
                raise ExportError(f"{where}: aten.{op} with alpha={alpha} is not supported")
            if kwargs.get("rounding_mode"):
                raise ExportError(f"{where}: aten.{op} with rounding_mode is not supported")
            expr = f"{v(args[0])} {sym} {_paren(v(args[1]))}"
            if op.endswith("_"):
                return self.inplace(g, n, args[0], expr, ctx, where)
        elif op == "rsub":
            expr = f"{v(args[1])} - {_paren(v(args[0]))}"
        elif op == "neg":
            expr = f"0 - {_paren(v(args[0]))}"
        elif op in ("relu", "sigmoid", "tanh", "silu", "exp", "log", "sqrt", "rsqrt", "abs",
                    "relu_", "sigmoid_", "tanh_", "silu_"):
            expr = f"{op.rstrip('_')}({v(args[0])})"
        elif op in ("elu", "elu_"):
            alpha = float(args[1]) if len(args) > 1 else 1.0
            if (len(args) > 2 and args[2] != 1) or (len(args) > 3 and args[3] != 1):
                raise ExportError(f"{where}: elu with scale or input_scale is not supported")
            expr = f"elu({v(args[0])}" + ("" if alpha == 1.0 else f", {_lit(alpha)}") + ")"
        elif op == "softplus":
            beta = float(args[1]) if len(args) > 1 else 1.0
            threshold = float(args[2]) if len(args) > 2 else 20.0
            expr = f"softplus({v(args[0])}" + ("" if beta == 1.0 else f", beta={_lit(beta)}") + \
                ("" if threshold == 20.0 else f", threshold={_lit(threshold)}") + ")"
        elif op in ("prelu", "_prelu_kernel"):
            expr = f"prelu({v(args[0])}, {v(args[1])})"
        elif op in ("hardswish", "hardsigmoid", "relu6", "hardswish_", "hardsigmoid_", "mish",
                    "mish_"):
            expr = f"{op.rstrip('_')}({v(args[0])})"
        elif op in ("hardtanh", "hardtanh_"):
            lo = float(args[1]) if len(args) > 1 else -1.0
            hi = float(args[2]) if len(args) > 2 else 1.0
            expr = f"relu6({v(args[0])})" if (lo, hi) == (0.0, 6.0) else \
                f"hardtanh({v(args[0])}, {_lit(lo)}, {_lit(hi)})"
        elif op == "gelu":
            approx = kwargs.get("approximate", "none")
            expr = f"gelu({v(args[0])}" + ("" if approx == "none" else f", approximate={_lit(approx)}") + ")"
        elif op in ("leaky_relu", "leaky_relu_"):
            slope = args[1] if len(args) > 1 else 0.01
            expr = f"leaky_relu({v(args[0])}, {_lit(float(slope))})"
        elif op in ("softmax", "log_softmax", "_softmax", "_log_softmax"):
            expr = f"{op.lstrip('_')}({v(args[0])}, dim={args[1]})"
        elif op in ("conv2d", "conv1d"):
            stride, padding, dilation, groups = (list(args[3:]) + [1, 0, 1, 1][len(args) - 3:])[:4] \
                if len(args) > 3 else (1, 0, 1, 1)
            if isinstance(padding, str):
                raise ExportError(f"{where}: conv2d with padding='{padding}' is not supported")
            text = f"{op}({v(args[0])}, {v(args[1])}"
            if len(args) > 2 and args[2] is not None:
                text += f", {v(args[2])}"
            for k, val, default in (("stride", _pair(stride), 1), ("padding", _pair(padding), 0),
                                    ("dilation", _pair(dilation), 1), ("groups", groups, 1)):
                if val != default:
                    text += f", {k}={_lit(val)}"
            expr = text + ")"
        elif op == "copy_":
            return self.inplace(g, n, args[0], v(args[1]), ctx, where)
        elif op == "linear":
            expr = "linear(" + ", ".join(v(a) for a in args if a is not None) + ")"
        elif op == "flatten":
            start = args[1] if len(args) > 1 else 0
            end = args[2] if len(args) > 2 else -1
            expr = f"flatten({v(args[0])}, start_dim={start}" + \
                   ("" if end == -1 else f", end_dim={end}") + ")"
        elif op in ("view", "reshape", "_unsafe_view"):
            dims = []
            for d in args[1]:
                if hasattr(d, "op"):
                    dims.append("-1")
                else:
                    dims.append(str(d))
            if dims.count("-1") > 1:
                raise ExportError(f"{where}: aten.{op} with more than one size known only at "
                                  "run time")
            expr = f"reshape({v(args[0])}, [{', '.join(dims)}])"
        elif op in ("slice", "select"):
            # x[..., a:b:s] and x[..., i], written as Python indexing.
            rank = len(args[0].meta["val"].shape) if "val" in args[0].meta else None
            dim = args[1] if len(args) > 1 else 0
            if dim < 0:
                if rank is None:
                    raise ExportError(f"{where}: aten.{op} of a negative dimension of unknown rank")
                dim += rank
            if op == "select":
                item = str(args[2])
            else:
                start = args[2] if len(args) > 2 else None
                end = args[3] if len(args) > 3 else None
                step = args[4] if len(args) > 4 else 1
                if any(hasattr(b, "op") for b in (start, end, step)):
                    raise ExportError(f"{where}: a slice with bounds known only at run time")
                item = ("" if start in (None, 0) else str(start)) + ":" + \
                    ("" if end is None or end >= 2 ** 62 else str(end)) + \
                    ("" if step == 1 else f":{step}")
                if item == ":":
                    ctx.hold(n.name, v(args[0]))
                    return None
            expr = f"{v(args[0])}[{', '.join([':'] * dim + [item])}]"
        elif op in ("chunk", "split", "split_with_sizes", "unbind"):
            # Several results: `a, b = chunk(x, 2, dim=1)`; the getitem nodes
            # that follow take them by position.
            count = len(n.meta["val"])
            dim = args[2] if len(args) > 2 else kwargs.get("dim", 0)
            if op == "unbind":
                dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
                text = f"unbind({v(args[0])}, dim={dim})"
            elif op == "chunk":
                text = f"chunk({v(args[0])}, {args[1]}, dim={dim})"
            else:
                text = f"split({v(args[0])}, {_lit(args[1])}, dim={dim})"
            outs = [ctx.namer.fresh("out") for _ in range(count)]
            for i, local in enumerate(outs):
                ctx.hold(f"{n.name}[{i}]", local)
            return f"{', '.join(outs)} = {text}"
        elif op == "getitem":
            key = f"{args[0].name}[{args[1]}]"
            if key not in names:
                raise ExportError(f"{where}: an element of '{args[0].name}' that could not be "
                                  "expressed")
            ctx.hold(n.name, names[key])
            return None
        elif op == "unsqueeze":
            expr = f"unsqueeze({v(args[0])}, {args[1]})"
        elif op == "squeeze":
            dims = args[1] if len(args) > 1 else None
            if isinstance(dims, (list, tuple)):
                if len(dims) != 1:
                    raise ExportError(f"{where}: squeeze of several dimensions is not supported")
                dims = dims[0]
            expr = f"squeeze({v(args[0])}" + ("" if dims is None else f", {dims}") + ")"
        elif op == "upsample_nearest2d":
            size = args[1] if len(args) > 1 else None
            scales = args[2] if len(args) > 2 else kwargs.get("scale_factors")
            if scales is not None:
                expr = f"interpolate({v(args[0])}, scale_factor={_lit([float(f) for f in scales])})"
            elif size is not None and not any(hasattr(d, "op") for d in size):
                expr = f"interpolate({v(args[0])}, size={_lit(list(size))})"
            else:
                raise ExportError(f"{where}: upsampling to a size known only at run time")
        elif op == "pixel_shuffle":
            expr = f"pixel_shuffle({v(args[0])}, {args[1]})"
        elif op == "permute":
            expr = f"permute({v(args[0])}, {_lit(list(args[1]))})"
        elif op == "transpose":
            expr = f"transpose({v(args[0])}, {args[1]}, {args[2]})"
        elif op in ("mean", "sum", "amax"):
            dims = args[1] if len(args) > 1 else kwargs.get("dim")
            keep = args[2] if len(args) > 2 else kwargs.get("keepdim", False)
            if kwargs.get("dtype") is not None:
                raise ExportError(f"{where}: aten.{op} with dtype= is not supported")
            text = f"{op}({v(args[0])}"
            if dims is not None:
                text += f", dims={_lit(list(dims) if isinstance(dims, (list, tuple)) else [dims])}"
            if keep:
                text += ", keepdim=true"
            expr = text + ")"
        elif op == "var":
            dims = args[1] if len(args) > 1 else kwargs.get("dim")
            correction = kwargs.get("correction", 1)
            if "unbiased" in kwargs:
                correction = 1 if kwargs["unbiased"] else 0
            elif len(args) > 2 and isinstance(args[2], bool):
                correction = 1 if args[2] else 0
            keep = kwargs.get("keepdim", args[3] if len(args) > 3 else False)
            if correction not in (0, 1):
                raise ExportError(f"{where}: var with correction={correction} is not supported")
            text = f"var({v(args[0])}"
            if dims is not None:
                text += f", dims={_lit(list(dims) if isinstance(dims, (list, tuple)) else [dims])}"
            if correction == 0:
                text += ", unbiased=false"
            if keep:
                text += ", keepdim=true"
            expr = text + ")"
        elif op in ("zeros_like", "ones_like"):
            if kwargs.get("dtype") is not None:
                raise ExportError(f"{where}: {op} with dtype= is not supported")
            expr = f"{op}({v(args[0])})"
        elif op == "embedding":
            if len(args) > 2 and args[2] != -1:
                raise ExportError(f"{where}: embedding with padding_idx is not supported")
            expr = f"embedding({v(args[1])}, {v(args[0])})"
        elif op in ("group_norm", "layer_norm"):
            # group_norm(x, groups, ...), layer_norm(x, shape, ...): then
            # weight, bias and eps, as keywords where given.
            second = args[1] if op == "group_norm" else _lit(list(args[1]))
            text = f"{op}({v(args[0])}, {second}"
            for k, i in (("weight", 2), ("bias", 3)):
                if len(args) > i and args[i] is not None:
                    text += f", {k}={v(args[i])}"
            eps = args[4] if len(args) > 4 else 1e-5
            if eps != 1e-5:
                text += f", eps={_lit(float(eps))}"
            expr = text + ")"
        elif op == "pow":
            expr = f"pow({v(args[0])}, {v(args[1])})"
        elif op in ("clamp", "clamp_"):
            lo = args[1] if len(args) > 1 else kwargs.get("min")
            hi = args[2] if len(args) > 2 else kwargs.get("max")
            expr = f"clamp({v(args[0])}" + ("" if lo is None else f", min={_lit(float(lo))}") + \
                   ("" if hi is None else f", max={_lit(float(hi))}") + ")"
        elif op == "cat":
            dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
            expr = f"cat([{', '.join(v(a) for a in args[0])}], {dim})"
        elif op in ("max_pool2d", "avg_pool2d", "max_pool1d", "avg_pool1d"):
            kernel = _pair(args[1])
            stride = _pair(args[2]) if len(args) > 2 and args[2] else kernel
            padding = _pair(args[3]) if len(args) > 3 else 0
            rest = args[4:]
            if op.startswith("max") and (rest[:1] not in ([], [1], [[1]], [[1, 1]]) or
                                       (len(rest) > 1 and rest[1])):
                raise ExportError(f"{where}: max_pool2d with dilation or ceil_mode is not supported")
            include_pad = True
            if op.startswith("avg"):
                if (len(rest) > 0 and rest[0]) or (len(rest) > 2 and rest[2] is not None):
                    raise ExportError(f"{where}: avg_pool2d with ceil_mode or divisor_override "
                                      "is not supported")
                include_pad = rest[1] if len(rest) > 1 else True
            expr = f"{op}({v(args[0])}, {_lit(kernel)}, stride={_lit(stride)}, " \
                   f"padding={_lit(padding)}" + \
                   ("" if include_pad else ", count_include_pad=false") + ")"
        elif op in ("adaptive_avg_pool2d", "adaptive_avg_pool1d"):
            expr = f"{op}({v(args[0])}, {_lit(_pair(args[1]))})"
        elif op == "adaptive_max_pool2d":  # (values, indices): the values
            expr = f"adaptive_max_pool2d({v(args[0])}, {_lit(_pair(args[1]))})"
            outs = [ctx.namer.fresh("out")]
            ctx.hold(f"{n.name}[0]", outs[0])
            return f"{outs[0]} = {expr}"
        elif op in ("dropout", "dropout_"):
            p_drop = args[1] if len(args) > 1 else kwargs.get("p", 0.5)
            train = args[2] if len(args) > 2 else kwargs.get("train", True)
            if not train or p_drop == 0:
                # F.dropout(training=False) or p=0: the identity.
                ctx.hold(n.name, v(args[0]))
                return None
            expr = f"dropout({v(args[0])}, {_lit(float(p_drop))})"
        elif op in ("_to_copy", "to") and (kwargs.get("dtype") is not None or
                                           (len(args) > 1 and not hasattr(args[1], "op") and
                                            "dtype" in str(type(args[1])))):
            dtype = kwargs.get("dtype", args[1] if len(args) > 1 else None)
            name = _DTYPES.get(str(dtype).replace("torch.", ""))
            if name is None:
                raise ExportError(f"{where}: aten.{op} to {dtype} has no .mdl dtype")
            expr = f"cast({v(args[0])}, {name})"
        elif op in ("clone", "contiguous", "detach", "alias", "_to_copy", "to", "lift_fresh_copy"):
            ctx.hold(n.name, v(args[0]))
            return None
        else:
            raise ExportError(f"{where}: cannot express aten.{op} ({n.target}) in .mdl")
        local = self.bind(n, ctx, operands, index)
        return f"{local} = {expr}"

    @staticmethod
    def inplace(g, n, target, expr, ctx, where):
        """x.add_(...) on a buffer of this module: `buf <- expr`; on an
        intermediate value, a new binding of the same name."""
        target = g.resolve(target)
        local = ctx.names[target.name]
        ctx.hold(n.name, local)
        if target.op == "placeholder" and target.name in g.state:
            kind, name = g.state[target.name]
            if kind != "buffer":
                raise ExportError(f"{where}: in-place update of parameter '{name}'")
            return f"{local} <- {expr}"
        return f"{local} = {expr}"


def _is_tensor(node):
    """Whether the graph value is a tensor (not a size: x.shape's, N * L)."""
    import torch
    return isinstance(node.meta.get("val"), torch.Tensor)


def _paren(text):
    return f"({text})" if re.search(r"[ ]", text) and not text.startswith("(") else text


def _flat(value):
    if isinstance(value, (list, tuple)):
        out = []
        for v in value:
            out += _flat(v)
        return out
    return [value]


def _node_args(n):
    out = []
    for a in _flat(list(n.args) + list(n.kwargs.values())):
        if hasattr(a, "op"):
            out.append(a)
    return out


def export(module, example_inputs, path, state=None, dynamic_batch=True, input_names=None,
           model_name=None):
    """Writes `module` as the .mdl file `path` (and, with `state`, its state
    dict as safetensors); returns the .mdl text."""
    import torch
    if not isinstance(module, torch.nn.Module):
        raise ExportError("export expects a torch.nn.Module")
    example_inputs = tuple(example_inputs)
    for x in example_inputs:
        if not isinstance(x, torch.Tensor):
            raise ExportError("example inputs must be tensors")
    dynamic = None
    if dynamic_batch:
        # torch.export specializes sizes 0 and 1: an example batch of one is
        # traced as two copies of itself (nothing it writes depends on it).
        example_inputs = tuple(x.expand(2, *x.shape[1:]).contiguous()
                               if x.dim() > 0 and x.shape[0] == 1 else x for x in example_inputs)
        batch = torch.export.Dim("N", min=1)
        dynamic = tuple({0: batch} if x.dim() > 0 else None for x in example_inputs)
    # Modules the language does not have are refused before tracing, by name
    # (the insides of a composite built-in are its own).
    composite = [p for p, m in module.named_modules()
                 if type(m).__name__ in _COMPOSITE_BUILTINS]
    for sub_path, sub in module.named_modules():
        if any(sub_path.startswith(c + ".") for c in composite):
            continue
        if type(sub).__module__.startswith("torch.nn") and \
                type(sub) is not torch.nn.Sequential and \
                _builtin_ctor(sub, sub_path or "the model") is None:
            raise ExportError(f"{type(sub).__name__} at '{sub_path or 'the model'}' is a "
                              "torch.nn module that the .mdl language does not have")
    was_training = module.training
    saved = {k: v.detach().clone() for k, v in module.state_dict(keep_vars=True).items()}
    # BatchNorm with momentum=None divides by num_batches_tracked as a
    # Python float, which torch.export cannot trace; the built-in's call is
    # taken whole from the module's attributes anyway, so it is traced with
    # a number and written with none.
    cumulative = [m for m in module.modules()
                  if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.momentum is None]
    for m in cumulative:
        m.momentum = 0.1
    graphs = {}
    try:
        for mode in ("train", "eval"):
            module.train(mode == "train")
            try:
                ep = torch.export.export(module, example_inputs, dynamic_shapes=dynamic,
                                         strict=False)
            except Exception as e:  # noqa: BLE001 - report torch.export's reason
                raise ExportError(f"torch.export failed in {mode} mode: "
                                  f"{str(e).splitlines()[0]}") from e
            graphs[mode] = _Graph(ep)
    finally:
        for m in cumulative:
            m.momentum = None
        module.train(was_training)
        with torch.no_grad():
            for k, v in module.state_dict(keep_vars=True).items():
                v.copy_(saved[k])
    emitter = _Emitter(module, graphs, input_names, dynamic_batch, example_inputs)
    body = emitter.module_body("", module)
    name = model_name or type(module).__name__
    parts = [f"# Exported from PyTorch ({type(module).__module__}.{type(module).__qualname__}) "
             "by modelc.export."]
    definitions, calls = emitter.definitions.finalize()
    for def_name, params, text in definitions:
        args = ", ".join(f"{p}: {t}" for p, t in params)
        parts.append(f"module {def_name}({args}) {{\n" + _indent(text) + "\n}")
    parts.append(f"model {name} {{\n" + _indent(_Definitions.substitute(body, calls)) + "\n}")
    text = "\n\n".join(parts) + "\n"
    with open(os.fspath(path), "w") as f:
        f.write(text)
    if state is not None:
        tensors = collections.OrderedDict()
        for k, t in module.state_dict().items():
            t = t.detach().cpu()
            if t.dtype == torch.bfloat16:
                raise ExportError(f"state '{k}' is bfloat16, which numpy cannot write")
            tensors[k] = np.ascontiguousarray(t.numpy())
        _safetensors.save_file(tensors, os.fspath(state))
    return text


def _indent(text):
    return "\n".join(("  " + l) if l else "" for l in text.split("\n"))
