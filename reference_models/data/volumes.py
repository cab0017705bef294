"""Reading CT volumes and masks from NIfTI: a standard orientation, Hounsfield units, label decoding.

Conventions shared by every loader and by the predict pipeline:

* **Standard orientation**: arrays are reoriented (flips and axis permutations only, no resampling) so that their
  axes point to ``STANDARD_AXCODES`` = (L, P, S): axis 0 runs from the patient's right to left, axis 1 from anterior
  to posterior, axis 2 (the slice axis) from inferior to superior. This is how DICOM-derived NIfTI files (and the
  phantoms) are usually stored, so most files need no change. Training and inference use the same orientation,
  and predictions are mapped back to the file's own grid with :func:`from_standard`.
* **Intensities** become Hounsfield units. ``intensity="auto"`` decides from the values: a volume within
  [0, 255] is taken as the Radiopaedia convention of COVID-19-CT-Seg (window [-1250, 250] HU rescaled to 0..255);
  a volume whose minimum is ≥ 0 but whose maximum exceeds 255 as HU + 1024 (unsigned storage without a rescale
  intercept); anything with negative values as HU already. ``"hu"``, ``"window255"`` and ``"offset1024"`` force
  one reading. The reading used is recorded in the series' provenance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel import orientations
from nibabel.spatialimages import SpatialImage

from reference_models.preprocessing import spacing_from_affine

try:  # ISA-L inflates gzip 2-3x faster than zlib (the scorer uses it too); optional
    from isal.igzip import decompress as _gunzip
except ImportError:  # pragma: no cover - exercised only where isal is missing
    from gzip import decompress as _gunzip

STANDARD_AXCODES: tuple[str, str, str] = ("L", "P", "S")
RADIOPAEDIA_WINDOW: tuple[float, float] = (-1250.0, 250.0)
"""HU window that the Radiopaedia volumes of COVID-19-CT-Seg were rescaled from (to 0..255)."""
INTENSITY_MODES = ("auto", "hu", "window255", "offset1024")


@dataclass(frozen=True, slots=True)
class Volume:
    """A volume in standard orientation: ``array`` [x, y, z] and its ``affine``; ``source_orientation`` is the
    file's orientation (a nibabel ornt array), which :func:`from_standard` maps back to."""

    array: np.ndarray
    affine: np.ndarray
    source_orientation: np.ndarray

    @property
    def source_axcodes(self) -> tuple[str, ...]:
        return tuple(str(c) for c in orientations.ornt2axcodes(self.source_orientation))

    @property
    def spacing(self) -> tuple[float, float, float]:
        return spacing_from_affine(self.affine)


def squeeze_3d(array: np.ndarray, *, path: Path | str = "") -> np.ndarray:
    """Drop trailing singleton axes (4D files with one frame); anything else that is not 3D is an error."""
    while array.ndim > 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 3:
        raise ValueError(f"{path}: expected a 3D volume, got shape {array.shape}")
    return array


def to_standard(array: np.ndarray, affine: np.ndarray) -> Volume:
    """Reorient ``array`` (with ``affine``) to the standard orientation (a view where possible)."""
    array = squeeze_3d(np.asanyarray(array))
    source = orientations.io_orientation(affine)
    transform = orientations.ornt_transform(source, orientations.axcodes2ornt(STANDARD_AXCODES))
    oriented = orientations.apply_orientation(array, transform)
    new_affine = np.asarray(affine, dtype=float) @ orientations.inv_ornt_aff(transform, array.shape)
    return Volume(array=oriented, affine=new_affine, source_orientation=source)


def from_standard(array: np.ndarray, source_orientation: np.ndarray) -> np.ndarray:
    """Undo :func:`to_standard`: ``array`` (standard orientation) on the file's own voxel grid."""
    inverse = orientations.ornt_transform(orientations.axcodes2ornt(STANDARD_AXCODES), source_orientation)
    return np.ascontiguousarray(orientations.apply_orientation(array, inverse))


def detect_intensity(array: np.ndarray) -> str:
    """Which intensity convention ``array`` follows (see the module doc); never returns ``"auto"``."""
    low, high = float(np.min(array)), float(np.max(array))
    if low >= 0.0 and high <= 255.0:
        return "window255"
    if low >= 0.0:
        return "offset1024"
    return "hu"


def to_hu(array: np.ndarray, *, intensity: str = "auto") -> tuple[np.ndarray, str]:
    """``array`` in Hounsfield units (float32) and the convention read (``intensity`` or the detected one)."""
    if intensity not in INTENSITY_MODES:
        raise ValueError(f"intensity must be one of {INTENSITY_MODES}, got {intensity!r}")
    mode = detect_intensity(array) if intensity == "auto" else intensity
    hu = np.asarray(array, dtype=np.float32)
    if mode == "window255":
        low, high = RADIOPAEDIA_WINDOW
        hu = hu * np.float32((high - low) / 255.0) + np.float32(low)
    elif mode == "offset1024":
        hu = hu - np.float32(1024.0)
    return hu, mode


