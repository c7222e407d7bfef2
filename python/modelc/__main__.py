"""python -m modelc export pkg.module:Class --example-shape 2,3,224,224 -o net.mdl
              [--state net.safetensors] [--args JSON] [--static-batch]
python -m modelc compile net.mdl -o net.so [--target cpu|cuda] [--cpu NAME]"""
import argparse
import importlib
import json
import sys

from .compiler import CompileError, compile as compile_model
from .model import Error


def _export(args):
    try:
        import torch
    except ImportError:
        raise SystemExit("modelc export: needs torch (pip install torch)") from None
    from .exporter import ExportError, export
    module_name, _, attr = args.model.partition(":")
    if not module_name or not attr:
        raise SystemExit(f"modelc export: '{args.model}': expected pkg.module:Class")
    try:
        factory = importlib.import_module(module_name)
        for part in attr.split("."):
            factory = getattr(factory, part)
    except (ImportError, AttributeError) as e:
        raise SystemExit(f"modelc export: cannot import '{args.model}': {e}") from None
    try:
        kwargs = json.loads(args.args) if args.args else {}
    except json.JSONDecodeError as e:
        raise SystemExit(f"modelc export: --args is not JSON: {e}") from None
    module = factory(**kwargs)
    if not isinstance(module, torch.nn.Module):
        raise SystemExit(f"modelc export: '{args.model}' did not make a torch.nn.Module")
    examples = []
    for shape in args.example_shape:
        try:
            dims = [int(d) for d in shape.split(",")]
        except ValueError:
            raise SystemExit(f"modelc export: --example-shape '{shape}': expected sizes such as "
                             "2,3,224,224") from None
        examples.append(torch.randn(*dims))
    try:
        export(module, examples, args.output, state=args.state,
               dynamic_batch=not args.static_batch)
    except ExportError as e:
        raise SystemExit(f"modelc export: {e}") from None
    print(f"wrote {args.output}" + (f" and {args.state}" if args.state else ""))


def _compile(args):
    try:
        compile_model(args.source, args.output, target=args.target, cpu=args.cpu)
    except CompileError as e:
        print(e.diagnostics or str(e), file=sys.stderr)
        raise SystemExit(1) from None
    except Error as e:
        raise SystemExit(f"modelc compile: {e}") from None


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m modelc")
    sub = ap.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("export", help="a torch.nn.Module importable by name, as a .mdl")
    ex.add_argument("model", help="pkg.module:Class (or a function returning a module)")
    ex.add_argument("--example-shape", action="append", required=True,
                    help="sizes of one example input, e.g. 2,3,224,224 (once per input)")
    ex.add_argument("-o", "--output", required=True, help="the .mdl to write")
    ex.add_argument("--state", help="also write the state dict (safetensors)")
    ex.add_argument("--args", help="constructor keyword arguments as JSON")
    ex.add_argument("--static-batch", action="store_true",
                    help="keep the batch size of the examples (default: dynamic)")
    ex.set_defaults(run=_export)
    co = sub.add_parser("compile", help="run the modelc compiler")
    co.add_argument("source")
    co.add_argument("-o", "--output", required=True)
    co.add_argument("--target", default="cpu")
    co.add_argument("--cpu")
    co.set_defaults(run=_compile)
    args = ap.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
