"""BatchNorm statistics recomputed before an evaluation ("precise BN", Wu & Johnson 2021).

A proxy trains at batch 8, so each BatchNorm layer's running averages (momentum 0.1) rest on its last ~20 batches,
about 150 augmented crops, and evaluation normalises centre crops with statistics of random-resized ones.
Recomputing them as a plain average over training images seen as the evaluation sees them removes both, for a few
forward passes and no change to training: in training mode a BatchNorm layer normalises with its batch's statistics
and never reads the running ones. What it does to the proxy's figures is measured in the README (Fidelities).
"""

from __future__ import annotations

import torch

from .data import ImageData, eval_batches
from .presets import Fidelity


def recalibrate_batch_norm(model: torch.nn.Module, data: ImageData, fidelity: Fidelity, device: torch.device,
                           autocast_dtype: torch.dtype | None, batch_size: int) -> None:
    """Replace every BatchNorm layer's running mean and variance with their average over
    ``fidelity.bn_recalibration_images`` training images spread evenly over the split (all of them when fewer),
    centre-cropped as for evaluation; the model is left in eval mode. Does nothing when the setting is 0."""
    count = min(fidelity.bn_recalibration_images, len(data.train_labels))
    layers = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    model.eval()
    if not count or not layers:
        return
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # a cumulative average over the batches below, each weighted alike
        layer.train()  # only the BatchNorm layers: dropout and the like stay as evaluation has them
    indices = torch.linspace(0, len(data.train_labels) - 1, count).round().long()
    try:
        with torch.no_grad(), torch.autocast(device.type, dtype=autocast_dtype or torch.float32,
                                             enabled=autocast_dtype is not None):
            for images, _ in eval_batches(data, batch_size, fidelity.crop, device=device,
                                          channels_last=fidelity.channels_last, split="train", indices=indices):
                model(images)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
            layer.eval()