def read_nifti(path: Path | str) -> SpatialImage:
    """``nib.load``, except that a gzipped single-file NIfTI is inflated in one go with ISA-L (where installed)
    instead of nibabel's streaming zlib reader: the same image, read about twice as fast."""
    path = Path(path)
    if not path.name.endswith(".nii.gz"):
        return nib.load(str(path))
    data = _gunzip(path.read_bytes())
    header_size = int.from_bytes(data[:4], "little") if len(data) >= 4 else 0
    if header_size not in (348, 540):
        header_size = int.from_bytes(data[:4], "big") if len(data) >= 4 else 0
    if header_size not in (348, 540):
        raise ValueError(f"{path}: not a NIfTI file (header size field {header_size})")
    klass = nib.Nifti2Image if header_size == 540 else nib.Nifti1Image
    return klass.from_bytes(data)


def read_image(path: Path | str) -> SpatialImage:
    """A CT image from a NIfTI file (:func:`read_nifti`) or a folder holding a DICOM series
    (:func:`reference_models.data.dicom.read_dicom_series`)."""
    if Path(path).is_dir():
        from reference_models.data.dicom import read_dicom_series

        return read_dicom_series(path)
    return read_nifti(path)


def load_image(
    path: Path | str, *, intensity: str = "auto", image: SpatialImage | None = None
) -> tuple[Volume, str]:
    """A CT image (a NIfTI file or a DICOM series folder) in standard orientation and HU (float32), and the
    intensity convention that was read. ``image``: the file already read by :func:`read_image`."""
    image = image if image is not None else read_image(path)
    data = squeeze_3d(image.get_fdata(dtype=np.float32), path=path)
    hu, mode = to_hu(data, intensity=intensity)
    return to_standard(hu, image.affine), mode


def load_labels(
    path: Path | str, *, reference: nib.Nifti1Image | np.ndarray | None = None, image_path: Path | str = ""
) -> Volume:
    """An integer label volume (uint8 or int16) in standard orientation.

    ``reference``: the image (or its affine) the labels belong to. Masks whose affine differs from the image's
    only by axis flips or permutations (as in some public sets) are brought onto the image's voxel grid through
    their own orientation; any other mismatch (shape after reorientation, spacing, origin) is an error.
    """
    mask = nib.load(str(path))
    data = np.asarray(np.rint(squeeze_3d(np.asanyarray(mask.dataobj), path=path)))
    data = data.astype(np.uint8 if data.min() >= 0 and data.max() <= 255 else np.int16)
    volume = to_standard(data, mask.affine)
    if reference is not None:
        ref_affine = reference.affine if hasattr(reference, "affine") else np.asarray(reference)
        expected = to_standard(np.empty(_shape_of(reference, fallback=data.shape), dtype=np.uint8), ref_affine)
        if volume.array.shape != expected.array.shape:
            raise ValueError(
                f"{path}: shape {volume.array.shape} in standard orientation differs from the image "
                f"{image_path}'s {expected.array.shape}"
            )
        if not np.allclose(volume.affine, expected.affine, atol=1e-2 + 1e-3 * np.abs(expected.affine).max()):
            raise ValueError(f"{path}: its voxel grid does not match the image {image_path}'s (affines differ)")
    return volume


def _shape_of(reference: object, *, fallback: Sequence[int]) -> tuple[int, ...]:
    shape = getattr(reference, "shape", None)
    if shape is None:
        return tuple(fallback)
    return tuple(int(s) for s in shape)[:3]


def relabel_lungs(labels: np.ndarray, *, lung_values: Sequence[int]) -> np.ndarray:
    """Lung mask in the package convention (uint8: 0 background, 1 the lung with the lower mean x index, 2 the other).

    ``lung_values``: the file's values that are lung. Two values are two lungs and are relabelled by the
    x coordinate of their centroid; one value (or a merged mask) gives a binary 0/1 mask (split later by k-means).
    """
    present = np.flatnonzero(np.bincount(labels.ravel().astype(np.int64) - int(labels.min())))+ int(labels.min())
    values = [int(v) for v in present if int(v) in set(lung_values)]
    out = np.zeros(labels.shape, dtype=np.uint8)
    if len(values) != 2:
        out[np.isin(labels, list(lung_values))] = 1
        return out
    centres = [np.nonzero(labels == v)[0].mean() for v in values]
    lower = values[int(np.argmin(centres))]
    out[labels == lower] = 1
    out[labels == values[1 if lower == values[0] else 0]] = 2
    return out
