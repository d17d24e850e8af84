"""The built-in data set: textured outlines on clutter, rendered in torch, deterministic in a seed."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ._errors import DataError

SYNTHETIC_VERSION = 4
"""Bumped whenever the synthetic generator changes; part of the cache key."""

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
drawn uniformly from FAINT_CONTRAST_FLOOR..FAINT_MAX (the others keep the full step). Faint objects fade into
the grating, blotches and noise by degrees, from hard to invisible, so no network, however long trained or
however fine its input, reaches 100%: better networks keep room to show it, while the clear majority stays
learnable by a short proxy."""


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
