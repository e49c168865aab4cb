"""What every 1x1 layer of the package shares: one map per pixel, the reshapes, and the input contract.

Book: chapter 1, Pointwise convolution (the pixels-as-rows view); "What makes it work?" (the controls).

A pointwise layer maps each pixel's channel vector ``x`` (``C_in`` values) to ``C_out``
values with weights shared by all pixels. :class:`PixelwiseConv2d` turns an input
``(N, C_in, H, W)`` into the rows ``(N * H * W, C_in)`` of a matrix, calls the subclass's
:meth:`PixelwiseConv2d.pixel_map`, and turns the result back into ``(N, C_out, H, W)``.
It also checks the input, with the same messages for every layer, before any work:
a 4-D tensor, ``C_in`` channels, the layer's dtype, finite values.

Under ``torch.autocast`` the layers compute in their own precision, as autocast's float32
operations do (norms, softmax): a float16 or bfloat16 input, what the convolutions before
them return there, is cast to the layer's dtype and the layer runs with autocast off inside,
so its normalisation and matrix products are not rounded to half precision.
"""

from __future__ import annotations

import torch
from torch import nn

from .encoding import check_finite

__all__ = ["HALF_DTYPES", "PixelwiseConv2d", "check_channels"]

HALF_DTYPES = (torch.float16, torch.bfloat16)
"""The half-precision dtypes, which autocast's convolutions return and which
:class:`~qpconv.layers.QuantumPointwiseConv2d` stores as weights but computes in float32."""


def check_channels(**counts: int) -> None:
    """Raise ``ValueError`` unless every given count (``in_channels=64, ...``) is a positive integer."""
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


class PixelwiseConv2d(nn.Module):
    """Base class of a 1x1 layer given by one map applied to every pixel.

    Subclasses set ``in_channels`` and ``out_channels`` (through ``__init__``) and
    implement :meth:`pixel_map`.

    Args:
        in_channels: ``C_in``.
        out_channels: ``C_out``.

    Shape:
        input ``(N, C_in, H, W)`` -> output ``(N, C_out, H, W)``; an empty input (``N``, ``H``
        or ``W`` zero) gives an empty output. The output keeps the input's memory format: a
        ``torch.channels_last`` input (the pixels' rows already side by side in memory) is
        read without a copy and gives a ``channels_last`` output, any other a contiguous one.
        Under ``torch.autocast`` on the input's device, a float16 or bfloat16 input is cast to
        the layer's dtype first and the output has the layer's dtype (float32 for a default
        layer), computed without autocast.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        check_channels(in_channels=in_channels, out_channels=out_channels)
        self.in_channels = in_channels
        self.out_channels = out_channels

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the layer's first parameter (or buffer), which its input must have."""
        for tensor in (*self.parameters(), *self.buffers()):
            return tensor.real.dtype if tensor.is_complex() else tensor.dtype
        return torch.get_default_dtype()

    def pixel_map(self, pixels: torch.Tensor) -> torch.Tensor:
        """The layer on rows of pixels: ``(P, C_in)`` -> ``(P, C_out)``."""
        raise NotImplementedError

    def check_input(self, x: torch.Tensor) -> None:
        """Raise a one-line error unless ``x`` is ``(N, C_in, H, W)`` of the layer's dtype and finite.

        Raises:
            ValueError: not 4-D, or another number of channels.
            TypeError: another dtype than the layer's.
            qpconv.encoding.NonFiniteInputError: NaN or infinite values (a ``ValueError``).
        """
        if x.dim() != 4:
            raise ValueError(f"expected a 4-D input (N, C, H, W), got shape {tuple(x.shape)}")
        if x.shape[1] != self.in_channels:
            raise ValueError(f"expected {self.in_channels} input channels, got {x.shape[1]} (input shape {tuple(x.shape)})")
        if x.dtype != self.dtype:
            raise TypeError(f"input dtype {x.dtype} does not match the layer's weights dtype {self.dtype}")
        check_finite(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype in HALF_DTYPES and torch.is_autocast_enabled(x.device.type):
            with torch.autocast(x.device.type, enabled=False):
                return self._forward(x.to(self.dtype))
        return self._forward(x)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        batch, _, height, width = x.shape
        pixels = x.permute(0, 2, 3, 1).reshape(batch * height * width, self.in_channels)
        out = self.pixel_map(pixels).reshape(batch, height, width, self.out_channels).permute(0, 3, 1, 2)
        channels_last = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
        return out.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
