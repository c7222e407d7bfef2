#!/usr/bin/env python3
"""`modelc` as scripts/gpu-check.sh gives it to the end-to-end tests.

build/bin/modelc links LLVM/MLIR 22 (and libfmt, libz3) from the build
machine's packages; a GPU machine built from another image may have none of
them. So `scripts/gpu-check.sh --prepare` runs the e2e suite here with this
wrapper in RECORD mode: every `modelc ...` call runs the real compiler and
its exit status, stdout, stderr and output file (-o, gzipped) are stored under a key
made of its arguments, with each input file replaced by the SHA-256 of its
contents (output paths and the source tree's location do not count). On the
GPU machine, in REPLAY mode, the wrapper runs the real modelc when it works
there, and otherwise plays back the recorded result of the same command: the
same compiler on the same inputs with the same flags gives the same library.

Environment: MODELC_GPU_CHECK_REAL (the real modelc), MODELC_GPU_CHECK_CACHE
(the cache folder), MODELC_GPU_CHECK_MODE (record | replay),
MODELC_GPU_CHECK_ROOT (the source tree, stripped from arguments).
"""

import gzip
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path


def key_of(argv, root):
    parts, out, i = [], None, 0
    while i < len(argv):
        a = argv[i]
        if a == "-o" and i + 1 < len(argv):
            out = argv[i + 1]
            parts.append("-o <out>")
            i += 2
            continue
        if a.startswith("-o") and len(a) > 2 and not a.startswith("--"):
            out = a[2:]
            parts.append("-o <out>")
            i += 1
            continue
        name, eq, value = a.partition("=")
        path = value if eq else a
        if path and os.path.isfile(path):
            digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            parts.append((name + "=" if eq else "") + "file:" + digest)
        else:
            parts.append(a.replace(root, "<root>") if root else a)
        i += 1
    return hashlib.sha256("\0".join(parts).encode()).hexdigest(), out


def main():
    real = os.environ["MODELC_GPU_CHECK_REAL"]
    cache = Path(os.environ["MODELC_GPU_CHECK_CACHE"])
    mode = os.environ.get("MODELC_GPU_CHECK_MODE", "replay")
    root = os.environ.get("MODELC_GPU_CHECK_ROOT", "")
    argv = sys.argv[1:]
    if mode == "replay" and os.environ.get("MODELC_GPU_CHECK_REAL_WORKS") == "1":
        os.execv(real, [real] + argv)
    key, out = key_of(argv, root)
    entry = cache / key
    if mode == "record":
        p = subprocess.run([real] + argv, capture_output=True)
        entry.mkdir(parents=True, exist_ok=True)
        has_out = bool(out) and os.path.isfile(out)
        if has_out:
            (entry / "out.gz").write_bytes(gzip.compress(Path(out).read_bytes(), 6))
        (entry / "stdout").write_bytes(p.stdout)
        (entry / "stderr").write_bytes(p.stderr)
        (entry / "meta.json").write_text(json.dumps(dict(rc=p.returncode, out=has_out,
                                                         argv=[a.replace(root, "<root>") for a in argv])))
        sys.stdout.buffer.write(p.stdout)
        sys.stderr.buffer.write(p.stderr)
        return p.returncode
    if not (entry / "meta.json").is_file():
        sys.stderr.write(
            "modelc (gpu-check replay): build/bin/modelc cannot run on this machine and no "
            "result was recorded for\n  modelc " + " ".join(argv) + "\nRun "
            "`scripts/gpu-check.sh --prepare` on the build machine after any change to the "
            "compiler, the tests or their models, and carry build/gpu-check along.\n")
        return 2
    meta = json.loads((entry / "meta.json").read_text())
    if meta["out"] and out:
        Path(out).write_bytes(gzip.decompress((entry / "out.gz").read_bytes()))
        os.chmod(out, 0o755)
    sys.stdout.buffer.write((entry / "stdout").read_bytes())
    sys.stderr.buffer.write((entry / "stderr").read_bytes())
    return meta["rc"]


if __name__ == "__main__":
    sys.exit(main())
