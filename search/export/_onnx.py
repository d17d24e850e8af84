"""ONNX: the exported graph and its check against PyTorch.

The graph is traced by torch's TorchScript exporter (``dynamo=False``), as timm's own ``onnx_export`` does by
default, with a dynamic batch dimension and a fixed image size. Both of torch's exporters fail on timm's
CondConv as built, because it applies each example's kernels as one convolution with ``groups = batch x
groups`` and ONNX's Conv takes the group count as a constant; ``space.exportable`` swaps in per-example
matrix products (1x1) and taps (depthwise) with the same outputs and multiplies. With that swap both
exporters give graphs that match PyTorch; the TorchScript one needs no onnxscript and exported the
CondConv baseline about ten times faster here (measured on the shared 2-core machine), hence the choice.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import torch

from space import exportable, replacing
from space.builder import Network

OPSET = 17
"""ONNX opset of exported graphs: the graph needs nothing newer, and an older opset loads in more runtimes."""

INPUT_NAME, OUTPUT_NAME = "images", "logits"
PARITY_BATCHES = (1, 3)
PARITY_TOLERANCE = 1e-4
"""Largest absolute logit difference (fp32) accepted between onnxruntime and PyTorch, for logits up to 1 in
size; larger logits carry proportionally larger fp32 rounding, so beyond 1 the bound scales with them."""


def missing_packages() -> list[str]:
    """The ONNX packages (the ``export`` extra) that are not installed."""
    return [name for name in ("onnx", "onnxruntime") if importlib.util.find_spec(name) is None]


def export_onnx(model: Network, path: str | Path, image_size: int, opset: int = OPSET) -> Path:
    """Write ``model`` (eval mode) as ONNX to ``path`` atomically: input ``images`` (batch, 3, S, S), output
    ``logits`` (batch, classes), the batch dimension dynamic."""
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    graph = exportable(model).eval()
    # Traced at batch 2: a size-1 dimension could be specialised into shape arithmetic.
    example = torch.zeros(2, 3, image_size, image_size)
    with replacing(path) as partial, warnings.catch_warnings():
        # The TorchScript exporter announces its deprecation and notes the tracer's constant folding on
        # every call; the parity check is what says whether the graph is right.
        warnings.simplefilter("ignore")
        torch.onnx.export(graph, (example,), str(partial), dynamo=False, input_names=[INPUT_NAME],
                          output_names=[OUTPUT_NAME], opset_version=opset,
                          dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}})
        onnx.checker.check_model(str(partial), full_check=True)
    return path


def onnx_parity(model: Network, path: str | Path, image_size: int, batches: tuple[int, ...] = PARITY_BATCHES,
                seed: int = 0) -> tuple[float, float]:
    """The largest absolute difference between onnxruntime's and PyTorch's fp32 logits on random images of
    each batch size in ``batches``, and the largest absolute logit (one inference thread, so the figure does
    not depend on the machine's load)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(seed)
    model = model.eval()
    worst = largest = 0.0
    for batch in batches:
        images = torch.randn(batch, 3, image_size, image_size, generator=generator)
        with torch.no_grad():
            expected = model(images).numpy()
        (found,) = session.run([OUTPUT_NAME], {INPUT_NAME: images.numpy()})
        if found.shape != expected.shape:
            raise RuntimeError(f"{path}: onnxruntime gave logits of shape {found.shape} for batch {batch}, "
                               f"PyTorch {expected.shape}")
        worst = max(worst, float(np.abs(found - expected).max()))
        largest = max(largest, float(np.abs(expected).max()))
    return worst, largest


def parity_bound(largest_logit: float) -> float:
    """The accepted difference for logits up to ``largest_logit`` in size (see ``PARITY_TOLERANCE``)."""
    return PARITY_TOLERANCE * max(1.0, largest_logit)
