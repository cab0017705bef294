from __future__ import annotations

import pytest
import torch

from reference_models.registry import LESIONS, LUNGS, METHODS, PROBABILITY, SEVERITY
from tests.reference_models.synthetic import chest

NAMES = {
    "thresholding",
    "unet2d",
    "unet3d",
    "unet2d_plus",
    "resnet50",
    "multitask_latent",
    "multitask_spatial4",
    "multitask_spatial1",
    "lungs",
}
FIELDS = {PROBABILITY: "probability", LESIONS: "lesions", SEVERITY: "severity", LUNGS: "lungs"}


def test_the_nine_methods() -> None:
    assert set(METHODS) == NAMES
    assert all(name == method.name for name, method in METHODS.items())
    assert METHODS["unet2d"].build is METHODS["unet2d_plus"].build  # same architecture, other training data
    assert METHODS["unet2d"].training != METHODS["unet2d_plus"].training
    assert METHODS["multitask_spatial4"].build_model(tiny=True).tap == 3
    assert METHODS["multitask_spatial1"].build_model(tiny=True).tap == 0
    assert METHODS["thresholding"].build_model() is None


@pytest.mark.parametrize("name", sorted(NAMES))
def test_each_method_predicts_what_it_declares(name: str) -> None:
    method = METHODS[name]
    image, lungs = chest((56, 48, 8))
    model = method.build_model(tiny=True)
    options = {"patch_size": 16, "overlap": 4} if name == "unet3d" else {}
    prediction = method.predict(model, image, (1.5, 1.5, 5.0), lungs=None if name == "lungs" else lungs, **options)
    for output, attribute in FIELDS.items():
        value = getattr(prediction, attribute)
        assert (value is not None) == (output in method.outputs), (name, output)
    for mask in (prediction.lesions, prediction.lungs):
        assert mask is None or mask.shape == image.shape
    assert prediction.identification_score is not None or method.outputs == {LUNGS}


def test_predict_checks_its_arguments() -> None:
    image, lungs = chest((24, 24, 4))
    with pytest.raises(ValueError, match="needs the series' lung mask"):
        METHODS["unet2d"].predict(METHODS["unet2d"].build_model(tiny=True), image, (1, 1, 1))
    with pytest.raises(ValueError, match="takes no model"):
        METHODS["thresholding"].predict(torch.nn.Identity(), image, (1, 1, 1), lungs=lungs)
    with pytest.raises(ValueError, match="needs a model"):
        METHODS["resnet50"].predict(None, image, (1, 1, 1), lungs=lungs)


@pytest.mark.parametrize("name", sorted(NAMES - {"thresholding"}))
def test_every_network_resamples_and_restores_on_its_own_device(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The wiring the GPU path relies on: each predictor hands its model's device to the full-resolution work."""
    import importlib

    import reference_models.preprocessing as preprocessing

    seen: list[object] = []
    original = preprocessing.to_device

    def recording(array, device):
        seen.append(device)
        return original(array, device)

    monkeypatch.setattr(preprocessing, "to_device", recording)
    monkeypatch.setattr(importlib.import_module("reference_models.inference"), "to_device", recording)
    method = METHODS[name]
    image, lungs = chest((56, 48, 8))
    options = {"patch_size": 16, "overlap": 4} if name == "unet3d" else {}
    method.predict(method.build_model(tiny=True), image, (1.5, 1.5, 5.0), lungs=None if name == "lungs" else lungs,
                   **options)
    assert seen and all(device == torch.device("cpu") for device in seen), seen  # the model's, never a default
