"""`modelc.compile`: runs the modelc compiler."""
import os
import shutil
import subprocess
from pathlib import Path

from .model import Error


class CompileError(Error):
    """modelc rejected the model: `diagnostics` holds its messages (file,
    line, column), as it printed them."""

    def __init__(self, message, diagnostics=""):
        super().__init__(message)
        self.diagnostics = diagnostics


def find_compiler():
    """$MODELC, then `modelc` on PATH, then the build/bin/modelc of the
    checkout this package comes from."""
    explicit = os.environ.get("MODELC")
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise Error(f"$MODELC='{explicit}' is not an executable")
        return explicit
    on_path = shutil.which("modelc")
    if on_path:
        return on_path
    checkout = Path(__file__).resolve().parents[2] / "build" / "bin" / "modelc"
    if os.access(checkout, os.X_OK):
        return str(checkout)
    raise Error("cannot find the modelc compiler: set $MODELC, put modelc on PATH, or build "
                "the checkout (make build)")


def compile(source, output, target="cpu", cpu=None, options=()):  # noqa: A001 - the spec's name
    """Compiles the .mdl `source` into the library `output`; returns its path.
    Raises CompileError with modelc's diagnostics when modelc refuses it."""
    args = [find_compiler(), os.fspath(source), "-o", os.fspath(output), f"--target={target}"]
    if cpu:
        args.append(f"--cpu={cpu}")
    args += [str(o) for o in options]
    run = subprocess.run(args, capture_output=True, text=True)
    if run.returncode != 0:
        diagnostics = (run.stderr or run.stdout).strip()
        first = diagnostics.splitlines()[0] if diagnostics else f"exit status {run.returncode}"
        raise CompileError(f"modelc could not compile '{os.fspath(source)}': {first}",
                           diagnostics)
    return os.fspath(output)
