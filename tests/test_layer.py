"""QuantumPointwiseConv2d: the nn.Conv2d-like contract, numerics, and bad input.

``LayerContract`` runs on the CPU; ``TestLayerCUDA`` reruns it on a GPU and
skips itself where there is none.
"""

import math

import pytest
import torch

import qpconv
from qpconv import QuantumPointwiseConv2d
from qpconv.simulation import pauli_z_expectations


class LayerContract:
    device = "cpu"

    def layer(self, *args, **kwargs):
        torch.manual_seed(0)
        return QuantumPointwiseConv2d(*args, device=self.device, **kwargs)

    def test_shape_and_public_attributes(self):
        layer = self.layer(64, 128, n_layers=3)
        assert (layer.n_qubits, layer.n_circuits) == (6, 22)
        assert layer.weights.shape == (22, 3, 6, 3)
        out = layer(torch.randn(2, 64, 5, 4, device=self.device))
        assert out.shape == (2, 128, 5, 4)
        assert out.is_contiguous()

    def test_channels_last_input_gives_the_same_values_laid_out_channels_last(self):
        layer = self.layer(10, 7, n_layers=2, dtype=torch.float64)
        x = torch.randn(3, 10, 4, 5, dtype=torch.float64, device=self.device)
        out = layer(x.contiguous(memory_format=torch.channels_last))
        assert out.is_contiguous(memory_format=torch.channels_last) and not out.is_contiguous()
        torch.testing.assert_close(out, layer(x), rtol=0, atol=1e-12)

    def test_channel_order_is_circuit_major_and_trimmed(self):
        layer = self.layer(5, 7, n_layers=2, dtype=torch.float64)  # 3 qubits, 3 circuits, 9 -> 7 channels
        x = torch.randn(2, 5, 3, 2, dtype=torch.float64, device=self.device)
        out = layer(x)
        pixels = x.permute(0, 2, 3, 1).reshape(-1, 5)
        per_circuit = layer.expectations(pixels).reshape(2, 3, 2, 3, 3)  # (N, H, W, k, i)
        for k in range(3):
            for i in range(3):
                c = 3 * k + i
                if c < 7:
                    torch.testing.assert_close(out[:, c], per_circuit[..., k, i])

    def test_each_pixel_is_processed_independently_with_shared_weights(self):
        layer = self.layer(6, 4, dtype=torch.float64)
        x = torch.randn(3, 6, 4, 4, dtype=torch.float64, device=self.device)
        out = layer(x)
        single = layer(x[1:2, :, 2:3, 1:2])
        torch.testing.assert_close(out[1:2, :, 2:3, 1:2], single)

    def test_outputs_lie_in_unit_interval(self):
        out = self.layer(16, 32)(10 * torch.randn(4, 16, 6, 6, device=self.device))
        assert out.abs().max() <= 1 + 1e-6

    def test_float32_agrees_with_float64(self):
        layer64 = self.layer(12, 10, n_layers=3, dtype=torch.float64)
        layer32 = self.layer(12, 10, n_layers=3)
        layer32.load_state_dict({"weights": layer64.weights.detach().float()})
        x = torch.randn(4, 12, 5, 5, dtype=torch.float64, device=self.device)
        assert (layer32(x.float()).double() - layer64(x)).abs().max() < 1e-5

    def test_zero_pixels_give_zero_output_and_finite_gradients(self):
        layer = self.layer(8, 6, dtype=torch.float64)
        x = torch.randn(2, 8, 3, 3, dtype=torch.float64, device=self.device)
        x[:, :, 0, 0] = 0.0
        x.requires_grad_(True)
        out = layer(x)
        assert torch.equal(out[:, :, 0, 0], torch.zeros_like(out[:, :, 0, 0]))
        out.sum().backward()
        assert torch.isfinite(x.grad).all() and torch.isfinite(layer.weights.grad).all()
        assert torch.equal(x.grad[:, :, 0, 0], torch.zeros_like(x.grad[:, :, 0, 0]))

    def test_state_dict_round_trip(self):
        source = self.layer(10, 8, n_layers=2, ansatz="circuit_centric")
        target = QuantumPointwiseConv2d(10, 8, n_layers=2, ansatz="circuit_centric", device=self.device)
        assert not torch.equal(source.weights, target.weights)
        target.load_state_dict(source.state_dict())
        x = torch.randn(2, 10, 3, 3, device=self.device)
        torch.testing.assert_close(target(x), source(x))
        assert list(source.state_dict()) == ["weights"]

    def test_initialisation_is_uniform_on_zero_two_pi(self):
        weights = self.layer(64, 64, n_layers=4).weights
        assert weights.min() >= 0 and weights.max() < 2 * math.pi
        assert abs(weights.mean().item() - math.pi) < 0.2

    def test_gradcheck_float64(self):
        layer = self.layer(3, 4, n_layers=2, dtype=torch.float64)
        x = torch.randn(1, 3, 2, 2, dtype=torch.float64, device=self.device, requires_grad=True)
        assert torch.autograd.gradcheck(
            lambda inp, w: torch.func.functional_call(layer, {"weights": w}, (inp,)), (x, layer.weights)
        )

    def test_under_autocast_it_computes_in_its_own_dtype_from_the_half_precision_input(self):
        torch.manual_seed(1)
        conv = torch.nn.Conv2d(3, 16, 3, padding=1).to(self.device)
        layer = self.layer(16, 8, n_layers=2)
        x = torch.randn(2, 3, 5, 5, device=self.device)
        with torch.autocast(torch.device(self.device).type, dtype=torch.bfloat16):
            features = conv(x)
            out = layer(features)
        assert (features.dtype, out.dtype) == (torch.bfloat16, torch.float32)
        # the same float32 computation from the rounded features: no product ran in bfloat16
        torch.testing.assert_close(out, layer(features.float()), rtol=0, atol=1e-6)
        out.sum().backward()
        assert torch.isfinite(conv.weight.grad).all() and torch.isfinite(layer.weights.grad).all()

    def test_a_half_precision_input_outside_autocast_is_refused(self):
        with pytest.raises(TypeError, match="input dtype torch.bfloat16 does not match the layer's weights dtype torch.float32"):
            self.layer(8, 4)(torch.randn(1, 8, 2, 2, dtype=torch.bfloat16, device=self.device))

    def test_is_a_drop_in_for_a_1x1_convolution_in_a_model(self):
        model = torch.nn.Sequential(
            torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), QuantumPointwiseConv2d(16, 8), torch.nn.Flatten()
        ).to(self.device)
        loss = model(torch.randn(2, 3, 4, 4, device=self.device)).pow(2).sum()
        loss.backward()
        assert all(p.grad is not None for p in model.parameters())


