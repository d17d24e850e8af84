"""The report a fidelity study prints: per genome both accuracies, then how well the proxy ranks the genomes,
how well each fidelity repeats itself, and what seed noise lets the correlation reach."""
from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..presets import Fidelity
from ..ranking import (CONFIDENCE, TOP_K, bootstrap, bootstrap_difference, chance_overlap, kendall, spearman,
                       top_overlap)
from ._noise import SeedNoise, evaluation_sd, mean_sd, noise_ceiling, pooled_seed_noise, reliability, seed_sd_interval


@dataclass(frozen=True)
class Judged:
    """Which of a row's reference figures the report judges the proxy by, on how many images (``images``; the
    proxy's own figures are on ``proxy_images``)."""

    top1: str
    eval_loss: str
    images: int
    proxy_images: int
    label: str

    @classmethod
    def default(cls, images: int) -> Judged:
        return cls("reference_top1", "reference_eval_loss", images, images, "")

    @classmethod
    def held_out(cls, images: int, proxy_images: int) -> Judged:
        return cls("reference_held_out_top1", "reference_held_out_eval_loss", images, proxy_images,
                   f" on {images:,} held-out images")


def baseline_seed_sds(baseline_runs: list[list[float]]) -> tuple[float, ...] | None:
    """The baseline's seed SD at each fidelity, or None unless every fidelity has two seeds or more: the
    scatter's error bars on the baseline need both."""
    if not all(len(found) > 1 for found in baseline_runs):
        return None
    return tuple(statistics.stdev(found) for found in baseline_runs)


def print_ranking(rows: list[dict[str, Any]], baseline_runs: list[list[float]],
                  seed_runs: list[list[dict[int, float]]], proxy: Fidelity, reference: Fidelity, samples: int,
                  judged: Judged, seed: int = 0) -> None:
    """Per genome both accuracies, the baseline's seeds, then how well the proxy ranks: the report's last
    lines are the statistics a reader quotes. ``seed_runs``: per fidelity, each row's top-1 by training seed;
    the reference's figures are ``judged``'s (its own validation images, or the held-out ones); ``seed`` is the
    training seed both fidelities' figures in ``rows`` come from."""
    judge = reference.name + judged.label
    labels = (proxy.name, judge)
    print(f"{'genome':<14}{'MACs':>10}{proxy.name:>12}{reference.name:>12}{judged.label}")
    for row in rows:
        print(f"{row['genome_id']:<14}{row['macs'] / 1e6:>9.1f}M{row['proxy_top1']:>12.2f}"
              f"{row[judged.top1]:>12.2f}{' (baseline)' if row['is_baseline'] else ''}")
    for name, found in zip(labels, baseline_runs):
        if found:
            print(f"baseline at {name}, {len(found)} training seed{'s' * (len(found) > 1)}: {mean_sd(found)}")
    level = f"{CONFIDENCE:.0%} bootstrap CI over genomes"
    for name, by_seed in zip(labels, seed_runs):
        line = seed_agreement_line(name, by_seed, samples)
        if line:
            print(line)
    short = [row["proxy_top1"] for row in rows]
    long = [row[judged.top1] for row in rows]
    macs = [row["macs"] for row in rows]
    gain = bootstrap_difference(spearman, short, macs, long, samples)
    print(f"MACs alone vs {judge} ({level}): spearman {bootstrap(spearman, macs, long, samples)}; "
          f"{proxy.name}'s minus MACs alone's, paired over the same resamples: {gain.signed()}")
    k = min(TOP_K, len(rows))
    print(f"top-{k} overlap: {top_overlap(short, long, k)}/{k} (a random ranking's expectation: "
          f"{chance_overlap(k, len(rows)):.2f})")
    losses = [row[judged.eval_loss] for row in rows]
    lacking = sum(loss is None for loss in losses)
    if not lacking:
        negated = [-loss for loss in losses]
        print(f"{proxy.name} vs {judge}'s evaluation loss, lower ranked higher ({level}): spearman "
              f"{bootstrap(spearman, short, negated, samples)} kendall {bootstrap(kendall, short, negated, samples)}")
    elif lacking < len(rows):
        print(f"note: {lacking} of {len(rows)} {judge} runs have no evaluation loss (journaled before "
              f"2026-12-06, or never evaluated): no ranking by it")
    line = seed_mean_line(labels, seed_runs, samples)
    if line:
        print(line)
    line = unshared_seed_line(labels, short, long, seed_runs[0], seed, samples) if proxy != reference else None
    if line:
        print(line)
    print(f"{proxy.name} vs {judge} ({level}): spearman {bootstrap(spearman, short, long, samples)} "
          f"kendall {bootstrap(kendall, short, long, samples)}")
    names = ["baseline" if row["is_baseline"] else row["genome_id"] for row in rows]
    noises = [pooled_seed_noise({name: list(by_seed.values()) for name, by_seed in zip(names, runs)})
              for runs in seed_runs]
    if all(noises) and all(baseline_runs) and proxy != reference:
        print(noise_ceiling_line([(proxy.name, short), (judge, long)], baseline_runs, noises,
                                 (judged.proxy_images, judged.images)))


