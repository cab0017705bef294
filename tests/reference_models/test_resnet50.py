from __future__ import annotations

import numpy as np
import pytest
import torch

from reference_models.inference import every_kth_slice
from reference_models.networks.resnet50 import Bottleneck, ResNet50, ResNet50Classifier, predict_resnet50
from reference_models.preprocessing import preprocess
from tests.reference_models.synthetic import chest

TINY = {"width": 4, "blocks": (1, 1, 1, 1), "slice_features": 8, "hidden": 16}


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_parameter_count_matches_torchvision_resnet50_with_one_input_channel() -> None:
    net = ResNet50()
    # torchvision's resnet50 has 25,557,032 parameters, 2,049,000 in its fc layer; a 1-channel 7×7 first
    # convolution has 64 · 49 · 2 = 6,272 fewer weights than the 3-channel one
    assert _count(net) - _count(net.fc) == 25_557_032 - 2_049_000 - 6_272
    assert [len(stage) for stage in net.stages] == [3, 4, 6, 3]
    assert all(isinstance(block, Bottleneck) for stage in net.stages for block in stage)
    assert net.stem[0].in_channels == 1 and net.fc.out_features == 1000


def test_classifier_at_paper_size_on_a_small_series() -> None:
    model = ResNet50Classifier().eval()
    assert model.classifier[1].in_features == 15_000
    assert (model.classifier[1].out_features, model.classifier[4].out_features) == (1024, 1)
    with torch.no_grad():
        assert model(torch.randn(1, 1, 64, 64, 8)).shape == (1,)
        assert model.encode_slices(torch.randn(3, 1, 64, 64)).shape == (3, 1000)


def test_tiny_classifier_handles_few_slices_and_batches() -> None:
    model = ResNet50Classifier(**TINY).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 1, 40, 36, 3)).shape == (2,)
        single = model(torch.randn(1, 1, 20, 20, 1))
    assert torch.isfinite(single).all()


def test_batched_series_are_independent() -> None:
    model = ResNet50Classifier(**TINY).eval()
    series = torch.randn(2, 1, 32, 32, 5)
    with torch.no_grad():
        both = model(series)
        each = torch.cat([model(series[:1]), model(series[1:])])
    assert torch.allclose(both, each, atol=1e-5)


def test_predict_in_slice_batches_equals_one_forward_pass() -> None:
    image, lungs = chest((48, 40, 9))
    model = ResNet50Classifier(**TINY)
    prediction = predict_resnet50(model, image, (1.5, 1.5, 5.0), lungs=lungs, slice_batch=2)
    assert prediction.probability is not None and 0.0 < prediction.probability < 1.0
    assert prediction.lesions is None and prediction.severity is None
    assert model.training  # mode restored
    prepared = preprocess(image, (1.5, 1.5, 5.0), lungs=lungs)
    with torch.no_grad():
        direct = torch.sigmoid(model.eval()(torch.from_numpy(prepared.image)[None, None])).item()
    assert prediction.probability == pytest.approx(direct, abs=1e-5)
    assert prediction.identification_score == prediction.probability
    assert np.isfinite(prediction.probability)


def test_the_classifier_can_see_every_kth_slice() -> None:
    image, lungs = chest((48, 40, 9))
    model = ResNet50Classifier(**TINY)
    prediction = predict_resnet50(model, image, (1.5, 1.5, 5.0), lungs=lungs, slice_batch=2, classifier_slices=3)
    prepared = preprocess(image, (1.5, 1.5, 5.0), lungs=lungs)
    z = prepared.image.shape[2]
    chosen = np.ascontiguousarray(prepared.image[:, :, every_kth_slice(z, 3)])
    assert z > 3 and len(range(z)[every_kth_slice(z, 3)]) <= 3
    with torch.no_grad():
        direct = torch.sigmoid(model.eval()(torch.from_numpy(chosen)[None, None])).item()
    assert prediction.probability == pytest.approx(direct, abs=1e-5)