class TestLayerCPU(LayerContract):
    def test_torch_compile(self):
        layer = self.layer(8, 6, n_layers=2)
        x = torch.randn(2, 8, 3, 3)
        compiled = torch.compile(layer)
        torch.testing.assert_close(compiled(x), layer(x), atol=1e-6, rtol=1e-5)
        compiled(x).sum().backward()
        assert torch.isfinite(layer.weights.grad).all()

    def test_input_gradient_matches_unchunked_autograd_formula(self):
        """The custom backward equals autograd through the plain formula sum_k |(U x)_k|^2 z_ik / |x|^2."""
        layer = self.layer(7, 6, n_layers=3, dtype=torch.float64)
        pixels = torch.randn(9, 7, dtype=torch.float64, requires_grad=True)
        columns = qpconv.circuit_columns(layer.ansatz, layer.weights, 7)
        amplitudes = torch.einsum("kdc,pc->pkd", columns, pixels.to(columns.dtype))
        plain = (amplitudes.abs() ** 2) @ qpconv.z_signs(3, torch.float64) / pixels.pow(2).sum(1).view(-1, 1, 1)
        torch.testing.assert_close(pauli_z_expectations(pixels, columns), plain)
        g1 = torch.autograd.grad(pauli_z_expectations(pixels, columns).sum(), (pixels, layer.weights), retain_graph=True)
        g2 = torch.autograd.grad(plain.sum(), (pixels, layer.weights))
        for a, b in zip(g1, g2):
            torch.testing.assert_close(a, b)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
