"""Training settings: the paper's optimisers, learning rates and schedules (Sec. 4.2–4.4), and scales.

Paper settings (``scale="paper"``, the defaults):

=====================  =========  =======  ============================  =====================================
method                 optimiser  lr       schedule                      batch
=====================  =========  =======  ============================  =====================================
lungs                  Adam       1e-3     16k batches, 1e-4 after 8k    30 slices
unet2d, unet2d_plus    Adam       3e-4     15k batches                   5 series
unet3d                 SGD        0.01     10k batches                   16 patches of 160³
resnet50, multitask_*  Adam       3e-4     30k batches, 1e-4 after 24k   5 series
=====================  =========  =======  ============================  =====================================

Adam has PyTorch's default betas/eps ("default parameters"); SGD is plain (no momentum, no weight decay).
Drop points are fractions of the schedule, so ``steps`` overrides keep them proportional (e.g. 16k → 1.6k moves
the lungs' drop from 8k to 800). Best checkpoints: validation Dice for segmenters (and lungs), validation
ROC-AUC for ResNet50 and the multitask models.

Scales: ``paper`` (the paper's networks and batches), ``small`` (a CPU benchmark: narrow, shallower networks
that still keep Multitask-Spatial-4 and -Latent apart, small batches of short series crops) and ``tiny``
(``Method.tiny`` networks and minimal batches, for tests). Series crops follow the authors' code: every k-th
slice from a random offset, so at most ``max_slices`` slices remain, and a centre crop in-plane to at most
``max_in_plane`` pixels (their 128 × 160; we allow 160 along x, the left-right axis, and 128 along y).

At the ``small`` and ``tiny`` scales the classifiers (ResNet50, the multitask models) also *see* such a crop at
validation and inference: their heads take every k-th slice down to ``max_slices`` (``predict_options
["classifier_slices"]``; the lesions still come from every slice). The paper trains on ≤ 32 slices and infers on
all; with 8-slice crops the pyramid max-pooling of a 1 mm series takes each z-bin's maximum over ~40 slices where
training took one, every score rises with the number of slices, and thin negatives outscore the positives
(docs/reference-models.md §12).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reference_models.registry import METHODS

SCALES = ("paper", "small", "tiny")
CLASSIFIERS = frozenset({"resnet50", "multitask_latent", "multitask_spatial4", "multitask_spatial1"})
MULTITASK = frozenset({"multitask_latent", "multitask_spatial4", "multitask_spatial1"})
SEGMENTERS = frozenset({"unet2d", "unet2d_plus", "unet3d"})


@dataclass(frozen=True)
class Schedule:
    """Optimiser, initial learning rate, number of batches and learning-rate drops (fraction of steps, new lr)."""

    optimizer: str
    lr: float
    steps: int
    drops: tuple[tuple[float, float], ...] = ()
    head_fan_in: int | None = None
    """``None``: every weight learns at ``lr``. Else the first linear layer of the classification head learns at
    ``lr · min(1, head_fan_in / its fan-in)`` (the CPU scales, :data:`CPU_SCHEDULES`)."""

    def lr_at(self, step: int) -> float:
        """Learning rate for batch ``step`` (0-based): the last drop whose point ``fraction · steps`` is reached."""
        lr = self.lr
        for fraction, new_lr in self.drops:
            if step >= round(fraction * self.steps):
                lr = new_lr
        return lr

    def with_steps(self, steps: int) -> Schedule:
        if steps < 1:
            raise ValueError(f"steps must be positive, got {steps}")
        return dataclasses.replace(self, steps=int(steps))


@dataclass(frozen=True)
class Batching:
    """How a batch is drawn.

    ``unit``: ``"slices"`` (``size`` single axial slices), ``"series"`` (``size`` series crops, see the module
    doc) or ``"patches"`` (``size`` 3D patches of ``patch`` voxels). ``sampling``: ``"uniform"``, ``"balanced"``
    (half positives, half negatives) or ``"multitask"`` (negatives 0.25, positives without a mask 0.25,
    positives with a mask 0.5; the notes). ``lesion_patches``: the fraction of patches placed around a lesion
    voxel instead of uniformly (``"patches"`` only).
    """

    unit: str
    size: int
    sampling: str = "uniform"
    max_slices: int | None = None
    max_in_plane: tuple[int, int] | None = None
    patch: tuple[int, int, int] | None = None
    lesion_patches: float = 0.0


_ADAM_CLASSIFIER = Schedule("adam", 3e-4, 30_000, ((0.8, 1e-4),))
PAPER_SCHEDULES: Mapping[str, Schedule] = {
    "lungs": Schedule("adam", 1e-3, 16_000, ((0.5, 1e-4),)),
    "unet2d": Schedule("adam", 3e-4, 15_000),
    "unet2d_plus": Schedule("adam", 3e-4, 15_000),
    "unet3d": Schedule("sgd", 0.01, 10_000),
    "resnet50": _ADAM_CLASSIFIER,
    "multitask_latent": _ADAM_CLASSIFIER,
    "multitask_spatial4": _ADAM_CLASSIFIER,
    "multitask_spatial1": _ADAM_CLASSIFIER,
}

_CROP: dict[str, Any] = {"max_slices": 32, "max_in_plane": (160, 128)}
PAPER_BATCHING: Mapping[str, Batching] = {
    "lungs": Batching("slices", 30),
    "unet2d": Batching("series", 5, **_CROP),
    "unet2d_plus": Batching("series", 5, sampling="balanced", **_CROP),
    "unet3d": Batching("patches", 16, patch=(160, 160, 160)),
    "resnet50": Batching("series", 5, sampling="balanced", **_CROP),
    **{name: Batching("series", 5, sampling="multitask", **_CROP) for name in MULTITASK},
}

HEAD_FAN_IN = 8192
CPU_SCHEDULES: Mapping[str, Schedule] = {
    "unet3d": Schedule("adam", 1e-3, 10_000),
    **{name: dataclasses.replace(_ADAM_CLASSIFIER, head_fan_in=HEAD_FAN_IN) for name in CLASSIFIERS},
}
"""Where the ``small`` and ``tiny`` scales leave the paper's optimiser (docs/reference-models.md §12):

