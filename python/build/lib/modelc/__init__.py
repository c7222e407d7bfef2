"""modelc from Python: export a torch.nn.Module to a readable .mdl, compile
it, and run and train the library like an nn.Module (../shared/spec/PYTHON.md).

    import modelc
    modelc.export(module, (x,), "net.mdl", state="net.safetensors")
    modelc.compile("net.mdl", "net.so")
    m = modelc.load("net.so"); m.load_state_dict("net.safetensors"); y = m(x)
"""
from .compiler import CompileError, compile, find_compiler  # noqa: A004
from .model import Error, Model, load

__version__ = "0.1.0"


def export(module, example_inputs, path, state=None, **kwargs):
    """torch.nn.Module -> a readable .mdl (and its state dict); needs torch."""
    from .exporter import export as _export
    return _export(module, example_inputs, path, state=state, **kwargs)


__all__ = ["CompileError", "Error", "Model", "compile", "export", "find_compiler", "load"]
