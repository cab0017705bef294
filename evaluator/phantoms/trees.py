"""Branching tubes (pulmonary vessels, airways) and their rendering with partial-volume edges.

Trees are grown by recursive bisection of points scattered in a lung: each branch heads towards the
centroid of the points it supplies, then splits them across their principal axis; radii follow
Murray's law (radius³ ∝ supplied volume), so tubes are thick at the hilum and taper outwards.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike


@dataclass(frozen=True, slots=True)
class Tree:
    """Branches of one tree: ``start[i] → end[i]``, fed by ``parent[i]`` (-1 for the root)."""

    start: np.ndarray  # (n, 3) mm
    end: np.ndarray  # (n, 3) mm
    radius: np.ndarray  # (n,) mm at the start of each branch
    parent: np.ndarray  # (n,) int


@dataclass(frozen=True, slots=True)
class Capsules:
    """Tapered tubes ``a → b`` with radii ``ra → rb`` (mm, output-voxel frame), each drawn into one channel."""

    a: np.ndarray
    b: np.ndarray
    ra: np.ndarray
    rb: np.ndarray
    channel: np.ndarray

    @staticmethod
    def concat(parts: list[Capsules]) -> Capsules:
        parts = [p for p in parts if len(p.ra)] or parts[:1]
        if not parts:
            return Capsules(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0), np.zeros(0), np.zeros(0, np.int8))
        return Capsules(
            a=np.concatenate([p.a for p in parts]),
            b=np.concatenate([p.b for p in parts]),
            ra=np.concatenate([p.ra for p in parts]),
            rb=np.concatenate([p.rb for p in parts]),
            channel=np.concatenate([p.channel for p in parts]),
        )

    @staticmethod
    def of(a: ArrayLike, b: ArrayLike, ra: ArrayLike, rb: ArrayLike, channel: int) -> Capsules:
        a = np.atleast_2d(np.asarray(a, np.float64))
        b = np.atleast_2d(np.asarray(b, np.float64))
        n = len(a)
        return Capsules(
            a=a,
            b=b,
            ra=np.broadcast_to(np.asarray(ra, np.float64), (n,)).copy(),
            rb=np.broadcast_to(np.asarray(rb, np.float64), (n,)).copy(),
            channel=np.full(n, channel, np.int8),
        )


def grow_tree(
    points: np.ndarray,
    root: np.ndarray,
    *,
    radius0: float,
    leaf_radius: float,
    rng: np.random.Generator,
    axis_jitter: float = 0.0,
) -> Tree:
    """Grow a tree from ``root`` that supplies ``points`` (mm); branches thinner than ``leaf_radius`` are not split.

    ``axis_jitter`` (radians) turns each split plane away from the principal axis, so that two trees
    grown on the same points (arteries and veins) branch differently.
    """
    total = len(points)
    perm = np.arange(total)
    lo = np.array([0])
    hi = np.array([total])
    start = np.asarray(root, np.float64)[None, :]
    parent = np.array([-1])
    out_start, out_end, out_radius, out_parent = [], [], [], []
    count = 0
    while len(lo):
        ordered = points[perm]
        cs = np.concatenate([np.zeros((1, 3)), np.cumsum(ordered, axis=0)])
        n = hi - lo
        centroid = (cs[hi] - cs[lo]) / n[:, None]
        radius = radius0 * (n / total) ** (1.0 / 3.0)
        leaf = (n < 2) | (radius0 * (n / (2.0 * total)) ** (1.0 / 3.0) < leaf_radius)
        step = rng.uniform(0.35, 0.6, len(n))
        end = np.where(leaf[:, None], centroid, start + step[:, None] * (centroid - start))
        ids = count + np.arange(len(n))
        count += len(n)
        out_start.append(start)
        out_end.append(end)
        out_radius.append(radius)
        out_parent.append(parent)
        split = ~leaf
        if not split.any():
            break
        lo_s, hi_s, n_s, c_s = lo[split], hi[split], n[split], centroid[split]
        outer = ordered[:, :, None] * ordered[:, None, :]
        cs2 = np.concatenate([np.zeros((1, 3, 3)), np.cumsum(outer, axis=0)])
        cov = (cs2[hi_s] - cs2[lo_s]) / n_s[:, None, None] - c_s[:, :, None] * c_s[:, None, :]
        _, vectors = np.linalg.eigh(cov)
        axis = vectors[:, :, 2]
        if axis_jitter:
            turn = rng.uniform(-axis_jitter, axis_jitter, len(n_s))[:, None]
            axis = np.cos(turn) * axis + np.sin(turn) * vectors[:, :, 1]
        node = np.repeat(np.arange(len(n_s)), n_s)
        pos = np.repeat(lo_s - np.concatenate([[0], np.cumsum(n_s)[:-1]]), n_s) + np.arange(n_s.sum())
        proj = np.einsum("ij,ij->i", ordered[pos] - c_s[node], axis[node])
        perm[pos] = perm[pos[np.lexsort((proj, node))]]
        mid = lo_s + np.clip(np.rint(n_s * rng.uniform(0.3, 0.7, len(n_s))).astype(int), 1, n_s - 1)
        lo = np.concatenate([lo_s, mid])
        hi = np.concatenate([mid, hi_s])
        start = np.concatenate([end[split], end[split]])
        parent = np.concatenate([ids[split], ids[split]])
    return Tree(
        start=np.concatenate(out_start),
        end=np.concatenate(out_end),
        radius=np.concatenate(out_radius),
        parent=np.concatenate(out_parent),
    )


def vessel_capsules(tree: Tree, *, channel: int) -> Capsules:
    """Vessels along every branch, tapering by 10% along each."""
    return Capsules.of(tree.start, tree.end, tree.radius, 0.9 * tree.radius, channel)


def airway_capsules(
    tree: Tree,
    *,
    root: np.ndarray,
    radius0: float,
    leaf_radius: float,
    wall_channel: int,
    lumen_channel: int,
) -> Capsules:
    """Airways running beside the arteries of ``tree`` (bronchovascular bundles), from the bronchus ``root``.

    Each airway's radius is 85% of its artery's (at most ``radius0``); branches thinner than ``leaf_radius``
    are dropped; walls are 18% of the radius thick (at least 0.5 mm).
    """
    radius = np.minimum(0.85 * tree.radius, radius0)
    keep = radius >= leaf_radius
    direction = tree.end - tree.start
    side = np.cross(direction, np.array([0.0, 1.0, 0.0]))
    norm = np.linalg.norm(side, axis=1, keepdims=True)
    fallback = np.cross(direction, np.array([0.0, 0.0, 1.0]))
    side = np.where(norm > 1e-6 * np.linalg.norm(direction, axis=1, keepdims=True) + 1e-9, side, fallback)
    side /= np.maximum(np.linalg.norm(side, axis=1, keepdims=True), 1e-9)
    shifted_end = tree.end + side * (tree.radius + radius + 0.5)[:, None]
    has_parent = tree.parent >= 0
    shifted_start = np.where(has_parent[:, None], shifted_end[np.maximum(tree.parent, 0)], np.asarray(root)[None, :])
    # Radii shrink from parent to child, so the kept branches form a subtree containing the root.
    a, b, r = shifted_start[keep], shifted_end[keep], radius[keep]
    lumen = np.maximum(r - np.maximum(0.18 * r, 0.5), 0.2)
    return Capsules.concat(
        [Capsules.of(a, b, r, 0.9 * r, wall_channel), Capsules.of(a, b, lumen, 0.9 * lumen, lumen_channel)]
    )


def subdivide(caps: Capsules, *, max_length: np.ndarray | float) -> Capsules:
    """Split capsules longer than ``max_length`` (per capsule or scalar) into equal pieces (tighter boxes)."""
    length = np.linalg.norm(caps.b - caps.a, axis=1)
    pieces = np.maximum(1, np.ceil(length / np.maximum(max_length, 1e-6)).astype(int))
    if (pieces == 1).all():
        return caps
    idx = np.repeat(np.arange(len(length)), pieces)
    first = np.repeat(np.cumsum(pieces) - pieces, pieces)
    k = (np.arange(len(idx)) - first).astype(np.float64)
    f0 = (k / pieces[idx])[:, None]
    f1 = ((k + 1) / pieces[idx])[:, None]
    a, b = caps.a[idx], caps.b[idx]
    ra, rb = caps.ra[idx], caps.rb[idx]
    return Capsules(
        a=a + (b - a) * f0,
        b=a + (b - a) * f1,
        ra=ra + (rb - ra) * f0[:, 0],
        rb=ra + (rb - ra) * f1[:, 0],
        channel=caps.channel[idx],
    )


_SIZES = np.array([1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048])


@dataclass(frozen=True, slots=True)
class CapsuleBoxes:
    """Capsules with their voxel bounding boxes on one output grid, ready to render box by box."""

    caps: Capsules
    lo: np.ndarray  # (n, 3) first voxel index
    hi: np.ndarray  # (n, 3) one past the last
    spacing: np.ndarray
    edge_mm: float

    @classmethod
    def build(cls, caps: Capsules, *, spacing: ArrayLike, shape: ArrayLike, edge_mm: float) -> CapsuleBoxes:
        spacing = np.asarray(spacing, np.float64)
        reach = np.maximum(caps.ra, caps.rb)[:, None] + edge_mm
        lo = np.floor((np.minimum(caps.a, caps.b) - reach) / spacing).astype(np.int64)
        hi = np.ceil((np.maximum(caps.a, caps.b) + reach) / spacing).astype(np.int64) + 1
        lo = np.clip(lo, 0, np.asarray(shape))
        hi = np.clip(hi, 0, np.asarray(shape))
        return cls(caps=caps, lo=lo, hi=hi, spacing=spacing, edge_mm=edge_mm)

    def render(self, box: tuple[slice, slice, slice], n_channels: int, *, chunk: int = 1 << 22) -> np.ndarray:
        """Occupancy (0..1, float32) of each channel over ``box``: the maximum over overlapping capsules."""
        b0 = np.array([s.start for s in box])
        b1 = np.array([s.stop for s in box])
        dims = b1 - b0
        out = np.zeros((n_channels, *dims), dtype=np.float32)
        lo = np.maximum(self.lo, b0)
        hi = np.minimum(self.hi, b1)
        live = np.flatnonzero((hi > lo).all(axis=1))
        if not len(live):
            return out
        lo, hi = lo[live], hi[live]
        padded = _SIZES[np.searchsorted(_SIZES, hi - lo)]
        keys, inverse = np.unique(padded, axis=0, return_inverse=True)
        flat = out.reshape(-1)
        for g, key in enumerate(keys):
            members = np.flatnonzero(inverse.ravel() == g)
            per = max(1, chunk // int(np.prod(key)))
            for k in range(0, len(members), per):
                sel = members[k : k + per]
                self._render_group(flat, live[sel], lo[sel], hi[sel], key, b0, dims)
        return out

    def _render_group(self, flat: np.ndarray, idx: np.ndarray, lo: np.ndarray, hi: np.ndarray, key: np.ndarray,
                      b0: np.ndarray, dims: np.ndarray) -> None:
        caps, s, h = self.caps, self.spacing, np.float32(self.edge_mm)
        a = caps.a[idx]
        d = (caps.b[idx] - a).astype(np.float32)
        len2 = np.maximum((d * d).sum(1), 1e-6).astype(np.float32)
        kx, ky, kz = (int(v) for v in key)
        ix = lo[:, 0, None] + np.arange(kx)
        iy = lo[:, 1, None] + np.arange(ky)
        iz = lo[:, 2, None] + np.arange(kz)
        px = (ix * s[0] - a[:, 0, None]).astype(np.float32)[:, :, None, None]
        py = (iy * s[1] - a[:, 1, None]).astype(np.float32)[:, None, :, None]
        pz = (iz * s[2] - a[:, 2, None]).astype(np.float32)[:, None, None, :]
        dx, dy, dz = (d[:, i, None, None, None] for i in range(3))
        dot = px * dx + py * dy + pz * dz
        t = dot / len2[:, None, None, None]
        np.clip(t, 0.0, 1.0, out=t)
        dist2 = (px * px + py * py) + pz * pz
        dist2 -= t * (np.float32(2.0) * dot - t * len2[:, None, None, None])
        np.maximum(dist2, 0.0, out=dist2)
        ra = caps.ra[idx].astype(np.float32)[:, None, None, None]
        rb = caps.rb[idx].astype(np.float32)[:, None, None, None]
        radius = ra + (rb - ra) * t
        contrast = np.minimum(np.float32(1.0), np.float32(2.0) * np.maximum(ra, rb) / h)
        alpha = (radius - np.sqrt(dist2)) / h + np.float32(0.5)
        np.clip(alpha, 0.0, 1.0, out=alpha)
        alpha *= contrast
        valid = (ix < hi[:, 0, None])[:, :, None, None] & (iy < hi[:, 1, None])[:, None, :, None]
        valid = valid & (iz < hi[:, 2, None])[:, None, None, :] & (alpha > 0)
        ch = caps.channel[idx].astype(np.int64)
        base = ((ch * dims[0]) - b0[0])[:, None, None, None]
        index = (base + ix[:, :, None, None]) * dims[1] + (iy - b0[1])[:, None, :, None]
        index = index * dims[2] + (iz - b0[2])[:, None, None, :]
        np.maximum.at(flat, index[valid], alpha[valid])
