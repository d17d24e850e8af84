"""The genome: an immutable, JSON-serialisable description of one network.

A genome is the unit the whole project passes around: the builder turns it into a model, the cost model
into MACs and parameters, the evaluators into accuracy, the search samples it. It is a plain value
(frozen dataclasses of ints, floats and strings) so that it hashes, compares, pickles into Ray workers and
round-trips through JSON and Optuna storages without loss.

Settings live per stage, like timm's EfficientNet ``arch_def``: a stage is one block that may change
width or stride followed by ``repeats - 1`` identical blocks that keep both. Each stage can also be written
as a compact block string (``Stage.encode`` / ``Stage.decode``), e.g. ``ir_r3_k3_s2_e4_c40_sq4``, in timm's
spelling where the meaning is timm's (``BLOCK_TOKENS``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._atomic import atomic_write

BLOCK_TYPES = ("standard", "se", "condconv")
SE_POSITIONS = ("dw", "end", "noskip", "none")
"""Where a block's squeeze-and-excitation sits (seed 004's variants): ``dw`` after the depthwise conv
(the papers' design), ``end`` after the last 1x1 conv and its BN, ``noskip`` after the depthwise conv
but only in blocks without an identity path, ``none`` nowhere. Only meaningful for se/condconv blocks."""

BLOCK_TOKENS = {"r": "repeats", "k": "kernel", "s": "stride", "e": "expansion", "c": "out_channels",
                "sq": "se_ratio", "xp": "experts"}
"""The block-string grammar: ``ir_r3_k3_s2_e4_c40_sq4_xp4``, one stage per string.

``ir`` (inverted residual), ``r`` repeats, ``k`` depthwise kernel, ``s`` stride, ``e`` expansion and ``c``
output channels mean what they mean in timm's ``_efficientnet_builder``. Where this project's blocks mean
something timm's tokens do not, the token is one timm does not have:
- ``sq<R>``: squeeze-and-excitation to Ne // R channels, the papers' R (timm's ``se0.25`` is instead a ratio of
  the block's *input* channels); ``sq<position>`` (``sqend``, ``sqnoskip``, ``sqnone``) places it elsewhere
  than after the depthwise conv.
- ``xp<M>``: SE plus CondConv over M experts with the papers' routing (timm spells its own CondConv ``cc``).
A stage with neither token is a standard block.
"""

LEGACY_BLOCK_TOKENS = {"r": "repeats", "k": "kernel", "s": "stride", "e": "expansion", "c": "out_channels",
                       "se": "se_ratio", "x": "experts", "p": "se_position"}
"""The first spelling (``se_r3_k3_s2_e4_c40_se4_x4``, block type first), still read so older files load."""

MAX_CHANNELS = 8192
MAX_EXPANSION = 16
MAX_REPEATS = 32
MAX_KERNEL = 31
MAX_RESOLUTION = 1024
MAX_CLASSES = 100_000
MAX_EXPERTS = 64
"""Upper bounds far past any efficient CNN (EfficientNet-B7: 640 stage and 2,560 head channels, expansion 6, kernel
5, 600 px; CondConv: 32 experts): a value beyond them is a typo, refused by name here instead of allocating
terabytes or overflowing deep inside torch. ``MAX_CHANNELS`` bounds every width, the expanded one included."""

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
        """The stage as a block string a timm reader can read (see ``BLOCK_TOKENS``).

        Written from the canonical stage, so settings the block type ignores never show.
        """
        stage = self.canonical()
        parts = ["ir", f"r{stage.repeats}", f"k{stage.kernel}", f"s{stage.stride}", f"e{_number(stage.expansion)}",
                 f"c{stage.out_channels}"]
        if stage.block != "standard" and stage.se_position != "none":
            parts.append(f"sq{stage.se_ratio}")
        if stage.block != "standard" and stage.se_position != "dw":
            parts.append(f"sq{stage.se_position}")
        if stage.block == "condconv":
            parts.append(f"xp{stage.experts}")
        return "_".join(parts)

    @classmethod
    def decode(cls, text: str) -> "Stage":
        """Inverse of :meth:`encode`; also reads the pre-timm-spelling strings older genome files may hold.

        Raises ValueError naming the bad token.
        """
        kind, *tokens = text.strip().split("_")
        if kind in BLOCK_TYPES:
            return cls(block=kind, **_decode_tokens(text, tokens, LEGACY_BLOCK_TOKENS))
        if kind != "ir":
            raise ValueError(f"stage string {text!r}: must start with 'ir' (an inverted residual block, as in timm), "
                             f"got {kind!r}")
        values = _decode_tokens(text, tokens, BLOCK_TOKENS)
        block = "condconv" if "experts" in values else "se" if {"se_ratio", "se_position"} & set(values) else "standard"
        return cls(block=block, **values)

    def canonical(self) -> "Stage":
        """The stage with every setting its block type ignores at its default, so one network has one form.

        A standard block ignores the SE ratio, SE position and experts; an SE block the experts; an SE block
        whose SE sits nowhere is a standard block; a block without SE ignores the SE ratio.
        """
        defaults = {f.name: f.default for f in dataclasses.fields(Stage)}
        block, se_ratio, position = self.block, self.se_ratio, self.se_position
        if block == "se" and position == "none":
            block = "standard"
        if block == "standard":
            se_ratio, position = defaults["se_ratio"], defaults["se_position"]
        if position == "none":
            se_ratio = defaults["se_ratio"]
        experts = self.experts if block == "condconv" else defaults["experts"]
        return dataclasses.replace(self, block=block, se_ratio=se_ratio, se_position=position, experts=experts)

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
        """Stable 12-hex-digit id of the network this genome builds, identical across processes and machines.

        A SHA-256 of the canonical genome's JSON: settings a stage's block type ignores are normalised first
        (``Stage.canonical``), so one network never appears under two ids.
        """
        return hashlib.sha256(self.canonical().to_json(indent=None).encode()).hexdigest()[:12]

    def canonical(self) -> "Genome":
        """The same network with every ignored stage setting at its default (what ``id`` hashes).

        Beyond ``Stage.canonical``: SE placed ``noskip`` in a stage where no block has an identity path is SE
        after every depthwise conv (``dw``), and in a stage where every block has one it is no SE (``none``).
        """
        blocks = iter(self.blocks())
        stages = []
        for stage in self.stages:
            skips = {next(blocks).has_skip for _ in range(stage.repeats)}
            if stage.se_position == "noskip" and len(skips) == 1:
                stage = dataclasses.replace(stage, se_position="none" if True in skips else "dw")
            stages.append(stage.canonical())
        return self.replace(stages=tuple(stages))

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
        atomic_write(path, self.to_json() + "\n")
        return Path(path)


def load_genome(path: str | Path) -> Genome:
    """Read a genome JSON file; any problem is one ValueError that names the file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ValueError(f"{path}: cannot read genome file ({error.strerror or error})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file (a genome file is UTF-8 JSON)") from None
    try:
        return Genome.from_json(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error.msg} at line {error.lineno})") from None
    except RecursionError:
        raise ValueError(f"{path}: not a genome (JSON nested too deeply to read)") from None
    except (ValueError, TypeError) as error:
        raise ValueError(f"{path}: {error}") from None


