#!/usr/bin/env python3
"""Writes safetensors files that claim far more than they hold, to check
that the loader refuses them before allocating (big-claims.test):

  big_claims.py DIR
    huge_header.safetensors   a 300 MB sparse file whose header length says
                              150 MB: over the 100 MB header limit
    huge_tensor.safetensors   a 1 KB file with a 1.6 GB tensor
    big_file.safetensors      a valid 300 MB sparse file (one F32 tensor
                              'big' of 75M elements): the control case that
                              really needs 300 MB
    many_dims.safetensors     'lin.weight' with 20 M dimensions of size 1
                              (a 40 MB header; PyTorch allows 64)
    dims_64.safetensors       'lin.weight' with 64 dimensions of size 1: the
                              most the reader parses
    dims_65.safetensors       the same with 65
    many_entries.safetensors  a 98 MB header of 1.65 M empty tensors: valid,
                              but over 2 GB parsed
"""
import json
import os
import struct
import sys

MB = 1000 * 1000


def header(entries):
    text = json.dumps(entries, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % 8)
    return struct.pack("<Q", len(text)) + text


def main():
    directory = sys.argv[1]
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "huge_header.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", 150 * MB) + b"{")
        f.truncate(300 * MB)
    with open(os.path.join(directory, "huge_tensor.safetensors"), "wb") as f:
        f.write(header({"lin.weight": {"dtype": "F32", "shape": [20000, 20000],
                                       "data_offsets": [0, 1600 * MB]}}))
        f.write(b"\0" * 1000)
    with open(os.path.join(directory, "big_file.safetensors"), "wb") as f:
        h = header({"big": {"dtype": "F32", "shape": [75 * MB],
                            "data_offsets": [0, 300 * MB]}})
        f.write(h)
        f.truncate(len(h) + 300 * MB)
    main_amplified(directory)


def write_dims(path, rank):
    # One F32 element; the shape written by hand, json.dumps would be slow.
    shape = ",".join(["1"] * rank)
    text = ('{"lin.weight":{"dtype":"F32","shape":[%s],"data_offsets":[0,4]}}'
            % shape).encode()
    text += b" " * (-(8 + len(text)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"\0" * 4)


def write_many_entries(path, count):
    # Empty tensors may share offset 0: the file is valid.
    entry = '"t%d":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}'
    text = ("{" + ",".join(entry % i for i in range(count)) + "}").encode()
    text += b" " * (-(8 + len(text)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)


def main_amplified(directory):
    write_dims(os.path.join(directory, "many_dims.safetensors"), 20 * MB)
    write_dims(os.path.join(directory, "dims_64.safetensors"), 64)
    write_dims(os.path.join(directory, "dims_65.safetensors"), 65)
    write_many_entries(os.path.join(directory, "many_entries.safetensors"),
                       1650 * 1000)


if __name__ == "__main__":
    main()
