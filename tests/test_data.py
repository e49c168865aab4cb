"""Data: offline preparation, loading, normalisation, missing-data errors, subsets, loaders."""

from __future__ import annotations

import dataclasses
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import TensorDataset

from qpconv.replication import datasets as datasets_module
from qpconv.replication.acquire import download_dataset, ensure_dataset, prepare_dataset
from qpconv.replication.datasets import DATASETS, resolve_data_root
from qpconv.replication.loading import DatasetNotFoundError, load_dataset, make_loaders, stratified_subset

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def test_data_root_argument_then_environment_then_default(monkeypatch, tmp_path):
    monkeypatch.setenv("QPCONV_DATA", str(tmp_path / "from-env"))
    assert resolve_data_root(tmp_path / "given") == tmp_path / "given"
    assert resolve_data_root() == tmp_path / "from-env"
    monkeypatch.delenv("QPCONV_DATA")
    assert resolve_data_root() == Path("data")


def test_fashion_mnist_prepared_offline_loads_whole_and_normalised(fashion_mnist):
    train_images, train_labels = fashion_mnist.train.tensors
    test_images, test_labels = fashion_mnist.test.tensors
    assert fashion_mnist.copy == "fashion-mnist-original"
    assert train_images.shape == (60_000, 1, 28, 28) and test_images.shape == (10_000, 1, 28, 28)
    assert train_images.dtype == torch.float32 and train_labels.dtype == torch.int64
    assert torch.equal(torch.bincount(train_labels), torch.full((10,), 6_000))
    assert torch.equal(torch.bincount(test_labels), torch.full((10,), 1_000))
    # the standard constants really standardise the training set
    assert abs(train_images.mean().item()) < 0.01
    assert abs(train_images.std().item() - 1) < 0.01


def test_preparing_again_keeps_the_files(fashion_mnist_root):
    raw = fashion_mnist_root / "FashionMNIST" / "raw"
    before = {path.name: path.stat().st_mtime_ns for path in raw.iterdir()}
    assert prepare_dataset("fashion-mnist", "/usr/share/datasets/fashion-mnist", fashion_mnist_root) == "fashion-mnist-original"
    assert {path.name: path.stat().st_mtime_ns for path in raw.iterdir()} == before


def test_prepare_fashion_mnist_from_a_folder_without_the_files(tmp_path):
    (tmp_path / "source").mkdir()
    with pytest.raises(ValueError, match=r"not a Fashion-MNIST copy: train-images-idx3-ubyte\.gz is missing"):
        prepare_dataset("fashion-mnist", tmp_path / "source", tmp_path / "root")


