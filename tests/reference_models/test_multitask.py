from __future__ import annotations

import numpy as np
import pytest
import torch

from reference_models.networks.multitask import (
    MultitaskNet,
    MultitaskOutput,
    multitask_latent,
    multitask_loss,
    multitask_spatial,
    predict_multitask,
)
from reference_models.preprocessing import preprocess
from tests.reference_models.synthetic import chest

TINY = {"width": 2, "depth": 4, "hidden": 16}


@pytest.mark.parametrize(
    ("build", "features", "tapped_shape"),
    [
        (lambda: multitask_spatial(1), 4_680, (8, 64, 64)),
        (lambda: multitask_spatial(4), 37_440, (64, 8, 8)),
        (multitask_latent, 299_520, (512, 1, 1)),
    ],
    ids=["spatial1", "spatial4", "latent"],
)
def test_paper_size_on_a_small_series(build, features: int, tapped_shape: tuple[int, ...]) -> None:
    model = build().eval()
    linear = model.classifier[1]
    assert (linear.in_features, linear.out_features, model.classifier[4].out_features) == (features, 1024, 1)
    assert model.classifier[0].p == 0.5
    with torch.no_grad():
        output = model(torch.randn(1, 1, 64, 64, 8))
        _, tapped = model.encode_slices(torch.randn(2, 1, 64, 64))
    assert output.segmentation.shape == (1, 1, 64, 64, 8) and output.classification.shape == (1,)
    assert tapped.shape == (2, *tapped_shape)


def test_spatial_levels_and_latent() -> None:
    for level in range(1, 8):
        assert MultitaskNet(level=level, width=1, hidden=2).tap == level - 1
    assert multitask_latent(width=1, hidden=2).tap == 6
    for bad in (0, 8):
        with pytest.raises(ValueError, match="level"):
            MultitaskNet(level=bad)


def test_few_slices_and_tiny_in_plane_sizes_work() -> None:
    for model in (multitask_spatial(1, **TINY), multitask_latent(**TINY)):
        with torch.no_grad():
            output = model.eval()(torch.randn(2, 1, 5, 3, 2))
        assert output.segmentation.shape == (2, 1, 5, 3, 2) and output.classification.shape == (2,)
        assert torch.isfinite(output.classification).all()


def test_slices_of_each_series_stay_together() -> None:
    model = multitask_spatial(2, **TINY).eval()
    series = torch.randn(2, 1, 16, 12, 4)
    with torch.no_grad():
        both = model(series)
        first = model(series[:1])
        slice_logits, _ = model.encode_slices(series[1, :, :, :, 3][None])
    assert torch.allclose(both.classification[:1], first.classification, atol=1e-5)
    assert torch.allclose(both.segmentation[1, :, :, :, 3], slice_logits[0], atol=1e-5)


def test_loss_counts_segmentation_only_for_cases_with_masks() -> None:
    segmentation = torch.tensor([0.0, 3.0]).reshape(2, 1, 1, 1, 1).repeat(1, 1, 2, 2, 2)
    output = MultitaskOutput(segmentation=segmentation, classification=torch.tensor([2.0, -1.0]))
    labels = torch.tensor([1.0, 0.0])
    masks = torch.ones(2, 1, 2, 2, 2)
    loss = multitask_loss(output, labels=labels, masks=masks, has_mask=torch.tensor([True, False]))
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    assert loss.segmentation.item() == pytest.approx(np.log(2.0))  # case 0 only: logits 0, targets 1
    assert loss.classification.item() == pytest.approx(bce(output.classification, labels).item())
    assert loss.total.item() == pytest.approx(loss.segmentation.item() + 0.1 * loss.classification.item())
    none = multitask_loss(output, labels=labels, masks=None, has_mask=torch.tensor([False, False]))
    assert none.segmentation.item() == 0.0
    assert none.total.item() == pytest.approx(0.1 * none.classification.item())


def test_a_few_training_steps_lower_the_loss() -> None:
    # no dropout here: with two series per batch it makes the classification loss too noisy to compare
    model = multitask_spatial(1, width=4, depth=3, hidden=16, dropout=0.0)
    series = torch.rand(2, 1, 24, 20, 8)
    masks = (series > 0.7).float()
    labels = torch.tensor([1.0, 0.0])
    has_mask = torch.tensor([True, False])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(25):
        optimizer.zero_grad()
        loss = multitask_loss(model(series), labels=labels, masks=masks, has_mask=has_mask)
        loss.total.backward()
        optimizer.step()
        losses.append([loss.total.item(), loss.segmentation.item(), loss.classification.item()])
    first, last = np.mean(losses[:3], axis=0), np.mean(losses[-3:], axis=0)
    assert last[0] < 0.6 * first[0]
    assert last[1] < first[1] and last[2] < first[2]


def test_predict_in_slice_batches_equals_one_forward_pass() -> None:
    image, lungs = chest((48, 40, 11))
    spacing = (1.5, 1.5, 5.0)
    model = multitask_spatial(1, **TINY)
    prediction = predict_multitask(model, image, spacing, lungs=lungs > 0, slice_batch=3)
    assert prediction.lungs is not None and np.array_equal(prediction.lungs, lungs)  # binary lungs were split
    assert prediction.lesion_probabilities is not None and prediction.lesion_probabilities.shape == image.shape
    assert prediction.lesions is not None
    assert np.array_equal(prediction.lesions, prediction.lesion_probabilities > 0.2)
    assert prediction.severity is not None and 0.0 <= prediction.severity <= 1.0
    prepared = preprocess(image, spacing, lungs=lungs)
    with torch.no_grad():
        direct = model.eval()(torch.from_numpy(prepared.image)[None, None])
    assert prediction.probability == pytest.approx(torch.sigmoid(direct.classification).item(), abs=1e-5)
    assert prediction.identification_score == prediction.probability


def test_the_classifier_can_see_every_kth_slice_while_the_lesions_come_from_all() -> None:
    image, lungs = chest((48, 40, 11))
    spacing = (1.5, 1.5, 5.0)
    model = multitask_spatial(1, **TINY)
    every = predict_multitask(model, image, spacing, lungs=lungs > 0, slice_batch=3)
    crop = predict_multitask(model, image, spacing, lungs=lungs > 0, slice_batch=3, classifier_slices=4)
    assert np.array_equal(crop.lesions, every.lesions) and crop.severity == every.severity
    prepared = preprocess(image, spacing, lungs=lungs)
    z = prepared.image.shape[2]  # cropped to the lungs along z too
    assert z == 8
    chosen = prepared.image[:, :, [0, 2, 4, 6]]  # k = 8 / 4 = 2, from the middle offset 0
    with torch.no_grad():
        direct = model.eval()(torch.from_numpy(np.ascontiguousarray(chosen))[None, None])
    assert crop.probability == pytest.approx(torch.sigmoid(direct.classification).item(), abs=1e-5)
    assert crop.probability != pytest.approx(every.probability, abs=1e-6)
    same = predict_multitask(model, image, spacing, lungs=lungs > 0, slice_batch=3, classifier_slices=11)
    assert same.probability == pytest.approx(every.probability, abs=1e-6)  # no more slices than the limit: all