def validate(genome: Genome) -> None:
    """Raise one ValueError naming the first bad field and what is allowed."""
    _positive_int("stem_channels", genome.stem_channels, MAX_CHANNELS)
    _positive_int("head_channels", genome.head_channels, MAX_CHANNELS)
    _positive_int("num_classes", genome.num_classes, MAX_CLASSES)
    _positive_int("resolution", genome.resolution, MAX_RESOLUTION)
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
        if spec.mid_channels > MAX_CHANNELS:
            raise ValueError(f"stages[{genome.stages.index(spec.stage)}].expansion: {spec.stage.expansion} widens "
                             f"{spec.in_channels} channels to {spec.mid_channels}; the expanded width must be <= "
                             f"{MAX_CHANNELS}")
        if spec.has_se and spec.se_channels < 1:
            stage_index = genome.stages.index(spec.stage)
            raise ValueError(f"stages[{stage_index}].se_ratio: R={spec.stage.se_ratio} leaves "
                             f"{spec.se_channels_in}/{spec.stage.se_ratio} < 1 SE channel; "
                             f"must be <= {spec.se_channels_in}")


def _validate_stage(name: str, stage: Stage) -> None:
    _positive_int(f"{name}.out_channels", stage.out_channels, MAX_CHANNELS)
    _positive_int(f"{name}.repeats", stage.repeats, MAX_REPEATS)
    _stride(f"{name}.stride", stage.stride)
    if isinstance(stage.expansion, bool) or not isinstance(stage.expansion, (int, float)) \
            or not math.isfinite(stage.expansion) or not 0 < stage.expansion <= MAX_EXPANSION:
        raise ValueError(f"{name}.expansion: must be a number > 0 and <= {MAX_EXPANSION}, got {_shown(stage.expansion)}")
    _odd_kernel(f"{name}.kernel", stage.kernel)
    if stage.block not in BLOCK_TYPES:
        raise ValueError(f"{name}.block: must be one of {', '.join(BLOCK_TYPES)}, got {stage.block!r}")
    _positive_int(f"{name}.se_ratio", stage.se_ratio)
    if not isinstance(stage.experts, int) or isinstance(stage.experts, bool) or not 1 <= stage.experts <= MAX_EXPERTS:
        raise ValueError(f"{name}.experts: M must be an integer from 1 to {MAX_EXPERTS}, got {_shown(stage.experts)}")
    if stage.se_position not in SE_POSITIONS:
        raise ValueError(f"{name}.se_position: must be one of {', '.join(SE_POSITIONS)}, got {stage.se_position!r}")


