from __future__ import annotations

import numpy as np
import pytest

from reference_models.severity import identification_score, lung_involvement, severity


def test_severity_is_the_worse_lung_fraction() -> None:
    lungs = np.zeros((10, 4, 4), dtype=np.uint8)
    lungs[:5] = 1  # 80 voxels
    lungs[5:9] = 2  # 64 voxels
    lesions = np.zeros(lungs.shape, dtype=bool)
    lesions[0, :, :] = True  # 16 voxels of lung 1
    lesions[5:7] = True  # 32 voxels of lung 2
    lesions[9] = True  # outside both lungs: ignored
    assert lung_involvement(lesions, lungs) == pytest.approx((0.2, 0.5))
    assert severity(lesions, lungs) == pytest.approx(0.5)


def test_empty_lung_counts_zero() -> None:
    lungs = np.ones((3, 3, 3), dtype=np.uint8)
    assert lung_involvement(np.ones((3, 3, 3), dtype=bool), lungs) == (1.0, 0.0)
    assert severity(np.zeros((3, 3, 3)), np.zeros((3, 3, 3), dtype=np.uint8)) == 0.0
    with pytest.raises(ValueError):
        severity(np.zeros((3, 3, 2)), lungs)


def test_identification_score() -> None:
    assert identification_score(probability=0.9, severity=0.1) == 0.9
    assert identification_score(severity=0.3) == 0.3
    with pytest.raises(ValueError):
        identification_score()
