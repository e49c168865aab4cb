"""Fashion-MNIST and CIFAR-10: download, offline preparation, in-memory loading, subsets and loaders.

Book: chapter 7, Hybrid models (section "Data").

Where the data lives
    The data root is the ``root`` argument, else the environment variable
    ``QPCONV_DATA``, else ``data/`` (relative to the working directory). Inside it
    the torchvision layouts are used (``FashionMNIST/raw/``, ``cifar-10-batches-py/``),
    plus ``cifar10-jpeg-q75/cifar10.npz`` for the JPEG copy of CIFAR-10.

Which copy a run used
    Every loaded dataset carries a ``copy`` label that runs record in their config:
    ``"fashion-mnist-original"``, ``"cifar10-original"`` (the pickled batches of the
    official ``cifar-10-python.tar.gz``) or ``"cifar10-jpeg-q75"`` (an ImageFolder
    tree of JPEG files such as the shared ``cifar10-jpeg.tar.gz``, whose pixels differ
    slightly from the original). When both CIFAR-10 copies are present the original
    is used.

Offline machines
    ``torchvision`` downloads are the normal path (``qpconv data download ...``). Where
    they fail, :class:`DatasetNotFoundError` names the ``qpconv data prepare ...``
    command that builds the data from a local copy (:func:`prepare_dataset`).

Preprocessing
    Images are scaled to ``[0, 1]`` and normalised per channel with the usual
    training-set mean and standard deviation of each dataset. There is **no data
    augmentation**: the paper mentions none, and augmentation would make the
    quantum and classical models' curves depend on an extra, unreported choice.
    Both datasets are small (at most 60,000 images of 32x32x3), so they are held in
    memory as float tensors and batched by a plain ``DataLoader`` over a
    ``TensorDataset``, which is far faster on a CPU than decoding images per epoch.
"""

from __future__ import annotations

import gzip
import os
import shutil
import socket
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset
from torchvision import datasets
from torchvision.datasets.utils import extract_archive

from .registry import lookup
from .results import atomic_write

__all__ = [
    "DATASETS",
    "DEFAULT_DATA_ROOT",
    "DatasetNotFoundError",
    "DatasetSpec",
    "LoadedDataset",
    "download_dataset",
    "ensure_dataset",
    "get_dataset_spec",
    "load_dataset",
    "make_loaders",
    "prepare_dataset",
    "resolve_data_root",
    "stratified_subset",
]

DEFAULT_DATA_ROOT = Path("data")
DATA_ROOT_ENV = "QPCONV_DATA"
DOWNLOAD_TIMEOUT_S = 20.0
"""Seconds a download may wait on one network operation before it counts as failed."""

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
FASHION_MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
CIFAR10_JPEG_FILE = Path("cifar10-jpeg-q75") / "cifar10.npz"
CIFAR10_ORIGINAL_DIR = "cifar-10-batches-py"
LOCAL_ORIGINALS: dict[str, tuple[Path, ...]] = {
    "fashion-mnist": (Path("/usr/share/datasets/fashion-mnist"),),
    "cifar10": (),
}
"""Local copies identical to the originals, used before any download (Debian's Fashion-MNIST)."""
LOCAL_SUBSTITUTES: dict[str, tuple[Path, ...]] = {
    "fashion-mnist": (),
    "cifar10": (Path("../shared/datasets/cifar10-jpeg.tar.gz"),),
}
"""Local copies that differ from the originals (CIFAR-10 recompressed as JPEG), used only when
downloading fails; relative paths are relative to the working directory."""


@dataclass(frozen=True)
class DatasetSpec:
    """What the models and the loaders need to know about one dataset.

    Attributes:
        name: the name used everywhere in qpconv (``"fashion-mnist"``, ``"cifar10"``).
        channels, image_size: images are ``(channels, image_size, image_size)``.
        n_classes: number of labels.
        mean, std: per-channel normalisation constants (training set, pixels in ``[0, 1]``).
        prepare_command: the ``qpconv data prepare`` command that builds it offline.
    """

    name: str
    channels: int
    image_size: int
    n_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    prepare_command: str