def _decode_tokens(text: str, tokens: list[str], grammar: dict[str, str]) -> dict[str, Any]:
    """Stage settings from block-string tokens, each matched by its longest known prefix."""
    prefixes = sorted(grammar, key=len, reverse=True)
    values: dict[str, Any] = {}
    for token in tokens:
        prefix = next((p for p in prefixes if token.startswith(p)), None)
        if prefix is None:
            raise ValueError(f"stage string {text!r}: unknown token {token!r} (allowed prefixes: {', '.join(grammar)})")
        raw = token[len(prefix):]
        name = grammar[prefix]
        if name == "se_position" or (name == "se_ratio" and raw.isalpha()):
            name = "se_position"
        if name in values:
            raise ValueError(f"stage string {text!r}: {name} is given twice (token {token!r})")
        if name == "se_position":
            values[name] = raw
            continue
        try:
            values[name] = float(raw) if name == "expansion" else int(raw)
        except ValueError:
            raise ValueError(f"stage string {text!r}: {name} must be a number, got {raw!r}") from None
    if "out_channels" not in values:
        raise ValueError(f"stage string {text!r}: missing the output width token c<channels>")
    return values


def _positive_int(name: str, value: Any, maximum: int | None = None) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name}: must be an integer >= 1, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name}: must be an integer from 1 to {maximum}, got {_shown(value)}")


def _odd_kernel(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1 or value % 2 == 0 or value > MAX_KERNEL:
        raise ValueError(f"{name}: filter size must be an odd integer from 1 to {MAX_KERNEL}, got {_shown(value)}")


def _stride(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value not in (1, 2):
        raise ValueError(f"{name}: must be 1 or 2, got {value!r}")


def _shown(value: Any) -> str:
    """A bad value as an error message shows it: a 300-digit integer (1e300 read as a width) as 1e+300."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) >= 1e15:
        return f"{float(value):.3g}"
    return repr(value)


def _conv_out(size: int, kernel: int, stride: int) -> int:
    return (size + 2 * (kernel // 2) - kernel) // stride + 1


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
