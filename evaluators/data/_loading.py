"""Sources decoded once into uint8 tensors of one stored size and cached on disk as one memory-mapped ``.pt`` file."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.datasets import CIFAR100

from space import replacing

from ._errors import DataError
from ._spec import SPEC_FORMS, DataSpec, parse_data_spec, synthetic_settings
from ._synthetic import SYNTHETIC_VERSION, make_synthetic

CACHE_FORMAT = 1
"""Bumped when the layout of cache files or any decoding rule changes, so stale caches are ignored."""

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
"""The extensions torchvision's ImageFolder accepts; other files in class folders are ignored like there."""


Source = tuple[dict[str, object], Callable[[], "ImageData"]]
"""What each loader returns: the cache-key fields of its source and a function that decodes it."""


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
    payload = {"classes": data.classes, "train_images": data.train_images, "train_labels": data.train_labels,
               "val_images": data.val_images, "val_labels": data.val_labels}
    with replacing(path) as partial:
        torch.save(payload, partial)


def _synthetic_source(spec: DataSpec, size: int) -> Source:
    settings = synthetic_settings(spec)

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
    if len(train_classes) < 2:
        raise DataError(f"imagefolder {str(root)!r}: one class folder ({train_classes[0]!r}); classifying needs 2 or "
                        f"more (PATH/train/CLASS/IMAGE)")
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