DATASETS: dict[str, DatasetSpec] = {
    "fashion-mnist": DatasetSpec(
        name="fashion-mnist",
        channels=1,
        image_size=28,
        n_classes=10,
        mean=(0.2860,),
        std=(0.3530,),
        prepare_command="qpconv data prepare fashion-mnist --from /usr/share/datasets/fashion-mnist",
    ),
    "cifar10": DatasetSpec(
        name="cifar10",
        channels=3,
        image_size=32,
        n_classes=10,
        mean=(0.4914, 0.4822, 0.4465),
        std=(0.2470, 0.2435, 0.2616),
        prepare_command="qpconv data prepare cifar10 --from cifar-10-python.tar.gz",
    ),
}


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is neither in the data root nor downloadable; the message says how to prepare it."""


@dataclass(frozen=True)
class LoadedDataset:
    """A dataset held in memory, normalised.

    Attributes:
        name: dataset name (see :data:`DATASETS`).
        copy: which copy the pixels came from, e.g. ``"cifar10-jpeg-q75"`` (module docstring).
        train, test: ``TensorDataset`` of float32 images ``(N, C, H, W)`` and int64 labels ``(N,)``.
    """

    name: str
    copy: str
    train: TensorDataset
    test: TensorDataset


def get_dataset_spec(name: str) -> DatasetSpec:
    """The :class:`DatasetSpec` called ``name``.

    Book: chapter 7, Hybrid models.

    Raises:
        ValueError: ``name`` is not one of :data:`DATASETS`.
    """
    return lookup(DATASETS, name, "dataset")


def resolve_data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: ``root`` if given, else ``$QPCONV_DATA``, else ``data/``.

    Book: chapter 7, Hybrid models.
    """
    if root is not None:
        return Path(root)
    return Path(os.environ.get(DATA_ROOT_ENV) or DEFAULT_DATA_ROOT)


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


def _torchvision_splits(name: str, root: Path, download: bool) -> tuple[datasets.VisionDataset, datasets.VisionDataset]:
    """Train and test split through torchvision, downloading when allowed; clear error when impossible."""
    spec = get_dataset_spec(name)
    dataset_class = {"fashion-mnist": datasets.FashionMNIST, "cifar10": datasets.CIFAR10}[name]
    try:
        with _download_timeout():
            return tuple(dataset_class(str(root), train=train, download=download) for train in (True, False))
    except (RuntimeError, OSError) as error:
        reason = f"download failed: {' '.join(str(error).split())}" if download else "downloading is disabled"
        raise DatasetNotFoundError(_missing_message(spec, root, reason)) from error


