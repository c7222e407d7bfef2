#!/usr/bin/env python3
"""Writes the fuzzers' seeds for the inputs that amplify (issue 17): few
bytes that claim, or build, far more than they hold. scripts/fuzz.sh copies
them into the corpora; test/Frontend/errors/fuzz-seeds.test and
test/Runtime/fuzz-seeds.test check that modelc and modelc-run refuse them.

  seeds.py DIR
    DIR/mdl/*.mdl                  for modelc-fuzz-frontend
    DIR/safetensors/*.safetensors  for modelc-fuzz-safetensors and -inputs

Generated rather than committed: some are large (a 4,000-character member
name, 1,000 tensors), and the parameters below say what each one is. Each
.mdl seed comes at a size that crosses modelc's limit (named breadth-*,
calls-*, ...) and at one under the fuzzer's limits, 1/50 of modelc's
(small-*), so that mutations start from both sides of a limit. No seed is
over 64 KB: libFuzzer's inputs are at most 1 MB, and a larger seed would be
cut there (big-claims.test has the 20 M dimensions and 1.65 M entries).
"""
import json
import os
import struct
import sys


def tree(name, n, members, forward="return x", children=2, child=None):
    """A module `name`(n) with `children` members of its own kind, each
    `child` if given (a Sequential, say), present while n > 0: the module
    tree has children^n leaves in a few lines. `members` are more lines."""
    child = child or "%s(n - 1)" % name
    lines = ["module %s(n: int) {" % name]
    lines += ["  " + m for m in members]
    lines += ["  c%d = %s if n > 0" % (i, child) for i in range(children)]
    lines += ["  forward(x) {", "    " + forward, "  }", "}"]
    return "\n".join(lines) + "\n"


def model(member, call="return t(x)"):
    return ("model M {\n  t = %s\n  forward(x: f32[2]) { %s }\n}\n"
            % (member, call))


def params(count, width=1):
    return ["param p%d: f32[%d] = zeros()" % (i, width) for i in range(count)]


def chain(calls):
    """`c0(c0(...c0(x)))`: `calls` calls of one child in sequence."""
    return "c0(" * calls + "x" + ")" * calls


