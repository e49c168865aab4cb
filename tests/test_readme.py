"""The README's usage example runs as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) == 1
    namespace: dict = {}
    exec(compile(blocks[0], str(README), "exec"), namespace)
    assert tuple(namespace["logits"].shape) == (8, 10)
    layer = namespace["model"][2]
    assert (layer.n_qubits, layer.n_circuits) == (6, 6)
    assert layer.weights.grad is not None and layer.weights.grad.abs().sum() > 0
