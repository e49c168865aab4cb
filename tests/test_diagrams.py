"""Fig. 3 diagrams: the boxes follow the model, their shapes and parameters add up."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from qpconv.replication.diagrams import figure_models, layer_boxes
from qpconv.replication.models import build_model, parameter_summary


def test_quantum_model_boxes():
    model = build_model("fashion-mnist", "quantum", n_layers=3)
    boxes = layer_boxes(model, (1, 28, 28))
    assert [box["kind"] for box in boxes] == ["conv", "conv", "conv", "quantum", "conv", "quantum", "linear", "linear", "linear"]
    assert boxes[0]["label"] == "Conv 3x3, 1→32 · BN · ReLU · MaxPool 2x2" and boxes[0]["shape"] == "32x14x14"
    assert boxes[3]["label"] == "Quantum 1x1 conv, 128→64\n7 qubits, 10 circuits, L = 3"
    assert boxes[3]["params"] == 630 and boxes[5]["params"] == 1188 and boxes[5]["shape"] == "128x3x3"
    assert boxes[-2]["label"] == "Linear 1152→256 · ReLU · Dropout 0.5"
    assert boxes[-1]["shape"] == "10"
    assert sum(box["params"] for box in boxes) == parameter_summary(model)["total"]
    assert model.training  # drawing leaves the model's mode alone


def test_classical_model_boxes_and_figure():
    model = build_model("cifar10", "classical")
    boxes = layer_boxes(model, (3, 32, 32))
    assert [box["kind"] for box in boxes[3:6]] == ["pointwise", "conv", "pointwise"]
    assert boxes[3]["label"] == "Conv 1x1, 128→64 · BN · ReLU"
    assert sum(box["params"] for box in boxes) == parameter_summary(model)["total"]
    fig = figure_models([("(a)", build_model("cifar10", "quantum")), ("(b)", model)], (3, 32, 32))
    assert [ax.get_title() for ax in fig.axes] == ["(a)", "(b)"]
    plt.close(fig)