def test_prepare_from_a_path_that_does_not_exist(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file or folder: .*nowhere"):
        prepare_dataset("cifar10", tmp_path / "nowhere", tmp_path / "root")


def test_unknown_dataset(tmp_path):
    with pytest.raises(ValueError, match=r"unknown dataset 'svhn'; expected one of \['fashion-mnist', 'cifar10'\]"):
        load_dataset("svhn", tmp_path)


@pytest.mark.parametrize("name", list(DATASETS))
def test_missing_data_without_download_names_the_prepare_command(tmp_path, name):
    with pytest.raises(DatasetNotFoundError, match=f"qpconv data prepare {name} --from .* --root {tmp_path}") as info:
        load_dataset(name, tmp_path, download=False)
    assert isinstance(info.value, FileNotFoundError)


@pytest.mark.parametrize("name", list(DATASETS))
def test_failed_download_is_one_clear_error_at_once(tmp_path, offline, name):
    start = time.perf_counter()
    with pytest.raises(
        DatasetNotFoundError, match=r"could not be downloaded \(download failed: .*network is unreachable"
    ) as info:
        load_dataset(name, tmp_path)
    assert time.perf_counter() - start < 10
    assert DATASETS[name].prepare_command in str(info.value)
    with pytest.raises(DatasetNotFoundError, match=f"qpconv data prepare {name}"):
        download_dataset(name, tmp_path)


def test_fashion_mnist_prepare_command_in_the_error_is_the_debian_one():
    assert DATASETS["fashion-mnist"].prepare_command == (
        "qpconv data prepare fashion-mnist --from /usr/share/datasets/fashion-mnist"
    )


def write_image_folder(base: Path, per_class: int, classes=CIFAR10_CLASSES) -> dict[str, np.ndarray]:
    """A tiny CIFAR-10-like ImageFolder copy: one flat colour per class (JPEG keeps flat colours)."""
    colours = {}
    for label, name in enumerate(classes):
        colour = np.array([20 * label + 10, 250 - 20 * label, 128], dtype=np.uint8)
        colours[name] = colour
        for split in ("train", "test"):
            folder = base / split / name
            folder.mkdir(parents=True)
            for index in range(per_class):
                pixels = np.broadcast_to(colour, (32, 32, 3)).copy()
                Image.fromarray(pixels).save(folder / f"{index:04d}.jpg", quality=75)
    return colours


def check_jpeg_copy(root: Path, colours: dict[str, np.ndarray], per_class: int) -> None:
    loaded = load_dataset("cifar10", root, download=False)
    assert loaded.copy == "cifar10-jpeg-q75"
    images, labels = loaded.train.tensors
    assert images.shape == (10 * per_class, 3, 32, 32)
    assert torch.equal(labels, torch.arange(10).repeat_interleave(per_class))
    assert loaded.test.tensors[0].shape == (10 * per_class, 3, 32, 32)
    mean = torch.tensor(DATASETS["cifar10"].mean).view(1, 3, 1, 1)
    std = torch.tensor(DATASETS["cifar10"].std).view(1, 3, 1, 1)
    pixels = (images * std + mean) * 255
    for label, name in enumerate(CIFAR10_CLASSES):
        expected = torch.tensor(colours[name], dtype=torch.float32).view(1, 3, 1, 1)
        assert (pixels[labels == label] - expected).abs().max() < 4  # JPEG error on a flat colour


def test_cifar10_from_an_image_folder_tarball(tmp_path):
    colours = write_image_folder(tmp_path / "tree" / "cifar10-jpeg", per_class=2)
    tarball = tmp_path / "cifar10-jpeg.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(tmp_path / "tree" / "cifar10-jpeg", arcname="cifar10-jpeg")
    root = tmp_path / "root"
    assert prepare_dataset("cifar10", tarball, root) == "cifar10-jpeg-q75"
    check_jpeg_copy(root, colours, per_class=2)
    assert [p.name for p in root.iterdir()] == ["cifar10-jpeg-q75"]  # the extraction scratch is gone


def test_cifar10_from_an_image_folder_tree(tmp_path):
    colours = write_image_folder(tmp_path / "tree", per_class=3)
    assert prepare_dataset("cifar10", tmp_path / "tree", tmp_path / "root") == "cifar10-jpeg-q75"
    check_jpeg_copy(tmp_path / "root", colours, per_class=3)


def test_cifar10_image_folder_with_other_classes_is_refused(tmp_path):
    write_image_folder(tmp_path / "tree", per_class=1, classes=[f"class{i}" for i in range(10)])
    with pytest.raises(ValueError, match="expected the CIFAR-10 classes"):
        prepare_dataset("cifar10", tmp_path / "tree", tmp_path / "root")


def test_cifar10_folder_without_splits_is_refused(tmp_path):
    (tmp_path / "tree" / "images").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"holds no train/ and test/ folders"):
        prepare_dataset("cifar10", tmp_path / "tree", tmp_path / "root")


def toy_dataset(counts: list[int]) -> TensorDataset:
    labels = torch.cat([torch.full((n,), label) for label, n in enumerate(counts)])
    return TensorDataset(torch.arange(len(labels)).float().view(-1, 1), labels)


