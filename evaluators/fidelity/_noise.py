"""The statistics of seed noise: how much of a fidelity's spread across genomes is its training seeds', and how
well two fidelities could agree through that noise."""
from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scipy import stats

from ..ranking import CONFIDENCE


def reliability(values: Sequence[float], seed_sd: float) -> float:
    """Share of the across-genome variance of ``values`` (one seed each) that is not training-seed noise.

    One seed SD serves every genome (the baseline's, or one pooled over the genomes with repeated seeds), so
    this assumes every genome is about as noisy (a genome that diverged to chance widens the spread and so
    flatters the reliability); clipped at 0 when the genomes spread less than one genome's seeds do (the
    measurement cannot tell them apart).
    """
    if len(values) < 2:
        raise ValueError(f"reliability needs at least 2 genomes' accuracies, got {len(values)}")
    spread = statistics.variance(values)
    return max(0.0, 1 - seed_sd**2 / spread) if spread > 0 else 0.0


def evaluation_sd(accuracy: float, images: int) -> float:
    """The SD in points of a top-1 of ``accuracy`` % measured on ``images`` evaluation images, from which
    images a model gets wrong alone (binomial): the part of a seed SD that a larger evaluation set would
    shrink, if seeds' errors fell on images independently."""
    share = accuracy / 100
    return 100 * math.sqrt(share * (1 - share) / images)


def seed_sd_interval(seed_sd: float, runs: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The chi-square interval of a seed SD measured over ``runs`` seeds (normal noise): from 3 seeds an SD is
    known only to within a factor of about 0.6 to 4.4 (at 90 %), which the noise ceiling should not hide. (No
    floor at the evaluation set's binomial SD: every seed is scored on the same images, and the images a genome
    gets wrong are partly the same for every seed, so the seed SD can sit below it.)"""
    tail = (1 - confidence) / 2
    degrees = runs - 1
    return (seed_sd * math.sqrt(degrees / stats.chi2.ppf(1 - tail, degrees)),
            seed_sd * math.sqrt(degrees / stats.chi2.ppf(tail, degrees)))


@dataclass(frozen=True)
class SeedNoise:
    """A fidelity's training-seed SD, pooled within genomes (each genome's runs about its own mean), so that
    genomes of different accuracy can share one estimate."""

    sd: float
    degrees: int
    genomes: tuple[str, ...]

    def describe(self) -> str:
        if len(self.genomes) == 1:
            return f"{self.genomes[0]}, n = {self.degrees + 1}"
        return f"pooled over {len(self.genomes)} genomes' seeds, {self.degrees} degrees of freedom"


def pooled_seed_noise(runs_by_genome: Mapping[str, Sequence[float]]) -> SeedNoise | None:
    """The seed SD from every genome (by name) with two seeds or more; None where no genome has.

    The baseline's seeds alone understate it when other genomes are noisier (on the committed 20-genome
    study's proxy, 2.56 points from the baseline's 5 seeds against 6.01 pooled over them and the 20 genomes'
    second seeds), and the noise ceiling then promises more than a proxy can reach."""
    repeated = {name: runs for name, runs in runs_by_genome.items() if len(runs) > 1}
    if not repeated:
        return None
    degrees = sum(len(runs) - 1 for runs in repeated.values())
    squares = sum((len(runs) - 1) * statistics.variance(runs) for runs in repeated.values())
    return SeedNoise(math.sqrt(squares / degrees), degrees, tuple(repeated))


def noise_ceiling(proxy_reliability: float, reference_reliability: float) -> float:
    """The correlation two measurements of the same true accuracies, with independent noise of these
    reliabilities, are expected to show (Pearson's; an expectation, not a bound)."""
    return math.sqrt(proxy_reliability * reference_reliability)


def mean_sd(values: Sequence[float]) -> str:
    if len(values) < 2:
        return f"{statistics.fmean(values):.2f} % (n = 1: no spread measured)"
    return f"{statistics.fmean(values):.2f} +- {statistics.stdev(values):.2f} % (n = {len(values)})"
