"""Boards built and rendered once per board revision, then served from caches: the page's board part
(everything below the site's header, which is the same for every visitor) and the JSON and CSV exports.

Keys hold the board revision (:mod:`.revision`), the test set asked for and the normalised options, so a new
result, an edited submission or new labels are visible at once on every web process. Two layers: a small
in-process LRU (no network round trip, no unpickling of a large board on every request) over the site's
cache (shared by the web processes in production: one build per revision for all of them); entries expire
after ``CACHE_SECONDS`` anyway. Under the renderings, the board itself (its entries, each ranking with its ranks
and honest ranks) is built once per board revision and every page, search and export slices it
(:func:`.boards.cached_board`).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache import cache
from django.utils.http import urlencode

from .boards import BoardOptions
from .revision import CACHE_SECONDS, revision

CACHE_VERSION = 1
PROCESS_CACHE_BYTES = 64 << 20  # largest total size of the in-process layer
T = TypeVar("T")


def board_key(kind: str, *, slug: str | None, options: BoardOptions, variant: str = "",
              at_revision: str | None = None) -> str:
    """The cache key of one rendering (``kind``: page, json, csv…) of a board at the current revision (or
    ``at_revision``). ``variant``: anything else the rendering depends on (e.g. the site's absolute URL)."""
    query = urlencode(sorted(options.query().items()))
    return hashed_key(kind, at_revision or revision(), slug or "", query, variant)


def hashed_key(*parts: object) -> str:
    """A cache key made of ``parts`` (any text: hashed, so valid for every cache backend)."""
    text = "|".join(str(part) for part in parts)
    return f"board:{CACHE_VERSION}:{hashlib.sha256(text.encode()).hexdigest()[:32]}"


def _size(value: Any) -> int:
    estimate = getattr(value, "cache_bytes", None)  # a built board (boards.BoardData, BoardOrder) estimates its own
    if isinstance(estimate, int):
        return estimate
    if isinstance(value, (str, bytes)):
        return len(value)
    if isinstance(value, dict):
        return sum(_size(v) for v in value.values())
    if isinstance(value, (tuple, list)):
        return sum(_size(v) for v in value)
    return 64


class ProcessCache:
    """A thread-safe LRU bounded by the total size of its values (strings and bytes counted by length);
    entries expire after ``seconds``."""

    def __init__(self, max_bytes: int, *, seconds: float) -> None:
        self.max_bytes = max_bytes
        self.seconds = seconds
        self._items: OrderedDict[str, tuple[Any, int, float]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> Any | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            if item[2] < time.monotonic():
                self._bytes -= self._items.pop(key)[1]
                return None
            self._items.move_to_end(key)
            return item[0]

    def set(self, key: str, value: Any) -> None:
        size = _size(value)
        if size > self.max_bytes:
            return
        with self._lock:
            if key in self._items:
                self._bytes -= self._items.pop(key)[1]
            self._items[key] = (value, size, time.monotonic() + self.seconds)
            self._bytes += size
            while self._bytes > self.max_bytes:
                self._bytes -= self._items.popitem(last=False)[1][1]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


process_cache = ProcessCache(PROCESS_CACHE_BYTES, seconds=CACHE_SECONDS)


def clear() -> None:
    """Forget every cached board, in this process and in the site's cache."""
    process_cache.clear()
    cache.clear()


_building: dict[str, threading.Lock] = {}  # one lock per key being built in this process
_building_lock = threading.Lock()


def cached(key: str, build: Callable[[], T], *, shared: bool = True) -> T:
    """``build()`` once per key (exceptions propagate and nothing is cached). Concurrent requests of this
    process wait for the one building the key (other processes may build it too). ``shared=False``: kept in this
    process only (renderings of a search: any text makes a key, so they stay out of the site's cache)."""
    value = process_cache.get(key)
    if value is not None:
        return value
    with _building_lock:
        lock = _building.setdefault(key, threading.Lock())
    try:
        with lock:
            value = process_cache.get(key)  # built by the thread this one waited for
            if value is not None:
                return value
            value = cache.get(key) if shared else None
            if value is None:
                value = build()
                if shared:
                    cache.set(key, value, CACHE_SECONDS)
            process_cache.set(key, value)
            return value
    finally:
        with _building_lock:
            if _building.get(key) is lock and not lock.locked():
                del _building[key]
