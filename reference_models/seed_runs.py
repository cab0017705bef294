"""Several training seeds of the synthetic benchmark side by side, as Table 2's mean ± std needs.

:func:`run_seeds` lays out one work folder per seed under a root::

    seed-<S>/   a :func:`benchmark.run_benchmark` work folder for training seed S

The first seed's folder is made first: the data, the test set, the lung network (trained once, with
``settings.lung_seed``) and thresholding, which rests on the lungs alone. Every other seed's folder then shares
them: hard links to the first folder's training data, test set, truth cache, lung network and thresholding
archive, and a link to its preparation cache (keyed by the lung network's digest, safe for concurrent writers).
Then ``jobs`` worker processes train every other (seed, method), the longest schedules first, and each seed's
final :func:`~benchmark.run_benchmark` pass, which trains nothing more, predicts every test case with all methods
at once (one image read and one lung segmentation per case) and scores. The result of a seed does not depend on
``jobs``: each network trains in one process with ``threads`` torch threads, exactly as a run of its own would.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

import torch

from reference_models.benchmark import TABLE_METHODS, BenchmarkSettings, run_benchmark, train_method
from reference_models.registry import METHODS

SHARED_FILES = ("training-data", "testset", "testset.json", "truth-cache", "weights/lungs", "weights/thresholding",
                "archives/thresholding.zip", "archives/thresholding.json", "archives/lungs.json")
"""What every seed's folder takes from the first one's, as hard links (folders: trees of hard links); each is
seed-independent. ``prepared-cache`` is linked as a whole instead, so that every seed adds to one cache."""


def seed_folder(root: Path, seed: int) -> Path:
    return root / f"seed-{seed}"


def training_tasks(seeds: Sequence[int], methods: Sequence[str], steps: dict[str, int]) -> list[tuple[int, str]]:
    """Every (seed, method) to train after the lung network, the most batches first (then the table's order, then
    the seed), so that the longest runs do not start last. Thresholding has nothing to train."""
    trainable = [name for name in methods if METHODS[name].build is not None]
    order = {name: i for i, name in enumerate(TABLE_METHODS)}
    trainable.sort(key=lambda name: (-steps.get(name, 0), order.get(name, len(order))))
    return [(seed, name) for name in trainable for seed in seeds]


def share_first_seed(first: Path, other: Path) -> None:
    """Give ``other`` the first seed's seed-independent inputs (:data:`SHARED_FILES`) as hard links, and its
    preparation cache as a symbolic link; what ``other`` already holds is left as it is."""
    for relative in SHARED_FILES:
        source, target = first / relative, other / relative
        if target.exists() or not source.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, copy_function=os.link)
        else:
            os.link(source, target)
    cache = other / "prepared-cache"
    if not cache.exists() and not cache.is_symlink():
        (first / "prepared-cache").mkdir(parents=True, exist_ok=True)
        cache.symlink_to(os.path.relpath(first / "prepared-cache", other))


def _set_threads(threads: int) -> None:
    torch.set_num_threads(threads)


def _train(work: str, name: str, settings: BenchmarkSettings, device: str) -> tuple[str, float | None]:
    return name, train_method(Path(work), name, settings=settings, device=device, log=lambda _: None)


def _final(work: str, settings: BenchmarkSettings, methods: list[str], device: str) -> dict[str, Any]:
    return run_benchmark(work, settings=settings, methods=methods, device=device, progress=False,
                         log=lambda _: None)


def run_seeds(
    root: Path | str,
    *,
    settings: BenchmarkSettings,
    seeds: Sequence[int],
    methods: Sequence[str] = TABLE_METHODS,
    jobs: int = 2,
    threads: int = 1,
    device: str = "cpu",
    progress: bool = False,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Run the benchmark for every seed in ``seeds`` (``settings.seed`` is replaced by each) under ``root``, with
    ``jobs`` worker processes of ``threads`` torch threads; return the results documents in the order of
    ``seeds``. A failing network stops the run (the pending ones are cancelled) with its seed and name."""
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"give distinct seeds, got {list(seeds)}")
    if jobs < 1 or threads < 1:
        raise ValueError("jobs and threads must be at least 1")
    root = Path(root)
    by_seed = {seed: dataclasses.replace(settings, seed=seed) for seed in seeds}
    first = seed_folder(root, seeds[0])
    log(f"seed {seeds[0]}: data, test set, lung network and thresholding in {first}")
    torch.set_num_threads(threads)
    run_benchmark(first, settings=by_seed[seeds[0]], methods=["thresholding"], device=device, progress=progress,
                  log=log)
    for seed in seeds[1:]:
        share_first_seed(first, seed_folder(root, seed))
    tasks = training_tasks(seeds, methods, dict(settings.steps))
    waiting = {seed: {name for s, name in tasks if s == seed} for seed in seeds}
    results: dict[int, dict[str, Any]] = {}
    context = multiprocessing.get_context("spawn")  # no forked torch state in the workers
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_set_threads,
                             initargs=(threads,)) as pool:
        running: dict[Future[Any], tuple[int, str]] = {}

        def final(seed: int) -> None:
            log(f"seed {seed}: predicting and scoring")
            running[pool.submit(_final, str(seed_folder(root, seed)), by_seed[seed], list(methods), device)] = (
                seed, "final pass")

        for seed, name in tasks:
            log(f"seed {seed}: training {name}")
            running[pool.submit(_train, str(seed_folder(root, seed)), name, by_seed[seed], device)] = (seed, name)
        for seed in seeds:
            if not waiting[seed]:
                final(seed)
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                seed, name = running.pop(future)
                try:
                    value = future.result()
                except Exception as error:
                    for other in running:
                        other.cancel()
                    raise RuntimeError(f"seed {seed}, {name}: {error}") from error
                if name == "final pass":
                    results[seed] = value
                    log(f"seed {seed}: done")
                    continue
                log(f"seed {seed}: {name} " + ("reused" if value[1] is None else f"trained in {value[1]:.0f} s"))
                waiting[seed].discard(name)
                if not waiting[seed]:
                    final(seed)
    return [results[seed] for seed in seeds]
