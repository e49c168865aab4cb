"""The README's usage examples run as written."""

import re
from pathlib import Path

import pytest

from qpconv import QuantumPointwiseConv2d

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def run_block(index: int) -> dict:
    namespace: dict = {}
    exec(compile(python_blocks()[index], str(README), "exec"), namespace)
    return namespace


def test_readme_has_the_two_python_examples():
    assert len(python_blocks()) == 2


def test_readme_layer_example_runs():
    namespace = run_block(0)
    assert tuple(namespace["logits"].shape) == (8, 10)
    layer = namespace["model"][2]
    assert (layer.n_qubits, layer.n_circuits) == (6, 6)
    assert layer.weights.grad is not None and layer.weights.grad.abs().sum() > 0


def test_readme_swap_example_runs(capsys):
    pytest.importorskip("torchvision")
    namespace = run_block(1)
    assert tuple(namespace["logits"].shape) == (2, 10)
    report, model = namespace["report"], namespace["model"]
    assert [layer.name for layer in report.swapped] == ["features.1.conv.1", "features.2.conv.2"]
    assert all(isinstance(model.get_submodule(layer.name), QuantumPointwiseConv2d) for layer in report.swapped)
    assert "features.2.conv.2" in capsys.readouterr().out
