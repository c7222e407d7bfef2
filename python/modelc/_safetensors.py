"""A minimal safetensors writer and reader over numpy (the runtime checks
every file it loads; this only has to write well-formed ones)."""
import json
import struct

import numpy as np

from ._abi import NUMPY_DTYPES

_FROM_NAME = {name: np.dtype(numpy) for name, numpy in NUMPY_DTYPES.items()}
_TO_NAME = {dtype: name for name, dtype in _FROM_NAME.items()}


def dumps(tensors):
    """The safetensors bytes of an ordered {name: numpy array}."""
    header, chunks, offset = {}, [], 0
    for name, array in tensors.items():
        array = np.ascontiguousarray(array)
        if array.dtype not in _TO_NAME:
            raise TypeError(f"'{name}': dtype {array.dtype} has no safetensors name here")
        data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _TO_NAME[array.dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data 8-byte aligned, as safetensors does
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def loads(data):
    """{name: numpy array} of safetensors bytes (F32, F64, F16, I32, I64, BOOL)."""
    (n,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8:8 + n])
    base, out = 8 + n, {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        dtype = _FROM_NAME[entry["dtype"]]
        out[name] = np.frombuffer(data[base + begin:base + end], dtype=dtype.newbyteorder("<")
                                  ).astype(dtype).reshape(entry["shape"])
    return out


def load_file(path):
    with open(path, "rb") as f:
        return loads(f.read())


def save_file(tensors, path):
    with open(path, "wb") as f:
        f.write(dumps(tensors))
