"""The genome: an immutable, JSON-serialisable description of one network.

A genome is the unit the whole project passes around: the builder turns it into a model, the cost model
into MACs and parameters, the evaluators into accuracy, the search samples it. It is a plain value
(frozen dataclasses of ints, floats and strings) so that it hashes, compares, pickles into Ray workers and
round-trips through JSON and Optuna storages without loss.

Settings live per stage, like timm's EfficientNet ``arch_def``: a stage is one block that may change
width or stride followed by ``repeats - 1`` identical blocks that keep both. Each stage can also be written
as a compact block string (``Stage.encode`` / ``Stage.decode``), e.g. ``se_r3_k3_s2_e4_c40_se4``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BLOCK_TYPES = ("standard", "se", "condconv")
SE_POSITIONS = ("dw", "end", "noskip", "none")
"""Where a block's squeeze-and-excitation sits (seed 004's variants): ``dw`` after the depthwise conv
(the papers' design), ``end`` after the last 1x1 conv and its BN, ``noskip`` after the depthwise conv
but only in blocks without an identity path, ``none`` nowhere. Only meaningful for se/condconv blocks."""

CHANNEL_DIVISOR = 8
"""timm's InvertedResidual rounds the expanded width to a multiple of 8 (``make_divisible``); the
genome states that rule so the cost model and the builder agree on every width."""


def expanded_channels(in_channels: int, expansion: float) -> int:
    """Ne for a block: ``expansion * in_channels`` rounded exactly as timm's ``make_divisible`` does.

    For the baseline every Ne is already a multiple of 8, so Ne = 4 * Ni as in Table 1.
    """
    value = in_channels * expansion
    rounded = max(CHANNEL_DIVISOR, int(value + CHANNEL_DIVISOR / 2) // CHANNEL_DIVISOR * CHANNEL_DIVISOR)
    if rounded < 0.9 * value:
        rounded += CHANNEL_DIVISOR
    return rounded


@dataclass(frozen=True)
class Stage:
    """One row group of Table 1: a (possibly strided, width-changing) block then ``repeats - 1`` identity blocks."""

    out_channels: int
    repeats: int = 1
    stride: int = 1
    expansion: float = 4
    kernel: int = 3
    block: str = "standard"
    se_ratio: int = 4
    experts: int = 4
    se_position: str = "dw"

    def __post_init__(self) -> None:
        # 4 and 4.0 are the same expansion; one JSON spelling keeps the genome id unique.
        if isinstance(self.expansion, float) and self.expansion.is_integer():
            object.__setattr__(self, "expansion", int(self.expansion))

    def encode(self) -> str:
        """Compact block string in the spirit of timm's ``_efficientnet_builder`` arch strings."""
        parts = [self.block, f"r{self.repeats}", f"k{self.kernel}", f"s{self.stride}",
                 f"e{_number(self.expansion)}", f"c{self.out_channels}"]
        if self.block != "standard":
            parts.append(f"se{self.se_ratio}")
            if self.se_position != "dw":
                parts.append(f"p{self.se_position}")
        if self.block == "condconv":
            parts.append(f"x{self.experts}")
        return "_".join(parts)

    @classmethod
    def decode(cls, text: str) -> "Stage":
        """Inverse of :meth:`encode`; raises ValueError naming the bad token."""
        block, *tokens = text.strip().split("_")
        if block not in BLOCK_TYPES:
            raise ValueError(f"stage string {text!r}: block type must be one of {', '.join(BLOCK_TYPES)}, got {block!r}")
        keys = {"r": "repeats", "k": "kernel", "s": "stride", "e": "expansion", "c": "out_channels",
                "se": "se_ratio", "x": "experts", "p": "se_position"}
        values: dict[str, Any] = {"block": block}
        for token in tokens:
            key = next((k for k in sorted(keys, key=len, reverse=True) if token.startswith(k)), None)
            if key is None:
                raise ValueError(f"stage string {text!r}: unknown token {token!r} (allowed prefixes: {', '.join(keys)})")
            raw = token[len(key):]
            name = keys[key]
            if name == "se_position":
                values[name] = raw
                continue
            try:
                values[name] = float(raw) if name == "expansion" else int(raw)
            except ValueError:
                raise ValueError(f"stage string {text!r}: {name} must be a number, got {raw!r}") from None
        if "out_channels" not in values:
            raise ValueError(f"stage string {text!r}: missing the output width token c<channels>")
        return cls(**values)

    def se_active(self, has_skip: bool) -> bool:
        """Whether a block of this stage carries an SE layer, given whether it has an identity path."""
        if self.block == "standard" or self.se_position == "none":
            return False
        return not (self.se_position == "noskip" and has_skip)


@dataclass(frozen=True)
class BlockSpec:
    """One concrete block, with the widths the stage settings imply (what builder and cost model both use)."""

    stage: Stage
    in_channels: int
    out_channels: int
    mid_channels: int
    stride: int
    has_skip: bool
    input_size: int

    @property
    def output_size(self) -> int:
        return _conv_out(self.input_size, self.stage.kernel, self.stride)

    @property
    def se_channels_in(self) -> int:
        """Width the SE layer squeezes: Ne after the depthwise conv, No at the block end."""
        return self.out_channels if self.stage.se_position == "end" else self.mid_channels

    @property
    def se_channels(self) -> int:
        """SE bottleneck width: the squeezed width divided by R, rounded down."""
        return self.se_channels_in // self.stage.se_ratio

    @property
    def has_se(self) -> bool:
        return self.stage.se_active(self.has_skip)


@dataclass(frozen=True)
class Genome:
    """A whole network: stem, stages, head, classifier, and the input resolution it is costed at."""

    stem_channels: int
    stages: tuple[Stage, ...]
    head_channels: int = 1280
    num_classes: int = 100
    resolution: int = 56
    stem_kernel: int = 3
    stem_stride: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "stages", tuple(self.stages))
        validate(self)

    @property
    def id(self) -> str:
        """Stable 12-hex-digit id: a SHA-256 of the canonical JSON, identical across processes and machines."""
        return hashlib.sha256(self.to_json(indent=None).encode()).hexdigest()[:12]

    def replace(self, **changes: Any) -> "Genome":
        return dataclasses.replace(self, **changes)

    def replace_stages(self, **changes: Any) -> "Genome":
        """The same genome with one setting changed in every stage (e.g. ``block="se"``)."""
        return self.replace(stages=tuple(dataclasses.replace(s, **changes) for s in self.stages))

    def blocks(self) -> list[BlockSpec]:
        """Every block in order with its concrete widths, stride, skip and input feature-map size."""
        specs = []
        in_channels = self.stem_channels
        size = self.stem_output_size
        for stage in self.stages:
            for index in range(stage.repeats):
                stride = stage.stride if index == 0 else 1
                spec = BlockSpec(
                    stage=stage,
                    in_channels=in_channels,
                    out_channels=stage.out_channels,
                    mid_channels=expanded_channels(in_channels, stage.expansion),
                    stride=stride,
                    has_skip=stride == 1 and in_channels == stage.out_channels,
                    input_size=size,
                )
                specs.append(spec)
                in_channels = stage.out_channels
                size = spec.output_size
        return specs

    @property
    def stem_output_size(self) -> int:
        return _conv_out(self.resolution, self.stem_kernel, self.stem_stride)

    @property
    def final_size(self) -> int:
        return self.blocks()[-1].output_size

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["stages"] = [dataclasses.asdict(s) for s in self.stages]
        return data

    def to_json(self, indent: int | None = 2) -> str:
        separators = None if indent else (",", ":")
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True, separators=separators)

    @classmethod
    def from_dict(cls, data: Any) -> "Genome":
        """Build from a JSON-like dict; every problem is a ValueError naming the field."""
        if not isinstance(data, dict):
            raise ValueError(f"genome must be a JSON object, got {type(data).__name__}")
        genome_fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - genome_fields)
        if unknown:
            raise ValueError(f"unknown genome field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(genome_fields))}")
        stages = data.get("stages")
        if not isinstance(stages, list) or not stages:
            raise ValueError("stages: must be a non-empty list of stage objects")
        stage_fields = {f.name for f in dataclasses.fields(Stage)}
        parsed = []
        for index, stage in enumerate(stages):
            if isinstance(stage, str):
                parsed.append(Stage.decode(stage))
                continue
            if not isinstance(stage, dict):
                raise ValueError(f"stages[{index}]: must be an object or a stage string, got {type(stage).__name__}")
            bad = sorted(set(stage) - stage_fields)
            if bad:
                raise ValueError(f"stages[{index}]: unknown field(s) {', '.join(bad)}; allowed: {', '.join(sorted(stage_fields))}")
            if "out_channels" not in stage:
                raise ValueError(f"stages[{index}].out_channels: required")
            parsed.append(Stage(**stage))
        if "stem_channels" not in data:
            raise ValueError("stem_channels: required")
        return cls(**{**data, "stages": tuple(parsed)})

    @classmethod
    def from_json(cls, text: str) -> "Genome":
        return cls.from_dict(json.loads(text))

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json() + "\n")
        return path


