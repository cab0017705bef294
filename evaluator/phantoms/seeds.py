"""Per-case seeds: derived from a set's seed, a tag naming the set, and the case's position."""

from __future__ import annotations

import zlib

import numpy as np


def case_seed(seed: int, tag: str, index: int) -> int:
    """A 32-bit seed for case ``index`` of the set ``tag`` generated with ``seed`` (independent across tags)."""
    sequence = np.random.SeedSequence([seed, zlib.crc32(tag.encode()), index])
    return int(sequence.generate_state(1)[0])


def set_rng(seed: int, tag: str) -> np.random.Generator:
    """The generator that plans the set ``tag`` (shuffles, group choices, severities)."""
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(tag.encode())]))
