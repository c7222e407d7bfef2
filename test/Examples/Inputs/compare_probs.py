"""Compares the probabilities printed by examples/tiny/main.c ("row i: p0
p1 ...") with a safetensors file written by PyTorch (tensor "output").

usage: compare_probs.py printed.txt expected.safetensors [--atol 1e-5]
Prints "rows N, max abs diff D: OK" or the first mismatch; exit status 1 on a
mismatch."""
import json
import re
import struct
import sys


def read_output(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    entry = header["output"]
    assert entry["dtype"] == "F32", entry
    rows, cols = entry["shape"]
    begin, end = entry["data_offsets"]
    values = struct.unpack("<%df" % (rows * cols), data[begin:end])
    return [list(values[r * cols:(r + 1) * cols]) for r in range(rows)]


def main():
    printed, expected_path = sys.argv[1], sys.argv[2]
    atol = float(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[3] == "--atol" else 1e-5
    rows = []
    with open(printed) as f:
        for line in f:
            m = re.match(r"row (\d+):((?: -?\d+\.\d+)+)  sum=", line)
            if m:
                rows.append([float(v) for v in m.group(2).split()])
    expected = read_output(expected_path)
    if len(rows) != len(expected):
        print("printed %d rows, expected %d" % (len(rows), len(expected)))
        return 1
    worst = 0.0
    for r, (got, want) in enumerate(zip(rows, expected)):
        if len(got) != len(want):
            print("row %d: %d values, expected %d" % (r, len(got), len(want)))
            return 1
        for c, (g, w) in enumerate(zip(got, want)):
            # The program prints 6 decimals: allow for that rounding.
            diff = abs(g - w)
            worst = max(worst, diff)
            if diff > atol + 5e-7:
                print("row %d class %d: printed %.6f, PyTorch %.6f" % (r, c, g, w))
                return 1
    print("rows %d, max abs diff %.1e: OK" % (len(rows), worst))
    return 0


if __name__ == "__main__":
    sys.exit(main())
