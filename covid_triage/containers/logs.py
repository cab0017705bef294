"""A container's stdout and stderr, each kept to a byte limit.

The two streams are read separately: the engine does not keep their relative order (they
arrive through two pipes), and a flood on stdout must not push the error on stderr out.
When a stream has more than the limit, its last bytes are kept (errors are usually at the
end) behind a one-line note. The engine's own log file is capped too (``max-size``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from docker.models.containers import Container
from docker.types import LogConfig


def log_config(*, driver: str, engine_log_bytes: int) -> LogConfig:
    """The log driver settings for a model container: one file of at most ``engine_log_bytes``."""
    return LogConfig(type=driver, config={"max-size": str(engine_log_bytes), "max-file": "1"})


def keep_tail(chunks: Iterable[bytes], *, limit: int) -> tuple[str, bool]:
    """The last ``limit`` bytes of ``chunks`` as text (invalid UTF-8 replaced) and whether any were dropped."""
    kept: deque[bytes] = deque()
    kept_bytes = total = 0
    for chunk in chunks:
        total += len(chunk)
        kept.append(chunk)
        kept_bytes += len(chunk)
        while kept_bytes - len(kept[0]) >= limit:
            kept_bytes -= len(kept.popleft())
    data = b"".join(kept)[-limit:] if kept else b""
    dropped = total - len(data)
    text = data.decode("utf-8", errors="replace")
    if dropped:
        text = f"[... {dropped:,} earlier bytes not kept ...]\n" + text
    return text, dropped > 0


def read_logs(container: Container, *, limit: int) -> tuple[str, str, bool]:
    """``(stdout, stderr, truncated)`` of a finished container, each stream kept to ``limit`` bytes."""
    stdout, cut_out = keep_tail(container.logs(stdout=True, stderr=False, stream=True, follow=False), limit=limit)
    stderr, cut_err = keep_tail(container.logs(stdout=False, stderr=True, stream=True, follow=False), limit=limit)
    return stdout, stderr, cut_out or cut_err
