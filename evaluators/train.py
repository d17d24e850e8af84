"""``python -m evaluators.train [GENOME] [--block ...] [--data ...] [--fidelity full|proxy|smoke] [overrides] [--json] [--save DIR]``

Trains one genome and prints per-epoch progress to stderr; with ``--json`` the last stdout line is the
result record. ``--fidelity full --data imagefolder:PATH`` on a GPU is the paper's Table 3 run; ``--save DIR``
keeps its last and best weights (see ``evaluators.saving``) for ``python -m search.export``.
"""

from __future__ import annotations

import argparse
import json
import sys

from space import BLOCK_TYPES
from space.cost import resolve_genome

from .arguments import check_folder, random_seed, refuse, thread_count
from .data import DataError, load_data
from .presets import add_fidelity_arguments, fidelity_from_args
from .saving import SaveDir
from .trainer import resolve_device, train


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluators.train", description="Train one genome.")
    parser.add_argument("genome", nargs="?", default="baseline", help="'baseline' (default) or a genome JSON file")
    parser.add_argument("--block", choices=BLOCK_TYPES, help="use this block type in every stage")
    parser.add_argument("--data", default="synthetic",
                        help="synthetic[:k=v,...] (default), imagefolder:PATH or cifar100[:PATH]")
    parser.add_argument("--seed", type=random_seed, default=0)
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    parser.add_argument("--threads", type=thread_count, default=None, help="CPU threads (default: torch's choice)")
    parser.add_argument("--graphs", action="store_true",
                        help="replay each training step from a CUDA graph (CUDA only; not with --compile yes or fp16)")
    parser.add_argument("--checkpoint-dir", default=None,
                        help="where checkpointing presets (full) save and resume (default results/checkpoints)")
    parser.add_argument("--json", action="store_true", help="print the result record as JSON on the last line")
    parser.add_argument("--save", metavar="DIR", default=None,
                        help="keep genome.json, last.safetensors, best.safetensors (by val top-1) and result.json here")
    add_fidelity_arguments(parser)
    args = parser.parse_args(argv)
    try:
        fidelity = fidelity_from_args(args)
        genome = resolve_genome(args.genome, args.block)
        device = resolve_device(args.device)  # a bad or missing device is a one-line error, not a traceback
        check_folder("--save", args.save)
        check_folder("--checkpoint-dir", args.checkpoint_dir)
        if args.graphs and device.type != "cuda":
            raise ValueError(f"--graphs: CUDA graphs need a CUDA device, not --device {args.device}")
        data = load_data(args.data)
    except (ValueError, DataError) as error:
        refuse(parser, error, args)
    if args.show_fidelity:  # after every check, so that what the run would refuse is refused here too
        print(fidelity.describe())
        return 0

    genome = genome.replace(num_classes=data.num_classes)  # the id printed is the one the result carries
    print(f"training {genome.id} on {data.name} ({data.num_classes} classes, {len(data.train_labels)} train / "
          f"{len(data.val_labels)} val images) at fidelity {fidelity.name}", file=sys.stderr)

    def show(record: dict) -> None:
        print(f"epoch {record['epoch'] + 1}/{record['epochs']}  loss {record['train_loss']:.3f}  "
              f"top1 {record['top1']:.2f}  top5 {record['top5']:.2f}  lr {record['lr']:.4g}  "
              f"{record['seconds']:.1f}s  {record['images_per_second']:.0f} img/s", file=sys.stderr, flush=True)

    save = SaveDir(args.save, fidelity, data.name, args.seed, data.classes) if args.save else None
    result = train(genome, data, fidelity, seed=args.seed, device=args.device, threads=args.threads,
                   checkpoint_dir=args.checkpoint_dir, progress=show, snapshot=save.snapshot if save else None,
                   graphs=args.graphs)
    if save:
        save.finish(result, ["python", "-m", "evaluators.train", *(sys.argv[1:] if argv is None else argv)])
    summary = (f"{result.status}: top1 {result.accuracy:.2f}% (best {result.best_accuracy:.2f}% at epoch "
               f"{result.best_epoch + 1}), top5 {result.top5:.2f}%, {result.macs:,} MACs, {result.params:,} params, "
               f"{result.seconds:.1f}s ({result.precision} on {result.device})")
    print(summary + (f" — {result.reason}" if result.reason else ""), file=sys.stderr)
    if save:
        print(f"saved {', '.join(str(path) for path in save.files())}", file=sys.stderr)
    if args.json:
        print(json.dumps(result.to_dict(with_history=False)))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
