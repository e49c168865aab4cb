"""Datasets into memory, stratified subsets and the paper's loaders.

Book: chapter 7, Hybrid models (section "Data").

Preprocessing
    Images are scaled to ``[0, 1]`` and normalised per channel with the usual
    training-set mean and standard deviation of each dataset
    (:class:`~qpconv.replication.datasets.DatasetSpec`). There is **no data
    augmentation**: the paper mentions none, and augmentation would make the
    quantum and classical models' curves depend on an extra, unreported choice.
    Both datasets are small (at most 60,000 images of 32x32x3), so they are held in
    memory as float tensors and batched by a plain ``DataLoader`` over a
    ``TensorDataset``, which is far faster on a CPU than decoding images per epoch.

Offline machines
    torchvision's downloads are the normal path. Where they fail,
    :class:`DatasetNotFoundError` names the ``qpconv data prepare ...`` command that
    builds the data from a local copy (:mod:`~qpconv.replication.acquire`).
"""

from __future__ import annotations

import importlib
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from .datasets import DatasetSpec, get_dataset_spec, resolve_data_root

__all__ = [
    "DatasetNotFoundError",
    "LoadedDataset",
    "load_dataset",
    "make_loaders",
    "stratified_split",
    "stratified_subset",
    "torchvision_splits",
]

DOWNLOAD_TIMEOUT_S = 20.0
"""Seconds a download may wait on one network operation before it counts as failed."""


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is neither in the data root nor downloadable; the message says how to prepare it."""


@dataclass(frozen=True)
class LoadedDataset:
    """A dataset held in memory, normalised.

    Attributes:
        name: dataset name (see :data:`~qpconv.replication.datasets.DATASETS`).
        copy: which copy the pixels came from, e.g. ``"cifar10-jpeg-q75"``.
        train, test: ``TensorDataset`` of float32 images ``(N, C, H, W)`` and int64 labels ``(N,)``.
    """

    name: str
    copy: str
    train: TensorDataset
    test: TensorDataset


def _missing_message(spec: DatasetSpec, root: Path, reason: str) -> str:
    return (
        f"{spec.name} is not in the data root {root} and could not be downloaded ({reason}).\n"
        f"Prepare it from a local copy with:\n\n    {spec.prepare_command} --root {root}\n"
    )


@contextmanager
def _download_timeout() -> Iterator[None]:
    """Make a download without network fail within seconds instead of waiting on the OS timeout."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def torchvision_splits(spec: DatasetSpec, root: Path, download: bool) -> tuple[Any, Any]:
    """Train and test split through torchvision, downloading when allowed.

    Raises:
        DatasetNotFoundError: not in ``root`` and not downloadable; the message names
            the ``qpconv data prepare`` command.
    """
    dataset_class = getattr(importlib.import_module("torchvision.datasets"), spec.torchvision_class)
    try:
        with _download_timeout():
            train, test = (dataset_class(str(root), train=train, download=download) for train in (True, False))
            return train, test
    except (RuntimeError, OSError) as error:
        reason = f"download failed: {' '.join(str(error).split())}" if download else "downloading is disabled"
        raise DatasetNotFoundError(_missing_message(spec, root, reason)) from error


def _as_tensor_dataset(images: np.ndarray | torch.Tensor, labels: Any, spec: DatasetSpec) -> TensorDataset:
    """uint8 images ``(N, H, W)`` or ``(N, H, W, C)`` -> normalised float ``(N, C, H, W)`` + int64 labels."""
    images = torch.as_tensor(images)
    images = images.unsqueeze(1) if images.dim() == 3 else images.permute(0, 3, 1, 2)
    mean = torch.tensor(spec.mean).view(1, -1, 1, 1)
    std = torch.tensor(spec.std).view(1, -1, 1, 1)
    normalised = ((images.float() / 255.0 - mean) / std).contiguous()
    return TensorDataset(normalised, torch.as_tensor(labels, dtype=torch.int64))


