"""Writing an export folder: genome, weights, timm config, model card and, if asked, ONNX."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evaluators.data import EVAL_CROP_FRACTION, IMAGENET_MEAN, IMAGENET_STD
from space import build, save_weights
from space import atomic_write

from ._card import model_card
from ._onnx import (INPUT_NAME, OPSET, OUTPUT_NAME, PARITY_BATCHES, export_onnx, missing_packages, onnx_parity,
                    parity_bound)
from ._sources import ExportError, Trained

TIMM_ARCHITECTURE = "effcnn_genome"
"""The timm model name (registered by ``import space``) that builds any genome."""

GENOME_FILE, WEIGHTS_FILE, CONFIG_FILE, CARD_FILE, ONNX_FILE = (
    "genome.json", "model.safetensors", "config.json", "model_card.md", "model.onnx")


@dataclass(frozen=True)
class Exported:
    """What an export wrote, and the ONNX check's figures when there is a graph."""

    folder: Path
    files: tuple[Path, ...]
    image_size: int
    onnx: dict[str, Any] | None = None


def export(trained: Trained, folder: str | Path, onnx: bool = False) -> Exported:
    """Write ``trained`` into ``folder``: genome.json, model.safetensors, config.json (timm's, so the folder
    loads with ``timm.create_model("local-dir:FOLDER", pretrained=True)``), model_card.md and, with ``onnx``,
    model.onnx after checking it against PyTorch. Each file is written atomically."""
    if onnx and missing_packages():
        raise ExportError(f"ONNX export needs {' and '.join(missing_packages())}: pip install -e '.[export]'")
    folder = Path(folder)
    genome = trained.genome
    model = build(genome)
    model.load_state_dict(trained.weights)
    model.eval()
    image_size = int((trained.facts.get("recipe") or {}).get("crop") or genome.resolution)
    atomic_write(folder / GENOME_FILE, genome.to_json() + "\n")
    details = {key: value for key, value in trained.facts.items() if key in ("epoch", "top1", "fidelity", "recipe",
                                                                           "data", "seed")}
    save_weights(folder / WEIGHTS_FILE, model, genome, **details)
    atomic_write(folder / CONFIG_FILE, json.dumps(timm_config(trained, image_size), indent=2) + "\n")
    files = [folder / GENOME_FILE, folder / WEIGHTS_FILE, folder / CONFIG_FILE]
    onnx_facts = None
    if onnx:
        path = export_onnx(model, folder / ONNX_FILE, image_size)
        difference, largest = onnx_parity(model, path, image_size)
        if not difference <= parity_bound(largest):
            path.unlink()
            raise ExportError(f"the ONNX graph's logits differ from PyTorch's by {difference:.3g}, more than "
                              f"{parity_bound(largest):.3g} for logits up to {largest:.3g}; model.onnx was not kept")
        onnx_facts = {"opset": OPSET, "input": INPUT_NAME, "output": OUTPUT_NAME, "max_difference": difference,
                      "largest_logit": largest, "batches": PARITY_BATCHES}
        files.append(path)
    names = [path.name for path in files] + [CARD_FILE]
    atomic_write(folder / CARD_FILE, model_card(trained, image_size, onnx_facts, names))
    files.append(folder / CARD_FILE)
    return Exported(folder=folder, files=tuple(files), image_size=image_size, onnx=onnx_facts)


def timm_config(trained: Trained, image_size: int) -> dict[str, Any]:
    """timm's ``config.json`` (the format ``timm.models.push_to_hf_hub`` writes and ``local-dir:`` reads):
    the architecture, its arguments (the genome) and the pretrained config of these weights."""
    genome = trained.genome
    config: dict[str, Any] = {
        "architecture": TIMM_ARCHITECTURE,
        "num_classes": genome.num_classes,
        "num_features": genome.head_channels,
        "global_pool": "avg",
        "model_args": {"genome": genome.to_dict()},
        "pretrained_cfg": {
            "input_size": [3, image_size, image_size], "fixed_input_size": False, "interpolation": "bilinear",
            "crop_pct": EVAL_CROP_FRACTION, "crop_mode": "center", "mean": list(IMAGENET_MEAN),
            "std": list(IMAGENET_STD), "num_classes": genome.num_classes, "first_conv": "conv_stem",
            "classifier": "classifier",
        },
    }
    classes = trained.facts.get("classes")
    if classes and len(classes) == genome.num_classes:
        config["label_names"] = list(classes)
    return config
