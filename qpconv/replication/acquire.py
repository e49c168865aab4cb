"""Getting the datasets: torchvision downloads, and offline preparation from local copies.

Book: How to run (section "Data"); chapter 7, Hybrid models.

``torchvision`` downloads are the normal path (``qpconv data download ...``). Where
they fail, :func:`prepare_dataset` builds the data in the data root from a local copy
(``qpconv data prepare ...``), and :func:`ensure_dataset` (``qpconv data get``, used
by ``make data``) tries every way in a fixed order. What each dataset's copies are is
stated in its :class:`~qpconv.replication.datasets.DatasetSpec`.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .atomic import atomic_write
from .datasets import DatasetSpec, SourceFormat, get_dataset_spec, resolve_data_root
from .loading import DatasetNotFoundError, load_dataset, torchvision_splits

__all__ = ["download_dataset", "ensure_dataset", "prepare_dataset"]


def download_dataset(name: str, root: str | os.PathLike | None = None) -> Path:
    """Download the original dataset with torchvision into the data root (no-op when present).

    Returns:
        The data root.

    Raises:
        DatasetNotFoundError: the download failed (e.g. no internet); the message gives the
            ``qpconv data prepare`` command to use instead.
    """
    root = resolve_data_root(root)
    torchvision_splits(get_dataset_spec(name), root, download=True)
    return root


def ensure_dataset(name: str, root: str | os.PathLike | None = None) -> str:
    """Make ``name`` loadable from the data root by whatever way works here (``make data``).

    In order: keep a copy already in the data root; else prepare it from a local copy
    identical to the original (``spec.local_originals``); else download it with
    torchvision; else prepare it from a local substitute (``spec.local_substitutes``,
    e.g. the JPEG copy of CIFAR-10).

    Returns:
        How the data was obtained: ``"present"``, ``"prepared from <path>"`` or ``"downloaded"``.

    Raises:
        ValueError: unknown ``name``.
        DatasetNotFoundError: no way worked; the message says how to get the data.
    """
    spec = get_dataset_spec(name)
    root = resolve_data_root(root)
    if spec.has_original(root) or spec.has_substitute(root):
        return "present"
    for source in spec.local_originals:
        if source.exists():
            prepare_dataset(name, source, root)
            return f"prepared from {source}"
    try:
        download_dataset(name, root)
        return "downloaded"
    except DatasetNotFoundError:
        for source in spec.local_substitutes:
            if source.exists():
                prepare_dataset(name, source, root)
                return f"prepared from {source}"
        raise


def prepare_dataset(name: str, source: str | os.PathLike, root: str | os.PathLike | None = None) -> str:
    """Build a dataset in the data root from a local copy (for machines without internet).

    Sources, by the dataset's ``source_format``:

    * IDX files (``fashion-mnist``): a folder with the four IDX files, gzipped
      (``*-ubyte.gz``, as in Debian's ``/usr/share/datasets/fashion-mnist``) or not. They
      are decompressed into ``<root>/FashionMNIST/raw/``, where torchvision finds them.
    * CIFAR archive (``cifar10``): the official ``cifar-10-python.tar.gz`` (or its
      extracted ``cifar-10-batches-py`` folder), extracted into the data root; or an
      ImageFolder tree of JPEG files ``.../{train,test}/<class>/*.jpg`` (folder or
      tarball, e.g. ``cifar10-jpeg.tar.gz``), decoded once into the substitute's ``.npz``
      (uint8 ``N x 32 x 32 x 3`` images and labels) so that loading takes a second.

    Files already prepared are kept, so running it again is cheap. Every file is written
    atomically: an interrupted preparation leaves no half-written file behind.

    Returns:
        The label of the copy that runs now load (the original is used when both of a
        dataset's copies are in the data root). The data is loaded once as a check.

    Raises:
        ValueError: unknown ``name``, ``source`` is not a copy of that dataset, or
            ``root`` exists and is not a folder.
        FileNotFoundError: ``source`` does not exist.
    """
    spec = get_dataset_spec(name)
    source, root = Path(source), resolve_data_root(root)
    if not source.exists():
        raise FileNotFoundError(f"no such file or folder: {source}")
    if root.exists() and not root.is_dir():
        raise ValueError(f"the data root {root} is a file, not a folder")
    root.mkdir(parents=True, exist_ok=True)
    _PREPARERS[spec.source_format](spec, source, root)
    return load_dataset(name, root, download=False).copy


def _prepare_idx_files(spec: DatasetSpec, source: Path, root: Path) -> None:
    for target in (root / file for file in spec.original_files):
        if target.is_file():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if (source / f"{target.name}.gz").is_file():
            with gzip.open(source / f"{target.name}.gz", "rb") as src, atomic_write(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
        elif (source / target.name).is_file():
            with open(source / target.name, "rb") as src, atomic_write(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
        else:
            expected = ", ".join(f"{file.name}.gz" for file in spec.original_files)
            raise ValueError(f"{source} is not a {spec.title} copy: {target.name}.gz is missing; expected the files {expected}")


def _prepare_cifar_archive(spec: DatasetSpec, source: Path, root: Path) -> None:
    """Extract the original, or convert an ImageFolder copy of JPEGs, unless already prepared."""
    marker = spec.original_files[0].name  # data_batch_1: only the original has it
    original_dir = spec.original_files[0].parent
    if source.is_dir():
        is_original = (source / marker).is_file()
    elif tarfile.is_tarfile(source):
        with tarfile.open(source) as tar:
            is_original = any(Path(member).name == marker for member in tar.getnames())
    else:
        raise ValueError(f"{source} is neither a folder nor a tarball of {spec.title}")
    if is_original:
        target = root / original_dir
    elif spec.substitute is not None:
        target = root / spec.substitute.file
    else:
        raise ValueError(f"{source} is not an original copy of {spec.title}")
    if target.exists():
        return
    if source.is_dir() and is_original:
        _copy_tree_atomically(source, target)
    elif source.is_dir():
        _convert_image_folders(spec, source, target)
    else:
        with tempfile.TemporaryDirectory(dir=root, prefix=".extract-") as scratch:
            from torchvision.datasets.utils import extract_archive

            extract_archive(str(source), scratch)
            if is_original:
                os.replace(Path(scratch) / original_dir, target)
            else:
                _convert_image_folders(spec, Path(scratch), target)


_PREPARERS: dict[SourceFormat, Callable[[DatasetSpec, Path, Path], None]] = {
    SourceFormat.IDX_FILES: _prepare_idx_files,
    SourceFormat.CIFAR_ARCHIVE: _prepare_cifar_archive,
}


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


def _read_image_folder(spec: DatasetSpec, folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """uint8 ``(N, H, W, C)`` images and int64 labels of an ImageFolder tree of JPEGs."""
    from torchvision import datasets

    try:
        folder_set = datasets.ImageFolder(str(folder), is_valid_file=lambda p: p.lower().endswith((".jpg", ".jpeg")))
    except FileNotFoundError as error:
        raise ValueError(f"{folder} is not a {spec.title} ImageFolder tree of JPEG files: {error}") from error
    if tuple(folder_set.classes) != spec.classes:
        raise ValueError(f"{folder} has classes {folder_set.classes}; expected the {spec.title} classes {list(spec.classes)}")
    images = np.stack([np.asarray(folder_set.loader(path).convert("RGB")) for path, _ in folder_set.samples])
    expected = (spec.image_size, spec.image_size, spec.channels)
    if images.shape[1:] != expected:
        raise ValueError(f"{folder} holds images of shape {images.shape[1:]}; expected {expected}")
    return images, np.asarray(folder_set.targets, dtype=np.int64)


def _convert_image_folders(spec: DatasetSpec, source: Path, target: Path) -> None:
    train_folder, test_folder = _find_split_folders(source)
    train_images, train_labels = _read_image_folder(spec, train_folder)
    test_images, test_labels = _read_image_folder(spec, test_folder)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(target, "wb") as file:
        np.savez(file, train_images=train_images, train_labels=train_labels, test_images=test_images, test_labels=test_labels)
