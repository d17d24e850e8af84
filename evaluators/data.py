"""The data layer: ``--data`` spec strings to cached uint8 image tensors, and batched torch augmentation.

Every source (the built-in synthetic set, an ImageFolder tree, CIFAR-100) is decoded once into uint8
tensors of a single stored size (3 x S x S, S = 64 by default) and cached on disk as one ``.pt`` file, so a
search that trains hundreds of candidates never touches PIL again; every process maps that file instead of
reading it, so the concurrent trials of a machine hold one copy of the images between them. Augmentation then
runs on whole batches in torch on the training device, following the reference recipe: RandomResizedCrop +
horizontal flip for training, resize(crop / 0.875) + center crop for evaluation, both with ImageNet
normalisation.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.datasets import CIFAR100
from torchvision.ops import roi_align

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

CACHE_FORMAT = 1
"""Bumped when the layout of cache files or any decoding rule changes, so stale caches are ignored."""

SYNTHETIC_VERSION = 4
"""Bumped whenever the synthetic generator changes; part of the cache key."""

SPEC_FORMS = "synthetic[:k=v,...], imagefolder:PATH or cifar100[:PATH]"
SYNTHETIC_DEFAULTS = {"classes": 10, "train": 500, "val": 100, "seed": 0, "faint": 20, "faint_max": 60, "tilt": 30}
"""``faint``: the percentage of images whose object is faint; ``faint_max``: a faint object's highest contrast,
in percent of a clear one's (see FAINT_SHARE); ``tilt``: the most an object is rotated either way, in degrees
(see OBJECT_TILT). Options, so that a harder or easier task is one --data away."""
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
"""The extensions torchvision's ImageFolder accepts; other files in class folders are ignored like there."""

RRC_SCALE = (0.08, 1.0)
RRC_RATIO = (3 / 4, 4 / 3)
EVAL_CROP_FRACTION = 0.875


Source = tuple[dict[str, object], Callable[[], "ImageData"]]
"""What each loader returns: the cache-key fields of its source and a function that decodes it."""


class DataError(ValueError):
    """A one-line, user-facing problem with the data: bad spec, missing path, empty class, unreadable image."""


# --------------------------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class DataSpec:
    """A parsed ``--data`` value; ``str()`` gives back a spec that parses to an equal DataSpec."""

    kind: str
    path: str | None
    options: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        text = self.kind
        if self.path is not None:
            text += f":{self.path}"
        if self.options:
            text += ":" + ",".join(f"{key}={value}" for key, value in self.options)
        return text


def parse_data_spec(spec: str) -> DataSpec:
    """Parse ``synthetic[:k=v,...]``, ``imagefolder:PATH`` or ``cifar100[:PATH]``.

    Synthetic options are sorted so that equal settings give equal specs whatever order they were typed in.
    """
    kind, sep, rest = spec.strip().partition(":")
    if kind == "synthetic":
        parsed = DataSpec("synthetic", None, _parse_synthetic_options(spec, rest) if sep else ())
        _synthetic_settings(parsed)
        return parsed
    if kind == "imagefolder" and rest:
        return DataSpec("imagefolder", rest)
    if kind == "cifar100" and (rest or not sep):
        return DataSpec("cifar100", rest or None)
    raise DataError(f"bad --data {spec!r}: expected {SPEC_FORMS}")


def _parse_synthetic_options(spec: str, text: str) -> tuple[tuple[str, str], ...]:
    options = {}
    for item in text.split(","):
        key, sep, value = (part.strip() for part in item.partition("="))
        if not sep or key not in SYNTHETIC_DEFAULTS or not (value.isascii() and value.isdigit()):
            raise DataError(f"bad --data {spec!r}: synthetic options are "
                            f"{', '.join(f'{k}=INT' for k in SYNTHETIC_DEFAULTS)}, got {item.strip()!r}")
        options[key] = str(int(value))
    return tuple(sorted(options.items()))