def seed_agreement_line(name: str, by_seed: list[dict[int, float]], samples: int) -> str | None:
    """How well a fidelity repeats its own ranking from one training seed to the next, over the genomes
    trained at both of its two lowest seeds (None with fewer than 3): the most any other measurement can
    agree with one of its single-seed rankings, and what a one-seed search's decisions rest on."""
    seeds = sorted({seed for runs in by_seed for seed in runs})[:2]
    pairs = [(runs[seeds[0]], runs[seeds[1]]) for runs in by_seed if len(seeds) == 2 and set(seeds) <= set(runs)]
    if len(pairs) < 3:
        return None
    first, second = zip(*pairs)
    agreement = bootstrap(spearman, first, second, samples)
    return (f"{name} seed {seeds[0]} vs seed {seeds[1]} over {len(pairs)} genomes, how well it repeats its own "
            f"ranking ({CONFIDENCE:.0%} bootstrap CI over genomes): spearman {agreement}")


def unshared_seed_line(labels: Sequence[str], short: Sequence[float], long: Sequence[float],
                       proxy_by_seed: list[dict[int, float]], seed: int, samples: int) -> str | None:
    """The proxy at a training seed the reference's figures do not come from, against them (None unless every
    genome has one). A training draws its initial weights and its batches from its seed, so at the reference's own
    seed the proxy begins each genome where the reference does: a head start in agreeing with it that a search's
    proxy runs lack (seen on point 7's 20 genomes: a 56 px proxy at 0.574 on the shared seed, 0.123 on another)."""
    others = sorted(set.intersection(*(set(runs) for runs in proxy_by_seed)) - {seed}) if proxy_by_seed else []
    if not others or len(short) < 3:
        return None
    unshared = [runs[others[0]] for runs in proxy_by_seed]
    head_start = bootstrap_difference(spearman, short, unshared, long, samples)
    return (f"{labels[0]} seed {others[0]} vs {labels[1]} seed {seed}, sharing no initial weights or batches "
            f"({CONFIDENCE:.0%} bootstrap CI over genomes): spearman {bootstrap(spearman, unshared, long, samples)} "
            f"kendall {bootstrap(kendall, unshared, long, samples)}; the shared seed {seed}'s spearman minus this, "
            f"paired: {head_start.signed()}")


def seed_mean_line(labels: Sequence[str], seed_runs: list[list[dict[int, float]]], samples: int) -> str | None:
    """The correlation of each fidelity's mean over the training seeds each genome finished (None unless three
    genomes or more have two seeds at one of them): what a search that judges its front by several seeds' mean,
    as ``search.confirm`` does, would see. Genomes with no finished run at a fidelity are left out."""
    kept = [k for k in range(len(seed_runs[0])) if all(by_seed[k] for by_seed in seed_runs)]
    if max(sum(len(by_seed[k]) > 1 for k in kept) for by_seed in seed_runs) < 3:
        return None
    means = [[statistics.fmean(by_seed[k].values()) for k in kept] for by_seed in seed_runs]
    counts = [[len(by_seed[k]) for k in kept] for by_seed in seed_runs]
    seeds = [f"{name} {min(found)}{'' if min(found) == max(found) else f'-{max(found)}'} seed(s)"
             for name, found in zip(labels, counts)]
    return (f"{labels[0]} vs {labels[1]}, each genome's mean over its training seeds ({', '.join(seeds)}; "
            f"{len(kept)} genomes, {CONFIDENCE:.0%} bootstrap CI over genomes): spearman "
            f"{bootstrap(spearman, *means, samples)} kendall {bootstrap(kendall, *means, samples)}")


def noise_ceiling_line(accuracies: list[tuple[str, list[float]]], baseline_runs: list[list[float]],
                       noises: Sequence[SeedNoise], evaluation_images: Sequence[int]) -> str:
    """What seed noise lets the correlation reach, for (proxy, reference), in one line; ``noises`` are each
    fidelity's seed SD, pooled over the genomes with repeated seeds (the baseline's alone where no other
    genome has them). Each seed SD is set beside the evaluation set's binomial SD at the baseline's accuracy
    (its ``baseline_runs``), which says how much of it more evaluation images could remove. The ceiling comes
    with the range its seed SDs' intervals (``seed_sd_interval``) allow: from a few seeds it is a rough guide,
    and the line says how rough. The range always holds the ceiling, as a reliability falls as its seed SD
    rises."""
    parts, reliabilities, optimistic, pessimistic = [], [], [], []
    for (name, values), runs, noise, images in zip(accuracies, baseline_runs, noises, evaluation_images):
        reliabilities.append(reliability(values, noise.sd))
        sampling = evaluation_sd(statistics.fmean(runs), images)
        low_sd, high_sd = seed_sd_interval(noise.sd, noise.degrees + 1)
        optimistic.append(reliability(values, low_sd))
        pessimistic.append(reliability(values, high_sd))
        parts.append(f"{name} seed SD {noise.sd:.2f} ({noise.describe()}; {images:,} evaluation "
                     f"images alone: {sampling:.2f}) vs "
                     f"{statistics.stdev(values):.2f} across {len(values)} genomes: "
                     f"reliability {reliabilities[-1]:.2f}")
    ceiling = noise_ceiling(*reliabilities)
    return (f"noise ceiling: {'; '.join(parts)}; a perfect proxy's expected correlation through this noise "
            f"(independent noise, one seed SD for every genome): {ceiling:.2f} "
            f"(from {noise_ceiling(*pessimistic):.2f} to {noise_ceiling(*optimistic):.2f} over each seed SD's "
            f"{CONFIDENCE:.0%} chi-square interval, the genomes' spread taken as exact: a range, not a confidence "
            "interval of the ceiling)")
