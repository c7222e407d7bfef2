"""`modelc.load(path)`: a compiled model library as an object that behaves
like torch.nn.Module: call, train/eval, state_dict, load_state_dict,
named_parameters and named_buffers, to(device), and training."""
import collections
import ctypes as C
import json
import os

import numpy as np

from . import _abi, _safetensors


class Error(RuntimeError):
    """A failure of the model library, with the runtime's message."""


IncompatibleKeys = collections.namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])
Spec = collections.namedtuple("Spec", ["name", "dtype", "shape"])
StateSpec = collections.namedtuple("StateSpec", ["name", "kind", "dtype", "shape", "nbytes"])


def _shape(pointer, rank):
    return tuple(pointer[i] for i in range(rank))


def _as_numpy(value, what):
    """A numpy view of `value` when it can be one (a numpy array, anything
    with __dlpack__ such as a CPU torch tensor, or the buffer protocol),
    without copying; a copy only for lists and scalars."""
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "__dlpack__"):
        if getattr(value, "requires_grad", False):
            value = value.detach()
        try:
            return np.from_dlpack(value)
        except (TypeError, RuntimeError, BufferError) as e:
            raise Error(f"{what}: cannot read it through DLPack ({e}); pass a CPU tensor or "
                        "a numpy array") from None
    try:
        return np.asarray(value)
    except Exception as e:  # noqa: BLE001 - any conversion failure is the caller's input
        raise Error(f"{what}: not an array ({e})") from None


