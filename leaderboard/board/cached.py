"""Boards built and rendered once per board revision, then served from the cache: the page's board part
(everything below the site's header, which is the same for every visitor) and the JSON and CSV exports.

Keys hold the board revision (:mod:`.revision`), the test set asked for and the normalised options, so a new
result, an edited submission or new labels are visible at once on every web process; entries expire after
``CACHE_SECONDS`` anyway.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TypeVar

from django.core.cache import cache
from django.utils.http import urlencode

from .boards import BoardOptions
from .revision import CACHE_SECONDS, revision

CACHE_VERSION = 1
T = TypeVar("T")


def board_key(kind: str, *, slug: str | None, options: BoardOptions, variant: str = "") -> str:
    """The cache key of one rendering (``kind``: page, json, csv…) of a board at the current revision.
    ``variant``: anything else the rendering depends on (e.g. the site's absolute URL in exports)."""
    query = urlencode(sorted(options.query().items()))
    text = f"{kind}|{revision()}|{slug or ''}|{query}|{variant}"
    return f"board:{CACHE_VERSION}:{hashlib.sha256(text.encode()).hexdigest()[:32]}"


def cached(key: str, build: Callable[[], T]) -> T:
    """``build()`` once per key (exceptions propagate and nothing is cached)."""
    value = cache.get(key)
    if value is None:
        value = build()
        cache.set(key, value, CACHE_SECONDS)
    return value