def _as_tensor_dataset(images: np.ndarray | torch.Tensor, labels, spec: DatasetSpec) -> TensorDataset:
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
        root: data root (see :func:`resolve_data_root`).
        download: try torchvision's download when no copy is in the data root.

    Returns:
        A :class:`LoadedDataset` (images ``(N, C, H, W)`` float32, normalised with the
        dataset's mean/std; labels int64) and the label of the copy used.

    Raises:
        ValueError: unknown ``name``.
        DatasetNotFoundError: no copy in the data root and none downloadable; the message
            gives the ``qpconv data prepare`` command to run.
    """
    spec = get_dataset_spec(name)
    root = resolve_data_root(root)
    jpeg_file = root / CIFAR10_JPEG_FILE
    if name == "cifar10" and not (root / CIFAR10_ORIGINAL_DIR).is_dir() and jpeg_file.is_file():
        with np.load(jpeg_file) as arrays:
            train = _as_tensor_dataset(arrays["train_images"], arrays["train_labels"], spec)
            test = _as_tensor_dataset(arrays["test_images"], arrays["test_labels"], spec)
        return LoadedDataset(name, "cifar10-jpeg-q75", train, test)
    train_split, test_split = _torchvision_splits(name, root, download)
    train, test = (_as_tensor_dataset(s.data, s.targets, spec) for s in (train_split, test_split))
    return LoadedDataset(name, f"{name}-original", train, test)


def download_dataset(name: str, root: str | os.PathLike | None = None) -> Path:
    """Download the original dataset with torchvision into the data root (no-op when present).

    Book: chapter 7, Hybrid models.

    Returns:
        The data root.

    Raises:
        DatasetNotFoundError: the download failed (e.g. no internet); the message gives the
            ``qpconv data prepare`` command to use instead.
    """
    root = resolve_data_root(root)
    _torchvision_splits(name, root, download=True)
    return root


def _is_prepared(name: str, root: Path) -> bool:
    if name == "fashion-mnist":
        return all((root / "FashionMNIST" / "raw" / file).is_file() for file in FASHION_MNIST_FILES)
    return (root / CIFAR10_ORIGINAL_DIR / "data_batch_1").is_file() or (root / CIFAR10_JPEG_FILE).is_file()


def ensure_dataset(name: str, root: str | os.PathLike | None = None) -> str:
    """Make ``name`` loadable from the data root by whatever way works here (``make data``).

    Book: How to run (section "Data").

    In order: keep a copy already in the data root; else prepare it from a local copy
    identical to the original (:data:`LOCAL_ORIGINALS`); else download it with
    torchvision; else prepare it from a local substitute (:data:`LOCAL_SUBSTITUTES`, e.g.
    the JPEG copy of CIFAR-10).

    Returns:
        How the data was obtained: ``"present"``, ``"prepared from <path>"`` or ``"downloaded"``.

    Raises:
        ValueError: unknown ``name``.
        DatasetNotFoundError: no way worked; the message says how to get the data.
    """
    get_dataset_spec(name)
    root = resolve_data_root(root)
    if _is_prepared(name, root):
        return "present"
    for source in LOCAL_ORIGINALS[name]:
        if source.exists():
            prepare_dataset(name, source, root)
            return f"prepared from {source}"
    try:
        download_dataset(name, root)
        return "downloaded"
    except DatasetNotFoundError:
        for source in LOCAL_SUBSTITUTES[name]:
            if source.exists():
                prepare_dataset(name, source, root)
                return f"prepared from {source}"
        raise


def prepare_dataset(name: str, source: str | os.PathLike, root: str | os.PathLike | None = None) -> str:
    """Build a dataset in the data root from a local copy (for machines without internet).

    Book: chapter 7, Hybrid models.

    Sources:

    * ``fashion-mnist``: a folder with the four IDX files, gzipped (``*-ubyte.gz``, as
      in Debian's ``/usr/share/datasets/fashion-mnist``) or not. They are decompressed
      into ``<root>/FashionMNIST/raw/``, where torchvision finds them.
    * ``cifar10``: the official ``cifar-10-python.tar.gz`` (or its extracted
      ``cifar-10-batches-py`` folder), extracted into the data root; or an ImageFolder
      tree of JPEG files ``.../{train,test}/<class>/*.jpg`` (folder or tarball, e.g.
      ``cifar10-jpeg.tar.gz``), decoded once into ``<root>/cifar10-jpeg-q75/cifar10.npz``
      (uint8 ``N x 32 x 32 x 3`` images and labels) so that loading takes a second.

    Files already prepared are kept, so running it again is cheap. Every file is written
    atomically: an interrupted preparation leaves no half-written file behind.

    Returns:
        The label of the copy that runs now load (``"fashion-mnist-original"``,
        ``"cifar10-original"`` or ``"cifar10-jpeg-q75"``; the original CIFAR-10 is used
        when both of its copies are in the data root). The data is loaded once as a check.

    Raises:
        ValueError: unknown ``name``, or ``source`` is not a copy of that dataset.
        FileNotFoundError: ``source`` does not exist.
    """
    get_dataset_spec(name)
    source, root = Path(source), resolve_data_root(root)
    if not source.exists():
        raise FileNotFoundError(f"no such file or folder: {source}")
    root.mkdir(parents=True, exist_ok=True)
    if name == "fashion-mnist":
        _prepare_fashion_mnist(source, root)
    else:
        _prepare_cifar10(source, root)
    return load_dataset(name, root, download=False).copy


def _prepare_fashion_mnist(source: Path, root: Path) -> None:
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name in FASHION_MNIST_FILES:
        target = raw / name
        if target.is_file():
            continue
        if (source / f"{name}.gz").is_file():
            with gzip.open(source / f"{name}.gz", "rb") as src, atomic_write(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
        elif (source / name).is_file():
            with open(source / name, "rb") as src, atomic_write(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
        else:
            raise ValueError(
                f"{source} is not a Fashion-MNIST copy: {name}.gz is missing; expected the four files "
                f"{', '.join(f + '.gz' for f in FASHION_MNIST_FILES)}"
            )


def _prepare_cifar10(source: Path, root: Path) -> None:
    """Extract the original, or convert an ImageFolder copy of JPEGs, unless already prepared."""
    if source.is_dir():
        is_original = (source / "data_batch_1").is_file()
    elif tarfile.is_tarfile(source):
        with tarfile.open(source) as tar:
            is_original = any(Path(member).name == "data_batch_1" for member in tar.getnames())
    else:
        raise ValueError(f"{source} is neither a folder nor a tarball of CIFAR-10")
    target = root / (CIFAR10_ORIGINAL_DIR if is_original else CIFAR10_JPEG_FILE)
    if target.exists():
        return
    if source.is_dir() and is_original:
        _copy_tree_atomically(source, target)
    elif source.is_dir():
        _convert_image_folders(source, target)
    else:
        with tempfile.TemporaryDirectory(dir=root, prefix=".extract-") as scratch:
            extract_archive(str(source), scratch)
            if is_original:
                os.replace(Path(scratch) / CIFAR10_ORIGINAL_DIR, target)
            else:
                _convert_image_folders(Path(scratch), target)


def _copy_tree_atomically(source: Path, target: Path) -> None:
    scratch = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.copytree(source, scratch)
    os.replace(scratch, target)


def _find_split_folders(source: Path) -> tuple[Path, Path]:
    """The ``train`` and ``test`` folders at or below ``source`` (one level of nesting allowed)."""
    for base in (source, *sorted(p for p in source.iterdir() if p.is_dir())):
        if (base / "train").is_dir() and (base / "test").is_dir():
            return base / "train", base / "test"
    raise ValueError(f"{source} holds no train/ and test/ folders; expected <copy>/{{train,test}}/<class>/*.jpg")


def _read_image_folder(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """uint8 ``(N, 32, 32, 3)`` images and int64 labels of an ImageFolder tree of CIFAR-10 JPEGs."""
    try:
        folder_set = datasets.ImageFolder(str(folder), is_valid_file=lambda p: p.lower().endswith((".jpg", ".jpeg")))
    except FileNotFoundError as error:
        raise ValueError(f"{folder} is not a CIFAR-10 ImageFolder tree of JPEG files: {error}") from error
    if tuple(folder_set.classes) != CIFAR10_CLASSES:
        raise ValueError(f"{folder} has classes {folder_set.classes}; expected the CIFAR-10 classes {list(CIFAR10_CLASSES)}")
    images = np.stack([np.asarray(folder_set.loader(path).convert("RGB")) for path, _ in folder_set.samples])
    if images.shape[1:] != (32, 32, 3):
        raise ValueError(f"{folder} holds images of shape {images.shape[1:]}; expected 32x32 RGB")
    return images, np.asarray(folder_set.targets, dtype=np.int64)


def _convert_image_folders(source: Path, target: Path) -> None:
    train_folder, test_folder = _find_split_folders(source)
    train_images, train_labels = _read_image_folder(train_folder)
    test_images, test_labels = _read_image_folder(test_folder)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(target, "wb") as file:
        np.savez(
            file, train_images=train_images, train_labels=train_labels, test_images=test_images, test_labels=test_labels
        )


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
    indices = torch.sort(torch.cat(chosen)).values
    return TensorDataset(images[indices], labels[indices])


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
