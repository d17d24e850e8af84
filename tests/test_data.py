"""Tests for evaluators.data: spec parsing, the synthetic set, the loaders and their cache, and batching."""

from __future__ import annotations

import math
import os
import pickle
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision.datasets
import torchvision.datasets.cifar
from PIL import Image
from torchvision.transforms import RandomResizedCrop

from evaluators.data import _augment, _loading, _spec
from evaluators.data import (IMAGENET_MEAN, IMAGENET_STD, MAX_SYNTHETIC_CLASSES, DataError, DataSpec, ImageData,
                             default_cache_dir, eval_batches, load_data, make_synthetic, parse_data_spec, train_batches)
from evaluators.data._synthetic import FAINT_MAX, FAINT_SHARE, OBJECT_TILT, _synthetic_parameters

SMALL_SYNTHETIC = "synthetic:classes=3,seed=1,train=4,val=2"


# --------------------------------------------------------------------------------------------- helpers


def write_tree(root: Path, counts: dict[str, dict[str, int]], shape: tuple[int, int] = (40, 30)) -> Path:
    """An ImageFolder tree: root/split/class/img_i.png, each image one solid colour (red = 10 * class + i)."""
    for split, classes in counts.items():
        for class_index, (name, count) in enumerate(sorted(classes.items())):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                Image.new("RGB", shape, (10 * class_index + i, 100, 200)).save(folder / f"img_{i}.png")
    return root


def write_fake_cifar100(root: Path, train: int = 6, test: int = 4) -> Path:
    """cifar-100-python/{train,test,meta} pickles in torchvision's format; image i is solid grey level i."""
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    for name, count in (("train", train), ("test", test)):
        pixels = np.repeat(np.arange(count, dtype=np.uint8)[:, None], 3 * 32 * 32, axis=1)
        entry = {"data": pixels, "fine_labels": [i % 100 for i in range(count)], "coarse_labels": [0] * count}
        (folder / name).write_bytes(pickle.dumps(entry))
    meta = {"fine_label_names": [f"class{i:02d}" for i in range(100)], "coarse_label_names": ["all"]}
    (folder / "meta").write_bytes(pickle.dumps(meta))
    return root


@pytest.fixture
def skip_cifar_md5(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake files cannot match torchvision's md5s; every integrity check goes through this function."""
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *args, **kwargs: True)


def tiny_data(train: int = 10, val: int = 6, size: int = 16, classes: int = 3) -> ImageData:
    generator = torch.Generator().manual_seed(0)
    return ImageData(
        name="tiny", classes=[str(i) for i in range(classes)],
        train_images=torch.randint(0, 256, (train, 3, size, size), dtype=torch.uint8, generator=generator),
        train_labels=torch.arange(train) % classes,
        val_images=torch.randint(0, 256, (val, 3, size, size), dtype=torch.uint8, generator=generator),
        val_labels=torch.arange(val) % classes)


