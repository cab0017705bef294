"""Drawing training batches from prepared series (sampling weights, series crops, patches, padding).

Every draw takes a ``numpy.random.Generator``; the training loop makes one per batch from ``(seed, step)``, so a
resumed run draws exactly the batches it would have drawn without the interruption. Arrays are padded with 0
(the image's value for −1000 HU after windowing, "no lesion" for targets) to the largest crop of the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from reference_models.inference import every_kth_slice, slice_step
from reference_models.training.config import Batching
from reference_models.training.prepare import PreparedSeries

MULTITASK_WEIGHTS = {"negative": 0.25, "positive": 0.25, "masked": 0.5}
"""The notes' sampling weights: negatives, positives without a mask, positives with a mask."""


@dataclass(frozen=True, slots=True)
class Batch:
    """``images`` ``(b, 1, *spatial)``; ``targets`` same shape (zeros where ``has_mask`` is false) or ``None``;
    ``labels`` ``(b,)`` float (0 where unknown); ``has_mask`` ``(b,)`` bool."""

    images: torch.Tensor
    targets: torch.Tensor | None
    labels: torch.Tensor
    has_mask: torch.Tensor

    def to(self, device: torch.device | str) -> Batch:
        return Batch(
            self.images.to(device),
            None if self.targets is None else self.targets.to(device),
            self.labels.to(device),
            self.has_mask.to(device),
        )


def item_role(item: PreparedSeries) -> str:
    """``"masked"`` (has a target), ``"positive"`` or ``"negative"`` (label only), ``"unlabelled"``."""
    if item.has_mask and item.label != 0:
        return "masked"
    if item.label == 1:
        return "positive"
    if item.label == 0:
        return "negative"
    return "unlabelled"


def sampling_probabilities(items: Sequence[PreparedSeries], *, sampling: str) -> np.ndarray:
    """Probability of drawing each item: ``uniform``, ``balanced`` (positives vs negatives, 1/2 each) or
    ``multitask`` (:data:`MULTITASK_WEIGHTS`); a role with no items gives its share to the others."""
    if not items:
        raise ValueError("no training series")
    if sampling == "uniform":
        return np.full(len(items), 1.0 / len(items))
    if sampling == "balanced":
        roles = ["negative" if item.label == 0 else "positive" for item in items]
        shares = {"negative": 0.5, "positive": 0.5}
    elif sampling == "multitask":
        roles = [item_role(item) for item in items]
        shares = dict(MULTITASK_WEIGHTS)
    else:
        raise ValueError(f"unknown sampling {sampling!r}")
    counts = {role: roles.count(role) for role in shares}
    total = sum(share for role, share in shares.items() if counts[role])
    weights = np.array([shares.get(r, 0.0) / total / counts[r] if counts.get(r) else 0.0 for r in roles])
    if weights.sum() <= 0:
        raise ValueError(f"no series usable for {sampling} sampling")
    return weights / weights.sum()


