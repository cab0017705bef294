"""Synthetic chest-CT phantoms: :func:`generate_case` and the :class:`Phantom` it returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from evaluator.groups import Group
from evaluator.phantoms.anatomy import Anatomy, AnatomyFields, build_fields, sample_anatomy
from evaluator.phantoms.cohorts import Cohort, background
from evaluator.phantoms.grid import CoarseGrid, Grid, ras_affine, upsample_linear, upsample_nearest
from evaluator.phantoms.pathology import (
    NODULE_CHANNEL,
    CovidFields,
    bacterial_pneumonia,
    chronic_changes,
    covid_lesions,
    draw_severity,
    nodules,
)
from evaluator.phantoms.shapes import blend
from evaluator.phantoms.trees import CapsuleBoxes, Capsules, airway_capsules, grow_tree, subdivide, vessel_capsules

#: Bumped whenever the same arguments give other phantoms or sets (2: the confounders of issue 15; 3: MosMed studies
#: are every 10th slice of a thin-slice series; 4: test sets follow Mosmed-Test's cohorts, cohorts.py); anything
#: that caches written phantom sets (e.g. a stamp next to a benchmark's test set) should record it.
GENERATOR_VERSION = 4

#: Small default grid (tests, sample sets): 64 × 64 × 32 voxels of 5.5 × 5.5 × 8 mm.
DEFAULT_SHAPE = (64, 64, 32)
DEFAULT_SPACING = (5.5, 5.5, 8.0)

#: Smallest field of view (mm): in-plane, along z. Smaller patients are scaled down to fit, but not below this.
MIN_FOV_MM = (150.0, 100.0)

# Capsule channels and the HU they are drawn with, in drawing order.
VESSEL, AIRWAY_WALL, AIRWAY_LUMEN = 0, 1, 2
_CHANNEL_HU = ((NODULE_CHANNEL, None), (VESSEL, 40.0), (AIRWAY_WALL, 20.0), (AIRWAY_LUMEN, -1000.0))

_GROUP_CODE = {Group.COVID: 1, Group.BACTERIAL_PNEUMONIA: 2, Group.NODULES: 3, Group.NORMAL: 4}


@dataclass(frozen=True, eq=False, slots=True)
class Phantom:
    """One synthetic chest CT with its labels; arrays are indexed [x, y, z] (see ``grid``'s conventions).

    ``lungs``: 0 background, 1 the patient's right lung (lower x), 2 the left lung; pathology included.
    ``lesions``: one boolean mask of COVID-19 lesions per rater (empty for other groups), inside the lungs.
    ``severity``: mean over raters of max over the two lungs of |lesion ∩ lung| / |lung| (0 if no rater).
    ``findings``: non-COVID pathology (pneumonia, effusion, nodules) or None; never part of ``lesions``.
    ``lesion_types``: for rater 1, 1 = ground glass, 2 = consolidation (only when asked for).
    """

    group: Group
    image: np.ndarray
    lungs: np.ndarray
    lesions: list[np.ndarray]
    affine: np.ndarray
    severity: float
    rater_severities: tuple[float, ...] = ()
    findings: np.ndarray | None = None
    lesion_types: np.ndarray | None = None
    spacing: tuple[float, float, float] = DEFAULT_SPACING
    seed: int = 0
    noise_hu: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)


def _rngs(seed: int, group: Group) -> dict[str, np.random.Generator]:
    """Independent streams: the anatomy depends on the seed only, the pathology also on the group."""
    names = ("anatomy", "texture", "trees", "noise", "affine")
    streams = np.random.SeedSequence([seed, 0x5EED]).spawn(len(names))
    rngs = {name: np.random.default_rng(s) for name, s in zip(names, streams, strict=True)}
    rngs["pathology"] = np.random.default_rng(np.random.SeedSequence([seed, 0xD15EA5E, _GROUP_CODE[group]]))
    return rngs


class _NoisePool:
    """Gaussian noise (standard deviation ``sigma``) for consecutive slabs.

    Volumes up to ``POOL`` voxels get independent values throughout; larger ones read each slab from
    a random offset of one pool of ``POOL`` + one slab values (every voxel still N(0, σ²); values recur
    at unrelated places of other slabs), which keeps a 512 × 512 × 400 volume fast.
    """

    POOL = 1 << 23

    def __init__(self, rng: np.random.Generator, *, total: int, largest: int, sigma: float) -> None:
        self.rng = rng
        self.fresh = total <= self.POOL
        self.values = rng.standard_normal(total if self.fresh else self.POOL + largest, dtype=np.float32)
        self.values *= np.float32(sigma)
        self.used = 0

    def take(self, shape: tuple[int, ...]) -> np.ndarray:
        n = int(np.prod(shape))
        if self.fresh:
            start, self.used = self.used, self.used + n
        else:
            start = int(self.rng.integers(0, self.POOL))
        return self.values[start : start + n].reshape(shape)


@dataclass(frozen=True, slots=True)
class _Kernel:
    """The series' reconstruction kernel: an in-plane Gaussian blur of image and noise, set by one sharpness.

    A soft kernel (sharpness 0) blurs with σ = 1.4 mm and leaves 8–20 HU of noise, grainy over the same σ; a sharp
    (lung) kernel (sharpness 1) blurs with σ = 0.3 mm and leaves 36–90 HU of fine noise. White Gaussian noise is
    added before the blur, scaled so that its standard deviation after the blur is ``noise_hu``. Blurs below
    0.2 voxel are skipped (then the noise stays white).
    """

    sharpness: float
    blur_mm: float
    noise_hu: float
    blur_vox: tuple[float, float]
    gain: float

    @classmethod
    def draw(cls, rng: np.random.Generator, spacing: tuple[float, float, float]) -> _Kernel:
        sharpness = float(rng.uniform(0.0, 1.0))
        blur_mm = 1.4 - 1.1 * sharpness
        noise_hu = float(np.exp(rng.uniform(np.log(8.0), np.log(20.0))) * (1.0 + 3.5 * sharpness))
        blur = tuple(blur_mm / s if blur_mm / s >= 0.2 else 0.0 for s in spacing[:2])
        gain = 1.0
        for sigma in blur:  # the blur's gain on white noise's standard deviation, per axis
            if sigma > 0:
                radius = int(4.0 * sigma + 0.5)
                w = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
                gain *= float(np.sqrt(np.sum((w / w.sum()) ** 2)))
        return cls(sharpness, blur_mm, noise_hu, blur, gain)  # type: ignore[arg-type]

    def apply(self, hu: np.ndarray, white: np.ndarray) -> None:
        """Add noise made from ``white`` (unit variance) to the slab ``hu`` [x, y, z] and blur it in-plane, in place."""
        hu += white * np.float32(self.noise_hu / self.gain)
        if any(self.blur_vox):
            hu[...] = ndimage.gaussian_filter(hu, sigma=(*self.blur_vox, 0.0), mode="nearest")


def _tree_points(fields: AnatomyFields, side: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` points (output-voxel mm) spread uniformly through one lung, 2 mm away from its surface."""
    sd = fields.lung_sd(side)
    flat = np.flatnonzero(sd > 2.0)
    if not len(flat):
        flat = np.flatnonzero(sd > 0)
    if not len(flat):
        return np.zeros((0, 3))
    chosen = rng.choice(flat, size=count, replace=True)
    spacing = np.asarray(fields.grid.spacing)
    idx = np.stack(np.unravel_index(chosen, sd.shape), axis=1)
    return (idx + rng.uniform(-0.5, 0.5, idx.shape)) * spacing


def _trees(fields: AnatomyFields, anatomy: Anatomy, grid: Grid, rng: np.random.Generator) -> Capsules:
    """Pulmonary arteries, veins and airways of both lungs, sized to what the voxel size can show."""
    in_plane = 0.5 * (grid.spacing[0] + grid.spacing[1])
    s = anatomy.body[0] / 155.0
    leaf = max(0.7, 0.45 * in_plane)
    airway_leaf = max(1.2, 0.6 * in_plane)
    centre = np.asarray(anatomy.centre)
    parts = []
    for side, hilum in zip((1, 2), anatomy.hila, strict=True):
        r_artery = rng.uniform(6.0, 8.0) * s
        r_vein = rng.uniform(5.5, 7.5) * s
        r_bronchus = rng.uniform(5.0, 6.5) * s
        for kind, r0, root in (("artery", r_artery, hilum.artery), ("vein", r_vein, hilum.vein)):
            count = int(np.clip(2.0 * (r0 / leaf) ** 3, 16, 3000))
            points = _tree_points(fields, side, count, rng)
            if len(points) < 2:
                continue
            tree = grow_tree(
                points,
                np.asarray(root) + centre,
                radius0=r0,
                leaf_radius=leaf,
                rng=rng,
                axis_jitter=0.0 if kind == "artery" else 1.0,
            )
            parts.append(vessel_capsules(tree, channel=VESSEL))
            if kind == "artery":
                parts.append(
                    airway_capsules(
                        tree,
                        root=np.asarray(hilum.bronchus) + centre,
                        radius0=r_bronchus,
                        leaf_radius=airway_leaf,
                        wall_channel=AIRWAY_WALL,
                        lumen_channel=AIRWAY_LUMEN,
                    )
                )
    return Capsules.concat(parts)


def _lung_box(fields: AnatomyFields, grid: CoarseGrid) -> tuple[slice, slice, slice] | None:
    """Output-voxel box around both lungs (None if the lungs are empty)."""
    lungs = np.maximum(fields.sd_right, fields.sd_left) > -grid.voxel_size_mm
    if not lungs.any():
        return None
    cbox = []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        hit = np.flatnonzero(lungs.any(axis=other))
        cbox.append(slice(max(0, int(hit[0]) - 1), min(lungs.shape[axis], int(hit[-1]) + 2)))
    return grid.fine_box(tuple(cbox))  # type: ignore[arg-type]


def generate_case(
    group: Group | str,
    *,
    shape: tuple[int, int, int] = DEFAULT_SHAPE,
    spacing: tuple[float, float, float] = DEFAULT_SPACING,
    seed: int,
    severity: float | None = None,
    n_raters: int = 1,
    lesion_types: bool = False,
    cohort: Cohort | str = Cohort.GROUP,
) -> Phantom:
    """Generate one synthetic chest CT of ``group``; same arguments → identical arrays.

    The field of view (``shape × spacing``) must be at least ``MIN_FOV_MM``; a patient larger than it is
    scaled down, a scan shorter than the lungs squeezes them along z.
    ``severity`` (COVID-19 only, 0 < severity < 1): the worse lung's affected fraction for rater 1 (hit to
    about ±0.001; further raters keep each lung's lesion volume, bar a missed small component); drawn from
    the CT-1..CT-4 bands when None. ``n_raters`` lesion masks are made for COVID-19 cases.
    ``lesion_types=True`` also returns rater 1's ground glass (1) / consolidation (2) labels.
    ``cohort``: who the patient is (``cohorts.py``): how much chronic background change and dependent density.
    """
    group = Group(group)
    try:
        cohort = Cohort(cohort)
    except ValueError:
        raise ValueError(f"unknown cohort {cohort!r}; known: {', '.join(c.value for c in Cohort)}") from None
    shape = tuple(int(n) for n in shape)  # type: ignore[assignment]
    spacing = tuple(float(s) for s in spacing)  # type: ignore[assignment]
    if len(shape) != 3 or min(shape) < 8:
        raise ValueError(f"shape must be three sizes of at least 8 voxels, got {shape}")
    if len(spacing) != 3 or min(spacing) <= 0:
        raise ValueError(f"spacing must be three positive sizes in mm, got {spacing}")
    fov = [n * d for n, d in zip(shape, spacing, strict=True)]
    if min(fov[0], fov[1]) < MIN_FOV_MM[0] or fov[2] < MIN_FOV_MM[1]:
        raise ValueError(
            f"the field of view {fov[0]:.0f} × {fov[1]:.0f} × {fov[2]:.0f} mm is too small for a chest "
            f"(at least {MIN_FOV_MM[0]:.0f} mm in-plane and {MIN_FOV_MM[1]:.0f} mm along z)"
        )
    if severity is not None and not 0.0 < severity < 1.0:
        raise ValueError(f"severity must lie in (0, 1), got {severity}")
    if severity is not None and group is not Group.COVID:
        raise ValueError(f"severity applies to COVID-19 cases only, not to {group.value}")
    if n_raters < 1:
        raise ValueError(f"n_raters must be at least 1, got {n_raters}")
    rngs = _rngs(seed, group)
    grid = Grid(shape=shape, spacing=spacing)
    coarse = CoarseGrid.for_grid(grid)
    back = background(group, cohort)
    anatomy = sample_anatomy(grid, rngs["anatomy"], dependent_exponent=back.dependent_exponent)
    fields = build_fields(anatomy, coarse, rngs["texture"])

    pathology = rngs["pathology"]
    covid: CovidFields | None = None
    findings_field: np.ndarray | None = None
    caps = [_trees(fields, anatomy, grid, rngs["trees"])]
    target = None
    extra: dict[str, float] = {}
    # Older patients more often have chronic background changes (cohorts.py); they are no finding.
    chronic = pathology.uniform(0.3, back.chronic_most) if pathology.random() < back.chronic_prevalence else 0.0
    chronic_changes(fields, anatomy, pathology, amount=chronic)
    extra["chronic_changes"] = float(chronic)
    if group is Group.COVID:
        target = severity if severity is not None else draw_severity(pathology)
        covid = covid_lesions(fields, anatomy, pathology, severity=target, n_raters=n_raters)
        extra["target_severity"] = float(target)
    elif group is Group.BACTERIAL_PNEUMONIA:
        findings_field, info = bacterial_pneumonia(fields, anatomy, pathology)
        extra.update(pneumonia_lobe=float(info.lobe), pneumonia_lobar=float(info.lobar),
                     effusion=float(info.effusion))
    elif group is Group.NODULES:
        nodule_caps, diameters = nodules(fields, pathology)
        caps.append(nodule_caps)
        extra.update(nodule_count=float(len(diameters)), nodule_min_mm=min(diameters, default=0.0),
                     nodule_max_mm=max(diameters, default=0.0))
    nodule_hu = np.float32(pathology.uniform(10.0, 40.0))
    kernel = _Kernel.draw(rngs["noise"], spacing)
    noise_hu = kernel.noise_hu
    extra.update(kernel_sharpness=kernel.sharpness, blur_mm=kernel.blur_mm)

    h = grid.voxel_size_mm
    all_caps = Capsules.concat(caps)
    all_caps = subdivide(all_caps, max_length=np.maximum(3.0 * np.maximum(all_caps.ra, all_caps.rb), 2.0 * h))
    boxes = CapsuleBoxes.build(all_caps, spacing=spacing, shape=shape, edge_mm=h)

    image = np.empty(shape, dtype=np.int16)
    lungs = np.zeros(shape, dtype=np.uint8)
    n_masks = len(covid.raters) if covid else 0
    lesions = [np.zeros(shape, dtype=bool) for _ in range(n_masks)]
    types = np.zeros(shape, dtype=np.uint8) if (covid and lesion_types) else None
    has_findings = group in (Group.BACTERIAL_PNEUMONIA, Group.NODULES)
    findings = np.zeros(shape, dtype=bool) if has_findings else None
    lung_sd = np.maximum(fields.sd_right, fields.sd_left)
    side_map = np.where(fields.sd_right >= fields.sd_left, np.uint8(1), np.uint8(2))
    lung_box = _lung_box(fields, coarse)
    counts = np.zeros((max(n_masks, 1), 3), dtype=np.int64)  # [rater, side]
    lung_counts = np.zeros(3, dtype=np.int64)

    fz = coarse.factors[2]
    slab = max(fz, fz * int(round((1 << 22) / (shape[0] * shape[1] * fz))))
    noise = _NoisePool(rngs["noise"], total=int(np.prod(shape)), largest=shape[0] * shape[1] * slab, sigma=1.0)
    for z0 in range(0, shape[2], slab):
        z1 = min(shape[2], z0 + slab)
        box = (slice(0, shape[0]), slice(0, shape[1]), slice(z0, z1))
        hu = upsample_linear(fields.hu, coarse, box)
        if lung_box is not None and lung_box[2].start < z1 and lung_box[2].stop > z0:
            lb = (lung_box[0], lung_box[1], slice(max(z0, lung_box[2].start), min(z1, lung_box[2].stop)))
            local = (lb[0], lb[1], slice(lb[2].start - z0, lb[2].stop - z0))
            side = upsample_nearest(side_map, coarse, lb)
            lung = np.where(upsample_linear(lung_sd, coarse, lb) > 0, side, np.uint8(0))
            inside = lung > 0
            lungs[lb] = lung
            lung_counts += np.bincount(lung.ravel(), minlength=3)[:3]
            sub = hu[local]
            alpha = boxes.render(lb, 4)
            alpha *= inside
            for channel, value in _CHANNEL_HU:
                blend(sub, nodule_hu if value is None else value, alpha[channel])
            if covid is not None:
                for k, rater in enumerate(covid.raters):
                    mask = (upsample_linear(rater, coarse, lb) > 0) & inside
                    lesions[k][lb] = mask
                    counts[k] += np.bincount(lung[mask], minlength=3)[:3]
                    if k == 0 and types is not None:
                        cons = upsample_linear(covid.consolidation, coarse, lb) > 0
                        types[lb] = np.where(mask, np.where(cons, np.uint8(2), np.uint8(1)), np.uint8(0))
            if findings is not None:
                found = alpha[NODULE_CHANNEL] >= 0.5
                if findings_field is not None:
                    found |= upsample_linear(findings_field, coarse, lb) > 0.5
                findings[lb] = found & inside
        kernel.apply(hu, noise.take(hu.shape))
        np.rint(hu, out=hu)
        np.clip(hu, -1024, 3071, out=hu)
        image[box] = hu

    fractions = counts[:, 1:] / np.maximum(lung_counts[1:], 1)
    rater_severities = tuple(float(f.max()) for f in fractions[:n_masks])
    arng = rngs["affine"]
    origin = (
        grid.extent_mm[0] / 2 + arng.uniform(-30.0, 30.0),
        grid.extent_mm[1] / 2 + arng.uniform(-30.0, 30.0),
        arng.uniform(-450.0, -150.0),
    )
    return Phantom(
        group=group,
        image=image,
        lungs=lungs,
        lesions=lesions,
        affine=ras_affine(grid, origin_mm=origin),
        severity=float(np.mean(rater_severities)) if rater_severities else 0.0,
        rater_severities=rater_severities,
        findings=findings,
        lesion_types=types,
        spacing=spacing,
        seed=seed,
        noise_hu=noise_hu,
        extra=extra,
    )
