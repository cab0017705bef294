from __future__ import annotations

import pytest
import torch

from reference_models.networks.unet_backbone import SegmentationHead, UNetBackbone, level_channels


def test_paper_channels() -> None:
    assert level_channels() == (8, 16, 32, 64, 128, 256, 512)
    assert level_channels(width=2, depth=3) == (2, 4, 8)
    with pytest.raises(ValueError):
        level_channels(width=0)


def test_paper_size_maps_of_every_level() -> None:
    backbone = UNetBackbone().eval()
    with torch.no_grad():
        maps = backbone(torch.randn(1, 1, 64, 64))
    assert [tuple(m.shape) for m in maps] == [
        (1, 8, 64, 64),
        (1, 16, 32, 32),
        (1, 32, 16, 16),
        (1, 64, 8, 8),
        (1, 128, 4, 4),
        (1, 256, 2, 2),
        (1, 512, 1, 1),
    ]
    parameters = sum(p.numel() for p in backbone.parameters())
    # dominated by the two 512-channel blocks (≈ 4 × 9 × 512² ≈ 9.4 M) and the 256-channel ones
    assert 12e6 < parameters < 17e6


def test_odd_sizes_pool_with_ceil_and_upsample_to_the_skip() -> None:
    backbone = UNetBackbone(width=2, depth=4).eval()
    with torch.no_grad():
        maps = backbone(torch.randn(2, 1, 23, 10))
    assert [tuple(m.shape[2:]) for m in maps] == [(23, 10), (12, 5), (6, 3), (3, 2)]


def test_layout() -> None:
    backbone = UNetBackbone(width=2, depth=3)
    assert backbone.stem.kernel_size == (3, 3) and backbone.stem.bias is None
    pools = [m for m in backbone.modules() if isinstance(m, torch.nn.MaxPool2d)]
    assert len(pools) == 2 and all(p.ceil_mode and p.kernel_size == 2 for p in pools)
    assert all(len(level) in (2, 3) for level in backbone.encoder)  # [pool +] two residual blocks
    assert all(len(level) == 2 for level in backbone.decoder)
    assert all(conv.bias is None for conv in backbone.modules() if isinstance(conv, torch.nn.Conv2d))


def test_decoder_adds_the_skip() -> None:
    """With the lower levels silenced, the top decoder sees exactly its skip map."""
    backbone = UNetBackbone(width=2, depth=2).eval()
    torch.nn.init.zeros_(backbone.projections[0].weight)
    x = torch.randn(1, 1, 8, 8)
    with torch.no_grad():
        top = backbone(x)[0]
        expected = backbone.decoder[0](backbone.encoder[0](backbone.stem(x)))
    assert torch.allclose(top, expected)


def test_three_dimensional_version() -> None:
    backbone = UNetBackbone(width=2, depth=3, spatial_dims=3).eval()
    with torch.no_grad():
        maps = backbone(torch.randn(1, 1, 9, 8, 5))
    assert [tuple(m.shape) for m in maps] == [(1, 2, 9, 8, 5), (1, 4, 5, 4, 3), (1, 8, 3, 2, 2)]
    with pytest.raises(ValueError, match="5-d input"):
        backbone(torch.randn(1, 1, 8, 8))


def test_segmentation_head() -> None:
    head = SegmentationHead(8)
    assert head(torch.randn(2, 8, 5, 6)).shape == (2, 1, 5, 6)
    assert head.to_logits.kernel_size == (1, 1)