def crop_series(
    image: np.ndarray,
    target: np.ndarray | None,
    *,
    rng: np.random.Generator,
    max_slices: int | None,
    max_in_plane: Sequence[int] | None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Every k-th slice from a random offset (at most ``max_slices`` remain), centre crop in-plane."""
    z = image.shape[2]
    index = slice(None)
    step = slice_step(z, max_slices)
    if step > 1:
        index = every_kth_slice(z, max_slices, offset=int(rng.integers(step)))
    box = [slice(None), slice(None)]
    if max_in_plane is not None:
        for axis, limit in enumerate(max_in_plane[:2]):
            excess = image.shape[axis] - int(limit)
            if excess > 0:
                box[axis] = slice(excess // 2, excess // 2 + int(limit))
    image = np.asarray(image[box[0], box[1]][:, :, index], dtype=np.float32)
    if target is not None:
        target = np.asarray(target[box[0], box[1]][:, :, index], dtype=bool)
    return image, target


def random_patch(
    image: np.ndarray,
    target: np.ndarray | None,
    *,
    rng: np.random.Generator,
    patch: Sequence[int],
    lesion_fraction: float = 0.0,
) -> tuple[np.ndarray, np.ndarray | None]:
    """A ``patch`` placed uniformly, or, with probability ``lesion_fraction`` when ``target`` has lesions, around a
    lesion voxel drawn uniformly (the patch's centre within a quarter patch of it, clipped to the image); axes
    shorter than the patch are zero-padded at the end (as at inference)."""
    starts = None
    if lesion_fraction > 0 and target is not None and rng.random() < lesion_fraction:
        lesion = np.flatnonzero(np.asarray(target))
        if lesion.size:
            centre = np.unravel_index(int(lesion[rng.integers(lesion.size)]), image.shape)
            starts = [int(np.clip(c - p // 2 + rng.integers(-(p // 4), p // 4 + 1), 0, max(0, n - p)))
                      for c, p, n in zip(centre, patch, image.shape, strict=True)]
    if starts is None:
        starts = [int(rng.integers(max(1, n - p + 1))) for n, p in zip(image.shape, patch, strict=True)]
    box = tuple(slice(s, s + p) for s, p in zip(starts, patch, strict=True))
    return _pad_to(np.asarray(image[box], dtype=np.float32), patch), (
        None if target is None else _pad_to(np.asarray(target[box], dtype=bool), patch)
    )


def _pad_to(array: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    if tuple(array.shape) == tuple(shape):
        return array
    out = np.zeros(tuple(shape), dtype=array.dtype)
    out[tuple(slice(0, n) for n in array.shape)] = array
    return out


def _stack(arrays: Sequence[np.ndarray], *, dtype: torch.dtype) -> torch.Tensor:
    shape = tuple(max(a.shape[d] for a in arrays) for d in range(arrays[0].ndim))
    return torch.from_numpy(np.stack([_pad_to(a, shape) for a in arrays])).unsqueeze(1).to(dtype)


def _assemble(images: list[np.ndarray], targets: list[np.ndarray | None], chosen: Sequence[PreparedSeries]) -> Batch:
    has_mask = [t is not None for t in targets]
    filled = [t if t is not None else np.zeros(i.shape, dtype=bool) for i, t in zip(images, targets, strict=True)]
    return Batch(
        images=_stack(images, dtype=torch.float32),
        targets=_stack(filled, dtype=torch.float32) if any(has_mask) else None,
        labels=torch.tensor([float(item.label or 0) for item in chosen]),
        has_mask=torch.tensor(has_mask, dtype=torch.bool),
    )


def draw_batch(
    items: Sequence[PreparedSeries], probabilities: np.ndarray, batching: Batching, *, rng: np.random.Generator
) -> Batch:
    """One batch as ``batching`` says: ``slices`` → ``(n, 1, x, y)``; ``series`` → ``(b, 1, x, y, z)``;
    ``patches`` → ``(b, 1, *patch)``."""
    chosen = [items[i] for i in rng.choice(len(items), size=batching.size, p=probabilities)]
    images: list[np.ndarray] = []
    targets: list[np.ndarray | None] = []
    for item in chosen:
        if batching.unit == "slices":
            z = int(rng.integers(item.image.shape[2]))
            images.append(np.asarray(item.image[:, :, z], dtype=np.float32))
            targets.append(None if item.target is None else np.asarray(item.target[:, :, z], dtype=bool))
        elif batching.unit == "series":
            image, target = crop_series(item.image, item.target, rng=rng, max_slices=batching.max_slices,
                                        max_in_plane=batching.max_in_plane)
            images.append(image)
            targets.append(target)
        elif batching.unit == "patches":
            if batching.patch is None:
                raise ValueError("patch batching needs a patch size")
            image, target = random_patch(item.image, item.target, rng=rng, patch=batching.patch,
                                         lesion_fraction=batching.lesion_patches)
            images.append(image)
            targets.append(target)
        else:
            raise ValueError(f"unknown batch unit {batching.unit!r}")
    return _assemble(images, targets, chosen)


def series_as_slices(batch: Batch) -> Batch:
    """``(b, 1, x, y, z)`` series → ``(b · z, 1, x, y)`` slices (for 2D networks trained on series batches)."""
    b, c, x, y, z = batch.images.shape

    def flat(t: torch.Tensor) -> torch.Tensor:
        return t.permute(0, 4, 1, 2, 3).reshape(b * z, c, x, y)

    return Batch(
        images=flat(batch.images),
        targets=None if batch.targets is None else flat(batch.targets),
        labels=batch.labels.repeat_interleave(z),
        has_mask=batch.has_mask.repeat_interleave(z),
    )
