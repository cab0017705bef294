from __future__ import annotations

import numpy as np
import pytest

from reference_models.severity import lung_involvement
from reference_models.thresholding import predict_thresholding, threshold_lesions
from tests.reference_models.synthetic import chest, ellipsoid


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


def _tube_mask(shape: tuple[int, int, int], centres: list[tuple[int, int]], radius: float) -> np.ndarray:
    """Tubes running along z through the given (x, y) centres."""
    x, y = np.ogrid[: shape[0], : shape[1]]
    cross_section = np.zeros(shape[:2], dtype=bool)
    for cx, cy in centres:
        cross_section |= (x - cx) ** 2 + (y - cy) ** 2 <= radius**2
    return np.repeat(cross_section[:, :, None], shape[2], axis=2)


def test_vessels_vanish_and_ground_glass_stays() -> None:
    shape = (80, 80, 48)
    lungs = ellipsoid(shape, (40, 40, 24), (36, 32, 22))
    image = np.full(shape, 40, dtype=np.int16)
    image[lungs] = -850
    tubes = _tube_mask(shape, [(20, 30), (30, 55), (58, 50), (60, 25)], radius=1.5)
    image[tubes] = 40  # vessels: soft-tissue density, inside the HU range
    blob = ellipsoid(shape, (45, 40, 24), (14, 14, 14))
    image[blob] = -500  # ground-glass opacity
    lesions = threshold_lesions(image, lungs)
    assert lesions.dtype == bool
    assert _dice(lesions, blob) > 0.8  # the blur shrinks convex shapes a little
    assert not (lesions & tubes).any()
    # without the blur the vessels would be kept: the blur is what removes them
    unblurred = threshold_lesions(image, lungs, sigma=1e-3)
    assert (unblurred & tubes & lungs).sum() == (tubes & lungs).sum()


def test_only_lung_voxels_in_the_hu_range_are_candidates() -> None:
    shape = (30, 30, 30)
    lungs = np.zeros(shape, dtype=bool)
    lungs[5:25, 5:25, 5:25] = True
    image = np.full(shape, 0, dtype=np.int16)  # in range everywhere
    image[5:25, 5:15, 5:25] = -900  # below HU_min inside half of the lung
    image[5:25, 15:25, 15:25] = 500  # above HU_max in a quarter
    lesions = threshold_lesions(image, lungs, sigma=1e-3)
    expected = np.zeros(shape, dtype=bool)
    expected[5:25, 15:25, 5:15] = True
    assert np.array_equal(lesions, expected)


def test_components_below_a_thousandth_of_the_lungs_are_removed() -> None:
    shape = (50, 50, 50)
    lungs = np.ones(shape, dtype=bool)  # 125,000 voxels: V_min = 125 voxels
    image = np.full(shape, -900, dtype=np.int16)
    image[5:9, 5:9, 5:9] = 0  # 64 voxels: removed
    image[30:36, 30:36, 30:36] = 0  # 216 voxels: kept
    lesions = threshold_lesions(image, lungs, sigma=1e-3)
    assert np.count_nonzero(lesions) == 216 and lesions[30:36, 30:36, 30:36].all()
    assert not threshold_lesions(image, lungs, sigma=1e-3, min_component_fraction=0.002).any()
    assert threshold_lesions(image, lungs, sigma=1e-3, min_component_fraction=0.0).sum() == 280


def test_predict_on_the_original_grid_with_severity() -> None:
    shape = (200, 160, 80)  # 1 mm voxels; the pipeline works on 2 mm in-plane
    image, lungs = chest(shape)
    blob = ellipsoid(shape, (56, 80, 40), (24, 24, 24)) & (lungs == 1)
    image[blob] = -450
    image[_tube_mask(shape, [(150, 60), (140, 100)], radius=2) & (lungs == 2)] = 60
    prediction = predict_thresholding(image, (1.0, 1.0, 1.0), lungs=lungs)
    assert prediction.lesions is not None and prediction.lesions.shape == shape
    assert prediction.lungs is not None and np.array_equal(prediction.lungs, lungs)
    assert _dice(prediction.lesions, blob) > 0.8
    truth = lung_involvement(blob, lungs)
    assert prediction.severity == pytest.approx(max(truth), rel=0.25)  # the blur shrinks the blob
    assert lung_involvement(prediction.lesions, lungs)[1] == 0.0
    assert prediction.probability is None and prediction.identification_score == prediction.severity