class TestLayerCUDA(LayerContract):
    device = "cuda"


class TestBadInput:
    def test_wrong_channel_count(self):
        with pytest.raises(ValueError, match=r"expected 8 input channels, got 5 \(input shape \(1, 5, 2, 2\)\)"):
            QuantumPointwiseConv2d(8, 4)(torch.randn(1, 5, 2, 2))

    @pytest.mark.parametrize("shape", [(8,), (2, 8), (1, 8, 2), (1, 8, 2, 2, 2)])
    def test_not_four_dimensional(self, shape):
        with pytest.raises(ValueError, match=r"expected a 4-D input \(N, C, H, W\), got shape"):
            QuantumPointwiseConv2d(8, 4)(torch.randn(shape))

    @pytest.mark.parametrize("bad", [math.nan, math.inf])
    def test_non_finite_values(self, bad):
        x = torch.randn(1, 8, 2, 2)
        x[0, 3, 1, 0] = bad
        with pytest.raises(ValueError, match="input contains 1 NaN or infinite value"):
            QuantumPointwiseConv2d(8, 4)(x)

    def test_dtype_mismatch(self):
        with pytest.raises(TypeError, match="input dtype torch.float64 does not match the layer's weights dtype torch.float32"):
            QuantumPointwiseConv2d(8, 4)(torch.randn(1, 8, 2, 2, dtype=torch.float64))

    def test_too_few_qubits(self):
        with pytest.raises(ValueError, match=r"n_qubits=3 holds only 8 amplitudes but in_channels=9 needs at least 4 qubits"):
            QuantumPointwiseConv2d(9, 4, n_qubits=3)

    def test_too_many_qubits(self):
        with pytest.raises(ValueError, match=r"n_qubits=15 exceeds the maximum of 14: the exact simulation keeps"):
            QuantumPointwiseConv2d(4, 4, n_qubits=15)

    def test_unknown_ansatz(self):
        with pytest.raises(ValueError, match=r"unknown ansatz 'hardware_efficient'; expected one of"):
            QuantumPointwiseConv2d(4, 4, ansatz="hardware_efficient")

    def test_unknown_backend(self):
        with pytest.raises(ValueError, match=r"unknown backend 'qiskit'; expected one of \['exact', 'pennylane'\]"):
            QuantumPointwiseConv2d(4, 4, backend="qiskit")

    @pytest.mark.parametrize(
        "name, kwargs",
        [("in_channels", {"in_channels": 0}), ("out_channels", {"out_channels": -2}), ("n_layers", {"n_layers": 0})],
    )
    def test_non_positive_sizes(self, name, kwargs):
        args = {"in_channels": 4, "out_channels": 4, **kwargs}
        with pytest.raises(ValueError, match=rf"{name} must be a positive integer"):
            QuantumPointwiseConv2d(**args)


@pytest.mark.parametrize("ansatz", ["strongly_entangling", "product", "circuit_centric"])
def test_ineffective_angles_change_no_output_and_every_other_angle_can(ansatz):
    torch.manual_seed(11)
    layer = QuantumPointwiseConv2d(20, 10, n_layers=2, ansatz=ansatz, dtype=torch.float64)  # 2 whole circuits, none trimmed
    x = torch.randn(5, 20, 2, 2, dtype=torch.float64)
    reference = layer(x).detach()
    mask = layer.ineffective_angles()
    assert mask.shape == layer.weights.shape
    with torch.no_grad():
        layer.weights[mask] += torch.rand(int(mask.sum()), dtype=torch.float64) * 6
    torch.testing.assert_close(layer(x), reference, atol=1e-12, rtol=0)
    (gradient,) = torch.autograd.grad((layer(x) * torch.randn_like(reference)).sum(), layer.weights)
    assert torch.all(gradient[mask].abs() < 1e-12) and torch.all(gradient[~mask].abs() > 1e-8)
    expected = {"circuit_centric": 0}.get(ansatz, layer.n_circuits * layer.n_qubits)
    assert layer.weights.numel() - layer.n_effective_angles == expected
