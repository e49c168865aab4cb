"""Shared fixtures: Fashion-MNIST prepared offline from Debian's copy, and a machine without network."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest

from qpconv.replication.acquire import prepare_dataset
from qpconv.replication.loading import LoadedDataset, load_dataset

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="session")
def fashion_mnist_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root holding Fashion-MNIST, prepared from the Debian package ``dataset-fashion-mnist``."""
    if not DEBIAN_FASHION_MNIST.is_dir():
        pytest.skip(f"{DEBIAN_FASHION_MNIST} is absent (install the Debian package dataset-fashion-mnist)")
    root = tmp_path_factory.mktemp("data")
    prepare_dataset("fashion-mnist", DEBIAN_FASHION_MNIST, root)
    return root


@pytest.fixture(scope="session")
def fashion_mnist(fashion_mnist_root: Path) -> LoadedDataset:
    """The whole of Fashion-MNIST in memory, normalised."""
    return load_dataset("fashion-mnist", fashion_mnist_root, download=False)


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every URL request fails at once, as on a machine without internet (whatever this one has)."""

    def refuse(*args, **kwargs):
        raise urllib.error.URLError("network is unreachable (simulated by the test)")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
