"""``python -m search.export --genome FILE --weights FILE [--out DIR] [--onnx]``

Writes genome.json, model.safetensors, config.json (timm's), model_card.md and, with ``--onnx``, model.onnx
checked against PyTorch. Bad input is one ``error:`` line and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import OPSET, ExportError, export, from_files

DEFAULT_ROOT = Path("results") / "exports"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m search.export", description=__doc__.splitlines()[0])
    parser.add_argument("--genome", metavar="FILE", required=True, help="genome JSON file")
    parser.add_argument("--weights", metavar="FILE", required=True, help="safetensors weights of that genome")
    parser.add_argument("--out", metavar="DIR", default=None,
                        help=f"folder to write (default {DEFAULT_ROOT}/<genome id>)")
    parser.add_argument("--onnx", action="store_true",
                        help=f"also write model.onnx (opset {OPSET}, dynamic batch) and check it with onnxruntime")
    args = parser.parse_args(argv)
    try:
        trained = from_files(args.genome, args.weights)
        out = Path(args.out) if args.out else DEFAULT_ROOT / trained.genome.id
        exported = export(trained, out, onnx=args.onnx)
    except ExportError as error:
        parser.exit(2, f"error: {error}\n")
    for path in exported.files:
        print(path)
    if exported.onnx:
        print(f"onnx: opset {exported.onnx['opset']}, dynamic batch, input {exported.image_size} px; onnxruntime "
              f"vs PyTorch max abs logit difference {exported.onnx['max_difference']:.2g} for logits up to "
              f"{exported.onnx['largest_logit']:.3g} (fp32, batch {' and '.join(map(str, exported.onnx['batches']))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
