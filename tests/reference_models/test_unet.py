from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_models.networks.unet import (
    UNet2D,
    UNet3D,
    patch_starts,
    predict_unet2d,
    predict_unet3d,
    stitch_patches,
)
from tests.reference_models.synthetic import chest


def test_unet2d_shapes_paper_and_tiny() -> None:
    for net in (UNet2D(), UNet2D(width=2, depth=3)):
        with torch.no_grad():
            assert net.eval()(torch.randn(1, 1, 64, 64)).shape == (1, 1, 64, 64)
    assert UNet2D().backbone.channels == (8, 16, 32, 64, 128, 256, 512)


def test_unet3d_shapes_paper_and_tiny() -> None:
    paper = UNet3D()
    assert paper.backbone.channels == (8, 16, 32, 64, 128)
    assert all(isinstance(m, torch.nn.Conv3d) for m in paper.modules() if isinstance(m, torch.nn.modules.conv._ConvNd))
    with torch.no_grad():
        assert paper.eval()(torch.randn(1, 1, 32, 32, 32)).shape == (1, 1, 32, 32, 32)
        assert UNet3D(width=2, depth=3).eval()(torch.randn(2, 1, 9, 10, 11)).shape == (2, 1, 9, 10, 11)


def test_unet2d_learns_on_random_data() -> None:
    net = UNet2D(width=4, depth=3)
    images = torch.rand(6, 1, 24, 24)
    masks = (images > 0.6).float()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(25):
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(images), masks)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert np.mean(losses[-3:]) < 0.6 * np.mean(losses[:3])


@settings(max_examples=50, deadline=None)
@given(size=st.integers(1, 500), patch=st.integers(1, 200), overlap=st.integers(0, 199))
def test_patch_starts_cover_with_overlap(size: int, patch: int, overlap: int) -> None:
    if overlap >= patch:
        with pytest.raises(ValueError):
            patch_starts(size, patch=patch, overlap=overlap)
        return
    starts = patch_starts(size, patch=patch, overlap=overlap)
    assert starts[0] == 0
    if size <= patch:
        assert starts == [0]
        return
    assert starts[-1] == size - patch
    assert all(b - a <= patch - overlap for a, b in pairwise(starts))  # neighbours overlap enough
    assert all(b > a for a, b in pairwise(starts))


def test_stitching_a_pointwise_map_equals_the_whole_volume_pass() -> None:
    volume = np.random.default_rng(0).normal(size=(37, 20, 9)).astype(np.float32)
    calls = []

    def pointwise(patch: np.ndarray) -> np.ndarray:
        calls.append(patch.shape)
        return np.tanh(2 * patch + 1)

    stitched = stitch_patches(pointwise, volume, patch_size=(16, 16, 16), overlap=5)
    assert np.allclose(stitched, np.tanh(2 * volume + 1), atol=1e-6)
    assert set(calls) == {(16, 16, 16)} and len(calls) == 3 * 2 * 1


def test_stitching_a_small_volume_equals_one_padded_pass_of_the_network() -> None:
    net = UNet3D(width=2, depth=3).eval()
    volume = np.random.default_rng(1).random(size=(12, 10, 6)).astype(np.float32)

    def probabilities(patch: np.ndarray) -> np.ndarray:
        return torch.sigmoid(net(torch.from_numpy(patch)[None, None]))[0, 0].numpy()

    with torch.no_grad():
        stitched = stitch_patches(probabilities, volume, patch_size=16, overlap=4)
        padded = np.zeros((16, 16, 16), dtype=np.float32)
        padded[:12, :10, :6] = volume
        direct = probabilities(padded)[:12, :10, :6]
    assert np.allclose(stitched, direct, atol=1e-6)


def test_predict_unet2d_and_unet3d_end_to_end() -> None:
    image, lungs = chest((60, 50, 10))
    spacing = (1.5, 1.5, 5.0)
    for predict, model, options in (
        (predict_unet2d, UNet2D(width=2, depth=3), {"slice_batch": 3}),
        (predict_unet3d, UNet3D(width=2, depth=3), {"patch_size": 16, "overlap": 4}),
    ):
        torch.nn.init.constant_(model.head.to_logits.bias, 4.0)  # "lesion" everywhere …
        torch.nn.init.zeros_(model.head.to_logits.weight)
        prediction = predict(model, image, spacing, lungs=lungs, **options)
        assert prediction.lesion_probabilities is not None and prediction.lesions is not None
        assert prediction.lesion_probabilities.shape == prediction.lesions.shape == image.shape
        # … but only inside the lungs' bounding box, so both lungs are fully involved
        assert prediction.severity == pytest.approx(1.0)
        assert not prediction.lesions[:, :, 0].any()
        assert prediction.probability is None