class Model:
    """One instance of a compiled model (modelc.load)."""

    def __init__(self, library, device="cpu", seed=0):
        self._lib = library
        self._m = None
        m = library.create(None if device is None else str(device).encode(), int(seed))
        if not m:
            raise Error(library.last_error(None).decode())
        self._m = m
        self.name = library.name
        self.prefix = library.prefix
        self.path = library.path
        self.inputs = self._io(library.num_inputs, library.input_info)
        self.outputs = self._io(library.num_outputs, library.output_info)
        desc = json.loads(library.desc_json)
        self.loss_inputs = self._io(library.num_loss_inputs, library.loss_input_info) \
            if "loss_inputs" in desc else []
        self._states = []
        for i in range(library.num_states(m)):
            info = _abi.StateInfo()
            self._check(library.state_info(m, i, C.byref(info)), "state_info")
            self._states.append(StateSpec(info.name.decode(), info.kind, _abi.DTYPES[info.dtype],
                                          _shape(info.shape, info.rank), info.nbytes))
        self._by_name = {s.name: s for s in self._states}
        # state_dict()'s order is PyTorch's, module by module (the
        # description's); the ABI's is named_parameters() then named_buffers().
        self._tree_order = [self._by_name[e["name"]] for e in desc.get("states", [])
                            if e.get("name") in self._by_name]
        if len(self._tree_order) != len(self._states):
            self._tree_order = list(self._states)

    # -- plumbing ---------------------------------------------------------
    def _io(self, count, info_fn):
        specs = []
        for i in range(count(self._m)):
            info = _abi.IoInfo()
            self._check(info_fn(self._m, i, C.byref(info)), "io_info")
            specs.append(Spec(info.name.decode(), _abi.DTYPES[info.dtype],
                              tuple(None if d < 0 else d for d in _shape(info.shape, info.rank))))
        return specs

    def _check(self, rc, what):
        if rc is None or rc < 0:
            raise Error(self._lib.last_error(self._m).decode() or f"{what} failed")
        return rc

    def _tensors(self, args, kwargs, specs, what):
        """The C tensors of forward's (or the loss's) arguments, by position or
        name, with the arrays that own their memory."""
        names = [s.name for s in specs]
        if len(args) > len(specs):
            raise Error(f"{what}: {len(args)} arguments given, the model takes {len(specs)} "
                        f"({', '.join(names)})")
        values = dict(zip(names, args))
        for key, value in kwargs.items():
            if key not in names:
                raise Error(f"{what}: no argument named '{key}' (the model takes "
                            f"{', '.join(names)})")
            if key in values:
                raise Error(f"{what}: argument '{key}' given twice")
            values[key] = value
        missing = [n for n in names if n not in values]
        if missing:
            raise Error(f"{what}: missing argument(s) {', '.join(repr(n) for n in missing)}")
        arrays, tensors = [], (_abi.Tensor * len(specs))()
        for i, spec in enumerate(specs):
            a = _as_numpy(values[spec.name], f"{what}: argument '{spec.name}'")
            if not a.flags.c_contiguous:
                a = np.ascontiguousarray(a)
            code = _abi.DTYPE_CODES.get(_abi.NAME_OF_NUMPY.get(a.dtype.name, ""), -1)
            if code < 0:
                raise Error(f"{what}: argument '{spec.name}' has dtype {a.dtype}, expected "
                            f"{spec.dtype}")
            shape = (C.c_int64 * max(a.ndim, 1))(*a.shape)
            arrays.append((a, shape))
            tensors[i] = _abi.Tensor(a.ctypes.data if a.size else None, code, a.ndim, shape)
        return arrays, tensors

    def _outputs(self):
        results = []
        for i in range(len(self.outputs)):
            t = _abi.Tensor()
            self._check(self._lib.get_output(self._m, i, C.byref(t)), "get_output")
            shape = _shape(t.shape, t.rank)
            dtype = np.dtype(_abi.NUMPY_DTYPES[_abi.DTYPES[t.dtype]])
            n = int(np.prod(shape, dtype=np.int64))
            if n == 0 or not t.data:
                results.append(np.zeros(shape, dtype))
                continue
            # The runtime's memory lives until the next forward: copy it.
            raw = (C.c_char * (n * dtype.itemsize)).from_address(t.data)
            results.append(np.frombuffer(raw, dtype=dtype).reshape(shape).copy())
        return results[0] if len(results) == 1 else tuple(results)

    # -- nn.Module -----------------------------------------------------------
    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):
        """forward in the current mode; numpy results (a tuple for several)."""
        keep, tensors = self._tensors(args, kwargs, self.inputs, "forward")
        self._check(self._lib.forward(self._m, tensors, len(self.inputs)), "forward")
        del keep
        return self._outputs()

    def train(self, mode=True):
        self._check(self._lib.set_training(self._m, 1 if mode else 0), "set_training")
        return self

    def eval(self):
        return self.train(False)

    @property
    def training(self):
        return bool(self._check(self._lib.is_training(self._m), "is_training"))

    def _read(self, spec):
        dtype = _abi.NUMPY_DTYPES.get(spec.dtype)
        if dtype is None:
            raise Error(f"'{spec.name}' is {spec.dtype}, which numpy cannot hold")
        out = np.empty(spec.shape, dtype)
        self._check(self._lib.read_state(self._m, spec.name.encode(), out.ctypes.data,
                                         spec.nbytes), "read_state")
        return out

    def named_parameters(self):
        for s in self._states:
            if s.kind == _abi.PARAMETER:
                yield s.name, self._read(s)

    def named_buffers(self):
        for s in self._states:
            if s.kind != _abi.PARAMETER:
                yield s.name, self._read(s)

    def parameters(self):
        return (v for _, v in self.named_parameters())

    def buffers(self):
        return (v for _, v in self.named_buffers())

    def state_dict(self):
        """Parameters and persistent buffers, copies, in PyTorch's order."""
        return collections.OrderedDict(
            (s.name, self._read(s)) for s in self._tree_order
            if s.kind != _abi.NONPERSISTENT_BUFFER)

    def load_state_dict(self, state, strict=True):
        """From a safetensors file (a path) or a mapping of arrays or tensors;
        checked whole before anything changes, as the runtime does. Returns
        (missing_keys, unexpected_keys) as PyTorch does."""
        persistent = [s.name for s in self._tree_order if s.kind != _abi.NONPERSISTENT_BUFFER]
        if isinstance(state, (str, os.PathLike)):
            self._check(self._lib.load_state(self._m, os.fsencode(state), 1 if strict else 0),
                        "load_state")
            keys = list(_safetensors.load_file(state)) if not strict else persistent
        else:
            arrays = collections.OrderedDict(
                (str(k), _as_numpy(v, f"load_state_dict: '{k}'")) for k, v in state.items())
            try:
                data = _safetensors.dumps(arrays)
            except TypeError as e:
                raise Error(f"load_state_dict: {e}") from None
            buffer = C.create_string_buffer(data, len(data))
            self._check(self._lib.load_state_from_memory(self._m, buffer, len(data),
                                                         1 if strict else 0), "load_state")
            keys = list(arrays)
        return IncompatibleKeys([k for k in persistent if k not in keys],
                                [k for k in keys if k not in persistent])

    def save_state_dict(self, path):
        self._check(self._lib.save_state(self._m, os.fsencode(path)), "save_state")

    def to(self, device):
        self._check(self._lib.to_device(self._m, str(device).encode()), "to_device")
        return self

    @property
    def device(self):
        return self._lib.device(self._m).decode()

    @property
    def cpu_code(self):
        """The CPU variant this process runs ("x86-64-v4", ...)."""
        return self._lib.cpu(self._m).decode()

    # -- training --------------------------------------------------------------
    def set_optimizer(self, name, **options):
        """torch.optim's SGD, Adam or AdamW: "sgd", "adam", "adamw", with
        its options as keywords (lr=..., betas=(b1, b2), groups=[...])."""
        self._check(self._lib.set_optimizer(self._m, str(name).encode(),
                                            json.dumps(options).encode()), "set_optimizer")
        return self

    def set_hyperparameter(self, name, value):
        self._check(self._lib.set_hyperparameter(self._m, str(name).encode(), float(value)),
                    "set_hyperparameter")

    def zero_grad(self):
        self._check(self._lib.zero_grad(self._m), "zero_grad")

    def loss_backward(self, *args, **kwargs):
        """loss = model.loss(...); loss.backward(): the loss, a float."""
        return self._loss_call(self._lib.loss_backward, "loss_backward", args, kwargs)

    def train_step(self, *args, **kwargs):
        """zero_grad, loss_backward, step: the loss before the update."""
        return self._loss_call(self._lib.train_step, "train_step", args, kwargs)

    def _loss_call(self, fn, what, args, kwargs):
        if not self.loss_inputs:
            raise Error(f"{what}: the model has no loss method")
        keep, tensors = self._tensors(args, kwargs, self.loss_inputs, what)
        loss = C.c_float()
        self._check(fn(self._m, tensors, len(self.loss_inputs), C.byref(loss)), what)
        del keep
        return loss.value

    def step(self):
        self._check(self._lib.step(self._m), "step")

    def grad(self, name):
        """The gradient of parameter `name` (zeros when it has none)."""
        spec = self._by_name.get(name)
        if spec is None or spec.kind != _abi.PARAMETER:
            raise Error(f"grad: '{name}' is not a parameter of {self.name}")
        out = np.empty(spec.shape, np.float32)
        self._check(self._lib.read_grad(self._m, name.encode(), out.ctypes.data, out.nbytes),
                    "read_grad")
        return out

    def requires_grad_(self, name, flag=True):
        self._check(self._lib.set_requires_grad(self._m, name.encode(), 1 if flag else 0),
                    "set_requires_grad")

    def save_optimizer_state(self, path):
        self._check(self._lib.save_optimizer_state(self._m, os.fsencode(path)),
                    "save_optimizer_state")

    def load_optimizer_state(self, path):
        self._check(self._lib.load_optimizer_state(self._m, os.fsencode(path)),
                    "load_optimizer_state")

    # -- lifetime -------------------------------------------------------------
    def close(self):
        if self._m:
            self._lib.destroy(self._m)
            self._m = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - never raise from a finalizer
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        ins = ", ".join(f"{s.name}: {s.dtype}{list(s.shape)}" for s in self.inputs)
        return (f"<modelc.Model {self.name} ({ins}) from '{self.path}', "
                f"{'train' if self.training else 'eval'} mode, {self.device}>")


def load(path, device="cpu", seed=0):
    """Loads a library compiled by modelc and creates one instance of its model."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise Error(f"cannot load '{path}': no such file")
    try:
        library = _abi.Library(os.path.abspath(path))
    except (OSError, AttributeError) as e:
        raise Error(f"cannot load '{path}': {e}") from None
    return Model(library, device=device, seed=seed)
