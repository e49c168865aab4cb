"""The distribution: ``python -m build`` makes an sdist and a wheel that ``twine check`` accepts, and the
wheel, installed alone (``pip install --no-deps --target``) with no source tree on the path, runs the
README's layer example, compiles its C++ kernels from the installed copy (or, with no C++ compiler, warns
and falls back as documented), and answers ``qpconv --version`` with the wheel's version.

The installed copy uses the torch, numpy and ninja already in this environment: nothing is downloaded.
The wheel is built without build isolation, from the sdist (as an installer would build it), with the
environment's setuptools (the ``test`` extra pins the version ``[build-system]`` needs).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

pytestmark = pytest.mark.slow

CHECK_INSTALLED = """
import json, warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    exec(compile(README_EXAMPLE, "README.md", "exec"))
    import qpconv
    from qpconv import cpu_kernels
    kernels = cpu_kernels.available()
print("RESULT " + json.dumps({
    "file": qpconv.__file__,
    "source": str(cpu_kernels.SOURCE),
    "kernels": kernels,
    "warnings": [str(w.message) for w in caught],
    "logits_shape": list(logits.shape),
}))
"""
"""Run in the installed copy after the README's example (``README_EXAMPLE``): where qpconv was imported
from, and whether its kernels compiled."""


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, timeout=1200, **kwargs)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``dist/`` with the sdist and the wheel ``python -m build`` makes of this repository."""
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)])
    return out


@pytest.fixture(scope="module")
def wheel(dist: Path) -> Path:
    wheels = sorted(dist.glob("qpconv-*.whl"))
    assert len(wheels) == 1, f"expected one wheel in {dist}: {wheels}"
    return wheels[0]


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel installed alone into a fresh folder (its dependencies are this environment's)."""
    target = tmp_path_factory.mktemp("site")
    _run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--target", str(target), str(wheel)])
    return target


def _installed_env(installed: Path, extensions: Path) -> dict[str, str]:
    """The environment of a process that must import qpconv from ``installed`` only."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "QPCONV_"))}
    env["PYTHONPATH"] = str(installed)
    env["TORCH_EXTENSIONS_DIR"] = str(extensions)
    return env


def test_build_makes_an_sdist_and_a_wheel_that_twine_accepts(dist: Path, wheel: Path):
    sdists = sorted(dist.glob("qpconv-*.tar.gz"))
    assert len(sdists) == 1, f"expected one sdist in {dist}: {sdists}"
    result = _run([sys.executable, "-m", "twine", "check", "--strict", str(sdists[0]), str(wheel)])
    assert result.stdout.count("PASSED") == 2, result.stdout
    names = zipfile.ZipFile(wheel).namelist()
    assert "qpconv/cpu_kernels.cpp" in names, "the wheel lacks the C++ source the kernels compile from"
    assert not [name for name in names if name.startswith(("tests/", "notebooks/", "results/", "book/"))]


def test_installed_wheel_runs_the_readme_example_and_its_kernels(installed: Path, tmp_path: Path):
    example = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)[:1]  # the layer's; the second needs torchvision
    assert example and "QuantumPointwiseConv2d(" in example[0], "README.md's first python example should use the layer"
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    extensions = tmp_path / "torch_extensions"
    program = f"README_EXAMPLE = {example[0]!r}\n{CHECK_INSTALLED}"
    result = _run([sys.executable, "-c", program], cwd=cwd, env=_installed_env(installed, extensions))
    report = json.loads(next(line for line in result.stdout.splitlines() if line.startswith("RESULT "))[len("RESULT ") :])
    package = installed / "qpconv"
    assert Path(report["file"]).resolve() == (package / "__init__.py").resolve(), f"qpconv came from {report['file']}"
    assert not Path(report["file"]).resolve().is_relative_to(ROOT), "the source tree was imported, not the wheel"
    assert Path(report["source"]).resolve() == (package / "cpu_kernels.cpp").resolve()
    assert report["logits_shape"] == [8, 10]
    if shutil.which("c++") or shutil.which("g++"):
        assert report["kernels"], f"the kernels did not compile from the installed copy: {report['warnings']}"
        build_file = extensions / "qpconv_cpu_kernels" / "build.ninja"
        assert str(package / "cpu_kernels.cpp") in build_file.read_text(), "the kernels were not built from the wheel's source"
    else:
        assert not report["kernels"]
        assert any("using the plain PyTorch path" in message for message in report["warnings"]), report["warnings"]


def test_installed_command_reports_the_wheel_version(installed: Path, wheel: Path, tmp_path: Path):
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(name for name in archive.namelist() if name.endswith(".dist-info/METADATA"))
        version = re.search(r"^Version: (\S+)$", archive.read(metadata).decode(), re.M).group(1)
    assert wheel.name.startswith(f"qpconv-{version}-")
    command = installed / "bin" / "qpconv"
    assert command.is_file(), "the wheel does not install the qpconv command"
    result = _run([str(command), "--version"], cwd=tmp_path, env=_installed_env(installed, tmp_path / "ext"))
    assert result.stdout.strip() == f"qpconv {version}"
