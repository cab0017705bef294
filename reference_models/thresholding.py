"""The threshold-based lesion segmentation baseline (Sec. 2.2).

1. Voxels of the lung mask with ``HU_min ≤ HU ≤ HU_max`` (−700 and 300) are candidate lesions.
2. The binary candidate mask is blurred with a Gaussian of σ = 4 voxels (along every axis, as the paper states
   it) and voxels with a value greater than 0.5 are kept.
3. 3D connected components (face connectivity) smaller than ``V_min`` = 0.1 % are removed. Our reading: 0.1 % of
   the volume of the lung mask (both lungs) of the same series, counted in voxels of the same grid.

:func:`predict_thresholding` runs this on the common preprocessing grid (2 × 2 mm in-plane, native slice spacing,
cropped to the lungs; in HU, without the intensity window), so σ = 4 voxels is 8 mm in-plane and 4 slices along z.
The blur sees zeros outside the crop (which holds no candidate anyway); the result is not re-masked by the lungs
(the paper does not say so), but the severity only counts lesions inside the lungs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from reference_models.inference import Prediction
from reference_models.networks.lungs import ensure_split
from reference_models.preprocessing import preprocess, restore_mask
from reference_models.severity import severity

HU_MIN = -700.0
HU_MAX = 300.0
SIGMA = 4.0
MIN_COMPONENT_FRACTION = 0.001


def threshold_lesions(
    image_hu: np.ndarray,
    lungs: np.ndarray,
    *,
    hu_min: float = HU_MIN,
    hu_max: float = HU_MAX,
    sigma: float = SIGMA,
    min_component_fraction: float = MIN_COMPONENT_FRACTION,
) -> np.ndarray:
    """Lesion mask (bool, same grid as ``image_hu``) of the thresholding baseline; ``lungs`` nonzero = lung."""
    if image_hu.shape != lungs.shape:
        raise ValueError(f"image shape {image_hu.shape} differs from the lung mask's {lungs.shape}")
    lungs = np.asarray(lungs) != 0
    candidates = lungs & (image_hu >= hu_min) & (image_hu <= hu_max)
    smoothed = ndimage.gaussian_filter(candidates.astype(np.float32), sigma=sigma, mode="constant", cval=0.0) > 0.5
    components, count = ndimage.label(smoothed)
    if count == 0:
        return smoothed
    sizes = np.bincount(components.ravel(), minlength=count + 1)
    keep = sizes >= min_component_fraction * np.count_nonzero(lungs)
    keep[0] = False
    return keep[components]


def predict_thresholding(
    image_hu: np.ndarray,
    spacing: Sequence[float],
    *,
    lungs: np.ndarray,
    hu_min: float = HU_MIN,
    hu_max: float = HU_MAX,
    sigma: float = SIGMA,
    min_component_fraction: float = MIN_COMPONENT_FRACTION,
) -> Prediction:
    """Lesions and severity of ``image_hu [x, y, z]`` (HU) given its ``lungs`` (labels 1/2, or binary: then split)."""
    labels = ensure_split(lungs, spacing=spacing)
    prepared = preprocess(image_hu, spacing, lungs=labels, hu_window=None)
    assert prepared.lungs is not None
    mask = threshold_lesions(
        prepared.image,
        prepared.lungs,
        hu_min=hu_min,
        hu_max=hu_max,
        sigma=sigma,
        min_component_fraction=min_component_fraction,
    )
    lesions = restore_mask(mask.astype(np.float32), prepared.geometry, threshold=0.5)
    return Prediction(lesions=lesions, lungs=labels, severity=severity(lesions, labels))
