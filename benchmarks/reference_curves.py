"""Does the 56 px reference rank its genomes early in training as it does at its end, and as the proxy does?

The proxy trains 1,250 steps at 24 px, the reference 5,000 at 56 px, and they rank the same genomes differently. If
the reference's own first epochs (56 px, a quarter of its steps or less) rank the genomes as the proxy does and
unlike its end, what the proxy misses is the rest of the training, not the resolution; if they already rank as the
end does, it is the resolution. Each reference training's top-1 after every epoch, on the default data's 1,000
validation images, comes from the journal (``curve_top1``, recorded since 2026-12-06 evening) or, for trainings
journaled before that, from the lines ``evaluators.fidelity`` printed as they trained (``  GENOME reference seed 0:
epoch K/8, TOP1% (Ns)``) in the logs given. For every epoch the script prints the Spearman of the genomes' top-1
there with the reference's final figure on the held-out images, that minus the proxy's Spearman with the same final
figures (paired over the same resamples of genomes), and its Spearman with the proxy's mean over its seeds
(``--proxy-seeds``), each with a 90 % bootstrap interval over genomes. The proxy may be a variant's runs from another
journal (``--proxy-journal``, ``--proxy-fidelity``): the 56 px proxy, whose seed 0 starts from the reference's
seed-0 weights and batches and differs from its first two epochs only in a schedule annealed to its end.

What it cannot say: an epoch's figure and the final one come from the same training, so they share its seed's
luck, and their agreement overstates what an independent short run would show; an epoch's figure is the weights
of a run still at a high learning rate (the reference's cosine schedule runs over all eight epochs), not a short run
annealed to its end as the proxy is.

    python benchmarks/reference_curves.py [JOURNAL] [--logs LOG ...] [--proxy-journal J --proxy-fidelity NAME]
"""

from __future__ import annotations

import argparse
import re
import statistics
from pathlib import Path

from evaluators.arguments import positive_int
from evaluators.fidelity import held_out_references, read_journal
from evaluators.ranking import CONFIDENCE, bootstrap, bootstrap_difference, spearman

