"""Building blocks shared by the paper's networks.

* Pre-activation residual blocks (He et al., 2016b) in 2D and 3D: BatchNorm → ReLU → 3×3 conv, twice, plus a
  shortcut that is the identity, or a 1×1 convolution when the number of channels changes. Convolutions carry
  no bias (each is followed by a BatchNorm, or summed into a map that is).
* Pyramid max-pooling (He et al., 2014): the input is max-pooled into 1, 2, 4, 8 bins per axis and all cells are
  concatenated, so a map of any size becomes a vector of fixed length. Pooling is *adaptive*: bins are computed
  as in ``torch.nn.AdaptiveMaxPool*d``; when an axis is shorter than the number of bins (e.g. fewer than 8 slices,
  or a 1×1 bottom map), neighbouring bins share (repeat) input elements instead of failing.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

PYRAMID_BINS: tuple[int, ...] = (1, 2, 4, 8)
"""Bins per axis of the 4-level pyramids used by the paper (1D: 15 cells, 3D: 585 cells)."""

_CONV = {2: nn.Conv2d, 3: nn.Conv3d}
_BATCH_NORM = {2: nn.BatchNorm2d, 3: nn.BatchNorm3d}


class PreActResBlock(nn.Module):
    """Pre-activation residual block, 2D or 3D: ``x + conv(relu(bn(conv(relu(bn(x))))))``.

    The spatial size is preserved (3×3 convolutions with padding 1); only the channel count may change, in which
    case the shortcut is a bias-free 1×1 convolution.
    """

    def __init__(self, in_channels: int, out_channels: int, *, spatial_dims: int = 2) -> None:
        super().__init__()
        if spatial_dims not in _CONV:
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
        conv, norm = _CONV[spatial_dims], _BATCH_NORM[spatial_dims]
        self.residual = nn.Sequential(
            norm(in_channels),
            nn.ReLU(inplace=True),
            conv(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
            norm(out_channels),
            nn.ReLU(inplace=True),
            conv(out_channels, out_channels, kernel_size=3, padding=1, bias=False),
        )
        self.shortcut: nn.Module = (
            nn.Identity() if in_channels == out_channels else conv(in_channels, out_channels, kernel_size=1, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # BatchNorm returns a new tensor, so the in-place ReLUs never overwrite ``x``, which the shortcut needs.
        return self.shortcut(x) + self.residual(x)


def pyramid_cells(bins: Sequence[int], *, spatial_dims: int) -> int:
    """Number of cells of a pyramid: ``sum(b ** spatial_dims)`` (15 for 1D and 585 for 3D with 1, 2, 4, 8 bins)."""
    return sum(b**spatial_dims for b in bins)


class PyramidMaxPool1d(nn.Module):
    """``(B, C, S) → (B, C · Σ bins)``: max over 1, 2, 4, 8 (by default) groups of slices, concatenated.

    The features are ordered level by level, and within a level cell-major (all channels of cell 0, then cell 1 …).
    """

    def __init__(self, bins: Sequence[int] = PYRAMID_BINS) -> None:
        super().__init__()
        self.bins = tuple(bins)

    def out_features(self, channels: int) -> int:
        return channels * pyramid_cells(self.bins, spatial_dims=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3:
            raise ValueError(f"expected (batch, channels, slices), got shape {tuple(x.shape)}")
        levels = [F.adaptive_max_pool1d(x, b).transpose(1, 2).flatten(1) for b in self.bins]
        return torch.cat(levels, dim=1)


class PyramidMaxPool3d(nn.Module):
    """``(B, C, X, Y, Z) → (B, C · Σ bins³)``: max over 1, 2³, 4³, 8³ (by default) boxes, concatenated."""

    def __init__(self, bins: Sequence[int] = PYRAMID_BINS) -> None:
        super().__init__()
        self.bins = tuple(bins)

    def out_features(self, channels: int) -> int:
        return channels * pyramid_cells(self.bins, spatial_dims=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5:
            raise ValueError(f"expected (batch, channels, x, y, z), got shape {tuple(x.shape)}")
        levels = [F.adaptive_max_pool3d(x, b).flatten(2).transpose(1, 2).flatten(1) for b in self.bins]
        return torch.cat(levels, dim=1)


def head_hidden_layer(model: nn.Module) -> nn.Linear | None:
    """The first linear layer of ``model.classifier`` (:func:`classification_mlp`); ``None`` without a head."""
    if not hasattr(model, "classifier"):
        return None
    return next((m for m in model.get_submodule("classifier").modules() if isinstance(m, nn.Linear)), None)


def classification_mlp(
    in_features: int, *, hidden: int = 1024, dropout: float = 0.5, negative_slope: float = 0.0
) -> nn.Sequential:
    """The paper's two fully connected layers: dropout → linear → ``hidden`` → ReLU → dropout → linear → 1 logit.

    ``negative_slope`` > 0 makes the hidden ReLU leaky (the small scale's widest heads, docs/reference-models.md
    §12: a unit pushed below zero for every series still gets a gradient)."""
    return nn.Sequential(
        nn.Dropout(dropout),
        nn.Linear(in_features, hidden),
        nn.LeakyReLU(negative_slope, inplace=True) if negative_slope > 0 else nn.ReLU(inplace=True),
        nn.Dropout(dropout),
        nn.Linear(hidden, 1),
    )