- 3D U-Net's plain SGD at lr 0.01 needs the paper's 10k batches of 16 patches of 160³; with a few hundred batches
  of two 64 × 64 × 16 patches it learns only the background prior (Dice 0), while Adam at 1e-3 learns the lesions.
- The classifiers' head: Adam moves every weight by about ``lr`` per batch, and the head's inputs are pooled ReLU
  features (≥ 0), so one batch moves a hidden unit's pre-activation by about ``lr`` times the sum of its inputs:
  in proportion to the fan-in. The multitask heads at the small scale take 2,340–74,880 inputs; a few batches push
  most of their 64 hidden units below zero for every series, where they stay (dead ReLUs). A first layer wider
  than ``HEAD_FAN_IN`` therefore learns at ``lr · HEAD_FAN_IN / fan-in``: at the small scale Multitask-Latent's
  (74,880 inputs, × 0.11) and Spatial-4's (18,720, × 0.44); ResNet50 (960) and Spatial-1 (2,340) keep ``lr``."""

WIDE_HEADS = frozenset({"multitask_latent", "multitask_spatial4"})
"""The classifiers whose head's first layer takes more than :data:`HEAD_FAN_IN` inputs at the small scale
(74,880 and 18,720). Even at the fan-in learning rate their hidden ReLUs died in some seeds (1–4 live units of
64), so at the small scale their hidden units are leaky (slope 0.01) and, like every multitask model there, their
best checkpoint maximises validation ROC-AUC + Dice (:func:`select_metric`; docs/reference-models.md §12)."""

_SMALL_2D = {"width": 4, "depth": 6}
SMALL_MODELS: Mapping[str, Mapping[str, Any]] = {
    "lungs": _SMALL_2D,
    "unet2d": _SMALL_2D,
    "unet2d_plus": _SMALL_2D,
    "unet3d": {"width": 4, "depth": 4},
    "resnet50": {"width": 8, "blocks": (1, 1, 1, 1), "slice_features": 64, "hidden": 64},
    **{name: {**_SMALL_2D, "hidden": 64} for name in MULTITASK},
    **{name: {**_SMALL_2D, "hidden": 64, "head_slope": 0.01} for name in WIDE_HEADS},
}
SMALL_BATCHING: Mapping[str, dict[str, Any]] = {
    "lungs": {"size": 8},
    "unet2d": {"size": 4, "max_slices": 4},
    "unet2d_plus": {"size": 4, "max_slices": 4},
    "unet3d": {"size": 2, "patch": (64, 64, 16), "lesion_patches": 0.5},
    "resnet50": {"size": 4, "max_slices": 8},
    **{name: {"size": 2, "max_slices": 8} for name in MULTITASK},
}
SMALL_UNET3D_INFERENCE_PATCH = (160, 112, 32)
"""At the small and tiny scales 3D U-Net trains on small patches (64 × 64 × 16, 16 × 16 × 8) but predicts with
160 × 112 × 32 patches (in-plane one patch covers a cropped phantom series, about 110–145 × 55–95 voxels at 2 mm;
thin-slice series take several along z): the same voxels, a fraction of the time of many small patches (the
network is fully convolutional). 112 rather than 160 along y: less zero padding to compute."""
TINY_BATCHING: Mapping[str, dict[str, Any]] = {
    "lungs": {"size": 4},
    "unet2d": {"size": 2, "max_slices": 2},
    "unet2d_plus": {"size": 2, "max_slices": 2},
    "unet3d": {"size": 2, "patch": (16, 16, 8), "lesion_patches": 0.5},
    **{name: {"size": 2, "max_slices": 4} for name in CLASSIFIERS},
}


