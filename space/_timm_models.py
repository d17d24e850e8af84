"""The networks as timm models: ``timm.create_model("effcnn_baseline")`` after ``import space``.

Registered like timm's own architectures (``register_model`` entry points that call ``build_model_with_cfg``
with a ``default_cfgs`` entry), so timm's keyword arguments, pretrained configs and weight loading apply
unchanged:

- ``effcnn_baseline``, ``effcnn_baseline_se``, ``effcnn_baseline_condconv``: Table 1's variants A, B, C.
  Each gives exactly ``space.build(space.baseline(block))``: the same class, state_dict and, from the same
  seed, the same initial weights. ``num_classes=N`` resizes the classifier as for any timm model.
- ``effcnn_genome``: any genome, ``genome=`` a Genome, its dict or a genome JSON path. With weights, timm's
  own local-file convention: ``pretrained=True, pretrained_cfg_overlay=dict(file="best.safetensors")``
  loads a safetensors (or torch) state_dict strictly; with ``num_classes`` other than the genome's, timm
  drops the classifier and loads the rest, as when fine-tuning any timm model.
- An exported folder (``python -m search.export``) holds timm's ``config.json`` and ``model.safetensors``,
  so ``timm.create_model("local-dir:FOLDER", pretrained=True)`` rebuilds it with its weights, and the same
  folder pushed to the Hugging Face Hub loads with ``hf-hub:``.

Weights of another genome fail with one line naming the first tensor that does not fit, instead of torch's
list of every missing key. timm has no plugin entry points, so the names exist once ``space`` is imported.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model

from .baseline import baseline
from .builder import Network, build
from .genome import Genome, load_genome
from .weights import WeightsError, state_dict_mismatch

TIMM_NAMES = {"effcnn_baseline": "standard", "effcnn_baseline_se": "se", "effcnn_baseline_condconv": "condconv"}
"""The baseline variants' timm names and their block types."""

GENOME_MODEL = "effcnn_genome"


def _cfg(**overrides: Any) -> dict[str, Any]:
    """Table 1's input (3x56x56, resized by 1/0.875 and centre-cropped, ImageNet normalisation, as
    ``evaluators.data`` evaluates) and its 100 classes; ``first_conv``/``classifier`` name the layers timm
    adapts for other input channels or classes."""
    return dict(num_classes=100, input_size=(3, 56, 56), crop_pct=0.875, interpolation="bilinear",
                mean=IMAGENET_DEFAULT_MEAN, std=IMAGENET_DEFAULT_STD, first_conv="conv_stem",
                classifier="classifier", **overrides)


default_cfgs = generate_default_cfgs({name: _cfg() for name in (*TIMM_NAMES, GENOME_MODEL)})


def _network(genome: Genome, num_classes: int | None = None, in_chans: int = 3, global_pool: str = "avg",
             drop_rate: float | None = 0.0, drop_path_rate: float | None = 0.0, **unsupported: Any) -> Network:
    """The model class's constructor as timm calls it: the genome plus timm's common keyword arguments.

    The network has exactly the genome's layers, so timm's switches that would add or change layers are
    accepted only at the values that leave it as built (3 input channels, average pooling, no dropout).
    """
    if unsupported:
        raise ValueError(f"effcnn models take no {', '.join(sorted(unsupported))} argument; allowed: genome, "
                         "num_classes, in_chans=3, global_pool='avg', drop_rate=0, drop_path_rate=0")
    for name, value, allowed in (("in_chans", in_chans, (3,)), ("global_pool", global_pool, ("avg",)),
                                 ("drop_rate", drop_rate, (0, None)), ("drop_path_rate", drop_path_rate, (0, None))):
        if value not in allowed:
            raise ValueError(f"{name}: effcnn models are built with {allowed[0]!r} only, got {value!r}")
    if num_classes is not None and num_classes != genome.num_classes:
        genome = genome.replace(num_classes=num_classes)
    return build(genome)


def _checked(state_dict: dict[str, torch.Tensor], model: Network) -> dict[str, torch.Tensor]:
    """timm's ``pretrained_filter_fn``: one line naming the first tensor of another genome. The classifier
    is left to timm when it is being resized (timm drops it from the state_dict then)."""
    expected = model.state_dict()
    if model.classifier.out_features != model.pretrained_cfg.get("num_classes"):
        expected = {key: value for key, value in expected.items() if not key.startswith("classifier.")}
        state_dict = {key: value for key, value in state_dict.items() if not key.startswith("classifier.")}
    mismatch = state_dict_mismatch(expected, state_dict)
    if mismatch:
        source = model.pretrained_cfg.get("file") or model.pretrained_cfg.get("hf_hub_id") or "pretrained weights"
        raise WeightsError(f"{source}: weights of another genome: {mismatch}")
    return state_dict


def create(variant: str, genome: Genome, pretrained: bool = False,
           pretrained_cfg_overlay: Mapping[str, Any] | None = None, **kwargs: Any) -> Network:
    """Build ``genome`` through timm's ``build_model_with_cfg`` under the name ``variant``.

    Unless a pretrained config comes with the weights (``local-dir:``, ``hf-hub:``), the registry's default
    is given the genome's own classes and resolution: what weights trained for it have.
    """
    overlay = dict(pretrained_cfg_overlay or {})
    if not kwargs.get("pretrained_cfg"):  # the registry's default config, not one that came with weights
        overlay = {"num_classes": genome.num_classes, "input_size": (3, genome.resolution, genome.resolution),
                   **overlay}
    return build_model_with_cfg(_network, variant, pretrained, pretrained_cfg_overlay=overlay,
                                pretrained_filter_fn=_checked, genome=genome, **kwargs)


def _baseline_model(variant: str, pretrained: bool, **kwargs: Any) -> Network:
    return create(variant, baseline(TIMM_NAMES[variant]), pretrained, **kwargs)


@register_model
def effcnn_baseline(pretrained: bool = False, **kwargs: Any) -> Network:
    """Table 1, variant A: standard inverted-residual blocks (193.9M MACs at 56 px)."""
    return _baseline_model("effcnn_baseline", pretrained, **kwargs)


@register_model
def effcnn_baseline_se(pretrained: bool = False, **kwargs: Any) -> Network:
    """Table 1, variant B: squeeze-and-excitation in every block (R = 4)."""
    return _baseline_model("effcnn_baseline_se", pretrained, **kwargs)


@register_model
def effcnn_baseline_condconv(pretrained: bool = False, **kwargs: Any) -> Network:
    """Table 1, variant C: CondConv with M = 4 experts plus SE (R = 4) in every block."""
    return _baseline_model("effcnn_baseline_condconv", pretrained, **kwargs)


@register_model
def effcnn_genome(pretrained: bool = False, genome: Genome | Mapping[str, Any] | str | Path | None = None,
                  **kwargs: Any) -> Network:
    """Any genome: ``genome=`` a Genome, a genome dict (as in an exported ``config.json``) or a JSON file."""
    return create(GENOME_MODEL, _resolve(genome), pretrained, **kwargs)


def _resolve(genome: Genome | Mapping[str, Any] | str | Path | None) -> Genome:
    if isinstance(genome, Genome):
        return genome
    if isinstance(genome, Mapping):
        return Genome.from_dict(dict(genome))
    if isinstance(genome, (str, Path)):
        return load_genome(genome)
    raise ValueError(f"{GENOME_MODEL}: genome= must be a Genome, a genome dict or a genome JSON path, "
                     f"got {type(genome).__name__}")