HERE = Path(__file__).resolve().parent
EPOCH_LINE = re.compile(r"\s+(?P<genome>[0-9a-f]{12}) reference seed 0: epoch (?P<epoch>\d+)/(?P<epochs>\d+), "
                        r"(?P<top1>[0-9.]+)%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("journal", nargs="?", type=Path, default=HERE / "fidelity-heldout" / "runs.jsonl")
    parser.add_argument("--logs", nargs="*", type=Path, default=[HERE / "fidelity-heldout" / "curves.log"],
                        help="output of evaluators.fidelity with its per-epoch lines, for trainings journaled "
                             "without curve_top1")
    parser.add_argument("--proxy-seeds", type=seed_list, default=(0, 1),
                        help="the proxy's figure is its mean over these seeds (default 0,1: every genome has them; "
                             "1 alone shares no initial weights with the reference's seed 0)")
    parser.add_argument("--proxy-journal", type=Path,
                        help="take the proxy's runs from this journal instead (a variant's, from proxy_variant.py)")
    parser.add_argument("--proxy-fidelity", default="proxy",
                        help="the fidelity name of the proxy's runs (default proxy; a variant's name, such as "
                             "proxy-c56-e2-bf16auto)")
    parser.add_argument("--bootstrap", type=positive_int, default=2000, help="bootstrap resamples (default 2000)")
    args = parser.parse_args()
    proxy_journal = args.proxy_journal or args.journal
    for path in [args.journal, proxy_journal, *args.logs]:
        if not path.is_file():
            parser.exit(2, f"error: {path}: no such file\n")
    journal = args.journal
    try:
        finals = held_out_references(read_journal(journal).values())
        journal = proxy_journal
        proxy = proxy_figures(read_journal(journal).values(), args.proxy_fidelity, args.proxy_seeds)
    except (KeyError, ValueError) as error:
        parser.exit(2, f"error: {journal_error(journal, error)}\n")
    if not proxy:
        parser.exit(2, f"error: --proxy-fidelity: {proxy_journal} has no finished {args.proxy_fidelity!r} run at "
                       f"seeds {','.join(map(str, args.proxy_seeds))}\n")
    curves = {genome: [*curve, finals[genome]["top1"]] for genome, curve in printed_curves(args.logs).items()
              if genome in finals}
    curves.update({genome: r["curve_top1"] for genome, r in finals.items() if r.get("curve_top1")})
    genomes = [genome for genome in curves if genome in proxy]
    if len(genomes) < 3:
        parser.exit(2, f"error: {len(genomes)} genome(s) in {args.journal} have a whole reference curve, a held-out "
                       f"figure and a proxy run; at least 3 are needed\n")
    epochs = len(curves[genomes[0]])
    held_out = [finals[g]["held_out_top1"] for g in genomes]
    proxy_mean = [statistics.fmean(proxy[g]) for g in genomes]
    seeds = sorted({len(proxy[g]) for g in genomes})  # fewer than asked where a genome lacks a seed
    named = ",".join(map(str, args.proxy_seeds))
    print(f"{len(genomes)} genomes with the reference's top-1 after each of its {epochs} epochs (default 1,000 "
          f"images), its final top-1 on {finals[genomes[0]]['held_out']}'s held-out images, and the proxy's "
          f"({args.proxy_fidelity}) mean over seeds {named} ({'-'.join(map(str, seeds))} per genome); Spearman, "
          f"{CONFIDENCE:.0%} bootstrap CI over genomes:")
    print(f"{'epoch':>5} {'mean top-1':>10}  {'vs final (held-out)':<26} {'minus the proxy vs final':<28} vs proxy")
    for epoch in range(epochs):
        at = [curves[g][epoch] for g in genomes]
        print(f"{epoch + 1:>5} {statistics.fmean(at):>10.2f}  "
              f"{str(bootstrap(spearman, at, held_out, samples=args.bootstrap)):<26} "
              f"{bootstrap_difference(spearman, at, proxy_mean, held_out, samples=args.bootstrap).signed():<28} "
              f"{bootstrap(spearman, at, proxy_mean, samples=args.bootstrap)}")
    print(f"proxy vs final (held-out): {bootstrap(spearman, proxy_mean, held_out, samples=args.bootstrap)}")


def proxy_figures(records, fidelity: str, seeds: tuple[int, ...]) -> dict[str, list[float]]:
    """Each genome's finished proxy figures at the seeds asked for."""
    figures: dict[str, list[float]] = {}
    for r in records:
        if r["fidelity"] == fidelity and r["status"] == "ok" and r["seed"] in seeds:
            figures.setdefault(r["genome_id"], []).append(r["top1"])
    return figures


def seed_list(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(sorted({int(part) for part in text.split(",")}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seeds like 0,1, got {text!r}") from None
    if any(seed < 0 for seed in seeds):
        raise argparse.ArgumentTypeError(f"seeds are >= 0, got {text!r}")
    return seeds


def journal_error(path: Path, error: Exception) -> str:
    """A journal that cannot be read as one, in a line naming it (``read_journal``'s own message names it
    already): a record without a field this script reads, or what ``read_journal`` or ``held_out_references``
    found wrong."""
    text = f"a record lacks the field {error}" if isinstance(error, KeyError) else str(error)
    return text if text.startswith(f"{path}:") else f"{path}: {text}"


def printed_curves(logs: list[Path]) -> dict[str, list[float]]:
    """Each genome's curve but its last epoch (whose figure is the journal's, not printed) from the printed epoch
    lines; a genome whose lines miss an epoch is left out, and a figure printed twice for one epoch (a training run
    again from its start) keeps the last."""
    seen: dict[str, dict[int, float]] = {}
    epochs = {}
    for log in logs:
        for line in log.read_text().splitlines():
            match = EPOCH_LINE.match(line)
            if match:
                seen.setdefault(match["genome"], {})[int(match["epoch"])] = float(match["top1"])
                epochs[match["genome"]] = int(match["epochs"])
    return {genome: [found[k] for k in range(1, epochs[genome])] for genome, found in seen.items()
            if set(found) == set(range(1, epochs[genome]))}


if __name__ == "__main__":
    main()