def _synthetic_settings(spec: DataSpec) -> dict[str, int]:
    settings = {**SYNTHETIC_DEFAULTS, **{key: int(value) for key, value in spec.options}}
    if settings["classes"] < 2 or settings["classes"] > MAX_SYNTHETIC_CLASSES:
        raise DataError(f"bad --data {str(spec)!r}: synthetic classes must be in 2..{MAX_SYNTHETIC_CLASSES}")
    if settings["train"] < 1 or settings["val"] < 1:
        raise DataError(f"bad --data {str(spec)!r}: synthetic train and val counts must be at least 1")
    if settings["faint"] > 100:
        raise DataError(f"bad --data {str(spec)!r}: synthetic faint is a percentage of images, 0..100")
    if not round(100 * FAINT_CONTRAST_FLOOR) < settings["faint_max"] <= 100:
        raise DataError(f"bad --data {str(spec)!r}: synthetic faint_max is a percentage of full contrast, "
                        f"{round(100 * FAINT_CONTRAST_FLOOR) + 1}..100")
    if settings["tilt"] > 180:
        raise DataError(f"bad --data {str(spec)!r}: synthetic tilt is the most an object turns either way, "
                        f"0..180 degrees")
    return settings


# --------------------------------------------------------------------------------------------- loading


@dataclass
class ImageData:
    """Decoded train and validation images as uint8 (N, 3, S, S) tensors with int64 labels."""

    name: str
    classes: list[str]
    train_images: torch.Tensor
    train_labels: torch.Tensor
    val_images: torch.Tensor
    val_labels: torch.Tensor

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def default_cache_dir() -> Path:
    """``$EFFCNN_CACHE`` if set, else ``~/.cache/effcnn-nas``."""
    return Path(os.environ.get("EFFCNN_CACHE") or Path.home() / ".cache" / "effcnn-nas")


def load_data(spec: str | DataSpec, cache_dir: str | Path | None = None, size: int = 64) -> ImageData:
    """Load a data set as uint8 tensors of stored size ``size``, decoding only on the first call.

    The cache file name hashes everything the decoded tensors depend on (source, resolved path, options,
    size, generator/format versions and, for image folders, the file list with sizes and mtimes), so a
    changed source is decoded again instead of silently served stale.
    """
    spec = parse_data_spec(spec) if isinstance(spec, str) else spec
    if size < 8:
        raise DataError(f"stored image size must be at least 8, got {size}")
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if spec.kind == "synthetic":
        key, build = _synthetic_source(spec, size)
    elif spec.kind == "imagefolder":
        key, build = _imagefolder_source(spec, size)
    elif spec.kind == "cifar100":
        key, build = _cifar100_source(spec, size, cache_dir)
    else:
        raise DataError(f"bad --data {str(spec)!r}: expected {SPEC_FORMS}")
    digest = hashlib.sha256(json.dumps({"format": CACHE_FORMAT, "size": size, **key},
                                       sort_keys=True).encode()).hexdigest()[:20]
    cache_file = cache_dir / f"{spec.kind}-{size}px-{digest}.pt"
    if not cache_file.exists():
        _to_cache(cache_file, build())
    return _from_cache(cache_file, str(spec))


def _from_cache(path: Path, name: str) -> ImageData:
    """The cached tensors, memory-mapped from the file rather than read into this process.

    Concurrent trials on one machine then share one copy of the decoded images (the page cache's), however
    many processes load them: a private, copy-on-write mapping, so a process that wrote into a tensor would
    get its own copy of that page and never change the file or another process's view."""
    stored = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    return ImageData(name=name, classes=list(stored["classes"]), train_images=stored["train_images"],
                     train_labels=stored["train_labels"], val_images=stored["val_images"],
                     val_labels=stored["val_labels"])


