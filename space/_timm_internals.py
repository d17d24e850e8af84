"""Every use of timm's private modules and implementation details, in one place.

The papers' blocks are timm's EfficientNet blocks, but timm exports ``InvertedResidual``,
``CondConvResidual``, ``SqueezeExcite`` and its EfficientNet initialisation only from the private modules
``timm.models._efficientnet_blocks`` and ``timm.models._efficientnet_builder``. The builder imports them from
here; ``check()`` says plainly when a timm upgrade moves or changes them (tests/test_private_apis.py).

The ONNX export relies on one more detail: how ``CondConv2d`` (public in ``timm.layers``, its layout not)
stores and applies its experts. ``weight`` holds the M experts as rows of flattened ``weight_shape`` kernels and
``bias`` as rows of ``out_channels``; a routing row (M,) mixes them into one example's kernel; ``forward``
applies all examples' kernels as one grouped convolution over a ``(1, B*C, H, W)`` view, and
``CondConvResidual`` calls its ``conv_pw``, ``conv_dw`` and ``conv_pwl`` as ``conv(x, routing_weights)``.
:class:`PerExampleCondConv2d` computes the same without that view, because ONNX's Conv takes its group count
as a constant and so cannot follow a dynamic batch; ``check_condconv()`` says when timm's layout changes.
"""

from __future__ import annotations

import inspect
import math
from functools import partial

import timm
import torch
import torch.nn.functional as F
from timm.layers import CondConv2d
from timm.models._efficientnet_blocks import CondConvResidual, InvertedResidual, SqueezeExcite
from timm.models._efficientnet_builder import efficientnet_init_weights
from torch import nn

__all__ = ["CondConv2d", "CondConvResidual", "InvertedResidual", "PerExampleCondConv2d", "SqueezeExcite",
           "check", "check_condconv", "efficientnet_init_weights"]

_EXPECTED_ARGUMENTS = {
    InvertedResidual: ("dw_kernel_size", "stride", "exp_ratio", "act_layer", "se_layer"),
    CondConvResidual: ("dw_kernel_size", "stride", "exp_ratio", "act_layer", "se_layer", "num_experts"),
    SqueezeExcite: ("rd_channels",),
}

_CONDCONV_ATTRIBUTES = ("weight", "bias", "groups", "kernel_size", "stride", "padding", "dilation", "dynamic_padding",
                        "num_experts", "weight_shape", "in_channels", "out_channels")


def check() -> None:
    """Raise a RuntimeError naming the block argument the installed timm no longer takes."""
    for block, names in _EXPECTED_ARGUMENTS.items():
        taken = inspect.signature(block.__init__).parameters
        missing = [name for name in names if name not in taken]
        if missing:
            raise RuntimeError(f"timm {timm.__version__}: {block.__name__} no longer takes {', '.join(missing)}; "
                               "update space/_timm_internals.py and space/builder.py")


class PerExampleCondConv2d(nn.Module):
    """timm's ``CondConv2d`` computed as per-example matrix products (1x1) or per-example taps (depthwise).

    The same experts, routing and kernels, so the same outputs to fp32 rounding and the same multiplies
    (B x Cout x Cin x H x W for a 1x1 conv, B x C x k^2 x H x W for a depthwise one), but every shape op
    follows the batch size, so an ONNX export keeps a dynamic batch dimension. Holds the original layer's
    parameters under the same names (``weight``, ``bias``), so exported initialisers keep the state_dict keys.
    """

    def __init__(self, conv: CondConv2d):
        super().__init__()
        if conv.dynamic_padding:
            raise NotImplementedError("CondConv2d with 'same' (input-dependent) padding has no per-example form here")
        pointwise = conv.groups == 1 and conv.kernel_size == (1, 1) and conv.stride == (1, 1) \
            and conv.padding == (0, 0)
        depthwise = conv.groups == conv.in_channels == conv.out_channels
        if not (pointwise or depthwise):
            raise NotImplementedError(f"CondConv2d {conv.in_channels}->{conv.out_channels} groups={conv.groups} "
                                      f"kernel={conv.kernel_size}: only 1x1 and depthwise layers (what timm's "
                                      "CondConvResidual builds) have a per-example form")
        self.pointwise = pointwise
        self.in_channels, self.out_channels = conv.in_channels, conv.out_channels
        self.kernel_size, self.stride, self.padding, self.dilation = \
            conv.kernel_size, conv.stride, conv.padding, conv.dilation
        self.weight = conv.weight
        self.bias = conv.bias

    def forward(self, x: torch.Tensor, routing_weights: torch.Tensor) -> torch.Tensor:
        batch = x.shape[0]
        kernels = torch.matmul(routing_weights, self.weight)  # (B, Cout * Cin/groups * kh * kw)
        if self.pointwise:
            height, width = x.shape[-2], x.shape[-1]
            out = torch.matmul(kernels.reshape(batch, self.out_channels, self.in_channels),
                               x.reshape(batch, self.in_channels, height * width))
            out = out.reshape(batch, self.out_channels, height, width)
        else:
            out = self._depthwise(x, kernels.reshape(batch, self.out_channels, -1, 1, 1))
        if self.bias is not None:
            out = out + torch.matmul(routing_weights, self.bias)[:, :, None, None]
        return out

    def _depthwise(self, x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
        """Sum over the kernel's taps of a strided slice of the padded input times that tap's per-example weight."""
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = self.kernel_size, self.stride, self.padding, self.dilation
        x = F.pad(x, (pw, pw, ph, ph))
        out_h = (x.shape[-2] - dh * (kh - 1) - 1) // sh + 1
        out_w = (x.shape[-1] - dw * (kw - 1) - 1) // sw + 1
        out = None
        for i in range(kh):
            for j in range(kw):
                tap = x[:, :, i * dh: i * dh + (out_h - 1) * sh + 1: sh, j * dw: j * dw + (out_w - 1) * sw + 1: sw]
                term = tap * kernels[:, :, i * kw + j]
                out = term if out is None else out + term
        return out


def check_condconv() -> None:
    """Raise a RuntimeError naming what of CondConv's layout the installed timm changed."""

    def expect(condition: bool, what: str) -> None:
        if not condition:
            raise RuntimeError(f"timm {timm.__version__}: {what}; update space/_timm_internals.py "
                               "(PerExampleCondConv2d)")

    generator = torch.Generator().manual_seed(0)
    block = CondConvResidual(16, 24, dw_kernel_size=3, stride=2, exp_ratio=4, act_layer=nn.ReLU,
                             se_layer=partial(SqueezeExcite, rd_channels=4), num_experts=3)
    for name in ("conv_pw", "conv_dw", "conv_pwl"):
        layer = getattr(block, name, None)
        expect(isinstance(layer, CondConv2d), f"CondConvResidual.{name} is not a CondConv2d")
        missing = [attribute for attribute in _CONDCONV_ATTRIBUTES if not hasattr(layer, attribute)]
        expect(not missing, f"CondConv2d has no {', '.join(missing)}")
        expect(tuple(layer.weight.shape) == (3, math.prod(layer.weight_shape)),
               "CondConv2d.weight is no longer (experts, flattened kernel)")
        inputs = torch.randn(2, layer.in_channels, 8, 8, generator=generator)
        routing = torch.rand(2, 3, generator=generator)
        with torch.no_grad():
            difference = (layer(inputs, routing) - PerExampleCondConv2d(layer)(inputs, routing)).abs().max().item()
        expect(difference < 1e-4, f"CondConv2d ({name}) no longer mixes its experts per example as "
                                  f"PerExampleCondConv2d does (max difference {difference:.3g})")
