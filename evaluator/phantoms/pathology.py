"""Lung pathology on the coarse grid: COVID-19 opacities (with several raters), bacterial pneumonia, nodules.

COVID-19 lesions are the super-level set ``{F > 0}`` of a score field that favours the subpleural,
posterior and basal lung and has several random foci; its threshold is set per lung from the
field's quantile, so the affected fraction of each lung is chosen exactly (on the coarse samples).
Other raters see ``F + a·δ`` for a smooth random ``δ``, with ``a`` tuned to a drawn inter-rater Dice.
"""

from __future__ import annotations

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


def draw_severity(rng: np.random.Generator, band: int | None = None) -> float:
    """A target severity inside CT band ``band`` (1..4, 0.02 away from its edges, 0.01..0.93), or any band if None."""
    if band is None:
        band = int(rng.choice([1, 2, 3, 4], p=[0.4, 0.3, 0.2, 0.1]))
    lo, hi = CT_BANDS[band]
    lo = max(lo + 0.02, 0.01)
    hi = min(hi, 0.95) - 0.02
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
    score += np.float32(0.5) * smooth_noise(rng, grid.shape, grid.spacing, scale_mm=25.0)
    foci = np.zeros(score.shape, dtype=np.float32)
    for s in (1, 2):
        in_lung = lung & (side == s)
        k = int(min(14, 2 + rng.poisson(3 + 8 * fraction[s])))
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
    cons_fraction = rng.uniform(0.05, 0.2) + 0.3 * severity
    if lesion.any():
        cons_threshold = np.float32(np.quantile(field[lesion], 1.0 - cons_fraction))
    else:
        cons_threshold = np.float32(1.0)
    consolidation = field - cons_threshold
    ggo_hu = np.float32(rng.uniform(-620.0, -450.0))
    cons_hu = np.float32(rng.uniform(-60.0, 30.0))
    ramp = smoothstep(np.float32(3.0) * field / max(cons_threshold, np.float32(1e-3)))
    lesion_hu = np.float32(-720.0) + (ggo_hu + np.float32(720.0)) * ramp
    cons_edge = np.float32(0.1 * max(float(cons_threshold), 0.05))
    lesion_hu += (cons_hu - ggo_hu) * smoothstep(consolidation / cons_edge + np.float32(0.5))
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


def bacterial_pneumonia(fields: AnatomyFields, anatomy: Anatomy, rng: np.random.Generator) -> np.ndarray:
    """Lobar/segmental dense consolidation (mostly one lung), a ground-glass rim, sometimes an effusion.

    Paints ``fields.hu``; returns the coarse findings occupancy (0..1).
    """
    grid = fields.grid
    spacing = np.asarray(grid.spacing)
    h = grid.voxel_size_mm
    lung_alpha = soft(np.maximum(fields.sd_right, fields.sd_left), h)
    findings = np.zeros(fields.hu.shape, dtype=np.float32)
    lobe = int(rng.choice([1, 2, 3, 4, 5], p=[0.15, 0.15, 0.3, 0.15, 0.25]))
    sites = [(lobe, rng.uniform(0.4, 1.0))]
    if rng.random() < 0.2:
        sites.append((5 if lobe <= 3 else 3, rng.uniform(0.1, 0.35)))
    noise = smooth_noise(rng, grid.shape, grid.spacing, scale_mm=20.0)
    cons_hu = np.float32(rng.uniform(5.0, 35.0)) + np.float32(8.0) * noise
    edge = np.float32(h / 40.0)  # the score falls by 1/40 per mm away from the focus
    for lobe_id, fraction in sites:
        lung_sd = fields.sd_right if lobe_id <= 3 else fields.sd_left
        in_lobe = soft(lobe_sd(anatomy, fields.axes, lobe_id), h) * (lung_sd > -h)
        members = (in_lobe > 0.5) & (lung_sd > 0)
        if not members.any():
            continue
        seed = _sample_voxels(rng, members, None, 1)[0]
        offsets = [((np.arange(n) - c) * s).astype(np.float32)
                   for n, c, s in zip(members.shape, seed, spacing, strict=True)]
        dist = np.sqrt(offsets[0][:, None, None] ** 2 + offsets[1][None, :, None] ** 2 + offsets[2][None, None, :] ** 2)
        score = -dist / np.float32(40.0) + np.float32(0.4) * noise
        if fraction >= 0.9:  # the whole lobe
            score = np.where(members, np.float32(1.0), score)
            threshold = np.float32(0.0)
        else:
            threshold = np.float32(np.quantile(score[members], 1.0 - fraction))
        region = in_lobe * soft(score - threshold, edge)
        rim = in_lobe * soft(score - threshold + np.float32(0.12), edge) - region
        blend(fields.hu, -520.0, lung_alpha * rim)
        blend(fields.hu, cons_hu, lung_alpha * region)
        np.maximum(findings, region, out=findings)
    if rng.random() < 0.25:
        _, y, z = fields.axes
        side_sd = fields.sd_right if lobe <= 3 else fields.sd_left
        y_cav = anatomy.cavity[2]
        depth = np.float32(rng.uniform(8.0, 25.0)) * np.clip(1.0 - z / np.float32(0.5 * anatomy.height), 0.0, 1.0)
        effusion = soft(depth - fields.sd_pleura, h) * (side_sd > 0) * soft(y - np.float32(y_cav), h)
        blend(fields.hu, 12.0, lung_alpha * effusion)
        np.maximum(findings, effusion, out=findings)
    return findings


def nodules(fields: AnatomyFields, rng: np.random.Generator) -> Capsules:
    """A few solid, slightly lobulated round nodules (5–30 mm), as capsules in the output-voxel frame.

    (Coarse sample ``j`` sits at ``j × coarse spacing`` mm from output voxel 0.)
    """
    grid = fields.grid
    lung_sd = np.maximum(fields.sd_right, fields.sd_left)
    count = int(min(5, 1 + rng.poisson(1.2)))
    diameters = [rng.uniform(10.0, 30.0)] + [rng.uniform(5.0, 12.0) for _ in range(count - 1)]
    parts = []
    for diameter in diameters:
        r = diameter / 2
        spots = _sample_voxels(rng, lung_sd > r + 3.0, None, 1)
        if not len(spots):
            continue
        centre = spots[0] * np.asarray(grid.spacing) + rng.uniform(-0.5, 0.5, 3) * np.asarray(grid.spacing)
        axis = rng.normal(size=3)
        axis *= rng.uniform(0.0, 0.25) * r / np.linalg.norm(axis)
        parts.append(Capsules.of(centre - axis, centre + axis, r, r, NODULE_CHANNEL))
        for _ in range(int(rng.integers(0, 3))):
            bump = rng.normal(size=3)
            bump *= 0.55 * r / np.linalg.norm(bump)
            parts.append(Capsules.of(centre + bump, centre + bump, 0.55 * r, 0.55 * r, NODULE_CHANNEL))
    return Capsules.concat(parts)