def _to_cache(path: Path, data: ImageData) -> None:
    """Write atomically (temporary file + rename) so parallel workers never read half a file; workers that
    decode the same source at once each write a whole, identical file, and the last rename wins."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"classes": data.classes, "train_images": data.train_images, "train_labels": data.train_labels,
               "val_images": data.val_images, "val_labels": data.val_labels}
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save(payload, file)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _synthetic_source(spec: DataSpec, size: int) -> Source:
    settings = _synthetic_settings(spec)

    def build() -> ImageData:
        train_x, train_y, val_x, val_y, classes = make_synthetic(
            settings["classes"], settings["train"], settings["val"], size, settings["seed"],
            faint_share=settings["faint"] / 100, faint_max=settings["faint_max"] / 100,
            tilt=math.radians(settings["tilt"]))
        return ImageData(str(spec), classes, train_x, train_y, val_x, val_y)

    return {"kind": "synthetic", "version": SYNTHETIC_VERSION, **settings}, build


# --------------------------------------------------------------------------------------------- imagefolder


def _imagefolder_source(spec: DataSpec, size: int) -> Source:
    root = Path(spec.path).expanduser().resolve()
    splits = {split: _scan_split(root, split) for split in ("train", "val")}
    train_classes, val_classes = list(splits["train"]), list(splits["val"])
    if train_classes != val_classes:
        only_train = sorted(set(train_classes) - set(val_classes))
        only_val = sorted(set(val_classes) - set(train_classes))
        raise DataError(f"imagefolder {str(root)!r}: train/ and val/ have different class folders "
                        f"(only in train: {only_train}, only in val: {only_val})")
    files = [path for split in splits.values() for paths in split.values() for path in paths]
    fingerprint = hashlib.sha256()
    for path in files:
        stat = path.stat()
        fingerprint.update(f"{path.relative_to(root)}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())

    def build() -> ImageData:
        train_x, train_y = _decode_split(splits["train"], size)
        val_x, val_y = _decode_split(splits["val"], size)
        return ImageData(str(spec), train_classes, train_x, train_y, val_x, val_y)

    return {"kind": "imagefolder", "path": str(root), "files": fingerprint.hexdigest()}, build


def _scan_split(root: Path, split: str) -> dict[str, list[Path]]:
    """Class name -> sorted image paths, walking each class folder recursively as torchvision does."""
    if not root.is_dir():
        raise DataError(f"imagefolder path {str(root)!r} does not exist or is not a folder")
    folder = root / split
    if not folder.is_dir():
        raise DataError(f"imagefolder {str(root)!r} has no {split}/ folder "
                        f"(expected PATH/train/CLASS/IMAGE and PATH/val/CLASS/IMAGE)")
    classes = sorted(entry.name for entry in os.scandir(folder) if entry.is_dir())
    if not classes:
        raise DataError(f"imagefolder {str(folder)!r} has no class folders")
    result = {}
    for name in classes:
        paths = [Path(dirpath) / file
                 for dirpath, _, filenames in sorted(os.walk(folder / name, followlinks=True))
                 for file in sorted(filenames) if file.lower().endswith(IMAGE_EXTENSIONS)]
        if not paths:
            raise DataError(f"class folder {str(folder / name)!r} has no images "
                            f"(extensions: {' '.join(IMAGE_EXTENSIONS)})")
        result[name] = paths
    return result


def _decode_split(classes: dict[str, list[Path]], size: int) -> tuple[torch.Tensor, torch.Tensor]:
    paths = [path for paths in classes.values() for path in paths]
    labels = [index for index, paths in enumerate(classes.values()) for _ in paths]
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        arrays = list(pool.map(lambda path: _decode_image(path, size), paths))
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    return images, torch.tensor(labels, dtype=torch.int64)


def _decode_image(path: Path, size: int) -> np.ndarray:
    """One file -> uint8 (size, size, 3): RGB, short side resized to ``size`` (antialiased), center crop."""
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            width, height = image.size
            if width <= height:
                new_size = (size, int(size * height / width))
            else:
                new_size = (int(size * width / height), size)
            if new_size != image.size:
                image = image.resize(new_size, Image.BILINEAR)
            left = int(round((new_size[0] - size) / 2.0))
            top = int(round((new_size[1] - size) / 2.0))
            return np.asarray(image.crop((left, top, left + size, top + size)), dtype=np.uint8)
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise DataError(f"cannot read image {str(path)!r}: {_one_line(error)}") from None


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


# --------------------------------------------------------------------------------------------- cifar100


def _cifar100_source(spec: DataSpec, size: int, cache_dir: Path) -> Source:
    """CIFAR-100 through torchvision; ``cifar100`` without a path keeps the files in the cache folder."""
    root = Path(spec.path).expanduser().resolve() if spec.path else cache_dir.resolve()

    def build() -> ImageData:
        train = _open_cifar100(root, train=True)
        test = _open_cifar100(root, train=False)
        train_x, val_x = _upsample_uint8(train.data, size), _upsample_uint8(test.data, size)
        return ImageData(str(spec), list(train.classes), train_x, torch.tensor(train.targets, dtype=torch.int64),
                         val_x, torch.tensor(test.targets, dtype=torch.int64))

    return {"kind": "cifar100", "path": str(root)}, build


def _open_cifar100(root: Path, train: bool) -> CIFAR100:
    """The split from ``root``, downloading into it only when the files are missing."""
    try:
        return CIFAR100(str(root), train=train, download=False)
    except RuntimeError:
        pass
    created = not root.exists()
    try:
        return CIFAR100(str(root), train=train, download=True)
    except Exception as error:  # noqa: BLE001 - any download failure means the same thing to the user
        if created:  # the folder the failed download made, holding at most its partial archive
            shutil.rmtree(root, ignore_errors=True)
        raise DataError(f"CIFAR-100 is not in {str(root)!r} and could not be downloaded ({_one_line(error)}); "
                        f"put the extracted cifar-100-python/ folder there or pass --data cifar100:PATH") from None


def _upsample_uint8(images_hwc: np.ndarray, size: int, chunk: int = 2048) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, size, size) uint8, bilinear with antialias, in chunks to bound memory."""
    images = torch.from_numpy(np.ascontiguousarray(images_hwc)).permute(0, 3, 1, 2)
    if images.shape[-1] == size and images.shape[-2] == size:
        return images.contiguous()
    out = torch.empty((images.shape[0], 3, size, size), dtype=torch.uint8)
    for start in range(0, images.shape[0], chunk):
        part = images[start:start + chunk].float()
        part = F.interpolate(part, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        out[start:start + chunk] = part.round_().clamp_(0, 255).to(torch.uint8)
    return out


# --------------------------------------------------------------------------------------------- batches


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
                 channels_last: bool = False) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The validation set in order: resize to round(crop / 0.875) (antialiased bilinear), center crop, normalise.

    Stored images are square, so resizing the short side is a resize of the whole image; for the
    reference 64 px store and 56 px crop the resize is the identity and this is the slice [4:60, 4:60].
    """
    device = torch.device(device)
    resized = int(round(crop / EVAL_CROP_FRACTION))
    top = int(round((resized - crop) / 2.0))
    for start in range(0, data.val_labels.shape[0], batch_size):
        pixels = data.val_images[start:start + batch_size].to(device, non_blocking=True).float()
        labels = data.val_labels[start:start + batch_size].to(device, non_blocking=True)
        if pixels.shape[-1] != resized or pixels.shape[-2] != resized:
            pixels = F.interpolate(pixels, size=(resized, resized), mode="bilinear", align_corners=False,
                                   antialias=True)
        pixels = pixels[:, :, top:top + crop, top:top + crop]
        yield _normalise(pixels, channels_last), labels


# --------------------------------------------------------------------------------------------- synthetic

SHAPES = ("disk", "square", "triangle", "cross", "ring", "ell", "bar", "half-disk", "frame", "tee")
TEXTURES = ("stripes", "checker", "dots", "rings")
MAX_SYNTHETIC_CLASSES = len(SHAPES) * len(TEXTURES)
SYNTHETIC_DISTRACTORS = 3
SYNTHETIC_CHUNK = 512
OBJECT_TILT = math.pi / 6
"""Objects are rotated by at most this much either way. Outlines under any rotation (version 3) were more
than the CPU proxy could learn: the baseline scored 15-19% (chance 10%) after 312 steps and 36% after 1,250
steps even without texture, distractors or grating; tilted by at most 30 degrees, with all of them, 64%."""
FAINT_SHARE = 0.2
FAINT_CONTRAST_FLOOR = 0.03
FAINT_MAX = 0.6
"""The default share of images whose object is faint: its colour step to the background is scaled by a factor
drawn uniformly from FAINT_CONTRAST_FLOOR..FAINT_MAX (the others keep the full step). Faint objects fade into the grating, blotches and noise by
degrees, from hard to invisible, so no network, however long trained or however fine its input, reaches
100%: better networks keep room to show it, while the clear majority stays learnable by a short proxy."""


def synthetic_class(index: int) -> tuple[str, str]:
    """Class ``index`` is the shape SHAPES[i % 10]; past 10 classes the fill texture TEXTURES[i // 10] joins in.

    Up to 10 classes (the default) the label is the object's outline alone and its texture is a nuisance
    like its colour; from 11 to 40 classes a class is a (shape, texture) pair, a harder, compositional task.
    """
    shape = SHAPES[index % len(SHAPES)]
    return shape, TEXTURES[index // len(SHAPES)] if index >= len(SHAPES) else "any"


def make_synthetic(classes: int = 10, train_per_class: int = 500, val_per_class: int = 100, size: int = 64,
                   seed: int = 0, faint_share: float = FAINT_SHARE,
                   faint_max: float = FAINT_MAX, tilt: float = OBJECT_TILT
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, list[str]]:
    """The built-in data set: (train_images, train_labels, val_images, val_labels, class_names).

    Each image shows one textured object on a cluttered background; its class is the object's outline
    (and past 10 classes also its fill texture), see :func:`synthetic_class`. Everything else is nuisance
    drawn per image: position, size, tilt (at most ``tilt`` radians either way) and stretch of the object, the
    texture's kind (up to 10 classes), orientation, frequency and phase, both fill colours, the object's
    contrast to its background (faint for a FAINT_SHARE of the images), a coloured grating-plus-noise
    background, up to three small solid distractor shapes and pixel noise. Colours are independent of the
    class and the object moves, so mean colour and linear read-outs of pixels stay near chance; telling
    outlines apart under tilt, scale, texture, clutter and low contrast needs depth and receptive field,
    which is what makes CNN architecture matter.
    Deterministic in ``seed`` (torch's CPU generator); labels cycle 0..classes-1 so every split is balanced.
    """
    if not 2 <= classes <= MAX_SYNTHETIC_CLASSES:
        raise DataError(f"synthetic classes must be in 2..{MAX_SYNTHETIC_CLASSES}, got {classes}")
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(classes).repeat(train_per_class + val_per_class)
    images = _render_synthetic(labels, size, generator, faint_share, faint_max, tilt)
    count = classes * train_per_class
    names = [shape if texture == "any" else f"{shape}-{texture}"
             for shape, texture in map(synthetic_class, range(classes))]
    train = images[:count].contiguous(), labels[:count].clone()
    val = images[count:].contiguous(), labels[count:].clone()
    return *train, *val, names


def _render_synthetic(labels: torch.Tensor, size: int, generator: torch.Generator, faint_share: float,
                      faint_max: float, tilt: float) -> torch.Tensor:
    """Draw all per-image parameters up front, then paint in fixed-size chunks (bounded memory, same result)."""
    params = _synthetic_parameters(labels, generator, faint_share, faint_max, tilt)
    out = torch.empty((labels.shape[0], 3, size, size), dtype=torch.uint8)
    for start in range(0, labels.shape[0], SYNTHETIC_CHUNK):
        chunk = {key: value[start:start + SYNTHETIC_CHUNK] for key, value in params.items()}
        out[start:start + SYNTHETIC_CHUNK] = _paint(chunk, size, generator)
    return out


def _synthetic_parameters(labels: torch.Tensor, generator: torch.Generator, faint_share: float,
                          faint_max: float, tilt: float) -> dict[str, torch.Tensor]:
    """Every per-image random choice, in image-size units (so the data look alike at any stored size)."""
    n, d = labels.shape[0], SYNTHETIC_DISTRACTORS

    def uniform(low: float, high: float, *shape: int) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, *shape, generator=generator)

    radius = uniform(0.28, 0.42)
    fill = uniform(0.0, 1.0, 3)
    # The background sits a random colour step away from the fill (wrapping around, so that its colour is as
    # uniform as the fill's and says nothing of the class); the step is scaled down below by the image's
    # contrast. The texture's two colours are closer to each other than the fill is to the background, so the
    # outline is the strongest edge of the object at any contrast.
    step = (fill + uniform(0.3, 0.7, 3)) % 1.0 - fill
    params = {
        "shape": labels % len(SHAPES),  # synthetic_class, vectorised
        "texture": torch.where(labels >= len(SHAPES), labels // len(SHAPES),
                               torch.randint(len(TEXTURES), (n,), generator=generator)),
        "radius": radius,
        # Centre jitter keeps most of the object inside the image, so random crops rarely lose it.
        "cx": 0.5 + 0.8 * (0.5 - radius) * uniform(-1.0, 1.0),
        "cy": 0.5 + 0.8 * (0.5 - radius) * uniform(-1.0, 1.0),
        "angle": uniform(-tilt, tilt),
        "stretch": torch.exp(uniform(-0.15, 0.15)),
        "tex_angle": uniform(0.0, 2 * math.pi),
        "tex_freq": uniform(1.3, 1.9),
        "tex_phase": uniform(0.0, 1.0, 2),
        "fill_a": fill,
        "fill_b": uniform(-0.2, 0.2, 3),  # the texture's colour step, scaled by the contrast below
        "bg_b": uniform(-0.35, 0.35, 3),  # the grating's colour step from the background's first colour
        "bg_angle": uniform(0.0, 2 * math.pi),
        "bg_period": uniform(0.06, 0.25),
        "bg_phase": uniform(0.0, 2 * math.pi),
        "bg_amplitude": uniform(0.0, 0.3),
        "d_present": torch.rand(n, d, generator=generator) < 0.25,
        "d_shape": torch.randint(len(SHAPES), (n, d), generator=generator),
        "d_radius": uniform(0.07, 0.14, d),
        "d_cx": uniform(0.05, 0.95, d),
        "d_cy": uniform(0.05, 0.95, d),
        "d_angle": uniform(0.0, 2 * math.pi, d),
        "d_colour": uniform(0.0, 1.0, d, 3),
        "noise": uniform(0.01, 0.06),
    }
    faint = torch.rand(n, generator=generator) < faint_share
    contrast = torch.where(faint, uniform(FAINT_CONTRAST_FLOOR, faint_max), torch.ones(n)).view(n, 1)
    background = fill + contrast * step
    params["fill_b"] = (fill + contrast * params["fill_b"]).clamp(0, 1)
    params["bg_a"] = background
    params["bg_b"] = (background + params["bg_b"]).clamp(0, 1)
    params["contrast"] = contrast.view(n)
    return params


def _paint(p: dict[str, torch.Tensor], size: int, generator: torch.Generator) -> torch.Tensor:
    """Background, then distractors, then the class object on top, then pixel noise; uint8 (B, 3, S, S)."""
    n = p["shape"].shape[0]
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    y, x = coords.view(1, size, 1), coords.view(1, 1, size)
    canvas = _background(p, x, y, size, generator)
    for k in range(SYNTHETIC_DISTRACTORS):
        u, v = _object_frame(x, y, p["d_cx"][:, k], p["d_cy"][:, k], p["d_angle"][:, k], p["d_radius"][:, k])
        alpha = _shape_alpha(p["d_shape"][:, k], u, v, p["d_radius"][:, k] * size)
        alpha = alpha * p["d_present"][:, k].view(n, 1, 1, 1)
        canvas = canvas + (p["d_colour"][:, k].view(n, 3, 1, 1) - canvas) * alpha
    u, v = _object_frame(x, y, p["cx"], p["cy"], p["angle"], p["radius"], p["stretch"])
    alpha = _shape_alpha(p["shape"], u, v, p["radius"] * size)
    mix = _texture(p, u, v)
    fill = p["fill_a"].view(n, 3, 1, 1) + (p["fill_b"] - p["fill_a"]).view(n, 3, 1, 1) * mix
    canvas = canvas + (fill - canvas) * alpha
    canvas = canvas + p["noise"].view(n, 1, 1, 1) * torch.randn(canvas.shape, generator=generator)
    return (canvas.clamp(0, 1) * 255).round().to(torch.uint8)


def _background(p: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor, size: int,
                generator: torch.Generator) -> torch.Tensor:
    """Two-colour grating of random orientation, period and contrast plus smooth colour blotches."""
    n = p["shape"].shape[0]
    angle, period = p["bg_angle"].view(n, 1, 1), p["bg_period"].view(n, 1, 1)
    phase = (x * torch.cos(angle) + y * torch.sin(angle)) * (2 * math.pi) / period + p["bg_phase"].view(n, 1, 1)
    grating = 0.5 + 0.5 * p["bg_amplitude"].view(n, 1, 1) * torch.sin(phase)
    canvas = p["bg_a"].view(n, 3, 1, 1) + (p["bg_b"] - p["bg_a"]).view(n, 3, 1, 1) * grating.unsqueeze(1)
    blotches = torch.randn((n, 3, 5, 5), generator=generator) * 0.12
    return canvas + F.interpolate(blotches, size=(size, size), mode="bicubic", align_corners=False)


def _object_frame(x: torch.Tensor, y: torch.Tensor, cx: torch.Tensor, cy: torch.Tensor, angle: torch.Tensor,
                  radius: torch.Tensor, stretch: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel centres in each object's own frame: centred, rotated, in units of its radius."""
    n = cx.shape[0]
    dx, dy = x - cx.view(n, 1, 1), y - cy.view(n, 1, 1)
    cos, sin = torch.cos(angle).view(n, 1, 1), torch.sin(angle).view(n, 1, 1)
    u = (dx * cos + dy * sin) / radius.view(n, 1, 1)
    v = (dy * cos - dx * sin) / radius.view(n, 1, 1)
    if stretch is not None:
        u, v = u * stretch.view(n, 1, 1), v / stretch.view(n, 1, 1)
    return u, v


def _shape_alpha(shape: torch.Tensor, u: torch.Tensor, v: torch.Tensor, radius_px: torch.Tensor) -> torch.Tensor:
    """(B, 1, S, S) coverage in [0, 1] from each image's shape SDF, with a one-pixel antialiased edge."""
    distance = torch.empty_like(u)
    for index, sdf in enumerate(_SHAPE_SDFS):
        chosen = shape == index
        if chosen.any():
            distance[chosen] = sdf(u[chosen], v[chosen])
    pixels = distance * radius_px.view(-1, 1, 1)
    return (0.5 - pixels).clamp(0, 1).unsqueeze(1)


def _box(u: torch.Tensor, v: torch.Tensor, half_u: float, half_v: float) -> torch.Tensor:
    qu, qv = u.abs() - half_u, v.abs() - half_v
    return torch.hypot(qu.clamp(min=0), qv.clamp(min=0)) + torch.maximum(qu, qv).clamp(max=0)


def _triangle(u: torch.Tensor, v: torch.Tensor, half_side: float = 0.9) -> torch.Tensor:
    """Equilateral triangle SDF (Inigo Quilez's formulation), centred on its centroid."""
    k = math.sqrt(3.0)
    px, py = u.abs() - half_side, v + half_side / k
    fold = px + k * py > 0
    px, py = torch.where(fold, (px - k * py) / 2, px), torch.where(fold, (-k * px - py) / 2, py)
    px = px - px.clamp(-2 * half_side, 0)
    return -torch.hypot(px, py) * torch.sign(py)


_SHAPE_SDFS = (
    lambda u, v: torch.hypot(u, v) - 1.0,
    lambda u, v: _box(u, v, 0.8, 0.8),
    _triangle,
    lambda u, v: torch.minimum(_box(u, v, 1.0, 0.33), _box(u, v, 0.33, 1.0)),
    lambda u, v: (torch.hypot(u, v) - 0.68).abs() - 0.32,
    lambda u, v: torch.minimum(_box(u + 0.45, v, 0.35, 0.95), _box(u, v - 0.6, 0.8, 0.35)),
    lambda u, v: _box(u, v, 1.0, 0.3),
    lambda u, v: torch.maximum(torch.hypot(u, v + 0.35) - 1.0, -(v + 0.35)),
    lambda u, v: _box(u, v, 0.6, 0.6).abs() - 0.22,
    lambda u, v: torch.minimum(_box(u, v + 0.62, 0.95, 0.3), _box(u, v - 0.25, 0.3, 0.7)),
)
"""Signed distances (negative inside, in radius units) for SHAPES, each fitting roughly in the unit disk."""


def _texture(p: dict[str, torch.Tensor], u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """(B, 1, S, S) mix in [0, 1] between the two fill colours for each image's texture.

    The texture has its own orientation, frequency and phase, independent of the object's outline.
    """
    n = u.shape[0]
    angle = p["tex_angle"].view(n, 1, 1)
    cos, sin = torch.cos(angle), torch.sin(angle)
    turns = 2 * math.pi * p["tex_freq"].view(n, 1, 1)
    tu = turns * (u * cos + v * sin) + 2 * math.pi * p["tex_phase"][:, 0].view(n, 1, 1)
    tv = turns * (v * cos - u * sin) + 2 * math.pi * p["tex_phase"][:, 1].view(n, 1, 1)
    signal = torch.empty_like(u)
    kinds = p["texture"]
    for index, pattern in enumerate(_TEXTURE_PATTERNS):
        chosen = kinds == index
        if chosen.any():
            signal[chosen] = pattern(tu[chosen], tv[chosen], turns[chosen] * torch.hypot(u[chosen], v[chosen]))
    return (0.5 + 0.5 * (3.0 * signal).clamp(-1, 1)).unsqueeze(1)


_TEXTURE_PATTERNS = (
    lambda tu, tv, radial: torch.sin(tu),
    lambda tu, tv, radial: 2.0 * torch.sin(tu) * torch.sin(tv),
    lambda tu, tv, radial: torch.cos(tu) + torch.cos(tv) - 0.8,
    lambda tu, tv, radial: torch.sin(radial),
)
"""Signals for TEXTURES, positive on the second fill colour: stripes, checkerboard, dot grid, concentric rings."""
