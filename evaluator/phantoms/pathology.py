"""Lung pathology on the coarse grid: COVID-19 opacities (with several raters), bacterial pneumonia, nodules.

COVID-19 lesions are the super-level set ``{F > 0}`` of a score field that favours the subpleural,
posterior and basal lung and has several random foci; its threshold is set per lung from the
field's quantile, so the affected fraction of each lung is chosen exactly (on the coarse samples).
Other raters see ``F + a·δ`` for a smooth random ``δ``, with ``a`` tuned to a drawn inter-rater Dice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from evaluator.phantoms.anatomy import Anatomy, AnatomyFields, lobe_sd
from evaluator.phantoms.grid import CoarseGrid
from evaluator.phantoms.random_fields import smooth_noise
from evaluator.phantoms.shapes import blend, smoothstep, soft
from evaluator.phantoms.trees import Capsules

#: Capsule channel of nodules (see ``generate``).
NODULE_CHANNEL = 3

#: Severity bands of the Russian CT-1..CT-4 scale (fraction of the worse lung).
CT_BANDS = {1: (0.0, 0.25), 2: (0.25, 0.5), 3: (0.5, 0.75), 4: (0.75, 1.0)}


@dataclass(frozen=True, slots=True)
class CovidFields:
    """Coarse COVID-19 lesion fields: rater ``k`` marks ``raters[k] > 0``; consolidation is ``consolidation > 0``."""

    raters: list[np.ndarray]
    consolidation: np.ndarray


#: How often COVID-19 CTs fall in the bands CT-1..CT-4 when not told: most are mild.
POPULATION_BANDS = (0.55, 0.25, 0.12, 0.08)

#: The CT-1..CT-4 mix of hospital inpatients, as in the paper's COVID-19 test cases (Sec. 3.5: studies of an
#: infectious-diseases hospital's inpatients, about two per patient): fewer mild cases than the population, more
#: severe ones. Not reported by the paper; chosen for the benchmark's test set (docs/reference-models.md §12).
INPATIENT_BANDS = (0.35, 0.35, 0.2, 0.1)


def draw_severity(
    rng: np.random.Generator, band: int | None = None, *, band_probabilities: Sequence[float] = POPULATION_BANDS
) -> float:
    """A target severity inside CT band ``band`` (1..4, 0.02 away from its edges, 0.02..0.93), or any band if None.

    Bands are drawn with ``band_probabilities`` (CT-1..CT-4; by default :data:`POPULATION_BANDS`); inside CT-1 the
    value is log-uniform (0.02..0.23, median about 0.07), elsewhere uniform.
    """
    if band is None:
        band = int(rng.choice([1, 2, 3, 4], p=np.asarray(band_probabilities, dtype=np.float64)))
    lo, hi = CT_BANDS[band]
    lo = max(lo + 0.02, 0.01)
    hi = min(hi, 0.95) - 0.02
    if band == 1:
        return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    return float(rng.uniform(lo, hi))


def _side_map(fields: AnatomyFields) -> np.ndarray:
    return np.where(fields.sd_right >= fields.sd_left, np.uint8(1), np.uint8(2))


def _posterior_basal_bias(fields: AnatomyFields, anatomy: Anatomy) -> np.ndarray:
    _, y, z = fields.axes
    _, b_cav, y_cav = anatomy.cavity
    posterior = np.clip((y - np.float32(y_cav - b_cav)) / np.float32(2 * b_cav), 0.0, 1.0)
    basal = np.clip(1.0 - z / np.float32(anatomy.height), 0.0, 1.0)
    return np.float32(1.0) + np.float32(0.5) * posterior + np.float32(0.4) * basal


def _sample_voxels(rng: np.random.Generator, mask: np.ndarray, weights: np.ndarray | None, k: int) -> np.ndarray:
    """Indices (k, 3) of ``k`` voxels of ``mask`` drawn with probability ∝ ``weights``."""
    flat = np.flatnonzero(mask)
    if not len(flat):
        return np.zeros((0, 3), dtype=np.int64)
    p = None
    if weights is not None:
        w = np.broadcast_to(weights, mask.shape).reshape(-1)[flat].astype(np.float64)
        p = w / w.sum() if w.sum() > 0 else None
    chosen = rng.choice(flat, size=k, replace=True, p=p)
    return np.stack(np.unravel_index(chosen, mask.shape), axis=1)


def covid_lesions(
    fields: AnatomyFields,
    anatomy: Anatomy,
    rng: np.random.Generator,
    *,
    severity: float,
    n_raters: int,
) -> CovidFields:
    """Draw bilateral, peripheral, multifocal ground-glass opacities with consolidation; paint them into the HU."""
    grid = fields.grid
    spacing = np.asarray(grid.spacing)
    side = _side_map(fields)
    lung = np.maximum(fields.sd_right, fields.sd_left) > 0
    worse = int(rng.integers(1, 3))
    other = severity * (rng.uniform(0.45, 1.0) if rng.random() < 0.9 else rng.uniform(0.0, 0.2))
    fraction = {worse: severity, 3 - worse: other}

    peripheral = np.exp(-np.maximum(fields.sd_pleura, 0.0) / np.float32(rng.uniform(10.0, 22.0)))
    score = np.float32(0.6) * peripheral * _posterior_basal_bias(fields, anatomy)
    weights = score**3
    # Mild disease (CT-1) is a few separate foci; the diffuse subpleural term and the noise grow with severity.
    diffuse = np.float32(0.05 + 0.95 * min(1.0, 3.0 * severity))
    score *= diffuse
    score += np.float32(0.5) * diffuse * smooth_noise(rng, grid.shape, grid.spacing, scale_mm=25.0)
    foci = np.zeros(score.shape, dtype=np.float32)
    for s in (1, 2):
        in_lung = lung & (side == s)
        # Mild lungs (CT-1) have one to a few foci; severe ones up to 14.
        k = int(min(14, 1 + rng.poisson(1 + 12 * fraction[s])))
        for centre in _sample_voxels(rng, in_lung, weights, k):
            sigma = rng.uniform(8.0, 25.0) * (1.0 + fraction[s])
            _add_blob(foci, centre, sigma / spacing, rng.uniform(0.6, 1.2))
    # Foci fade towards the lung's core: opacities stay mostly subpleural even when they merge.
    foci *= np.float32(0.35) + np.float32(0.65) * np.sqrt(peripheral)
    score += foci
    del weights, peripheral, foci

    field = np.full(score.shape, np.float32(-1.0), dtype=np.float32)
    for s in (1, 2):
        in_lung = lung & (side == s)
        values = score[in_lung]
        if not len(values):
            continue
        if fraction[s] <= 0:
            threshold = np.float32(values.max() + 1.0)
        else:
            threshold = np.float32(np.quantile(values, 1.0 - fraction[s]))
        spread = np.float32(max(float(values.std()), 1e-6))
        region = side == s
        field[region] = (score[region] - threshold) / spread
    del score

    lesion = lung & (field > 0)
    # Early (mild) disease is mostly pure ground glass; consolidation grows with severity.
    cons_fraction = rng.uniform(0.0, 0.15) + 0.35 * severity
    if lesion.any() and cons_fraction > 0:
        cons_threshold = np.float32(np.quantile(field[lesion], 1.0 - cons_fraction))
    else:
        cons_threshold = np.float32(max(float(field.max()), 0.0) + 1.0)
    consolidation = field - cons_threshold
    # Ground glass: about -750 HU at the border, -620..-330 HU in the body (denser in severe cases).
    ggo_hu = np.float32(min(-330.0, rng.uniform(-620.0, -450.0) + min(250.0, 500.0 * severity) * rng.uniform(0.3, 1.0)))
    cons_hu = np.float32(rng.uniform(-100.0, 30.0))
    ramp = smoothstep(np.float32(3.0) * field / max(cons_threshold, np.float32(1e-3)))
    lesion_hu = np.float32(-750.0) + (ggo_hu + np.float32(750.0)) * ramp
    if rng.random() < 0.25 + 0.6 * severity:
        # Crazy paving: thickened interlobular septa, a polygonal network of lines 5–10 mm apart, over the ground
        # glass (the zero set of a smooth random field is such a network).
        net = smooth_noise(rng, grid.shape, grid.spacing, scale_mm=rng.uniform(5.0, 10.0))
        lesion_hu += np.float32(rng.uniform(150.0, 300.0)) * np.exp(-((net / np.float32(0.3)) ** 2)) * ramp
        del net
    cons_edge = np.float32(0.1 * max(float(cons_threshold), 0.05))
    lesion_hu += (cons_hu - lesion_hu) * smoothstep(consolidation / cons_edge + np.float32(0.5))
    lung_alpha = soft(np.maximum(fields.sd_right, fields.sd_left), grid.voxel_size_mm)
    blend(fields.hu, lesion_hu, lung_alpha * lesion)

    raters = [field]
    for _ in range(1, n_raters):
        raters.append(_other_rater(field, lung, side, rng, grid))
    return CovidFields(raters=raters, consolidation=consolidation)


def _add_blob(target: np.ndarray, centre: np.ndarray, sigma_vox: np.ndarray, amplitude: float) -> None:
    """``target += amplitude·exp(-|x - centre|²/2σ²)`` within 3σ (σ per axis, in voxels)."""
    box = []
    parts = []
    for axis, (c, s, n) in enumerate(zip(centre, sigma_vox, target.shape, strict=True)):
        lo, hi = max(0, int(c - 3 * s)), min(n, int(c + 3 * s) + 1)
        box.append(slice(lo, hi))
        g = np.exp(-0.5 * ((np.arange(lo, hi) - c) / s) ** 2).astype(np.float32)
        shape = [1, 1, 1]
        shape[axis] = hi - lo
        parts.append(g.reshape(shape))
    target[tuple(box)] += np.float32(amplitude) * (parts[0] * parts[1] * parts[2])


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int((a & b).sum()) / total


def _other_rater(
    field: np.ndarray, lung: np.ndarray, side: np.ndarray, rng: np.random.Generator, grid: CoarseGrid
) -> np.ndarray:
    """Another rater: borders moved by a smooth random field (Dice with rater 1 drawn from 0.80–0.92, each
    lung's lesion volume kept), and sometimes a missed small component (≤ 3% of the lesion volume)."""
    target = rng.uniform(0.80, 0.92)
    delta = smooth_noise(rng, grid.shape, grid.spacing, scale_mm=rng.uniform(10.0, 20.0))
    sides = [lung & (side == s) for s in (1, 2)]
    f_sides = [field[m] for m in sides]
    d_sides = [delta[m] for m in sides]
    fractions = [float((f > 0).mean()) if len(f) else 0.0 for f in f_sides]

    def shifts(amp: float, stride: int) -> list[np.float32]:
        out = []
        for f, d, frac in zip(f_sides, d_sides, fractions, strict=True):
            moved = f[::stride] + np.float32(amp) * d[::stride]
            out.append(np.float32(np.quantile(moved, 1.0 - frac)) if 0 < frac < 1 and len(moved) else np.float32(0))
        return out

    def dice(amp: float) -> float:
        stride = 3
        a = np.concatenate([f[::stride] > 0 for f in f_sides])
        moved = [
            f[::stride] + np.float32(amp) * d[::stride] - t
            for f, d, t in zip(f_sides, d_sides, shifts(amp, stride), strict=True)
        ]
        return _dice(a, np.concatenate(moved) > 0)

    lo, hi = 0.0, 4.0
    for _ in range(12):
        amp = 0.5 * (lo + hi)
        if dice(amp) > target:
            lo = amp
        else:
            hi = amp
    amp = 0.5 * (lo + hi)
    other = field + np.float32(amp) * delta
    for m, t in zip(sides, shifts(amp, 1), strict=True):
        other[m] -= t
    if rng.random() < 0.6:
        labels, count = ndimage.label(lung & (other > 0))
        if count >= 2:
            sizes = np.bincount(labels.ravel())[1:]
            smallest = int(np.argmin(sizes))
            if sizes[smallest] <= 0.03 * sizes.sum():
                drop = ndimage.binary_dilation(labels == smallest + 1, iterations=2)
                other[drop] = np.float32(-1.0)
    return other


@dataclass(frozen=True, eq=False, slots=True)
class PneumoniaInfo:
    """What :func:`bacterial_pneumonia` drew: the lobe (see ``anatomy.LOBES``), lobar or segmental, an effusion,
    and the consolidation's coarse occupancy (0..1)."""

    lobe: int
    lobar: bool
    effusion: bool
    consolidation: np.ndarray


def bacterial_pneumonia(
    fields: AnatomyFields, anatomy: Anatomy, rng: np.random.Generator
) -> tuple[np.ndarray, PneumoniaInfo]:
    """Lobar or segmental dense consolidation in one lung, with a ground-glass halo, sometimes an effusion.

    One lobe (lower lobes most often) is filled completely (lobar, 20%) or from one point outwards (segmental):
    consolidation at -40..+40 HU, as dense as COVID-19 consolidation, with sharp borders at the fissures, a
    ground-glass halo 3–15 mm wide (-620..-350 HU), and air bronchograms (the airways are drawn over it). The
    consolidation is one connected region of one lung. Paints ``fields.hu``; returns the coarse findings
    occupancy (0..1: consolidation, halo, effusion) and what was drawn.
    """
    grid = fields.grid
    spacing = np.asarray(grid.spacing)
    h = grid.voxel_size_mm
    lung_alpha = soft(np.maximum(fields.sd_right, fields.sd_left), h)
    findings = np.zeros(fields.hu.shape, dtype=np.float32)
    region = np.zeros(fields.hu.shape, dtype=np.float32)
    lobe = int(rng.choice([1, 2, 3, 4, 5], p=[0.15, 0.12, 0.3, 0.15, 0.28]))
    lobar = bool(rng.random() < 0.2)
    fraction = 1.0 if lobar else rng.uniform(0.1, 0.6)
    noise = smooth_noise(rng, grid.shape, grid.spacing, scale_mm=20.0)
    cons_hu = np.float32(rng.uniform(-40.0, 40.0)) + np.float32(8.0) * noise
    halo_hu = np.float32(rng.uniform(-620.0, -350.0))
    halo_mm = rng.uniform(3.0, 15.0)
    lung_sd = fields.sd_right if lobe <= 3 else fields.sd_left
    in_lobe = soft(lobe_sd(anatomy, fields.axes, lobe), h) * (lung_sd > -h)
    members = (in_lobe > 0.5) & (lung_sd > 0)
    if members.any():
        seed = _sample_voxels(rng, members, None, 1)[0]
        offsets = [((np.arange(n) - c) * s).astype(np.float32)
                   for n, c, s in zip(members.shape, seed, spacing, strict=True)]
        dist = np.sqrt(offsets[0][:, None, None] ** 2 + offsets[1][None, :, None] ** 2 + offsets[2][None, None, :] ** 2)
        # Distance from the seed (mm), with a wavy border: the region is a star-shaped blob around the seed.
        score = -dist + np.float32(6.0) * noise
        if lobar:
            score = np.where(members, np.float32(1.0), score)
            threshold = np.float32(0.0)
        else:
            threshold = np.float32(np.quantile(score[members], 1.0 - fraction))
        core = members & (score > threshold)
        labels, count = ndimage.label(core)
        if count > 1:  # keep the seed's (or the largest) piece: one contiguous consolidation
            sizes = np.bincount(labels.ravel())[1:]
            keep = labels[tuple(seed)] or int(np.argmax(sizes)) + 1
            score = np.where(ndimage.binary_dilation(labels == keep, iterations=1) | ~core, score, threshold - 2 * h)
        region = in_lobe * soft(score - threshold, h)
        halo = soft(score - threshold + np.float32(halo_mm), h) * (lung_sd > -h) - region
        halo = np.clip(halo, 0.0, 1.0) * np.clip(np.float32(0.75) + np.float32(0.5) * noise, 0.0, 1.0)
        blend(fields.hu, halo_hu, lung_alpha * halo)
        blend(fields.hu, cons_hu, lung_alpha * region)
        np.maximum(findings, region, out=findings)
        np.maximum(findings, halo, out=findings)
    effusion = bool(rng.random() < 0.25)
    if effusion:
        _, y, z = fields.axes
        y_cav = anatomy.cavity[2]
        depth = np.float32(rng.uniform(8.0, 25.0)) * np.clip(1.0 - z / np.float32(0.5 * anatomy.height), 0.0, 1.0)
        fluid = soft(depth - fields.sd_pleura, h) * (lung_sd > 0) * soft(y - np.float32(y_cav), h)
        blend(fields.hu, 12.0, lung_alpha * fluid)
        np.maximum(findings, fluid, out=findings)
    return findings, PneumoniaInfo(lobe=lobe, lobar=lobar, effusion=effusion, consolidation=region)


def chronic_changes(fields: AnatomyFields, anatomy: Anatomy, rng: np.random.Generator, *, amount: float) -> None:
    """Background findings of older lungs, painted into ``fields.hu``: never lesions, never ``findings``.

    Subpleural, basal and posterior reticulation and atelectasis (-600..-50 HU, with a fine network of lines) in
    ``amount`` × 8–25% of the lungs (at most half), and up to three band-like (plate) atelectases of -150..0 HU in
    the lower lung.
    """
    if amount <= 0:
        return
    grid = fields.grid
    spacing = np.asarray(grid.spacing)
    h = grid.voxel_size_mm
    lung_sd = np.maximum(fields.sd_right, fields.sd_left)
    lung = lung_sd > 0
    lung_alpha = soft(lung_sd, h)
    peripheral = np.exp(-np.maximum(fields.sd_pleura, 0.0) / np.float32(rng.uniform(10.0, 25.0)))
    score = peripheral * _posterior_basal_bias(fields, anatomy) ** 4
    score += np.float32(0.3) * smooth_noise(rng, grid.shape, grid.spacing, scale_mm=15.0)
    values = score[lung]
    if len(values):
        threshold = np.float32(np.quantile(values, 1.0 - min(0.5, amount * rng.uniform(0.08, 0.25))))
        occupancy = soft((score - threshold) / np.float32(max(float(values.std()), 1e-6)), np.float32(0.1))
        net = smooth_noise(rng, grid.shape, grid.spacing, scale_mm=rng.uniform(4.0, 8.0))
        hu = np.float32(rng.uniform(-600.0, -300.0)) + np.float32(250.0) * np.exp(-((net / np.float32(0.35)) ** 2))
        blend(fields.hu, hu, lung_alpha * occupancy)
    for _ in range(int(rng.integers(0, 4))):
        spots = _sample_voxels(rng, lung & (fields.axes[2] < np.float32(0.45 * anatomy.height)), None, 1)
        if not len(spots):
            continue
        centre = spots[0] * spacing
        normal = np.array([rng.normal(0.0, 0.3), rng.normal(0.0, 0.3), 1.0])
        normal /= np.linalg.norm(normal)
        rel = [ax - np.float32(c) for ax, c in zip(grid.axes_mm(), centre, strict=True)]
        across = np.abs(rel[0] * normal[0] + rel[1] * normal[1] + rel[2] * normal[2])
        along = np.sqrt(np.maximum(rel[0] ** 2 + rel[1] ** 2 + rel[2] ** 2 - across**2, 0.0))
        plate = np.minimum(np.float32(rng.uniform(1.0, 2.5)) - across, np.float32(rng.uniform(10.0, 30.0)) - along)
        blend(fields.hu, np.float32(rng.uniform(-150.0, 0.0)), lung_alpha * soft(plate, h))


def nodules(fields: AnatomyFields, rng: np.random.Generator) -> tuple[Capsules, list[float]]:
    """Solid, slightly lobulated round nodules of 4–30 mm (one to five; the first 8–30 mm, the others 4–12 mm).

    Returns the capsules (output-voxel mm frame: coarse sample ``j`` sits at ``j × coarse spacing`` mm from output
    voxel 0) and each nodule's diameter: every nodule, lobules included, fits in a sphere of that diameter.
    """
    grid = fields.grid
    lung_sd = np.maximum(fields.sd_right, fields.sd_left)
    count = int(min(5, 1 + rng.poisson(0.8)))
    diameters = [rng.uniform(8.0, 30.0)] + [rng.uniform(4.0, 12.0) for _ in range(count - 1)]
    parts = []
    placed = []
    for diameter in diameters:
        r = diameter / 2
        spots = _sample_voxels(rng, lung_sd > r + 3.0, None, 1)
        if not len(spots):
            continue
        centre = spots[0] * np.asarray(grid.spacing) + rng.uniform(-0.5, 0.5, 3) * np.asarray(grid.spacing)
        axis = rng.normal(size=3)
        half = rng.uniform(0.0, 0.2) * r
        axis *= half / np.linalg.norm(axis)
        parts.append(Capsules.of(centre - axis, centre + axis, r - half, r - half, NODULE_CHANNEL))
        for _ in range(int(rng.integers(0, 3))):
            bump = rng.normal(size=3)
            bump *= 0.45 * r / np.linalg.norm(bump)
            parts.append(Capsules.of(centre + bump, centre + bump, 0.5 * r, 0.5 * r, NODULE_CHANNEL))
        placed.append(float(diameter))
    return Capsules.concat(parts), placed
