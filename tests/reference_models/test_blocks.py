from __future__ import annotations

import pytest
import torch

from reference_models.networks.blocks import (
    PreActResBlock,
    PyramidMaxPool1d,
    PyramidMaxPool3d,
    classification_mlp,
    pyramid_cells,
)


def test_residual_block_keeps_size_and_changes_channels() -> None:
    assert PreActResBlock(3, 5)(torch.randn(2, 3, 7, 9)).shape == (2, 5, 7, 9)
    assert PreActResBlock(4, 4, spatial_dims=3)(torch.randn(1, 4, 5, 6, 3)).shape == (1, 4, 5, 6, 3)


def test_residual_block_layout() -> None:
    block = PreActResBlock(4, 8)
    kinds = [type(m).__name__ for m in block.residual]
    assert kinds == ["BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d", "ReLU", "Conv2d"]
    convs = [m for m in block.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(conv.bias is None for conv in convs)
    assert isinstance(block.shortcut, torch.nn.Conv2d) and block.shortcut.kernel_size == (1, 1)
    assert isinstance(PreActResBlock(4, 4).shortcut, torch.nn.Identity)


def test_residual_block_is_identity_plus_residual() -> None:
    block = PreActResBlock(3, 3).eval()
    for conv in (block.residual[2], block.residual[5]):
        torch.nn.init.zeros_(conv.weight)
    x = torch.randn(1, 3, 4, 4)
    assert torch.equal(block(x), x)


def test_bad_dimension_is_refused() -> None:
    with pytest.raises(ValueError, match="spatial_dims"):
        PreActResBlock(1, 1, spatial_dims=1)


def test_pyramid_sizes_match_the_paper() -> None:
    assert pyramid_cells((1, 2, 4, 8), spatial_dims=1) == 15
    assert pyramid_cells((1, 2, 4, 8), spatial_dims=3) == 585
    assert PyramidMaxPool1d()(torch.randn(2, 1000, 40)).shape == (2, 15_000)
    assert PyramidMaxPool3d()(torch.randn(2, 8, 20, 24, 30)).shape == (2, 4_680)


def test_pyramid_values() -> None:
    x = torch.arange(8.0).reshape(1, 1, 8)
    # levels 1, 2, 4, 8 bins: the global max, then maxima of halves, quarters and single slices
    expected = [7, 3, 7, 1, 3, 5, 7, 0, 1, 2, 3, 4, 5, 6, 7]
    assert PyramidMaxPool1d()(x)[0].tolist() == expected
    volume = torch.zeros(1, 2, 4, 4, 4)
    volume[0, 1, 3, 0, 2] = 5.0
    pooled = PyramidMaxPool3d((1, 2))(volume)[0]
    # level 1: channel maxima (0, 5); level 2: cell-major, the spike is in cell (1, 0, 1) = index 5
    assert pooled[:2].tolist() == [0.0, 5.0]
    level2 = pooled[2:].reshape(8, 2)
    assert level2[:, 1].tolist() == [0, 0, 0, 0, 0, 5, 0, 0] and level2[:, 0].abs().sum() == 0


def test_pyramid_handles_fewer_slices_than_bins() -> None:
    assert PyramidMaxPool1d()(torch.randn(1, 3, 2)).shape == (1, 45)
    x = torch.randn(1, 4, 1, 3, 5)
    pooled = PyramidMaxPool3d()(x)
    assert pooled.shape == (1, 4 * 585)
    assert torch.allclose(pooled.reshape(585, 4).amax(0), x.amax((2, 3, 4))[0])


def test_classification_mlp_layout() -> None:
    mlp = classification_mlp(4_680)
    kinds = [type(m).__name__ for m in mlp]
    assert kinds == ["Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    assert (mlp[1].in_features, mlp[1].out_features, mlp[4].out_features) == (4_680, 1024, 1)
    assert mlp[0].p == 0.5 and mlp[3].p == 0.5