def load_genome(path: str | Path) -> Genome:
    """Read a genome JSON file; any problem is one ValueError that names the file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ValueError(f"{path}: cannot read genome file ({error.strerror or error})") from None
    try:
        return Genome.from_json(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error.msg} at line {error.lineno})") from None
    except (ValueError, TypeError) as error:
        raise ValueError(f"{path}: {error}") from None


def validate(genome: Genome) -> None:
    """Raise one ValueError naming the first bad field and what is allowed."""
    _positive_int("stem_channels", genome.stem_channels)
    _positive_int("head_channels", genome.head_channels)
    _positive_int("num_classes", genome.num_classes)
    _positive_int("resolution", genome.resolution)
    _odd_kernel("stem_kernel", genome.stem_kernel)
    _stride("stem_stride", genome.stem_stride)
    for index, stage in enumerate(genome.stages):
        if not isinstance(stage, Stage):
            raise ValueError(f"stages[{index}]: must be a Stage, got {type(stage).__name__}")
        _validate_stage(f"stages[{index}]", stage)
    strides = [genome.stem_stride] + [s.stride for s in genome.stages]
    downsamplings = sum(1 for s in strides if s == 2)
    if genome.resolution < 2 ** downsamplings:
        raise ValueError(f"resolution: {genome.resolution} is too small for {downsamplings} stride-2 stages; "
                         f"must be >= {2 ** downsamplings}")
    for spec in genome.blocks():
        if spec.has_se and spec.se_channels < 1:
            stage_index = genome.stages.index(spec.stage)
            raise ValueError(f"stages[{stage_index}].se_ratio: R={spec.stage.se_ratio} leaves "
                             f"{spec.se_channels_in}/{spec.stage.se_ratio} < 1 SE channel; "
                             f"must be <= {spec.se_channels_in}")


def _validate_stage(name: str, stage: Stage) -> None:
    _positive_int(f"{name}.out_channels", stage.out_channels)
    _positive_int(f"{name}.repeats", stage.repeats)
    _stride(f"{name}.stride", stage.stride)
    if isinstance(stage.expansion, bool) or not isinstance(stage.expansion, (int, float)) \
            or not math.isfinite(stage.expansion) or stage.expansion <= 0:
        raise ValueError(f"{name}.expansion: must be a positive number, got {stage.expansion!r}")
    _odd_kernel(f"{name}.kernel", stage.kernel)
    if stage.block not in BLOCK_TYPES:
        raise ValueError(f"{name}.block: must be one of {', '.join(BLOCK_TYPES)}, got {stage.block!r}")
    _positive_int(f"{name}.se_ratio", stage.se_ratio)
    if not isinstance(stage.experts, int) or isinstance(stage.experts, bool) or stage.experts < 1:
        raise ValueError(f"{name}.experts: M must be an integer >= 1, got {stage.experts!r}")
    if stage.se_position not in SE_POSITIONS:
        raise ValueError(f"{name}.se_position: must be one of {', '.join(SE_POSITIONS)}, got {stage.se_position!r}")


def _positive_int(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name}: must be an integer >= 1, got {value!r}")


def _odd_kernel(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1 or value % 2 == 0:
        raise ValueError(f"{name}: filter size must be an odd integer >= 1, got {value!r}")


def _stride(name: str, value: Any) -> None:
    if value not in (1, 2) or isinstance(value, bool):
        raise ValueError(f"{name}: must be 1 or 2, got {value!r}")


def _conv_out(size: int, kernel: int, stride: int) -> int:
    return (size + 2 * (kernel // 2) - kernel) // stride + 1


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
