"""Run-length encoding of binary masks and streaming overlap counts against it.

Ground-truth masks are stored as sorted, disjoint half-open runs ``[start, end)`` of
flat voxel indices in NIfTI file order (Fortran order of ``(x, y, z)``), so that a
submitted mask can be compared with them while it is inflated chunk by chunk, without
ever holding a whole volume: :class:`BoundaryCounter` keeps the number of non-zero
voxels before every run boundary, and the overlap with a run set is a difference of
two such prefix counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_ONE = np.uint64(1)
_EIGHT = np.uint64(8)


@dataclass(frozen=True, slots=True)
class Runs:
    """Half-open runs ``[starts[i], ends[i])`` of a binary mask (flat, Fortran order)."""

    starts: np.ndarray
    ends: np.ndarray

    @property
    def voxels(self) -> int:
        return int((self.ends - self.starts).sum())

    @classmethod
    def empty(cls) -> Runs:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64))


def encode_runs(mask: np.ndarray) -> Runs:
    """Runs of the non-zero voxels of ``mask`` (any shape; flattened in Fortran order)."""
    flat = np.asarray(mask).ravel(order="F") != 0
    if not flat.size:
        return Runs.empty()
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    if flat[0]:
        edges = np.concatenate([[0], edges])
    if flat[-1]:
        edges = np.concatenate([edges, [flat.size]])
    edges = edges.astype(np.int64)
    return Runs(edges[0::2].copy(), edges[1::2].copy())


class BoundaryCounter:
    """Counts non-zero voxels of a streamed mask before each of a set of flat positions.

    Feed consecutive chunks of the mask as uint8 arrays holding only 0 and 1 (their
    length a multiple of 8, except the last, and below 2**31); :meth:`prefix` then gives,
    for every boundary ``b``, the number of ones at flat positions ``< b``. Ones are
    counted eight voxels at a time with a popcount of 64-bit words.
    """

    def __init__(self, boundaries: np.ndarray) -> None:
        self._boundaries = np.asarray(boundaries, dtype=np.int64)
        self._prefix = np.zeros(len(self._boundaries), dtype=np.int64)
        self._next = 0  # first boundary not yet resolved
        self._offset = 0  # flat position of the next chunk
        self.total = 0  # non-zero voxels seen so far

    def feed(self, chunk: np.ndarray, *, all_zero: bool = False) -> None:
        """Count one chunk; ``all_zero=True`` (known to the caller) skips the counting."""
        n = len(chunk)
        stop = int(np.searchsorted(self._boundaries, self._offset + n, side="left"))
        if all_zero:
            self._prefix[self._next : stop] = self.total
        else:
            if n % 8:
                padded = np.zeros(n + 8 - n % 8, np.uint8)
                padded[:n] = chunk
                chunk = padded
            words = chunk.view(np.uint64)
            popcounts = np.bitwise_count(words)
            if stop > self._next:
                local = self._boundaries[self._next : stop] - self._offset
                word_index = local >> 3
                # int32 is exact: a chunk holds far fewer than 2**31 voxels
                cumulative = np.cumsum(popcounts, dtype=np.int32)
                before_word = np.where(word_index > 0, cumulative[np.maximum(word_index - 1, 0)], 0)
                low_bytes = (local & 7).astype(np.uint64)
                partial = np.bitwise_count(words[word_index] & ((_ONE << (_EIGHT * low_bytes)) - _ONE))
                self._prefix[self._next : stop] = self.total + before_word + partial
                self.total += int(cumulative[-1])
            else:
                self.total += int(popcounts.sum(dtype=np.int64))
        self._next = stop
        self._offset += n

    def prefix(self) -> np.ndarray:
        """Prefix counts at every boundary (boundaries past the data get the total)."""
        self._prefix[self._next :] = self.total
        return self._prefix


@dataclass(frozen=True, slots=True)
class RunIndex:
    """Several named run sets sharing one sorted boundary array, for one streaming pass."""

    boundaries: np.ndarray
    members: dict[str, tuple[np.ndarray, np.ndarray]]  # name -> (start positions, end positions) in boundaries

    @classmethod
    def build(cls, run_sets: dict[str, Runs]) -> RunIndex:
        points = [r.starts for r in run_sets.values()] + [r.ends for r in run_sets.values()]
        boundaries = np.unique(np.concatenate(points)) if points else np.zeros(0, np.int64)
        members = {
            name: (np.searchsorted(boundaries, r.starts), np.searchsorted(boundaries, r.ends))
            for name, r in run_sets.items()
        }
        return cls(boundaries=boundaries, members=members)

    def overlaps(self, prefix: np.ndarray) -> dict[str, int]:
        """Voxels of the streamed mask inside each run set, from :meth:`BoundaryCounter.prefix`."""
        return {name: int((prefix[e] - prefix[s]).sum()) for name, (s, e) in self.members.items()}