ROC_AUC_PLUS_DICE = "roc_auc_plus_dice"


def select_metric(method: str, *, scale: str = "paper") -> str:
    """What the best checkpoint maximises: ``"roc_auc"`` (classifiers) or ``"dice"`` (segmenters, lungs); at the
    small scale the multitask models maximise :data:`ROC_AUC_PLUS_DICE`, validation ROC-AUC + Dice: with 1,000
    batches a head may learn late or not at all, and ROC-AUC alone then picked early checkpoints whose
    segmentation was still young (Spearman ρ .65–.79; docs/reference-models.md §12)."""
    if scale == "small" and method in MULTITASK:
        return ROC_AUC_PLUS_DICE
    return "roc_auc" if method in CLASSIFIERS else "dice"


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines one training run (stored in every checkpoint)."""

    method: str
    scale: str
    model_kwargs: dict[str, Any]
    schedule: Schedule
    batching: Batching
    seed: int = 0
    epoch_steps: int | None = None
    """Batches between validations ("an epoch"); ``None``: one pass over the training items, ``ceil(n / batch)``."""
    val_size: int | None = None
    """Validation series; ``None``: 30 for classifiers (the paper), else 10 % of the annotated series (≥ 1)."""
    predict_options: dict[str, Any] = field(default_factory=dict)
    slice_batch: int = 16
    select: str | None = None
    """What the best checkpoint maximises; ``None`` (and configs written before the field): the paper's,
    ``select_metric(method)``."""

    @property
    def selection(self) -> str:
        return self.select or select_metric(self.method)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        data = dict(data)
        data["schedule"] = Schedule(**{**data["schedule"], "drops": tuple(map(tuple, data["schedule"]["drops"]))})
        batching = dict(data["batching"])
        for key in ("max_in_plane", "patch"):
            if batching.get(key) is not None:
                batching[key] = tuple(batching[key])
        data["batching"] = Batching(**batching)
        return cls(**data)


def default_config(
    method: str,
    *,
    scale: str = "paper",
    steps: int | None = None,
    seed: int = 0,
    batch_size: int | None = None,
    max_slices: int | None = None,
    epoch_steps: int | None = None,
    val_size: int | None = None,
) -> TrainConfig:
    """The paper's settings for ``method`` at ``scale``, with optional overrides (``steps`` keeps drops
    proportional)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
    if method == "thresholding":
        raise ValueError("thresholding has no network to train (see reference_models.training.grid_search)")
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    schedule = PAPER_SCHEDULES[method] if scale == "paper" else CPU_SCHEDULES.get(method, PAPER_SCHEDULES[method])
    batching = PAPER_BATCHING[method]
    if scale == "paper":
        model_kwargs: dict[str, Any] = {}
    elif scale == "small":
        model_kwargs = dict(SMALL_MODELS[method])
        batching = dataclasses.replace(batching, **SMALL_BATCHING[method])
    else:
        model_kwargs = dict(METHODS[method].tiny)
        batching = dataclasses.replace(batching, **TINY_BATCHING[method])
    if steps is not None:
        schedule = schedule.with_steps(steps)
    overrides: dict[str, Any] = {k: v for k, v in {"size": batch_size, "max_slices": max_slices}.items()
                                 if v is not None}
    batching = dataclasses.replace(batching, **overrides)
    predict_options: dict[str, Any] = {}
    if method == "unet3d" and batching.patch is not None:
        patch = SMALL_UNET3D_INFERENCE_PATCH if scale in ("small", "tiny") else batching.patch
        predict_options = {"patch_size": list(patch), "overlap": min(32, min(patch) // 4)}
    if method in CLASSIFIERS and scale in ("small", "tiny") and batching.max_slices is not None:
        predict_options = {"classifier_slices": batching.max_slices}  # see the module doc
    return TrainConfig(
        method=method,
        scale=scale,
        model_kwargs={k: list(v) if isinstance(v, tuple) else v for k, v in model_kwargs.items()},
        schedule=schedule,
        batching=batching,
        seed=seed,
        epoch_steps=epoch_steps,
        val_size=val_size,
        predict_options=predict_options,
        select=select_metric(method, scale=scale),
    )
