#!/usr/bin/env python3
"""Write, dump and damage safetensors files, with the standard library only
(CI has no numpy, torch or safetensors).

  st.py write OUT NAME:DTYPE:SHAPE:VALUES ...   e.g. x:F32:2,2:1,2,3,4
        (SHAPE empty for a scalar; VALUES comma-separated, '-' for none,
        '*V' for every element V)
  st.py dump FILE        one line per tensor: NAME DTYPE [SHAPE] values
  st.py malformed DIR    writes DIR/<case>.safetensors for every damage case
"""
import json
import os
import struct
import sys

FORMATS = {"F32": "f", "F64": "d", "F16": "e", "I32": "i", "I64": "q",
           "BOOL": "?", "I8": "b", "U8": "B", "I16": "h", "U16": "H",
           "U32": "I", "U64": "Q"}
INTEGERS = ("I8", "U8", "I16", "U16", "I32", "U32", "I64", "U64")


def encode(dtype, values):
    if dtype == "BF16":
        return b"".join(struct.pack("<f", v)[2:] for v in values)
    if dtype in INTEGERS:
        values = [int(v) for v in values]
    if dtype == "BOOL":
        values = [bool(float(v)) for v in values]
    return struct.pack("<%d%s" % (len(values), FORMATS[dtype]), *values)


def decode(dtype, data):
    if dtype == "BF16":
        return [struct.unpack("<f", b"\0\0" + data[i:i + 2])[0]
                for i in range(0, len(data), 2)]
    size = struct.calcsize(FORMATS[dtype])
    return list(struct.unpack("<%d%s" % (len(data) // size, FORMATS[dtype]),
                              data))


def build(tensors, header_extra=None, pad=True):
    """tensors: list of (name, dtype, shape, raw bytes)."""
    header, offset = {}, 0
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    if header_extra:
        header.update(header_extra)
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * (-(8 + len(text)) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(t[3] for t in tensors)


def raw_file(header_text, data):
    header_text = header_text.encode() if isinstance(header_text, str) else header_text
    return struct.pack("<Q", len(header_text)) + header_text + data


def write(out, specs):
    tensors = []
    for spec in specs:
        name, dtype, shape, values = spec.split(":")
        shape = [int(d) for d in shape.split(",")] if shape else []
        if values.startswith("*"):
            count = 1
            for d in shape:
                count *= d
            values = [float(values[1:])] * count
        else:
            # (Integers parsed as such: a float would round 2^64 - 1.)
            parse = int if dtype in INTEGERS else float
            values = [] if values == "-" else [parse(v) for v in values.split(",")]
        tensors.append((name, dtype, shape, encode(dtype, values)))
    with open(out, "wb") as f:
        f.write(build(tensors))


def read_raw(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    return header, data[8 + n:]


def merge(out, paths):
    tensors = []
    for path in paths:
        header, data = read_raw(path)
        for name, e in header.items():
            if name != "__metadata__":
                b, end = e["data_offsets"]
                tensors.append((name, e["dtype"], e["shape"], data[b:end]))
    with open(out, "wb") as f:
        f.write(build(tensors))


def metadata(path):
    header, _ = read_raw(path)
    for key, value in sorted(header.get("__metadata__", {}).items()):
        print(key, value)


def dump(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    data = blob[8 + n:]
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        values = decode(info["dtype"], data[begin:end])
        text = " ".join("%.6g" % v if isinstance(v, float) else str(int(v))
                        for v in values)
        print("%s %s %s %s" % (name, info["dtype"], info["shape"], text))


def malformed(directory):
    x = encode("F32", [1, 2])
    good = ("x", "F32", [2], x)
    cases = {
        "empty": b"",
        "short": b"\x10\0\0",
        "header_past_end": struct.pack("<Q", 1000) + b"{}",
        "absurd_header": struct.pack("<Q", 1 << 40) + b"{}" + b" " * 6,
        "huge_header": struct.pack("<Q", 200_000_000) + b"{" + b" " * 64,
        "not_json": raw_file("{nope}   ", b""),
        "not_object": raw_file("[1,2]   ", b""),
        "trailing_comma": raw_file('{"x":{"dtype":"F32","shape":[2],'
                                   '"data_offsets":[0,8]},}', x),
        "duplicate_key": raw_file('{"x":{"dtype":"F32","shape":[2],'
                                  '"data_offsets":[0,8]},"x":{"dtype":"F32",'
                                  '"shape":[0],"data_offsets":[8,8]}}', x),
        "bad_utf8": raw_file(b'{"\xff":{"dtype":"F32","shape":[2],'
                             b'"data_offsets":[0,8]}}', x),
        "deep": raw_file("{\"a\":" + "[" * 100 + "]" * 100 + "}", b""),
        "unknown_dtype": build([("x", "F8_E4M3", [8], x)]),
        "missing_offsets": raw_file('{"x":{"dtype":"F32","shape":[2]}}', x),
        "negative_dim": build([("x", "F32", [-2], x)]),
        "size_mismatch": build([("x", "F32", [3], x)]),
        "offsets_past_end": raw_file('{"x":{"dtype":"F32","shape":[4],'
                                     '"data_offsets":[0,16]}}', x),
        "overlap": raw_file('{"x":{"dtype":"F32","shape":[2],"data_offsets":'
                            '[0,8]},"y":{"dtype":"F32","shape":[1],'
                            '"data_offsets":[4,8]}}', x),
        "gap": raw_file('{"x":{"dtype":"F32","shape":[1],"data_offsets":'
                        '[4,8]}}', x),
        "trailing_bytes": build([good])[:] + b"junk",
        "truncated": build([good])[:-3],
        "bad_metadata": build([good], {"__metadata__": {"format": 1}}),
        "extra_field": raw_file('{"x":{"dtype":"F32","shape":[2],'
                                '"data_offsets":[0,8],"strides":[1]}}', x),
        "reversed_offsets": raw_file('{"x":{"dtype":"F32","shape":[0],'
                                     '"data_offsets":[8,0]}}', x),
    }
    os.makedirs(directory, exist_ok=True)
    for name, blob in cases.items():
        with open(os.path.join(directory, name + ".safetensors"), "wb") as f:
            f.write(blob)


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "merge":  # merge OUT A B...: the tensors of A, B... in one file
        merge(sys.argv[2], sys.argv[3:])
        sys.exit(0)
    if command == "metadata":  # metadata F: its __metadata__, a key a line
        metadata(sys.argv[2])
        sys.exit(0)
    if command == "write":
        write(sys.argv[2], sys.argv[3:])
    elif command == "dump":
        dump(sys.argv[2])
    elif command == "malformed":
        malformed(sys.argv[2])
    else:
        sys.exit(__doc__)
