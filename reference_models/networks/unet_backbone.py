"""The shared U-Net backbone: 7 levels, residual blocks, additive skips (Sec. 2.4, 4.2 and the authors' notes).

Used slice-wise (2D) by lung segmentation, 2D U-Net, 2D U-Net+ and the multitask models, and in 3D by the 3D U-Net.

Level ``i`` (0 = top) has ``width · 2**i`` channels at ``1 / 2**i`` of the input resolution; the paper's size is
``width=8, depth=7`` (channels 8, 16, 32, 64, 128, 256, 512). The ``width``/``depth`` knobs make small versions
for CPU tests (e.g. ``width=2, depth=3``).

* Input: a bias-free 3×3 convolution from ``in_channels`` to ``width``.
* Encoder level ``i``: 2×2 max-pooling (``ceil_mode=True``, so odd sizes keep their border; not at level 0), then
  two pre-activation residual blocks, the first changing ``width·2**(i-1)`` to ``width·2**i`` channels.
* Decoder level ``i`` (below the top): the lower decoder map is brought to level ``i``'s channels by a bias-free
  1×1 convolution, resized bilinearly to the skip map's size, **added** to the skip, and passed through two
  residual blocks. (The 1×1 projection is our choice: the notes say maps are added, which needs equal channel
  counts. Both the projection and the interpolation are linear, so their order does not matter.)
* The bottom level has only its encoder blocks; its output is the *latent* map.

``forward`` returns the decoder maps of every level, top first: ``maps[l - 1]`` is the map at "level l" of the
paper's Multitask-Spatial-l (``width · 2**(l-1)`` channels, resolution ``/ 2**(l-1)``), ``maps[-1]`` the bottom
(encoder) map used by Multitask-Latent.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from reference_models.networks.blocks import PreActResBlock

PAPER_WIDTH = 8
PAPER_DEPTH = 7

_CONV = {2: nn.Conv2d, 3: nn.Conv3d}
_MAX_POOL = {2: nn.MaxPool2d, 3: nn.MaxPool3d}
_INTERPOLATION = {2: "bilinear", 3: "trilinear"}


def level_channels(*, width: int = PAPER_WIDTH, depth: int = PAPER_DEPTH) -> tuple[int, ...]:
    """Channels per level, top first: ``(width, 2·width, …, 2**(depth-1)·width)``."""
    if width < 1 or depth < 1:
        raise ValueError(f"width and depth must be positive, got width={width}, depth={depth}")
    return tuple(width * 2**level for level in range(depth))


class UNetBackbone(nn.Module):
    """U-Net with pre-activation residual blocks; ``(N, C, *spatial) → [map per level, top first]``.

    ``spatial_dims=2`` is the paper's slice-wise backbone (input ``(N, 1, X, Y)``); ``spatial_dims=3`` the 3D U-Net's
    (input ``(N, 1, X, Y, Z)``). Any input size works: pooling rounds up and upsampling restores the skip's size.
    """

    def __init__(
        self,
        *,
        in_channels: int = 1,
        width: int = PAPER_WIDTH,
        depth: int = PAPER_DEPTH,
        spatial_dims: int = 2,
    ) -> None:
        super().__init__()
        if spatial_dims not in _CONV:
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
        self.channels = level_channels(width=width, depth=depth)
        self.spatial_dims = spatial_dims
        conv, pool = _CONV[spatial_dims], _MAX_POOL[spatial_dims]

        def two_blocks(c_in: int, c_out: int) -> list[nn.Module]:
            return [
                PreActResBlock(c_in, c_out, spatial_dims=spatial_dims),
                PreActResBlock(c_out, c_out, spatial_dims=spatial_dims),
            ]

        channels = self.channels
        self.stem = conv(in_channels, channels[0], kernel_size=3, padding=1, bias=False)
        self.encoder = nn.ModuleList(
            [nn.Sequential(*two_blocks(channels[0], channels[0]))]
            + [
                nn.Sequential(pool(kernel_size=2, ceil_mode=True), *two_blocks(channels[i - 1], channels[i]))
                for i in range(1, depth)
            ]
        )
        self.projections = nn.ModuleList(
            [conv(channels[i + 1], channels[i], kernel_size=1, bias=False) for i in range(depth - 1)]
        )
        self.decoder = nn.ModuleList([nn.Sequential(*two_blocks(channels[i], channels[i])) for i in range(depth - 1)])

    @property
    def depth(self) -> int:
        return len(self.channels)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.ndim != self.spatial_dims + 2:
            raise ValueError(f"expected a {self.spatial_dims + 2}-d input (N, C, *spatial), got {tuple(x.shape)}")
        skips = []
        x = self.stem(x)
        for encode in self.encoder:
            x = encode(x)
            skips.append(x)
        maps = [skips[-1]]
        for level in reversed(range(self.depth - 1)):
            lower = self.projections[level](maps[0])
            upsampled = F.interpolate(
                lower, size=skips[level].shape[2:], mode=_INTERPOLATION[self.spatial_dims], align_corners=False
            )
            maps.insert(0, self.decoder[level](skips[level] + upsampled))
        return maps


class SegmentationHead(nn.Module):
    """Lesion head of 2D U-Net and the multitask models: residual block → 1×1 conv → 1 logit channel."""

    def __init__(self, in_channels: int, *, spatial_dims: int = 2) -> None:
        super().__init__()
        self.block = PreActResBlock(in_channels, in_channels, spatial_dims=spatial_dims)
        self.to_logits = _CONV[spatial_dims](in_channels, 1, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_logits(self.block(x))
