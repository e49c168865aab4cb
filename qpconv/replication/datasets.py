"""What each dataset is: image size, classes, statistics, and where its copies come from.

Book: chapter 7, Hybrid models (section "Data"); How to run (section "Data").

The facts live in one :class:`DatasetSpec` per dataset, so that loading
(:mod:`~qpconv.replication.loading`), preparing (:mod:`~qpconv.replication.acquire`)
and the models (:mod:`~qpconv.replication.models`) read them from one place and
never branch on a dataset's name. This module imports nothing heavy.

Where the data lives
    The data root is the ``root`` argument, else the environment variable
    ``QPCONV_DATA``, else ``data/`` (relative to the working directory). Inside it
    the torchvision layouts are used (``FashionMNIST/raw/``, ``cifar-10-batches-py/``),
    plus ``cifar10-jpeg-q75/cifar10.npz`` for the JPEG copy of CIFAR-10.

Which copy a run used
    Every loaded dataset carries a ``copy`` label that runs record in their config:
    ``"<name>-original"`` for the official files, or the label of a substitute such as
    ``"cifar10-jpeg-q75"`` (an ImageFolder tree of JPEG files like the shared
    ``cifar10-jpeg.tar.gz``, whose pixels differ slightly from the original). When both
    copies are present the original is used.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from ..registry import lookup

__all__ = [
    "DATASETS",
    "DATA_ROOT_ENV",
    "DEFAULT_DATA_ROOT",
    "DatasetSpec",
    "SourceFormat",
    "Substitute",
    "get_dataset_spec",
    "resolve_data_root",
]

DEFAULT_DATA_ROOT = Path("data")
DATA_ROOT_ENV = "QPCONV_DATA"


class SourceFormat(Enum):
    """How ``qpconv data prepare`` reads a local copy of a dataset."""

    IDX_FILES = "idx-files"
    """A folder with the IDX files, gzipped or not (Fashion-MNIST, e.g. Debian's copy)."""
    CIFAR_ARCHIVE = "cifar-archive"
    """The official ``cifar-10-python.tar.gz`` (or its folder), or an ImageFolder tree of JPEGs."""


@dataclass(frozen=True)
class Substitute:
    """A copy that differs from the original, used only when the original is absent.

    Attributes:
        copy: its label in run configs, e.g. ``"cifar10-jpeg-q75"``.
        file: where the prepared copy lives, relative to the data root (an ``.npz`` of
            uint8 images ``(N, H, W, C)`` and int64 labels, train and test).
    """

    copy: str
    file: Path


@dataclass(frozen=True)
class DatasetSpec:
    """Everything qpconv knows about one dataset.

    Attributes:
        name: the name used everywhere in qpconv (``"fashion-mnist"``, ``"cifar10"``).
        title: how figures and tables write it (``"Fashion-MNIST"``).
        channels, image_size: images are ``(channels, image_size, image_size)``.
        classes: the class names in label order.
        train_images, test_images: the sizes of the training and test splits.
        mean, std: per-channel normalisation constants (training set, pixels in ``[0, 1]``).
        torchvision_class: the ``torchvision.datasets`` class that loads and downloads it.
        original_files: files, relative to the data root, whose presence means the
            original copy is prepared (torchvision's layout).
        source_format: how a local copy is read by ``qpconv data prepare``.
        local_originals: local copies identical to the original, used before any download
            (Debian's Fashion-MNIST).
        local_substitutes: local copies that differ from the original (CIFAR-10 recompressed
            as JPEG), used only when downloading fails; relative paths are relative to the
            working directory.
        substitute: the prepared form of those substitutes, or ``None``.
        prepare_command: the ``qpconv data prepare`` command that builds it offline.
    """

    name: str
    title: str
    channels: int
    image_size: int
    classes: tuple[str, ...]
    train_images: int
    test_images: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    torchvision_class: str
    original_files: tuple[Path, ...]
    source_format: SourceFormat
    local_originals: tuple[Path, ...]
    local_substitutes: tuple[Path, ...]
    substitute: Substitute | None
    prepare_command: str

    @property
    def n_classes(self) -> int:
        """Number of labels."""
        return len(self.classes)

    @property
    def original_copy(self) -> str:
        """The copy label of the original files, ``"<name>-original"``."""
        return f"{self.name}-original"

    def has_original(self, root: Path) -> bool:
        """Whether the original copy is prepared in the data root ``root``."""
        return all((root / file).is_file() for file in self.original_files)

    def has_substitute(self, root: Path) -> bool:
        """Whether a substitute copy is prepared in the data root ``root``."""
        return self.substitute is not None and (root / self.substitute.file).is_file()


_FASHION_MNIST_RAW = Path("FashionMNIST") / "raw"

DATASETS: dict[str, DatasetSpec] = {
    "fashion-mnist": DatasetSpec(
        name="fashion-mnist",
        train_images=60_000,
        test_images=10_000,
        title="Fashion-MNIST",
        channels=1,
        image_size=28,
        classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        mean=(0.2860,),
        std=(0.3530,),
        torchvision_class="FashionMNIST",
        original_files=tuple(
            _FASHION_MNIST_RAW / name
            for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
        ),
        source_format=SourceFormat.IDX_FILES,
        local_originals=(Path("/usr/share/datasets/fashion-mnist"),),
        local_substitutes=(),
        substitute=None,
        prepare_command="qpconv data prepare fashion-mnist --from /usr/share/datasets/fashion-mnist",
    ),
    "cifar10": DatasetSpec(
        name="cifar10",
        train_images=50_000,
        test_images=10_000,
        title="CIFAR-10",
        channels=3,
        image_size=32,
        classes=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
        mean=(0.4914, 0.4822, 0.4465),
        std=(0.2470, 0.2435, 0.2616),
        torchvision_class="CIFAR10",
        original_files=(Path("cifar-10-batches-py") / "data_batch_1",),
        source_format=SourceFormat.CIFAR_ARCHIVE,
        local_originals=(),
        local_substitutes=(Path("../shared/datasets/cifar10-jpeg.tar.gz"),),
        substitute=Substitute("cifar10-jpeg-q75", Path("cifar10-jpeg-q75") / "cifar10.npz"),
        prepare_command="qpconv data prepare cifar10 --from cifar-10-python.tar.gz",
    ),
}
"""The datasets of the experiments, by name (``"fashion-mnist"`` and ``"cifar10"``)."""


def get_dataset_spec(name: str) -> DatasetSpec:
    """The :class:`DatasetSpec` called ``name``.

    Raises:
        ValueError: ``name`` is not one of :data:`DATASETS`.
    """
    return lookup(DATASETS, name, "dataset")


def resolve_data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: ``root`` if given, else ``$QPCONV_DATA``, else ``data/``."""
    if root is not None:
        return Path(root)
    return Path(os.environ.get(DATA_ROOT_ENV) or DEFAULT_DATA_ROOT)
