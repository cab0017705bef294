"""Writing data sets: the output folder, and per-case jobs run here or in a process pool with a progress bar."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TypeVar

from tqdm import tqdm

J = TypeVar("J")
R = TypeVar("R")


def run_jobs(
    fn: Callable[[J], R], jobs: Sequence[J], *, workers: int = 1, progress: bool = False, desc: str = ""
) -> list[R]:
    """``[fn(job) for job in jobs]``, in order; ``workers > 1`` runs them in that many spawned processes.

    ``fn`` must be a module-level function and the jobs picklable; each job must be self-contained
    (seeded by its own arguments), so the results do not depend on ``workers``.
    """
    bar = tqdm(total=len(jobs), desc=desc, unit="case", disable=not progress)
    try:
        if workers <= 1 or len(jobs) <= 1:
            results = []
            for job in jobs:
                results.append(fn(job))
                bar.update()
            return results
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=context) as pool:
            results = []
            for result in pool.map(fn, jobs):
                results.append(result)
                bar.update()
            return results
    finally:
        bar.close()


def prepare_output_dir(out_dir: Path | str) -> Path:
    """Create ``out_dir`` if needed; refuse one that holds files (a layout must contain only what was written)."""
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty; write phantoms into a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    return out