def normalised(pixels: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (pixels.float() / 255 - mean) / std


def nearest_class_mean_accuracy(train_x, train_y, test_x, test_y, classes: int) -> float:
    means = torch.stack([train_x[train_y == c].mean(0) for c in range(classes)])
    return (torch.cdist(test_x, means).argmin(1) == test_y).float().mean().item()


# --------------------------------------------------------------------------------------------- specs


@pytest.mark.parametrize("text", ["synthetic", "synthetic:classes=3,seed=1,train=5,val=2", "imagefolder:/data/x",
                                  "imagefolder:rel/dir", "cifar100", "cifar100:/data/cifar"])
def test_valid_spec_round_trips(text: str) -> None:
    spec = parse_data_spec(text)
    assert str(spec) == text
    assert parse_data_spec(str(spec)) == spec


def test_synthetic_options_are_order_independent() -> None:
    assert parse_data_spec("synthetic:train=5,classes=3") == parse_data_spec("synthetic:classes=3,train=5")
    assert parse_data_spec("synthetic:seed=2").options == (("seed", "2"),)


@pytest.mark.parametrize("text", ["foo", "imagefolder", "imagefolder:", "cifar100:", "synthetic:",
                                  "synthetic:colour=3", "synthetic:classes=x", "synthetic:classes=99",
                                  "synthetic:train=0", "synthetic:train=99999999999999999999", "synthetic:val=10001",
                                  "synthetic:classes=2,classes=3"])
def test_bad_spec_error_names_the_spec(text: str) -> None:
    with pytest.raises(DataError, match="bad --data") as error:
        parse_data_spec(text)
    assert repr(text) in str(error.value)
    assert "\n" not in str(error.value)


def test_synthetic_split_sizes_are_bounded_per_class_before_anything_is_rendered() -> None:
    with pytest.raises(DataError, match=r"synthetic train and val counts are images per class, 1\.\.10000$"):
        parse_data_spec("synthetic:train=99999999999999999999")


def test_a_synthetic_option_given_twice_is_refused_by_name() -> None:
    with pytest.raises(DataError, match=r"synthetic option classes given twice$"):
        parse_data_spec("synthetic:classes=2,classes=3")


def test_unknown_kind_error_lists_allowed_forms() -> None:
    with pytest.raises(DataError, match=r"synthetic\[:k=v,\.\.\.\], imagefolder:PATH or cifar100\[:PATH\]"):
        parse_data_spec("foo")


# --------------------------------------------------------------------------------------------- synthetic


def test_synthetic_is_deterministic_for_a_seed() -> None:
    first, second = make_synthetic(3, 4, 2, seed=5), make_synthetic(3, 4, 2, seed=5)
    for a, b in zip(first[:4], second[:4]):
        assert torch.equal(a, b)


def test_synthetic_differs_between_seeds() -> None:
    assert not torch.equal(make_synthetic(3, 4, 2, seed=0)[0], make_synthetic(3, 4, 2, seed=1)[0])


def test_synthetic_shapes_dtypes_and_balanced_labels() -> None:
    train_x, train_y, val_x, val_y, names = make_synthetic(classes=4, train_per_class=5, val_per_class=3, size=32)
    assert train_x.shape == (20, 3, 32, 32) and val_x.shape == (12, 3, 32, 32)
    assert train_x.dtype == val_x.dtype == torch.uint8 and train_x.is_contiguous()
    assert train_y.dtype == val_y.dtype == torch.int64
    assert torch.bincount(train_y).tolist() == [5] * 4 and torch.bincount(val_y).tolist() == [3] * 4
    assert len(names) == len(set(names)) == 4


def test_synthetic_rejects_more_classes_than_shape_texture_pairs() -> None:
    with pytest.raises(DataError, match="classes"):
        make_synthetic(classes=MAX_SYNTHETIC_CLASSES + 1)


def test_synthetic_is_not_linearly_separable_from_colour_or_pixels() -> None:
    """Nearest-class-mean on mean colour and on 8x8 downsampled pixels stays near chance (0.1)."""
    train_x, train_y, val_x, val_y, _ = make_synthetic(classes=10, train_per_class=60, val_per_class=40, seed=3)

    def features(images: torch.Tensor, grid: int) -> torch.Tensor:
        return F.adaptive_avg_pool2d(images.float() / 255, grid).flatten(1)

    for grid in (1, 8):
        accuracy = nearest_class_mean_accuracy(features(train_x, grid), train_y, features(val_x, grid), val_y, 10)
        assert accuracy < 0.18, f"{grid}x{grid} pooled pixels give {accuracy:.2f} accuracy"


def test_a_trained_linear_classifier_on_pixels_stays_near_chance() -> None:
    """Multinomial logistic regression on 8x8 pooled pixels: near chance (0.1; 0.143 here), where the proxy's
    CNN gets about 0.6. Colours are symmetric on both sides of every outline, so each class's mean image is
    the same grey; what little a linear read-out finds comes from where the tilt-limited outlines vary."""
    train_x, train_y, val_x, val_y, _ = make_synthetic(classes=10, train_per_class=150, val_per_class=60, seed=4)
    pooled = F.adaptive_avg_pool2d(torch.cat([train_x, val_x]).float() / 255, 8).flatten(1)
    pooled = (pooled - pooled.mean(0)) / pooled.std(0)
    x, x_val = pooled[:len(train_y)], pooled[len(train_y):]
    weights = torch.zeros(x.shape[1], 10, requires_grad=True)
    bias = torch.zeros(10, requires_grad=True)
    optimizer = torch.optim.LBFGS([weights, bias], max_iter=200, line_search_fn="strong_wolfe")

    def loss() -> torch.Tensor:
        optimizer.zero_grad()
        value = F.cross_entropy(x @ weights + bias, train_y) + 1e-3 * weights.square().sum()
        value.backward()
        return value

    optimizer.step(loss)
    accuracy = (x_val @ weights + bias).argmax(1).eq(val_y).float().mean().item()
    assert accuracy < 0.17, f"a linear classifier on 8x8 pooled pixels gives {accuracy:.3f} accuracy"


def test_synthetic_objects_are_tilted_at_most_30_degrees_either_way() -> None:
    angles = _synthetic_parameters(torch.arange(10).repeat(200), torch.Generator().manual_seed(0),
                                   FAINT_SHARE, FAINT_MAX, OBJECT_TILT)["angle"]
    assert angles.abs().max() <= math.pi / 6 and angles.min() < -0.9 * math.pi / 6 and angles.max() > 0.9 * math.pi / 6


def test_synthetic_tilt_option_turns_objects_further_and_changes_nothing_else() -> None:
    labels = torch.arange(10).repeat(200)
    default = _synthetic_parameters(labels, torch.Generator().manual_seed(0), FAINT_SHARE, FAINT_MAX,
                                    OBJECT_TILT)
    turned = _synthetic_parameters(labels, torch.Generator().manual_seed(0), FAINT_SHARE, FAINT_MAX,
                                   math.radians(90))
    assert torch.allclose(turned["angle"], 3 * default["angle"], atol=1e-5)
    assert all(torch.equal(turned[key], default[key]) for key in default if key != "angle")


def test_synthetic_tilt_is_parsed_in_degrees_up_to_180() -> None:
    assert _spec.synthetic_settings(parse_data_spec("synthetic:tilt=90"))["tilt"] == 90
    assert _spec.synthetic_settings(parse_data_spec("synthetic"))["tilt"] == 30
    with pytest.raises(DataError, match="tilt is the most an object turns either way, 0..180 degrees"):
        parse_data_spec("synthetic:tilt=181")


def test_a_synthetic_seed_past_what_torch_takes_is_refused_by_name() -> None:
    assert _spec.synthetic_settings(parse_data_spec(f"synthetic:seed={2**64 - 1}"))["seed"] == 2**64 - 1
    with pytest.raises(DataError, match=r"synthetic seed must be in 0\.\.18446744073709551615"):
        parse_data_spec(f"synthetic:seed={2**64}")


def test_synthetic_faint_share_of_objects_stands_out_less_from_the_background() -> None:
    """About FAINT_SHARE of the objects have a contrast factor below the clear ones' floor, down to near zero."""
    params = _synthetic_parameters(torch.arange(10).repeat(400), torch.Generator().manual_seed(0),
                                   FAINT_SHARE, FAINT_MAX, OBJECT_TILT)
    contrast, floor = params["contrast"], FAINT_MAX
    assert abs((contrast < floor).float().mean().item() - FAINT_SHARE) < 0.03
    assert contrast.min() < 0.05 and contrast.max() <= 1.0
    step = (params["bg_a"] - params["fill_a"]).abs().amax(dim=1)
    assert step[contrast < 0.1].max() < step[contrast > floor].median() / 3


def test_synthetic_faint_options_set_the_share_and_the_highest_faint_contrast() -> None:
    labels, seed = torch.arange(10).repeat(400), torch.Generator().manual_seed(0)
    contrast = _synthetic_parameters(labels, seed, 0.5, 0.3, OBJECT_TILT)["contrast"]
    assert abs((contrast < 1).float().mean().item() - 0.5) < 0.03
    assert contrast[contrast < 1].max() <= 0.3


def test_synthetic_faint_options_are_parsed_as_percentages() -> None:
    assert _spec.synthetic_settings(parse_data_spec("synthetic:faint=35,faint_max=30"))["faint"] == 35
    with pytest.raises(DataError, match="faint is a percentage of images, 0..100"):
        parse_data_spec("synthetic:faint=101")
    with pytest.raises(DataError, match="faint_max is a percentage of full contrast, 4..100"):
        parse_data_spec("synthetic:faint_max=3")


def test_a_spec_without_faint_options_loads_the_generator_s_default_data(tmp_path: Path) -> None:
    loaded = load_data("synthetic:classes=3,train=4,val=2,seed=5", cache_dir=tmp_path)
    assert torch.equal(loaded.train_images, make_synthetic(3, 4, 2, seed=5)[0])


def test_synthetic_load_is_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = load_data(SMALL_SYNTHETIC, cache_dir=tmp_path, size=32)
    monkeypatch.setattr(_loading, "make_synthetic", lambda *args, **kwargs: pytest.fail("generated again"))
    second = load_data(SMALL_SYNTHETIC, cache_dir=tmp_path, size=32)
    assert second.name == SMALL_SYNTHETIC and second.classes == first.classes
    assert torch.equal(first.train_images, second.train_images)
    assert torch.equal(first.val_labels, second.val_labels)
    assert len(list(tmp_path.glob("*.pt"))) == 1 and not list(tmp_path.glob("*.tmp"))


def test_loaded_images_are_mapped_from_the_cache_file_so_processes_share_one_copy(tmp_path: Path) -> None:
    data = load_data(SMALL_SYNTHETIC, cache_dir=tmp_path, size=32)  # the process that decodes maps it too
    cache_file = str(next(tmp_path.glob("*.pt")))
    mapped = [line.split() for line in Path("/proc/self/maps").read_text().splitlines() if line.endswith(cache_file)]
    assert mapped and all(fields[1].endswith("p") for fields in mapped)  # private: a write never reaches the file
    assert data.train_images.sum() > 0


def test_cache_key_depends_on_size_and_options(tmp_path: Path) -> None:
    load_data(SMALL_SYNTHETIC, cache_dir=tmp_path, size=32)
    load_data(SMALL_SYNTHETIC, cache_dir=tmp_path, size=24)
    load_data(SMALL_SYNTHETIC.replace("seed=1", "seed=2"), cache_dir=tmp_path, size=32)
    assert len(list(tmp_path.glob("*.pt"))) == 3


def test_default_cache_dir_follows_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EFFCNN_CACHE", str(tmp_path / "cache"))
    assert default_cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("EFFCNN_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "effcnn-nas"


# --------------------------------------------------------------------------------------------- imagefolder


def test_imagefolder_loads_classes_labels_and_pixels(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "tree", {"train": {"cat": 2, "dog": 3}, "val": {"cat": 1, "dog": 1}})
    data = load_data(f"imagefolder:{root}", cache_dir=tmp_path / "cache", size=16)
    assert data.classes == ["cat", "dog"] and data.num_classes == 2
    assert data.train_images.shape == (5, 3, 16, 16) and data.train_images.dtype == torch.uint8
    assert data.train_labels.tolist() == [0, 0, 1, 1, 1] and data.val_labels.tolist() == [0, 1]
    assert data.train_images[3, :, 5, 7].tolist() == [11, 100, 200]  # dog/img_1.png, solid colour survives
    assert data.name == f"imagefolder:{root}"


def test_imagefolder_reads_jpeg_and_center_crops_the_short_side(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    for split in ("train", "val"):
        for name in ("a", "b"):
            (root / split / name).mkdir(parents=True)
            image = np.zeros((20, 60, 3), dtype=np.uint8)
            image[:, 20:40] = 255  # white middle third; the centre crop of a 20x60 image is exactly that square
            Image.fromarray(image).save(root / split / name / "x.jpg", quality=95)
    data = load_data(f"imagefolder:{root}", cache_dir=tmp_path / "cache", size=10)
    assert data.train_images.shape == (2, 3, 10, 10)
    assert data.train_images[0, :, 2:8, 2:8].float().mean() > 240


def test_imagefolder_second_load_decodes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_tree(tmp_path / "tree", {"train": {"a": 2, "b": 2}, "val": {"a": 1, "b": 1}})
    first = load_data(f"imagefolder:{root}", cache_dir=tmp_path / "cache", size=8)
    monkeypatch.setattr(_loading, "_decode_image", lambda *args: pytest.fail("decoded an image again"))
    second = load_data(f"imagefolder:{root}", cache_dir=tmp_path / "cache", size=8)
    assert torch.equal(first.train_images, second.train_images) and second.classes == ["a", "b"]


def test_imagefolder_changed_tree_is_decoded_again(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "tree", {"train": {"a": 2, "b": 2}, "val": {"a": 1, "b": 1}})
    assert load_data(f"imagefolder:{root}", cache_dir=tmp_path / "cache", size=8).train_labels.shape == (4,)
    Image.new("RGB", (8, 8)).save(root / "train" / "b" / "extra.png")
    assert load_data(f"imagefolder:{root}", cache_dir=tmp_path / "cache", size=8).train_labels.shape == (5,)


def test_imagefolder_missing_path_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_data(f"imagefolder:{tmp_path / 'nowhere'}", cache_dir=tmp_path / "cache")


def test_imagefolder_missing_val_is_a_data_error(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "tree", {"train": {"a": 1}})
    with pytest.raises(DataError, match=r"no val/ folder"):
        load_data(f"imagefolder:{root}", cache_dir=tmp_path / "cache")


def test_imagefolder_empty_class_folder_is_named(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "tree", {"train": {"a": 1}, "val": {"a": 1}})
    (root / "train" / "empty").mkdir()
    (root / "train" / "empty" / "notes.txt").write_text("not an image")
    with pytest.raises(DataError, match=r"class folder .*empty.* has no images"):
        load_data(f"imagefolder:{root}", cache_dir=tmp_path / "cache")


def test_imagefolder_corrupt_image_is_named(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "tree", {"train": {"a": 1, "b": 1}, "val": {"a": 1, "b": 1}})
    (root / "val" / "a" / "broken.jpg").write_bytes(b"not really a jpeg")
    with pytest.raises(DataError, match=r"cannot read image .*broken\.jpg") as error:
        load_data(f"imagefolder:{root}", cache_dir=tmp_path / "cache")
    assert "\n" not in str(error.value)


def test_imagefolder_with_one_class_folder_is_refused(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "tree", {"train": {"only": 2}, "val": {"only": 1}})
    with pytest.raises(DataError, match=r"one class folder \('only'\); classifying needs 2 or more"):
        load_data(f"imagefolder:{root}", cache_dir=tmp_path / "cache")


def test_imagefolder_mismatched_classes_are_a_data_error(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "tree", {"train": {"a": 1, "b": 1}, "val": {"a": 1, "c": 1}})
    with pytest.raises(DataError, match=r"different class folders.*only in train: \['b'\].*only in val: \['c'\]"):
        load_data(f"imagefolder:{root}", cache_dir=tmp_path / "cache")


# --------------------------------------------------------------------------------------------- cifar100


def test_cifar100_fixture_loads_and_upsamples(tmp_path: Path, skip_cifar_md5: None) -> None:
    root = write_fake_cifar100(tmp_path / "cifar")
    data = load_data(f"cifar100:{root}", cache_dir=tmp_path / "cache", size=64)
    assert data.num_classes == 100 and data.classes[:2] == ["class00", "class01"]
    assert data.train_images.shape == (6, 3, 64, 64) and data.val_images.shape == (4, 3, 64, 64)
    assert data.train_labels.tolist() == list(range(6)) and data.val_labels.dtype == torch.int64
    assert torch.equal(data.train_images[5], torch.full((3, 64, 64), 5, dtype=torch.uint8))


def test_cifar100_without_path_uses_the_cache_dir(tmp_path: Path, skip_cifar_md5: None) -> None:
    write_fake_cifar100(tmp_path / "cache")
    assert load_data("cifar100", cache_dir=tmp_path / "cache", size=32).train_images.shape == (6, 3, 32, 32)


def test_cifar100_missing_offline_is_a_data_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(self) -> None:
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torchvision.datasets.CIFAR100, "download", offline)
    with pytest.raises(DataError, match=r"CIFAR-100 is not in .* could not be downloaded.*cifar100:PATH") as error:
        load_data(f"cifar100:{tmp_path / 'empty'}", cache_dir=tmp_path / "cache")
    assert "\n" not in str(error.value)


def test_a_failed_cifar100_download_leaves_no_folder_it_made_behind(tmp_path: Path, monkeypatch) -> None:
    def offline(self) -> None:
        os.makedirs(self.root, exist_ok=True)  # as torchvision's download does before it fetches
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torchvision.datasets.CIFAR100, "download", offline)
    with pytest.raises(DataError):
        load_data(f"cifar100:{tmp_path / 'new'}", cache_dir=tmp_path / "cache")
    assert not (tmp_path / "new").exists()
    (tmp_path / "kept").mkdir()
    with pytest.raises(DataError):
        load_data(f"cifar100:{tmp_path / 'kept'}", cache_dir=tmp_path / "cache")
    assert (tmp_path / "kept").is_dir()  # a folder the user had is never removed


# --------------------------------------------------------------------------------------------- batches


def test_train_batches_shapes_dtypes_and_normalised_range() -> None:
    data = tiny_data(train=10)
    batches = list(train_batches(data, batch_size=4, crop=12, generator=torch.Generator().manual_seed(0)))
    assert len(batches) == 2  # drop_last
    low = (0 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    high = (1 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    for images, labels in batches:
        assert images.shape == (4, 3, 12, 12) and images.dtype == torch.float32
        assert labels.shape == (4,) and labels.dtype == torch.int64
        per_channel = images.transpose(0, 1).flatten(1)
        assert (per_channel.min(1).values >= low - 1e-5).all() and (per_channel.max(1).values <= high + 1e-5).all()


def test_train_batches_cover_the_epoch_once_with_matching_labels() -> None:
    data = tiny_data(train=9, classes=9)  # label i only on image i
    batches = list(train_batches(data, 4, 16, torch.Generator().manual_seed(1), drop_last=False))
    assert [len(labels) for _, labels in batches] == [4, 4, 1]
    assert sorted(torch.cat([labels for _, labels in batches]).tolist()) == list(range(9))


def test_train_batches_are_deterministic_for_a_generator_seed() -> None:
    data = tiny_data()

    def epoch(seed: int) -> list[torch.Tensor]:
        return [images for images, _ in train_batches(data, 5, 8, torch.Generator().manual_seed(seed))]

    assert all(torch.equal(a, b) for a, b in zip(epoch(3), epoch(3)))
    assert not torch.equal(epoch(3)[0], epoch(4)[0])


def test_train_batches_fraction_uses_a_subset() -> None:
    data = tiny_data(train=20)
    batches = list(train_batches(data, 3, 8, torch.Generator().manual_seed(0), fraction=0.5, drop_last=False))
    assert sum(len(labels) for _, labels in batches) == 10
    with pytest.raises(ValueError, match="fraction"):
        next(train_batches(data, 3, 8, torch.Generator(), fraction=0.0))


def test_train_batches_channels_last_flag() -> None:
    data = tiny_data()
    images, _ = next(train_batches(data, 4, 8, torch.Generator().manual_seed(0), channels_last=True))
    assert images.is_contiguous(memory_format=torch.channels_last) and not images.is_contiguous()
    images, _ = next(train_batches(data, 4, 8, torch.Generator().manual_seed(0)))
    assert images.is_contiguous()


def test_random_resized_crop_boxes_match_torchvision_statistics() -> None:
    """Same bounds and, up to sampling noise, the same area and aspect distribution as get_params."""
    count = 4000
    ours = _augment._random_resized_crop_boxes(count, 64, 64, torch.Generator().manual_seed(0))
    with torch.random.fork_rng():
        torch.manual_seed(0)
        params = [RandomResizedCrop.get_params(torch.empty(3, 64, 64), [0.08, 1.0], [3 / 4, 4 / 3])
                  for _ in range(count)]
    reference = torch.tensor([[j, i, j + w, i + h] for i, j, h, w in params], dtype=torch.float32)
    assert torch.equal(ours, ours.round()) and (ours[:, :2] >= 0).all() and (ours[:, 2:] <= 64).all()

    def stats(boxes: torch.Tensor) -> torch.Tensor:
        width, height = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        area, log_ratio = width * height / 64**2, torch.log(width / height)
        assert area.min() >= 0.07 and area.max() <= 1.0 and log_ratio.abs().max() < 0.35
        return torch.stack([area.mean(), area.quantile(0.1), area.quantile(0.9), log_ratio.abs().mean(),
                            (boxes[:, 0] + boxes[:, 2]).mean() / 128])

    assert torch.allclose(stats(ours), stats(reference), atol=0.02)


def test_center_crop_fallback_clamps_the_aspect_ratio() -> None:
    assert _augment._center_crop_fallback(64, 64) == (64.0, 64.0)
    assert _augment._center_crop_fallback(10, 40) == (13.0, 10.0)
    assert _augment._center_crop_fallback(40, 10) == (10.0, 13.0)


def test_whole_image_box_at_full_size_is_exact_and_flip_mirrors() -> None:
    images = tiny_data(train=2, size=16).train_images
    boxes = torch.tensor([[0.0, 0.0, 16.0, 16.0]] * 2)
    out = _augment._crop_flip_normalise(images, boxes, torch.tensor([False, True]), 16, channels_last=False)
    assert torch.allclose(out[0], normalised(images)[0], atol=1e-5)
    assert torch.allclose(out[1], normalised(images)[1].flip(-1), atol=1e-5)


def test_eval_batches_keep_order_and_center_crop_56_of_64() -> None:
    data = tiny_data(val=7, size=64)
    batches = list(eval_batches(data, batch_size=3, crop=56))
    assert [len(labels) for _, labels in batches] == [3, 3, 1]
    assert torch.equal(torch.cat([labels for _, labels in batches]), data.val_labels)
    images = torch.cat([images for images, _ in batches])
    assert torch.allclose(images, normalised(data.val_images[:, :, 4:60, 4:60]), atol=1e-5)


def test_eval_batches_resize_to_crop_over_0875_before_cropping() -> None:
    data = tiny_data(val=2, size=64)
    images, _ = next(eval_batches(data, batch_size=2, crop=32))
    resized = F.interpolate(data.val_images.float(), size=(37, 37), mode="bilinear", antialias=True)
    assert torch.allclose(images, normalised(resized[:, :, 2:34, 2:34]), atol=1e-4)


def test_eval_batches_show_training_images_as_evaluation_sees_them_in_the_order_asked() -> None:
    data = tiny_data(train=6, val=2, size=64)
    order = torch.tensor([4, 0, 2])
    images, labels = next(eval_batches(data, batch_size=3, crop=56, split="train", indices=order))
    assert torch.equal(labels, data.train_labels[order])
    assert torch.allclose(images, normalised(data.train_images[order][:, :, 4:60, 4:60]), atol=1e-5)


def test_eval_batches_refuse_a_split_other_than_train_or_val() -> None:
    with pytest.raises(ValueError, match="split: must be train or val, got 'test'"):
        next(eval_batches(tiny_data(), batch_size=4, crop=8, split="test"))


def test_eval_batches_channels_last_flag() -> None:
    images, _ = next(eval_batches(tiny_data(), batch_size=4, crop=8, channels_last=True))
    assert images.is_contiguous(memory_format=torch.channels_last)


def test_spec_object_is_accepted_by_load_data(tmp_path: Path) -> None:
    data = load_data(DataSpec("synthetic", None, (("classes", "2"), ("train", "1"), ("val", "1"))),
                     cache_dir=tmp_path, size=16)
    assert data.name == "synthetic:classes=2,train=1,val=1" and data.train_images.shape == (2, 3, 16, 16)
