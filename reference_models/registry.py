"""The methods of the paper's Table 2 (and the lung segmentation all of them rely on), by name.

``METHODS[name]`` gives how to build the network (``None`` for the thresholding baseline), how to predict one
series with it, and which outputs the prediction carries:

* ``"probability"``: a COVID-19 probability (classifiers); otherwise the identification score is the severity;
* ``"lesions"``: a lesion mask (and, for networks, lesion probabilities) on the original grid;
* ``"severity"``: max over the two lungs of the affected fraction;
* ``"lungs"``: the lung mask split into labels 1 and 2.

``Method.predict(model, image_hu, spacing, lungs=...)`` is uniform over methods; ``lungs`` (labels 1/2, or a binary
mask that is then split by k-means) is required by every method but ``"lungs"`` itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from types import MappingProxyType
from typing import Any

import numpy as np
from torch import nn

from reference_models.inference import Prediction
from reference_models.networks.lungs import LungSegmentationNet, predict_lungs
from reference_models.networks.multitask import multitask_latent, multitask_spatial, predict_multitask
from reference_models.networks.resnet50 import ResNet50Classifier, predict_resnet50
from reference_models.networks.unet import UNet2D, UNet3D, predict_unet2d, predict_unet3d
from reference_models.thresholding import predict_thresholding

PROBABILITY, LESIONS, SEVERITY, LUNGS = "probability", "lesions", "severity", "lungs"


@dataclass(frozen=True)
class Method:
    """One method: its network builder, its predictor and what its :class:`Prediction` holds."""

    name: str
    title: str
    """The name used in the paper."""
    build: Callable[..., nn.Module] | None
    """Paper-size network with no arguments; ``width``/``depth``-style keywords make smaller ones."""
    predictor: Callable[..., Prediction]
    outputs: frozenset[str]
    tiny: Mapping[str, Any] = field(default_factory=dict)
    """Keywords for ``build`` giving a small version for CPU tests and demos."""
    training: str = ""
    """What the paper trains it on (the only difference between 2D U-Net and 2D U-Net+)."""

    @property
    def needs_lungs(self) -> bool:
        return self.name != "lungs"

    def build_model(self, *, tiny: bool = False) -> nn.Module | None:
        """The method's network, paper size or ``tiny``; ``None`` for a method without one."""
        if self.build is None:
            return None
        return self.build(**self.tiny) if tiny else self.build()

    def predict(
        self,
        model: nn.Module | None,
        image_hu: np.ndarray,
        spacing: Sequence[float],
        *,
        lungs: np.ndarray | None = None,
        **options: Any,
    ) -> Prediction:
        """Predict one series ``image_hu [x, y, z]`` (HU) with voxel ``spacing`` (mm) given its ``lungs``."""
        if (model is None) != (self.build is None):
            raise ValueError(f"method {self.name!r} {'needs a' if self.build else 'takes no'} model")
        if self.needs_lungs and lungs is None:
            raise ValueError(f"method {self.name!r} needs the series' lung mask")
        arguments = (model, image_hu, spacing) if model is not None else (image_hu, spacing)
        if self.needs_lungs:
            options["lungs"] = lungs
        return self.predictor(*arguments, **options)


_TINY_2D = MappingProxyType({"width": 2, "depth": 3})
_TINY_MULTITASK = MappingProxyType({"width": 2, "depth": 5, "hidden": 16})  # depth 5: Spatial-4 ≠ Latent
_SEGMENTATION = frozenset({LESIONS, SEVERITY, LUNGS})
_MULTITASK = frozenset({PROBABILITY, LESIONS, SEVERITY, LUNGS})
_COVID_MASKS = "79 COVID-19 series with lesion masks (Mosmed-1110: 50, MedSeg-29: 29)"
_CLASSIFICATION = "Mosmed-1110 (806 positive, 254 negative) + 402 NSCLC-Radiomics negatives, 5 stratified splits"

METHODS: Mapping[str, Method] = MappingProxyType(
    {
        method.name: method
        for method in (
            Method(
                name="lungs",
                title="Lungs segmentation",
                build=LungSegmentationNet,
                predictor=predict_lungs,
                outputs=frozenset({LUNGS}),
                tiny=_TINY_2D,
                training="NSCLC-Radiomics thoracic cavities + LUNA16",
            ),
            Method(
                name="thresholding",
                title="Thresholding",
                build=None,
                predictor=predict_thresholding,
                outputs=frozenset({LESIONS, SEVERITY, LUNGS}),
                training=f"no training; HU_min, HU_max, sigma, V_min grid-searched on the {_COVID_MASKS}",
            ),
            Method(
                name="unet2d",
                title="2D U-Net",
                build=UNet2D,
                predictor=predict_unet2d,
                outputs=_SEGMENTATION,
                tiny=_TINY_2D,
                training=_COVID_MASKS,
            ),
            Method(
                name="unet3d",
                title="3D U-Net",
                build=UNet3D,
                predictor=predict_unet3d,
                outputs=_SEGMENTATION,
                tiny=_TINY_2D,
                training=f"{_COVID_MASKS}, 3D patches",
            ),
            Method(
                name="unet2d_plus",
                title="2D U-Net+",
                build=UNet2D,
                predictor=predict_unet2d,
                outputs=_SEGMENTATION,
                tiny=_TINY_2D,
                training=f"{_COVID_MASKS} + 402 NSCLC-Radiomics series with empty masks, balanced batches",
            ),
            Method(
                name="resnet50",
                title="ResNet50",
                build=ResNet50Classifier,
                predictor=predict_resnet50,
                outputs=frozenset({PROBABILITY}),
                tiny=MappingProxyType({"width": 4, "blocks": (1, 1, 1, 1), "slice_features": 8, "hidden": 16}),
                training=_CLASSIFICATION,
            ),
            Method(
                name="multitask_latent",
                title="Multitask-Latent",
                build=multitask_latent,
                predictor=predict_multitask,
                outputs=_MULTITASK,
                tiny=_TINY_MULTITASK,
                training=f"classification: {_CLASSIFICATION}; segmentation: {_COVID_MASKS}",
            ),
            Method(
                name="multitask_spatial4",
                title="Multitask-Spatial-4",
                build=partial(multitask_spatial, 4),
                predictor=predict_multitask,
                outputs=_MULTITASK,
                tiny=_TINY_MULTITASK,
                training=f"classification: {_CLASSIFICATION}; segmentation: {_COVID_MASKS}",
            ),
            Method(
                name="multitask_spatial1",
                title="Multitask-Spatial-1",
                build=partial(multitask_spatial, 1),
                predictor=predict_multitask,
                outputs=_MULTITASK,
                tiny=_TINY_MULTITASK,
                training=f"classification: {_CLASSIFICATION}; segmentation: {_COVID_MASKS}",
            ),
        )
    }
)
