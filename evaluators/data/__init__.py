"""The data layer: ``--data`` spec strings to cached uint8 image tensors, and batched torch augmentation.

Every source (the built-in synthetic set, an ImageFolder tree, CIFAR-100) is decoded once into uint8
tensors of a single stored size (3 x S x S, S = 64 by default) and cached on disk as one ``.pt`` file, so a
search that trains hundreds of candidates never touches PIL again; every process maps that file instead of
reading it, so the concurrent trials of a machine hold one copy of the images between them. Augmentation then
runs on whole batches in torch on the training device, following the reference recipe: RandomResizedCrop +
horizontal flip for training, resize(crop / 0.875) + center crop for evaluation, both with ImageNet
normalisation.
"""

from ._augment import EVAL_CROP_FRACTION, IMAGENET_MEAN, IMAGENET_STD, eval_batches, train_batches
from ._errors import DataError
from ._loading import ImageData, default_cache_dir, load_data
from ._spec import MAX_PER_CLASS, SPEC_FORMS, SYNTHETIC_DEFAULTS, DataSpec, parse_data_spec
from ._synthetic import MAX_SYNTHETIC_CLASSES, make_synthetic, synthetic_class

__all__ = [
    "EVAL_CROP_FRACTION",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MAX_PER_CLASS",
    "MAX_SYNTHETIC_CLASSES",
    "SPEC_FORMS",
    "SYNTHETIC_DEFAULTS",
    "DataError",
    "DataSpec",
    "ImageData",
    "default_cache_dir",
    "eval_batches",
    "load_data",
    "make_synthetic",
    "parse_data_spec",
    "synthetic_class",
    "train_batches",
]
