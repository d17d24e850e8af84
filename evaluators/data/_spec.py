"""``--data`` spec strings: parsing and validating them, before anything is decoded."""

from __future__ import annotations

from dataclasses import dataclass

from ._errors import DataError
from ._synthetic import FAINT_CONTRAST_FLOOR, MAX_SYNTHETIC_CLASSES

SPEC_FORMS = "synthetic[:k=v,...], imagefolder:PATH or cifar100[:PATH]"
SYNTHETIC_DEFAULTS = {"classes": 10, "train": 500, "val": 100, "seed": 0, "faint": 20, "faint_max": 60, "tilt": 30}
"""``faint``: the percentage of images whose object is faint; ``faint_max``: a faint object's highest contrast,
in percent of a clear one's (see FAINT_SHARE); ``tilt``: the most an object is rotated either way, in degrees
(see OBJECT_TILT). Options, so that a harder or easier task is one --data away."""

MAX_DATA_SEED = 2**64 - 1
"""The largest seed torch's generator takes (the data seed feeds nothing else)."""

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


MAX_PER_CLASS = 10_000
"""The most synthetic images of a split per class: 40 classes x (10,000 + 10,000) images of 64 px are 10 GB decoded,
about what a machine can hold; more fails late inside torch's allocator."""


def parse_data_spec(spec: str) -> DataSpec:
    """Parse ``synthetic[:k=v,...]``, ``imagefolder:PATH`` or ``cifar100[:PATH]``.

    Synthetic options are sorted so that equal settings give equal specs whatever order they were typed in.
    """
    kind, sep, rest = spec.strip().partition(":")
    if kind == "synthetic":
        parsed = DataSpec("synthetic", None, _parse_synthetic_options(spec, rest) if sep else ())
        synthetic_settings(parsed)
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
        if key in options:
            raise DataError(f"bad --data {spec!r}: synthetic option {key} given twice")
        options[key] = str(int(value))
    return tuple(sorted(options.items()))


def synthetic_settings(spec: DataSpec) -> dict[str, int]:
    """The spec's options over SYNTHETIC_DEFAULTS, each checked against its range here so that a bad value is
    refused with its name before load_data keys a cache file on it."""
    settings = {**SYNTHETIC_DEFAULTS, **{key: int(value) for key, value in spec.options}}
    if settings["classes"] < 2 or settings["classes"] > MAX_SYNTHETIC_CLASSES:
        raise DataError(f"bad --data {str(spec)!r}: synthetic classes must be in 2..{MAX_SYNTHETIC_CLASSES}")
    if not (1 <= settings["train"] <= MAX_PER_CLASS and 1 <= settings["val"] <= MAX_PER_CLASS):
        raise DataError(f"bad --data {str(spec)!r}: synthetic train and val counts are images per class, "
                        f"1..{MAX_PER_CLASS}")
    if settings["faint"] > 100:
        raise DataError(f"bad --data {str(spec)!r}: synthetic faint is a percentage of images, 0..100")
    if not round(100 * FAINT_CONTRAST_FLOOR) < settings["faint_max"] <= 100:
        raise DataError(f"bad --data {str(spec)!r}: synthetic faint_max is a percentage of full contrast, "
                        f"{round(100 * FAINT_CONTRAST_FLOOR) + 1}..100")
    if settings["seed"] > MAX_DATA_SEED:
        raise DataError(f"bad --data {str(spec)!r}: synthetic seed must be in 0..{MAX_DATA_SEED}")
    if settings["tilt"] > 180:
        raise DataError(f"bad --data {str(spec)!r}: synthetic tilt is the most an object turns either way, "
                        f"0..180 degrees")
    return settings