def load_dataset(name: str, root: str | os.PathLike | None = None, download: bool = True) -> LoadedDataset:
    """Load a whole dataset into memory, normalised, downloading it first when allowed and needed.

    Book: chapter 7, Hybrid models.

    Args:
        name: ``"fashion-mnist"`` or ``"cifar10"``.
        root: data root (see :func:`~qpconv.replication.datasets.resolve_data_root`).
        download: try torchvision's download when no copy is in the data root.

    Returns:
        A :class:`LoadedDataset` (images ``(N, C, H, W)`` float32, normalised with the
        dataset's mean/std; labels int64) and the label of the copy used: the original
        when it is prepared, else a prepared substitute, else the downloaded original.

    Raises:
        ValueError: unknown ``name``.
        DatasetNotFoundError: no copy in the data root and none downloadable; the message
            gives the ``qpconv data prepare`` command to run.
    """
    spec = get_dataset_spec(name)
    root = resolve_data_root(root)
    if spec.substitute is not None and not spec.has_original(root) and spec.has_substitute(root):
        with np.load(root / spec.substitute.file) as arrays:
            train = _as_tensor_dataset(arrays["train_images"], arrays["train_labels"], spec)
            test = _as_tensor_dataset(arrays["test_images"], arrays["test_labels"], spec)
        return LoadedDataset(name, spec.substitute.copy, train, test)
    train_split, test_split = torchvision_splits(spec, root, download)
    train, test = (_as_tensor_dataset(s.data, s.targets, spec) for s in (train_split, test_split))
    return LoadedDataset(name, spec.original_copy, train, test)


def stratified_split(dataset: TensorDataset, size: int, seed: int) -> tuple[TensorDataset, TensorDataset]:
    """``dataset`` cut in two: the rest, and a stratified subset of ``size`` samples (see :func:`stratified_subset`).

    Book: "What makes it work?" (a validation split carved from the training set).

    Returns:
        ``(rest, subset)``, disjoint, each in the original order.
    """
    images, labels = dataset.tensors
    chosen = _stratified_indices(labels, size, seed)
    keep = torch.ones(len(labels), dtype=torch.bool)
    keep[chosen] = False
    return TensorDataset(images[keep], labels[keep]), TensorDataset(images[chosen], labels[chosen])


def stratified_subset(dataset: TensorDataset, size: int, seed: int) -> TensorDataset:
    """A seeded random subset of ``size`` samples with (almost) equal counts per class.

    Book: chapter 7, Hybrid models.

    Each class gets ``size // n_classes`` samples; the first ``size % n_classes``
    classes (in label order) one more. Samples keep their original order.

    Args:
        dataset: ``TensorDataset(images, labels)``.
        size: number of samples, ``n_classes <= size <= len(dataset)``.
        seed: seed of the choice (same seed, same subset).

    Raises:
        ValueError: ``size`` out of range, or a class has too few samples.
    """
    images, labels = dataset.tensors
    indices = _stratified_indices(labels, size, seed)
    return TensorDataset(images[indices], labels[indices])


def _stratified_indices(labels: torch.Tensor, size: int, seed: int) -> torch.Tensor:
    """Sorted indices of a seeded stratified subset of ``size`` samples (see :func:`stratified_subset`)."""
    classes = torch.unique(labels)
    if not isinstance(size, int) or not len(classes) <= size <= len(labels):
        raise ValueError(f"subset size must be an integer in [{len(classes)}, {len(labels)}], got {size!r}")
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for position, label in enumerate(classes.tolist()):
        members = torch.nonzero(labels == label).flatten()
        wanted = size // len(classes) + (position < size % len(classes))
        if wanted > len(members):
            raise ValueError(f"class {label} has {len(members)} samples, fewer than the {wanted} a subset of {size} needs")
        chosen.append(members[torch.randperm(len(members), generator=generator)[:wanted]])
    return torch.sort(torch.cat(chosen)).values


def make_loaders(
    train: TensorDataset,
    test: TensorDataset,
    seed: int,
    train_batch_size: int = 128,
    test_batch_size: int = 64,
) -> tuple[DataLoader, DataLoader]:
    """The paper's loaders: shuffled training batches of 128, test batches of 64.

    Book: chapter 7, Hybrid models.

    The training loader shuffles with its own ``torch.Generator`` seeded by ``seed``
    (``loader.generator``), whose state a checkpoint saves so a resumed run sees the
    same batches as an uninterrupted one. The test loader keeps the order.

    Returns:
        ``(train_loader, test_loader)``, each yielding ``(images, labels)``.
    """
    generator = torch.Generator().manual_seed(seed)
    train_loader = DataLoader(train, batch_size=train_batch_size, shuffle=True, generator=generator)
    test_loader = DataLoader(test, batch_size=test_batch_size, shuffle=False)
    return train_loader, test_loader
