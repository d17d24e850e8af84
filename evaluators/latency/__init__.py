"""``python -m evaluators.latency [GENOME] [--device cpu|cuda] [--batch 1] [--threads 1] [--json]``

Inference latency of a genome's built model (eval mode, ``torch.inference_mode``, channels_last, at the genome's
resolution): warm-up, then 3 repeats of >= 50 timed calls; the median of the repeats' medians is reported with
the IQR, the machine (CPU model, the instruction set torch dispatches to, threads, batch, torch version) and
the latency the per-block lookup table predicts. It also reports what a search trial pays: the training cost
per image at the proxy fidelity (forward, backward and SGD step at its batch, crop and precision), which can
rank genomes differently from inference (CondConv's per-example expert mixing costs more in training).

``--validate N`` measures N random genomes whole and compares them with the table's predictions: the share
within +-10%, the Spearman rank correlation, and the MACs-vs-latency Spearman for comparison. With
``--fit-genomes K`` it also predicts them the way a search does for genomes the table has not measured: from the
rows of K other random genomes and a fit on them (see ``_fit``). The genomes are drawn from the search's
default space, as a search draws its fit genomes (``--population space``), or from
``space.sampling.random_genome``'s wider population (``wide``: kernel 1, expansions 1 and 4.5, one expert,
widths in steps of 4), which the validations before 2026-12-05 10:00 used. The table's pieces are timed in
context, as ratios to a reference network (``measure_in_context``).

Python API: ``machine_fingerprint()``, ``LatencyTable.for_machine(machine)``, ``predict_latency(genome, table)``,
``measure_network(genome, machine)``.
"""
from ._cli import TOLERANCE, main, validation_genomes
from ._fit import LatencyPredictor, MissingRows, Prediction
from ._measure import InContext, measure_in_context, measure_network, measure_training_step
from ._pieces import pieces
from ._table import LatencyTable, predict_latency
from ._timing import Machine, Timing, machine_fingerprint, time_call

__all__ = ["TOLERANCE", "InContext", "LatencyPredictor", "LatencyTable", "Machine", "MissingRows", "Prediction",
           "Timing", "machine_fingerprint", "main", "measure_in_context", "measure_network", "measure_training_step",
           "pieces", "predict_latency", "time_call", "validation_genomes"]