def test_stratified_subset_is_balanced_seeded_and_ordered():
    dataset = toy_dataset([50, 80, 30])
    subset = stratified_subset(dataset, 61, seed=3)
    positions, labels = subset.tensors
    assert torch.bincount(labels).tolist() == [21, 20, 20]  # the remainder goes to the first classes
    assert torch.equal(positions.flatten(), positions.flatten().sort().values)
    assert torch.equal(dataset.tensors[1][positions.flatten().long()], labels)
    again = stratified_subset(dataset, 61, seed=3).tensors[0]
    other = stratified_subset(dataset, 61, seed=4).tensors[0]
    assert torch.equal(again, positions) and not torch.equal(other, positions)


def test_stratified_subset_size_out_of_range():
    with pytest.raises(ValueError, match=r"subset size must be an integer in \[3, 160\], got 161"):
        stratified_subset(toy_dataset([50, 80, 30]), 161, seed=0)
    with pytest.raises(ValueError, match=r"class 2 has 30 samples, fewer than the 40 a subset of 120 needs"):
        stratified_subset(toy_dataset([50, 80, 30]), 120, seed=0)


def test_loaders_batch_as_the_paper_and_shuffle_by_seed():
    dataset = toy_dataset([150, 150])
    train, test = make_loaders(dataset, dataset, seed=5)
    first_epoch, second_epoch = ([batch for batch, _ in train] for _ in range(2))
    assert [len(batch) for batch in first_epoch] == [128, 128, 44]
    assert [len(labels) for _, labels in test] == [64] * 4 + [44]
    replay = [batch for batch, _ in make_loaders(dataset, dataset, seed=5)[0]]
    assert torch.equal(torch.cat(first_epoch), torch.cat(replay))
    assert not torch.equal(torch.cat(first_epoch), torch.cat(second_epoch))
    assert torch.equal(torch.cat(first_epoch).sort(dim=0).values, dataset.tensors[0])  # a permutation
    assert torch.equal(torch.cat([x for x, _ in test]), dataset.tensors[0])


def with_copies(monkeypatch, name: str, **copies) -> None:
    """Point a dataset's spec at other local copies for one test."""
    monkeypatch.setitem(datasets_module.DATASETS, name, dataclasses.replace(datasets_module.DATASETS[name], **copies))


def test_ensure_prepares_the_local_original_then_keeps_it(fashion_mnist_root, tmp_path, monkeypatch):
    source = fashion_mnist_root / "FashionMNIST" / "raw"  # uncompressed IDX files are a valid source too
    with_copies(monkeypatch, "fashion-mnist", local_originals=(tmp_path / "absent", source))
    root = tmp_path / "root"
    assert ensure_dataset("fashion-mnist", root) == f"prepared from {source}"
    assert ensure_dataset("fashion-mnist", root) == "present"
    assert load_dataset("fashion-mnist", root, download=False).copy == "fashion-mnist-original"


def test_ensure_falls_back_to_a_local_substitute_when_offline(tmp_path, offline, monkeypatch):
    write_image_folder(tmp_path / "tree", per_class=1)
    with_copies(monkeypatch, "cifar10", local_substitutes=(tmp_path / "tree",))
    assert ensure_dataset("cifar10", tmp_path / "root") == f"prepared from {tmp_path / 'tree'}"
    assert load_dataset("cifar10", tmp_path / "root", download=False).copy == "cifar10-jpeg-q75"


def test_ensure_without_any_copy_offline_names_the_prepare_command(tmp_path, offline, monkeypatch):
    with_copies(monkeypatch, "cifar10", local_substitutes=(tmp_path / "absent.tar.gz",))
    with pytest.raises(DatasetNotFoundError, match="qpconv data prepare cifar10 --from cifar-10-python.tar.gz"):
        ensure_dataset("cifar10", tmp_path / "root")