def mdl_seeds():
    """name -> source. The default limits are 100,000 instances,
    1,000,000 state entries, 64 MiB of names, 1,000,000 ops and module calls
    per traced function; the fuzzer's are 1/50 of those."""
    seeds = {}
    # Instances: 2^(n+1) - 1 of them, exponential in n (issue 17's five lines).
    for prefix, n in (("breadth", 40), ("small", 9)):
        seeds[prefix + "-instances"] = tree("T", n, []) + model("T(%d)" % n)
        # The same breadth through a Sequential (a level of nesting too, so
        # at most 31 deep), and three children a level.
        m = min(n, 30)
        seeds[prefix + "-sequential"] = tree(
            "Q", m, [], children=1,
            child="Sequential(Q(n - 1), Q(n - 1))") + model("Q(%d)" % m)
        seeds[prefix + "-ternary"] = tree("R", n * 2 // 3, [], children=3) + \
            model("R(%d)" % (n * 2 // 3))
    # State entries: 16 a module, the limit reached before the instances'.
    seeds["breadth-states"] = tree("S", 16, params(16)) + model("S(16)")
    seeds["small-states"] = tree("S", 6, params(16)) + model("S(6)")
    # Built-in modules' entries count too (BatchNorm1d has 5).
    seeds["breadth-builtin-states"] = tree(
        "B", 16, ["norm = BatchNorm1d(2)"] + params(16)) + model("B(16)")
    # Names: 4,000-character members, 16 deep, 64 KB a path.
    long = "a" * 4000
    seeds["breadth-names"] = tree(
        "L", 40, ["param w: f32[1] = zeros()"]).replace("c0 =", long + " =") + \
        model("L(40)")
    # Module calls: one child per level called four times in sequence,
    # 4^n calls from n instances.
    for prefix, n in (("calls", 12), ("small-calls", 5)):
        seeds[prefix + "-wide"] = tree(
            "D", n, [], children=1,
            forward="if n > 0 { return %s }\n    return x" % chain(4)) + \
            model("D(%d)" % n)
    # ... and twice, 25 deep (2^25 calls).
    seeds["calls-deep"] = tree(
        "E", 25, [], children=1,
        forward="if n > 0 { return c0(c0(x)) }\n    return x") + model("E(25)")
    # Ops: four adds at each of 2^20 leaves of the call tree.
    for prefix, n in (("ops", 20), ("small-ops", 10)):
        seeds[prefix + "-deep"] = tree(
            "O", n, [], children=1,
            forward="if n > 0 { return c0(c0(x)) }\n    return x + 1 + 2 + 3 + 4") + \
            model("O(%d)" % n)
    # Both children called: the call tree follows the module tree (whose
    # instances reach their limit first).
    for prefix, n in (("breadth", 18), ("small", 8)):
        seeds[prefix + "-forward"] = tree(
            "F", n, [], forward="if n > 0 { return c0(x) + c1(x) }\n    return x") + \
            model("F(%d)" % n)
    # A recursion that only the depth limit (64) stops.
    seeds["recursion"] = (
        "module Up(n: int) {\n  inner = Up(n + 1) if n < 1000\n"
        "  forward(x) { return inner(x) }\n}\n") + model("Up(0)")
    return seeds


MAX_I64 = 2**63 - 1


def safetensors(entries, data=b"", raw_header=None):
    """A file from `entries` (name -> {dtype, shape, data_offsets}), or from
    the header text `raw_header`, padded to 8 bytes as writers do."""
    text = raw_header if raw_header is not None else \
        json.dumps(entries, separators=(",", ":"))
    text = text.encode() + b" " * (-(8 + len(text)) % 8)
    return struct.pack("<Q", len(text)) + text + data


def ranked(name, rank, dim="1"):
    """One F32 element of `rank` dimensions, written by hand: json.dumps of
    a large list is slow."""
    return safetensors(None, b"\0" * 4, raw_header=(
        '{"%s":{"dtype":"F32","shape":[%s],"data_offsets":[0,4]}}'
        % (name, ",".join([dim] * rank))))


def safetensors_seeds():
    """name -> bytes. 'lin.weight' is a state entry of the fake model of
    test/Runtime, 'x' its input."""
    seeds = {}
    for name, tag in (("lin.weight", "state"), ("x", "input")):
        # Rank: 64 pass the reader (PyTorch's limit), the 65th size is refused.
        for rank in (64, 65, 20000):
            seeds["rank-%d-%s" % (rank, tag)] = ranked(name, rank)
        # Byte counts past int64 whose element counts fit (issue 17's
        # [46116860184273879, 100]), element counts past int64, sizes past
        # int64 and not integers. Empty data: the shape is refused first.
        for i, shape in enumerate((
                [46116860184273879, 100], [2**62, 100], [2**62, 2],
                [2**32, 2**32, 2], [MAX_I64], [MAX_I64, 2], [-1, 2])):
            seeds["bytes-%d-%s" % (i, tag)] = safetensors(
                {name: {"dtype": "F32", "shape": shape,
                        "data_offsets": [0, 0]}})
        for i, shape in enumerate(("[9223372036854775808,1]", "[1e400,1]",
                                   "[1.5,2]", "[18446744073709551616]")):
            seeds["bytes-text-%d-%s" % (i, tag)] = safetensors(None, raw_header=(
                '{"%s":{"dtype":"F32","shape":%s,"data_offsets":[0,0]}}'
                % (name, shape)))
        # Offsets past the file and past uint64.
        seeds["offsets-%s" % tag] = safetensors(None, b"\0" * 8, raw_header=(
            '{"%s":{"dtype":"F32","shape":[2],"data_offsets":'
            '[0,18446744073709551615]}}' % name))
    # Entry count: 1,000 empty tensors sharing offset 0 (valid), 200
    # rank-64 ones, and the same key twice.
    entry = '"t%d":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}'
    seeds["entries-1000"] = safetensors(None, raw_header=(
        "{" + ",".join(entry % i for i in range(1000)) + "}"))
    dims = ",".join(["0"] * 64)
    entry = '"t%d":{"dtype":"F32","shape":[' + dims + '],"data_offsets":[0,0]}'
    seeds["entries-rank64"] = safetensors(None, raw_header=(
        "{" + ",".join(entry % i for i in range(200)) + "}"))
    seeds["entries-duplicate"] = safetensors(None, b"\0" * 4, raw_header=(
        '{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
        '"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'))
    return seeds


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: seeds.py DIR")
    directory = sys.argv[1]
    for sub, seeds, ext in (("mdl", mdl_seeds(), ".mdl"),
                            ("safetensors", safetensors_seeds(), ".safetensors")):
        os.makedirs(os.path.join(directory, sub), exist_ok=True)
        for name, contents in seeds.items():
            mode = "w" if isinstance(contents, str) else "wb"
            with open(os.path.join(directory, sub, name + ext), mode) as f:
                f.write(contents)


if __name__ == "__main__":
    main()
