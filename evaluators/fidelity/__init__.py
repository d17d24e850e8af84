"""``python -m evaluators.fidelity``: does the CPU proxy rank genomes like training at the paper's resolution?

Trains the baseline and ``--genomes - 1`` genomes drawn from the search's default space twice on the same
data: at the ``proxy`` preset (the fidelity the search judges its front by, on a CPU with one torch thread,
exactly as a search trial runs) and at the ``reference`` preset (the paper's 56 px crops, test resize 64 /
centre crop 56, with 4x the proxy's optimizer steps; on a GPU when there is one). It prints, per genome, both
accuracies and, last:

- Spearman and Kendall rank correlations between proxy and reference accuracy, each with a percentile
  bootstrap 90% confidence interval (genomes resampled with replacement);
- how many of the reference's top 5 genomes the proxy also puts in its top 5, beside what a random ranking
  is expected to share;
- for comparison, the Spearman correlation of MACs alone with the reference accuracy (what a cost-only
  guess would achieve), and the proxy's correlation minus it with a paired bootstrap interval;
- where the journal holds the reference's evaluation loss (trainings since 2026-12-06), the proxy's
  correlations with that loss too: a reference near 100 % top-1 ties its genomes in accuracy, not in loss;
- the baseline's mean +- SD over ``--baseline-seeds`` training seeds at both fidelities;
- with ``--genome-seeds 2`` or more (or a journal that holds a second seed of three genomes or more, among
  the seeds the flags ask for), how well each fidelity repeats its own ranking from one training seed to the
  next: the Spearman of its accuracies at the two lowest seeds; and the correlations of each genome's mean over
  its seeds, what a search judging by several seeds' mean would see;
- the noise ceiling: with one training seed per genome, each fidelity's accuracies carry its seed-to-seed
  noise, so even a proxy that ranked the true accuracies perfectly would be expected to show a correlation of
  only sqrt(reliability_proxy x reliability_reference) (Spearman's correction for attenuation), where a
  fidelity's reliability is the share of its across-genome variance not explained by its seed variance,
  pooled over every genome with repeated seeds (the baseline's alone where no other has them; the baseline
  alone understated the proxy's by more than half on the committed study). It is an expectation for Pearson's
  correlation (roughly Spearman's; Kendall's runs lower), not a bound: a sample of 20 genomes scatters around
  it, noise shared by the two fidelities (each genome starts from the same initial weights at both) can lift
  the observed correlation above it, and a seed SD from 3 seeds is itself uncertain by a factor of 2 or more
  (so the line gives the ceiling's range over the seed SDs' chi-square intervals as well). What it does say:
  a reference whose genomes differ by less than its seeds do cannot confirm any proxy, whatever the proxy does.

The noise ceiling's line also gives, beside each seed SD, the evaluation set's binomial SD at the baseline's
accuracy: the part of that noise more evaluation images would remove.

``--held-out SPEC`` removes it: each reference training's final weights are evaluated on SPEC's validation images
as well (``synthetic:seed=1,train=1,val=1000``: 10,000 images from the default data's generator that no training
saw), and the reference's figures in the report (rankings, seed agreement, noise ceiling, scatter) are those. A
reference near 100 % top-1 spreads its genomes over a point or two, as much as 1,000 evaluation images move one
genome: on the committed study the baseline's five reference seeds spread 0.42 points on the default 1,000 images
and 0.17 on the 10,000 (``benchmarks/reference-noise/``). The held-out figures are part of a reference run's
journal record, so a run with the flag trains the reference anew rather than reuse one journaled without it.

Files, in ``--out``: ``runs.jsonl`` (one line per finished training, appended as each finishes, so an
interrupted run resumes where it stopped; with ``--checkpoints DIR`` a training in flight resumes from its last
epoch too), ``fidelity.csv`` (genome id, block strings, MACs, both accuracies and evaluation losses,
seconds) and ``fidelity.html`` (a plotly scatter of reference against proxy accuracy; hover shows the block
strings, accuracies and MACs; the baseline is a star).
"""
from ._cli import main, parse_args
from ._files import CSV_COLUMNS, write_csv, write_scatter
from ._jobs import (MAX_GENOMES, ORDERS, Job, block_strings, exit_with_parent, genomes_for, held_out_references,
                    read_journal, run_job, run_jobs)
from ._noise import (SeedNoise, evaluation_sd, mean_sd, noise_ceiling, pooled_seed_noise, reliability,
                     seed_sd_interval)
from ._report import noise_ceiling_line, seed_agreement_line, seed_mean_line, unshared_seed_line

__all__ = ["CSV_COLUMNS", "MAX_GENOMES", "ORDERS", "Job", "SeedNoise", "block_strings", "evaluation_sd",
           "exit_with_parent", "genomes_for", "held_out_references", "main", "mean_sd", "noise_ceiling",
           "noise_ceiling_line", "parse_args", "pooled_seed_noise", "read_journal", "reliability", "run_job",
           "run_jobs", "seed_agreement_line", "seed_mean_line", "seed_sd_interval", "unshared_seed_line", "write_csv",
           "write_scatter"]
