"""Batched torch augmentation on the training device, following the reference recipe: RandomResizedCrop +
horizontal flip for training, resize(crop / 0.875) + center crop for evaluation, both with ImageNet normalisation."""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torchvision.ops import roi_align

from ._loading import ImageData

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

RRC_SCALE = (0.08, 1.0)
RRC_RATIO = (3 / 4, 4 / 3)
EVAL_CROP_FRACTION = 0.875


def train_batches(data: ImageData, batch_size: int, crop: int, generator: torch.Generator,
                  device: torch.device | str = "cpu", fraction: float = 1.0, channels_last: bool = False,
                  drop_last: bool = True, scale: tuple[float, float] = RRC_SCALE
                  ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One shuffled, augmented training epoch (a random ``fraction`` of it when < 1).

    All randomness is drawn from ``generator`` (on its own device), so an epoch depends only on the
    generator state, not on the training device. Images are moved to ``device`` as uint8 and augmented
    there, so on a GPU the crops, flips and normalisation are GPU work and host transfers stay 4x smaller.
    With ``drop_last`` a final partial batch is skipped (an epoch smaller than one batch yields nothing).
    ``scale`` is RandomResizedCrop's area range: the paper's (0.08, 1) by default; short proxies use a
    gentler one, since crops that miss the object are noise a few hundred steps cannot average out.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    device = torch.device(device)
    total = data.train_labels.shape[0]
    count = total if fraction == 1.0 else max(1, round(total * fraction))
    order = torch.randperm(total, generator=generator, device=generator.device)[:count].cpu()
    for start in range(0, count, batch_size):
        index = order[start:start + batch_size]
        if drop_last and index.shape[0] < batch_size:
            return
        images = data.train_images[index.to(data.train_images.device)].to(device, non_blocking=True)
        labels = data.train_labels[index.to(data.train_labels.device)].to(device, non_blocking=True)
        boxes = _random_resized_crop_boxes(index.shape[0], images.shape[-2], images.shape[-1], generator, scale)
        flips = torch.rand(index.shape[0], generator=generator, device=generator.device) < 0.5
        yield _crop_flip_normalise(images, boxes.to(device), flips.to(device), crop, channels_last), labels


def _random_resized_crop_boxes(count: int, height: int, width: int, generator: torch.Generator,
                               scale: tuple[float, float] = RRC_SCALE, tries: int = 10) -> torch.Tensor:
    """(count, 4) float boxes (x1, y1, x2, y2) drawn with torchvision's RandomResizedCrop rule, vectorised.

    Like ``RandomResizedCrop.get_params``: up to ``tries`` (area scale, log-uniform aspect) draws, the first
    that fits is used with a uniformly placed integer offset, otherwise the ratio-clamped center crop.
    """
    rand = lambda *shape: torch.rand(*shape, generator=generator, device=generator.device)  # noqa: E731
    area = height * width
    log_lo, log_hi = math.log(RRC_RATIO[0]), math.log(RRC_RATIO[1])
    target_area = area * (scale[0] + (scale[1] - scale[0]) * rand(count, tries))
    aspect = torch.exp(log_lo + (log_hi - log_lo) * rand(count, tries))
    w = torch.sqrt(target_area * aspect).round()
    h = torch.sqrt(target_area / aspect).round()
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = fits.to(torch.uint8).argmax(dim=1, keepdim=True)
    w, h = w.gather(1, first).squeeze(1), h.gather(1, first).squeeze(1)
    fallback_w, fallback_h = _center_crop_fallback(height, width)
    found = fits.any(dim=1)
    w = torch.where(found, w, torch.full_like(w, fallback_w))
    h = torch.where(found, h, torch.full_like(h, fallback_h))
    offsets = rand(count, 2)
    top = torch.where(found, torch.floor(offsets[:, 0] * (height - h + 1)), (height - h) // 2)
    left = torch.where(found, torch.floor(offsets[:, 1] * (width - w + 1)), (width - w) // 2)
    return torch.stack([left, top, left + w, top + h], dim=1)


def _center_crop_fallback(height: int, width: int) -> tuple[float, float]:
    """(w, h) of torchvision's fallback: the whole image, clamped to the allowed aspect-ratio range."""
    in_ratio = width / height
    if in_ratio < min(RRC_RATIO):
        return float(width), float(round(width / min(RRC_RATIO)))
    if in_ratio > max(RRC_RATIO):
        return float(round(height * max(RRC_RATIO))), float(height)
    return float(width), float(height)


def _crop_flip_normalise(images: torch.Tensor, boxes: torch.Tensor, flips: torch.Tensor, crop: int,
                         channels_last: bool) -> torch.Tensor:
    """Resample every box to crop x crop at once with RoIAlign, flip, and normalise.

    RoIAlign with ``aligned=True`` samples bin centres exactly like a resize of the cropped box
    (align_corners=False), and its adaptive sampling ratio averages ceil(box/crop)^2 points per output
    pixel, which acts as the antialiasing filter when the box is larger than the crop.
    """
    pixels = images.float()
    indexed = torch.cat([torch.arange(boxes.shape[0], device=boxes.device, dtype=boxes.dtype)[:, None], boxes], 1)
    out = roi_align(pixels, indexed, output_size=(crop, crop), spatial_scale=1.0, sampling_ratio=-1, aligned=True)
    out = torch.where(flips[:, None, None, None], out.flip(-1), out)
    return _normalise(out, channels_last)


def _normalise(pixels: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """0..255 float -> ImageNet-normalised float32, in the requested memory format."""
    mean = torch.tensor(IMAGENET_MEAN, device=pixels.device).view(1, 3, 1, 1) * 255.0
    std = torch.tensor(IMAGENET_STD, device=pixels.device).view(1, 3, 1, 1) * 255.0
    out = (pixels - mean) / std
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    return out.contiguous(memory_format=memory_format)


def eval_batches(data: ImageData, batch_size: int, crop: int, device: torch.device | str = "cpu",
                 channels_last: bool = False, split: str = "val", indices: torch.Tensor | None = None
                 ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The validation set in order: resize to round(crop / 0.875) (antialiased bilinear), center crop, normalise.

    Stored images are square, so resizing the short side is a resize of the whole image; for the
    reference 64 px store and 56 px crop the resize is the identity and this is the slice [4:60, 4:60].
    ``split="train"`` shows training images the same way (what BatchNorm's statistics are recomputed on
    before an evaluation), ``indices`` a subset of the split in the order given.
    """
    if split not in ("train", "val"):
        raise ValueError(f"split: must be train or val, got {split!r}")
    device = torch.device(device)
    images, labels = (data.val_images, data.val_labels) if split == "val" else (data.train_images, data.train_labels)
    if indices is not None:
        images, labels = images[indices.to(images.device)], labels[indices.to(labels.device)]
    resized = int(round(crop / EVAL_CROP_FRACTION))
    top = int(round((resized - crop) / 2.0))
    for start in range(0, labels.shape[0], batch_size):
        pixels = images[start:start + batch_size].to(device, non_blocking=True).float()
        batch_labels = labels[start:start + batch_size].to(device, non_blocking=True)
        if pixels.shape[-1] != resized or pixels.shape[-2] != resized:
            pixels = F.interpolate(pixels, size=(resized, resized), mode="bilinear", align_corners=False,
                                   antialias=True)
        pixels = pixels[:, :, top:top + crop, top:top + crop]
        yield _normalise(pixels, channels_last), batch_labels

