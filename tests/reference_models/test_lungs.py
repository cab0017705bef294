from __future__ import annotations

import numpy as np
import pytest
import torch

from reference_models.networks.lungs import LungSegmentationNet, ensure_split, predict_lungs, split_lungs
from tests.reference_models.synthetic import chest, ellipsoid, two_lungs


def test_split_two_ellipsoids_lower_x_is_label_one() -> None:
    truth = two_lungs((60, 50, 30))
    labels = split_lungs(truth > 0)
    assert np.array_equal(labels, truth)


def test_split_of_a_long_series_with_lungs_in_a_few_slices() -> None:
    truth = np.zeros((40, 30, 70), dtype=np.uint8)
    truth[:, :, 30:45] = two_lungs((40, 30, 15))
    assert np.array_equal(split_lungs(truth > 0), truth)


def test_split_follows_the_axis_where_centres_differ_most() -> None:
    shape = (40, 80, 20)
    mask = ellipsoid(shape, (20, 20, 10), (15, 15, 8)) | ellipsoid(shape, (22, 60, 10), (15, 15, 8))
    labels = split_lungs(mask)
    assert set(np.unique(labels[:, :40])) == {0, 1} and set(np.unique(labels[:, 40:])) == {0, 2}


def test_split_uses_millimetres() -> None:
    """Thick slices: in voxel units z would look like the longest axis; in mm the lungs are split along x."""
    shape = (40, 20, 80)
    truth = np.zeros(shape, dtype=np.uint8)
    truth[2:18, 2:18, :] = 1
    truth[22:38, 2:18, :] = 2
    assert np.array_equal(split_lungs(truth > 0, spacing=(5.0, 5.0, 0.5)), truth)
    assert not np.array_equal(split_lungs(truth > 0), truth)  # voxel units would cut along z


def test_split_is_reproducible_and_subsampled_fit_matches_full_fit() -> None:
    mask = two_lungs((50, 40, 24)) > 0
    assert np.array_equal(split_lungs(mask, step=30), split_lungs(mask, step=1))
    assert np.array_equal(split_lungs(mask, seed=3), split_lungs(mask, seed=3))


def test_split_fits_k_means_on_one_thread_whatever_the_process_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    """scikit-learn's k-means sums in per-thread chunks, so its centres (and, on an ambiguous mask, the split)
    depend on the thread count: the fit always runs on one, so two and one worker processes agree."""
    from threadpoolctl import threadpool_info, threadpool_limits

    import reference_models.networks.lungs as lungs

    seen: list[set[int]] = []

    class Recording(lungs.KMeans):  # type: ignore[misc, name-defined]
        def fit(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            seen.append({pool["num_threads"] for pool in threadpool_info() if pool["internal_api"] == "openmp"})
            return super().fit(*args, **kwargs)

    monkeypatch.setattr(lungs, "KMeans", Recording)
    mask = two_lungs((50, 40, 24)) > 0
    with threadpool_limits(2):
        split_lungs(mask)
    assert seen and seen[0] == {1}


def test_degenerate_masks() -> None:
    assert split_lungs(np.zeros((4, 4, 4), dtype=bool)).sum() == 0
    single = np.zeros((4, 4, 4), dtype=bool)
    single[1, 2, 3] = True
    assert split_lungs(single)[1, 2, 3] == 1
    pair = np.zeros((10, 4, 4), dtype=bool)
    pair[1, 1, 1] = pair[8, 1, 1] = True
    assert (split_lungs(pair)[1, 1, 1], split_lungs(pair)[8, 1, 1]) == (1, 2)


def test_ensure_split_keeps_labels_and_splits_binary_masks() -> None:
    truth = two_lungs((40, 30, 10))
    assert np.array_equal(ensure_split(truth, spacing=(1, 1, 1)), truth)
    assert np.array_equal(ensure_split(truth > 0, spacing=(1, 1, 1)), truth)
    assert np.array_equal(ensure_split(truth.astype(np.float64), spacing=(1, 1, 1)), truth)
    for bad in (truth * 2, truth * 0.75, truth.astype(np.int8) - 1):
        with pytest.raises(ValueError, match="labels 0, 1 and 2"):
            ensure_split(bad, spacing=(1, 1, 1))


def test_network_shapes_paper_and_tiny() -> None:
    for net in (LungSegmentationNet(), LungSegmentationNet(width=2, depth=3)):
        with torch.no_grad():
            assert net.eval()(torch.randn(1, 1, 64, 64)).shape == (1, 1, 64, 64)


def test_predict_lungs_returns_split_labels_on_the_original_grid() -> None:
    image, _ = chest((70, 50, 6))
    model = LungSegmentationNet(width=2, depth=3)
    torch.nn.init.constant_(model.to_logits.bias, 5.0)  # an untrained net saying "lung" everywhere
    torch.nn.init.zeros_(model.to_logits.weight)
    model.train()
    prediction = predict_lungs(model, image, (0.8, 0.8, 5.0), slice_batch=4)
    assert model.training  # mode restored
    assert prediction.lungs is not None and prediction.lungs.shape == image.shape
    assert set(np.unique(prediction.lungs)) == {1, 2}
    assert (prediction.lungs[:35] == 1).mean() > 0.9 and (prediction.lungs[35:] == 2).mean() > 0.9
