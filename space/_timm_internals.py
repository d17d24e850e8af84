"""Every use of timm's private modules, in one place.

The papers' blocks are timm's EfficientNet blocks, but timm exports ``InvertedResidual``,
``CondConvResidual``, ``SqueezeExcite`` and its EfficientNet initialisation only from the private modules
``timm.models._efficientnet_blocks`` and ``timm.models._efficientnet_builder``. The builder imports them from
here; ``check()`` says plainly when a timm upgrade moves or changes them (tests/test_private_apis.py).
"""

from __future__ import annotations

import inspect

import timm
from timm.models._efficientnet_blocks import CondConvResidual, InvertedResidual, SqueezeExcite
from timm.models._efficientnet_builder import efficientnet_init_weights

__all__ = ["CondConvResidual", "InvertedResidual", "SqueezeExcite", "efficientnet_init_weights", "check"]

_EXPECTED_ARGUMENTS = {
    InvertedResidual: ("dw_kernel_size", "stride", "exp_ratio", "act_layer", "se_layer"),
    CondConvResidual: ("dw_kernel_size", "stride", "exp_ratio", "act_layer", "se_layer", "num_experts"),
    SqueezeExcite: ("rd_channels",),
}


def check() -> None:
    """Raise a RuntimeError naming the block argument the installed timm no longer takes."""
    for block, names in _EXPECTED_ARGUMENTS.items():
        taken = inspect.signature(block.__init__).parameters
        missing = [name for name in names if name not in taken]
        if missing:
            raise RuntimeError(f"timm {timm.__version__}: {block.__name__} no longer takes {', '.join(missing)}; "
                               "update space/_timm_internals.py and space/builder.py")
