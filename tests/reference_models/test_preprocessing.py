from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_models.preprocessing import (
    bounding_box,
    in_plane_shape,
    mask_to_grid,
    preprocess,
    resize_slices,
    restore_mask,
    restore_probabilities,
    spacing_from_affine,
    window,
)


def test_spacing_from_a_nifti_affine() -> None:
    affine = np.diag([-0.7, 0.7, 5.0, 1.0])
    image = nib.Nifti1Image(np.zeros((4, 4, 2), dtype=np.int16), affine)
    assert spacing_from_affine(image.affine) == pytest.approx(image.header.get_zooms()[:3])
    rotation = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    rotated = np.eye(4)
    rotated[:3, :3] = rotation @ np.diag([0.8, 0.9, 2.5])
    assert spacing_from_affine(rotated) == pytest.approx((0.8, 0.9, 2.5))


def test_window_clips_and_scales() -> None:
    hu = np.array([-2000, -1000, -350, 300, 3000], dtype=np.int16)
    assert window(hu).tolist() == pytest.approx([0.0, 0.0, 0.5, 1.0, 1.0])
    assert window(hu).dtype == np.float32


def test_resampling_keeps_the_slice_axis_and_rescales_in_plane() -> None:
    assert in_plane_shape((512, 512, 60), (0.7, 0.7, 5.0)) == (179, 179)
    image = np.random.default_rng(0).normal(size=(40, 30, 7)).astype(np.float32)
    resized = resize_slices(image, (20, 15))
    assert resized.shape == (20, 15, 7)
    # factor 2, pixel centres aligned: each output pixel is the mean of a 2 × 2 block
    blocks = image.reshape(20, 2, 15, 2, 7).mean(axis=(1, 3))
    assert np.allclose(resized, blocks, atol=1e-5)


def test_slice_batches_do_not_change_the_result() -> None:
    image = np.random.default_rng(1).normal(size=(33, 21, 9)).astype(np.float32)
    assert np.array_equal(resize_slices(image, (17, 40), slice_batch=2), resize_slices(image, (17, 40), slice_batch=64))


@settings(max_examples=25, deadline=None)
@given(
    shape=st.tuples(st.integers(3, 60), st.integers(3, 60), st.integers(1, 6)),
    spacing=st.tuples(st.floats(0.3, 5.0), st.floats(0.3, 5.0), st.floats(0.5, 10.0)),
)
def test_round_trip_restores_the_original_shape(shape: tuple[int, int, int], spacing: tuple[float, ...]) -> None:
    image = np.full(shape, -350, dtype=np.int16)  # the middle of [-1000, 300]
    prepared = preprocess(image, spacing)
    assert prepared.image.shape == (*in_plane_shape(shape, spacing), shape[2])
    assert prepared.image == pytest.approx(0.5)
    restored = restore_probabilities(np.full(prepared.image.shape, 0.25, dtype=np.float32), prepared.geometry)
    assert restored.shape == shape
    assert restored == pytest.approx(0.25)


def test_crop_to_the_lung_box_and_back() -> None:
    image = np.random.default_rng(2).integers(-1000, 300, size=(100, 80, 10)).astype(np.int16)
    lungs = np.zeros(image.shape, dtype=np.uint8)
    lungs[20:60, 10:50, 2:8] = 1
    lungs[40:60, 10:20, 2:8] = 2
    prepared = preprocess(image, (1.0, 1.0, 3.0), lungs=lungs)
    assert prepared.geometry.resampled_shape == (50, 40, 10)
    assert prepared.geometry.box == (slice(10, 30), slice(5, 25), slice(2, 8))
    assert prepared.image.shape == prepared.geometry.cropped_shape == (20, 20, 6)
    assert prepared.lungs is not None and prepared.lungs.all()
    expected = window(resize_slices(image, (50, 40)))[10:30, 5:25, 2:8]
    assert np.allclose(prepared.image, expected)
    assert np.array_equal(mask_to_grid(lungs, prepared.geometry), prepared.lungs)
    lesion = np.zeros(image.shape, dtype=bool)
    lesion[30:40, 20:30, 4] = True
    on_grid = mask_to_grid(lesion, prepared.geometry)
    assert on_grid.shape == prepared.image.shape
    corners = np.argwhere(on_grid)
    assert corners.min(0).tolist() == [5, 5, 2] and corners.max(0).tolist() == [9, 9, 2]
    back = restore_mask(np.ones(prepared.image.shape, dtype=np.float32), prepared.geometry, threshold=0.5)
    assert np.array_equal(back, lungs > 0)


def test_without_lungs_or_with_empty_lungs_nothing_is_cropped() -> None:
    image = np.zeros((10, 12, 3), dtype=np.int16)
    for lungs in (None, np.zeros(image.shape, dtype=bool)):
        prepared = preprocess(image, (2.0, 2.0, 1.0), lungs=lungs)
        assert prepared.image.shape == (10, 12, 3)
    assert bounding_box(np.zeros((3, 3, 3))) is None


def test_hu_can_be_kept() -> None:
    image = np.full((8, 8, 2), -600, dtype=np.int16)
    assert preprocess(image, (2.0, 2.0, 1.0), hu_window=None).image == pytest.approx(-600)


def test_mismatched_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="lung mask shape"):
        preprocess(np.zeros((4, 4, 4)), (1, 1, 1), lungs=np.zeros((4, 4, 3)))
    prepared = preprocess(np.zeros((4, 4, 4)), (1, 1, 1))
    with pytest.raises(ValueError, match="cropped shape"):
        restore_probabilities(np.zeros((3, 3, 3), dtype=np.float32), prepared.geometry)


def test_layout_of_the_volume_does_not_change_the_result() -> None:
    from reference_models.preprocessing import to_device

    image = np.random.default_rng(3).normal(size=(21, 17, 9)).astype(np.float32)
    expected = resize_slices(image, (13, 30), slice_batch=4)
    fortran = np.asfortranarray(image)  # how nibabel hands NIfTI voxels over
    flipped = np.ascontiguousarray(image[::-1, :, ::-1])[::-1, :, ::-1]  # negative strides, same values
    for volume in (fortran, flipped, image.astype(np.float64)):
        assert np.array_equal(resize_slices(volume, (13, 30), slice_batch=4), expected)
        tensor = to_device(volume, None)
        assert tensor.dtype == torch.float32 and np.array_equal(tensor.numpy(), image)
    assert not to_device(fortran, None).is_contiguous()  # no transposing copy of the whole series
    assert to_device(np.zeros((2, 2, 2), np.int16), None).dtype == torch.int16


def test_severity_is_the_same_on_tensors_and_arrays() -> None:
    from reference_models.severity import lung_involvement

    rng = np.random.default_rng(4)
    lungs = rng.integers(0, 3, size=(12, 11, 7)).astype(np.uint8)
    lesions = rng.random((12, 11, 7)) > 0.7
    assert lung_involvement(torch.from_numpy(lesions), torch.from_numpy(lungs)) == lung_involvement(lesions, lungs)
