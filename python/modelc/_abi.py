"""The C ABI of a model library (runtime/include/modelc/modelc.h) in ctypes.

A library exports `<prefix>_<fn>` for every ABI function and
`modelc_model_entry`, whose table gives the prefix; the functions are bound
by name with the signatures below, which must follow the header's
MODELC_FOR_EACH_ABI_FUNCTION (python/tests/test_abi.py checks that they do).
"""
import ctypes as C

ABI_VERSION = 1

# modelc_dtype: the safetensors names, and numpy's.
DTYPES = {0: "F32", 1: "F64", 2: "F16", 3: "BF16", 4: "I32", 5: "I64", 6: "BOOL"}
DTYPE_CODES = {v: k for k, v in DTYPES.items()}
NUMPY_DTYPES = {"F32": "float32", "F64": "float64", "F16": "float16", "I32": "int32",
                "I64": "int64", "BOOL": "bool"}
NAME_OF_NUMPY = {v: k for k, v in NUMPY_DTYPES.items()}
# modelc_state_kind
PARAMETER, BUFFER, NONPERSISTENT_BUFFER = 0, 1, 2


class Tensor(C.Structure):
    _fields_ = [("data", C.c_void_p), ("dtype", C.c_int32), ("rank", C.c_int32),
                ("shape", C.POINTER(C.c_int64))]


class IoInfo(C.Structure):
    _fields_ = [("name", C.c_char_p), ("dtype", C.c_int32), ("rank", C.c_int32),
                ("shape", C.POINTER(C.c_int64))]


class StateInfo(C.Structure):
    _fields_ = [("name", C.c_char_p), ("kind", C.c_int32), ("dtype", C.c_int32),
                ("rank", C.c_int32), ("shape", C.POINTER(C.c_int64)),
                ("numel", C.c_uint64), ("nbytes", C.c_uint64)]


class ApiHead(C.Structure):
    """The first fields of modelc_api; the function pointers follow."""
    _fields_ = [("abi_version", C.c_uint32), ("size", C.c_uint32), ("name", C.c_char_p),
                ("prefix", C.c_char_p), ("desc_json", C.c_char_p)]


M = C.c_void_p  # modelc_model *
I32, U64, SIZE, F64 = C.c_int32, C.c_uint64, C.c_size_t, C.c_double
S = C.c_char_p
P = C.c_void_p
TP = C.POINTER(Tensor)
ALL_REDUCE = C.CFUNCTYPE(C.c_int32, C.c_void_p, C.POINTER(C.c_float), C.c_size_t)

# name: (result type, argument types), in the header's order.
FUNCTIONS = {
    "create": (M, [S, U64]),
    "destroy": (None, [M]),
    "forward": (I32, [M, TP, I32]),
    "num_inputs": (I32, [M]),
    "input_info": (I32, [M, I32, C.POINTER(IoInfo)]),
    "num_outputs": (I32, [M]),
    "output_info": (I32, [M, I32, C.POINTER(IoInfo)]),
    "get_output": (I32, [M, I32, TP]),
    "set_training": (I32, [M, I32]),
    "is_training": (I32, [M]),
    "num_states": (I32, [M]),
    "state_info": (I32, [M, I32, C.POINTER(StateInfo)]),
    "read_state": (I32, [M, S, P, SIZE]),
    "write_state": (I32, [M, S, P, SIZE]),
    "load_state": (I32, [M, S, I32]),
    "load_state_from_memory": (I32, [M, P, SIZE, I32]),
    "save_state": (I32, [M, S]),
    "save_state_to_memory": (I32, [M, C.POINTER(C.c_void_p), C.POINTER(C.c_size_t)]),
    "free_buffer": (None, [P]),
    "to_device": (I32, [M, S]),
    "device": (S, [M]),
    "last_error": (S, [M]),
    "trim": (I32, [M]),
    "set_optimizer": (I32, [M, S, S]),
    "set_hyperparameter": (I32, [M, S, F64]),
    "zero_grad": (I32, [M]),
    "loss_backward": (I32, [M, TP, I32, C.POINTER(C.c_float)]),
    "forward_backward": (I32, [M, TP, I32, TP, I32]),
    "step": (I32, [M]),
    "train_step": (I32, [M, TP, I32, C.POINTER(C.c_float)]),
    "read_grad": (I32, [M, S, P, SIZE]),
    "write_grad": (I32, [M, S, P, SIZE]),
    "set_requires_grad": (I32, [M, S, I32]),
    "requires_grad": (I32, [M, S]),
    "save_optimizer_state": (I32, [M, S]),
    "load_optimizer_state": (I32, [M, S]),
    "save_optimizer_state_to_memory": (I32, [M, C.POINTER(C.c_void_p), C.POINTER(C.c_size_t)]),
    "load_optimizer_state_from_memory": (I32, [M, P, SIZE]),
    "num_loss_inputs": (I32, [M]),
    "loss_input_info": (I32, [M, I32, C.POINTER(IoInfo)]),
    "grad_buffer": (I32, [M, C.POINTER(C.c_void_p), C.POINTER(C.c_size_t)]),
    "grad_offset": (I32, [M, S, C.POINTER(C.c_size_t)]),
    "set_all_reduce": (I32, [M, ALL_REDUCE, P]),
    "uses_all_reduce": (I32, [M]),
    "check_loss_inputs": (I32, [M, TP, I32]),
    "cpu": (S, [M]),
}


class Library:
    """One loaded model library: its description and its bound functions."""

    def __init__(self, path):
        self.path = str(path)
        self.handle = C.CDLL(self.path, mode=C.RTLD_LOCAL)
        entry = self.handle.modelc_model_entry
        entry.restype = C.POINTER(ApiHead)
        entry.argtypes = []
        head = entry().contents
        if head.abi_version != ABI_VERSION:
            raise OSError(f"'{self.path}' has ABI version {head.abi_version}; this package "
                          f"speaks version {ABI_VERSION}")
        self.name = head.name.decode()
        self.prefix = head.prefix.decode()
        self.desc_json = head.desc_json.decode()
        for fn, (restype, argtypes) in FUNCTIONS.items():
            f = getattr(self.handle, f"{self.prefix}_{fn}")
            f.restype = restype
            f.argtypes = argtypes
            setattr(self, fn, f)
