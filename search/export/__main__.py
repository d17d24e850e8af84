"""``python -m search.export results/<study> --trial N`` or ``--genome FILE --weights FILE``; ``[--out DIR] [--onnx]``

Writes genome.json, model.safetensors, config.json (timm's), model_card.md and, with ``--onnx``, model.onnx
checked against PyTorch. Bad input is one ``error:`` line and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evaluators.arguments import check_folder, refuse

from . import OPSET, ExportError, export, from_files, from_study

DEFAULT_ROOT = Path("results") / "exports"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m search.export", description=__doc__.splitlines()[0])
    parser.add_argument("study", nargs="?", default=None, help="a search's results folder (results/<study>)")
    parser.add_argument("--trial", type=int, default=None, help="the study's trial number to export")
    parser.add_argument("--storage", help="the study's Optuna storage URL (default: from study.json)")
    parser.add_argument("--study-name", help="the study's name in the storage (default: from study.json)")
    parser.add_argument("--genome", metavar="FILE", default=None, help="a genome JSON file (with --weights)")
    parser.add_argument("--weights", metavar="FILE", default=None, help="safetensors weights of that genome")
    parser.add_argument("--out", metavar="DIR", default=None,
                        help=f"folder to write (default <study>/export/trial-<N>, or {DEFAULT_ROOT}/<genome id>)")
    parser.add_argument("--onnx", action="store_true",
                        help=f"also write model.onnx (opset {OPSET}, dynamic batch) and check it with onnxruntime")
    args = parser.parse_args(argv)
    from_a_study, from_files_given = args.study is not None, args.genome is not None or args.weights is not None
    if from_a_study == from_files_given:
        parser.exit(2, "error: export either a study's trial (results/<study> --trial N) or files "
                       "(--genome FILE --weights FILE)\n")
    if from_a_study and args.trial is None:
        parser.exit(2, f"error: --trial: which trial of {args.study} to export (its number in trials.csv)\n")
    if from_files_given and (args.genome is None or args.weights is None or args.trial is not None
                             or args.storage or args.study_name):
        parser.exit(2, "error: --genome and --weights go together, without --trial, --storage or --study-name\n")
    try:
        check_folder("--out", args.out)  # now, not as a FileExistsError after the model is built
    except ValueError as error:
        refuse(parser, error, args)
    try:
        if from_a_study:
            trained = from_study(args.study, args.trial, args.storage, args.study_name)
            out = Path(args.out) if args.out else Path(args.study) / "export" / f"trial-{args.trial}"
        else:
            trained = from_files(args.genome, args.weights)
            out = Path(args.out) if args.out else DEFAULT_ROOT / trained.genome.id
        exported = export(trained, out, onnx=args.onnx)
    except ExportError as error:
        refuse(parser, error, args)
    for path in exported.files:
        print(path)
    if exported.onnx:
        print(f"onnx: opset {exported.onnx['opset']}, dynamic batch, input {exported.image_size} px; onnxruntime "
              f"vs PyTorch max abs logit difference {exported.onnx['max_difference']:.2g} for logits up to "
              f"{exported.onnx['largest_logit']:.3g} (fp32, batch {' and '.join(map(str, exported.onnx['batches']))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
