"""Boards built and rendered once per board revision, then served from caches: the page's board part
(everything below the site's header, which is the same for every visitor) and the JSON and CSV exports.

Keys hold the board revision (:mod:`.revision`), the test set asked for and the normalised options, so a new
result, an edited submission or new labels are visible at once on every web process. Two layers: a small
in-process LRU (no network round trip, no unpickling of a large board on every request) over the site's
cache (shared by the web processes in production: one build per revision for all of them); entries expire
after ``CACHE_SECONDS`` anyway. With ``LEADERBOARD_BOARD_STALE_SECONDS`` set, a process keeps serving a
rendering of the previous revision while it rebuilds in the background (:func:`cached`). Under the renderings,
the board itself (its entries, each ranking with its ranks and honest ranks) is built once per board revision
and every page, search and export slices it (:func:`.boards.cached_board`).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.utils.http import urlencode

from .boards import BoardOptions
from .revision import CACHE_SECONDS, revision

CACHE_VERSION = 1
PROCESS_CACHE_BYTES = 64 << 20  # largest total size of the in-process layer
T = TypeVar("T")


def board_keys(kind: str, *, slug: str | None, options: BoardOptions, variant: str = "",
               at_revision: str | None = None) -> tuple[str, str]:
    """The cache key and slot (:func:`revision_keys`) of one rendering (``kind``: page, json, csv…) of a board at
    the current revision (or ``at_revision``). ``variant``: anything else the rendering depends on (e.g. the
    site's absolute URL)."""
    return revision_keys(kind, slug or "", urlencode(sorted(options.query().items())), variant,
                         at_revision=at_revision)


def revision_keys(kind: str, *parts: object, at_revision: str | None = None) -> tuple[str, str]:
    """The cache key of ``kind`` of ``parts`` at the current board revision (or ``at_revision``), and its slot:
    the same value at any revision (see :func:`cached`)."""
    return hashed_key(kind, at_revision or revision(), *parts), hashed_key("slot", kind, *parts)


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
    with _building_lock:
        _latest.clear()
        _failed.clear()


_building: dict[str, threading.Lock] = {}  # one lock per key being built in this process
_building_lock = threading.Lock()
_background: dict[str, float] = {}  # keys being built in a background thread: when the build started (monotonic)
_latest: OrderedDict[str, str] = OrderedDict()  # slot -> the key of its newest value in this process
_failed: set[str] = set()  # keys whose background build failed: built in the foreground, so the error shows
LATEST_SLOTS = 20_000  # slots remembered (keys only: the values stay in the bounded process cache)
log = logging.getLogger(__name__)


def cached(key: str, build: Callable[[], T], *, shared: bool = True, slot: str | None = None) -> T:
    """``build()`` once per key (exceptions propagate and nothing is cached). Concurrent requests of this
    process wait for the one building the key (other processes may build it too). ``shared=False``: kept in this
    process only (renderings of a search: any text makes a key, so they stay out of the site's cache).

    ``slot``: what the key names apart from the board revision (:func:`revision_keys`). With
    ``settings.LEADERBOARD_BOARD_STALE_SECONDS`` > 0, a request for a key that is not built yet gets the slot's
    previous value in this process at once while one background thread builds the new one, for at most that many
    seconds after the build started (then requests wait for it, as without a slot). So a change reaches a board
    at most that long after the revision is read, and no reader waits for a rebuild in the meantime."""
    value = process_cache.get(key)
    if value is not None:
        return value
    if slot is not None and settings.LEADERBOARD_BOARD_STALE_SECONDS > 0 and key not in _failed:
        stale = _stale(slot, key)
        if stale is not None:
            started = _build_in_background(key, build, shared=shared, slot=slot)
            if time.monotonic() - started < settings.LEADERBOARD_BOARD_STALE_SECONDS:
                return stale
    return _build(key, build, shared=shared, slot=slot)


def _stale(slot: str, key: str) -> Any | None:
    with _building_lock:
        previous = _latest.get(slot)
    return process_cache.get(previous) if previous is not None and previous != key else None


def _build(key: str, build: Callable[[], T], *, shared: bool, slot: str | None) -> T:
    with _building_lock:
        lock = _building.setdefault(key, threading.Lock())
    try:
        with lock:
            value = process_cache.get(key)  # built by the thread this one waited for
            if value is None:
                value = cache.get(key) if shared else None
                if value is None:
                    value = build()
                    if shared:
                        cache.set(key, value, CACHE_SECONDS)
                process_cache.set(key, value)
    finally:
        with _building_lock:
            if _building.get(key) is lock and not lock.locked():
                del _building[key]
    if slot is not None:
        with _building_lock:
            _latest[slot] = key
            _latest.move_to_end(slot)
            while len(_latest) > LATEST_SLOTS:
                _latest.popitem(last=False)
    return value


def _build_in_background(key: str, build: Callable[[], Any], *, shared: bool, slot: str) -> float:
    """Start building ``key`` in a daemon thread unless one is already at it; when that build started."""
    with _building_lock:
        started = _background.get(key)
        if started is not None:
            return started
        started = _background[key] = time.monotonic()
    threading.Thread(target=_background_build, args=(key, build, shared, slot), daemon=True,
                     name="board-rebuild").start()
    return started


def _background_build(key: str, build: Callable[[], Any], shared: bool, slot: str) -> None:
    try:
        _build(key, build, shared=shared, slot=slot)
    except Exception:  # the next request builds it in the foreground, and sees the error
        log.exception("rebuilding a cached board rendering failed")
        with _building_lock:
            if len(_failed) > LATEST_SLOTS:
                _failed.clear()
            _failed.add(key)
    finally:
        with _building_lock:
            _background.pop(key, None)
        connections.close_all()  # this thread's own database connections


def wait_for_background(timeout: float = 30.0) -> None:
    """Wait until no background build runs in this process (tests; shutting down)."""
    deadline = time.monotonic() + timeout
    while _background and time.monotonic() < deadline:
        time.sleep(0.01)
