"""Importing label versions into private storage, and fetching them back for scoring."""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import Storage
from django.db import transaction
from django.utils.text import slugify

from evaluator.groups import Distribution, Group
from evaluator.testset import TestSet as ScorerTestSet
from evaluator.testset import load_testset
from evaluator.truth import GroundTruth, build_truth
from leaderboard.storage import local_path, private_storage, public_storage

from . import bundles
from .models import LabelVersion, TestSet

COPY_CHUNK = 1 << 20


class ImportRefused(Exception):
    """The directory is a valid test set but cannot be imported as asked (message says why)."""


class LabelsMismatch(RuntimeError):
    """Files fetched from private storage do not have the digest recorded at import."""


@dataclass(frozen=True)
class ImportResult:
    label_version: LabelVersion
    created: bool


def default_benchmark(slug: str | None = None) -> TestSet | None:
    """The benchmark with current labels called ``slug``; else ``LEADERBOARD_DEFAULT_TESTSET``; else the newest."""
    benchmarks = TestSet.objects.filter(kind=TestSet.Kind.BENCHMARK, label_versions__is_current=True)
    slug = slug or settings.LEADERBOARD_DEFAULT_TESTSET
    if slug:
        return benchmarks.filter(slug=slug).first()
    return benchmarks.order_by("-created_at").first()


def debug_sample_set(slug: str) -> TestSet | None:
    """The sample set called ``slug`` with current labels: container submissions to it are debug runs whose logs
    and per-case outputs the team sees (its images and labels are public)."""
    return TestSet.objects.filter(slug=slug, kind=TestSet.Kind.SAMPLE, label_versions__is_current=True).first()


def truth_cache_root() -> Path:
    root = settings.LEADERBOARD_SCRATCH_DIR / "truth"
    root.mkdir(parents=True, exist_ok=True)
    return root


def _files(root: Path) -> list[str]:
    """Every file under ``root`` (relative, sorted), hidden files and folders left out."""
    found = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.is_file() and not any(part.startswith(".") for part in relative.parts):
            found.append(relative.as_posix())
    return found


def _put(storage: Storage, name: str, path: Path) -> None:
    if storage.exists(name):  # a previous, interrupted import: replace, never rename
        storage.delete(name)
    with open(path, "rb") as handle:
        saved = storage.save(name, File(handle, name=path.name))
    if saved != name:
        raise RuntimeError(f"storage saved {name!r} as {saved!r}")


def import_label_version(directory: Path | str, *, kind: str = TestSet.Kind.BENCHMARK, make_current: bool = True,
                         imported_by: str = "", notes: str = "", workers: int = 1) -> ImportResult:
    """Check a test-set directory completely and store it as a label version.

    Raises ``evaluator.problems.InvalidInput`` (every problem of the directory) or
    :class:`ImportRefused`. Importing labels already imported (same digest) changes nothing.
    """
    scorer_testset = load_testset(directory)
    truth = build_truth(scorer_testset, cache_root=truth_cache_root(), workers=workers)
    existing = LabelVersion.objects.filter(labels_digest=truth.digest).select_related("testset").first()
    if existing is not None:
        return ImportResult(existing, created=False)
    slug = slugify(scorer_testset.name)[:80]
    testset = TestSet.objects.filter(slug=slug).first()
    if testset is not None and testset.kind != kind:
        raise ImportRefused(f"test set {scorer_testset.name!r} was imported as a {testset.kind} set, not a {kind} "
                            "set; give this one another name in testset.json")
    if testset is not None and testset.label_versions.filter(version=scorer_testset.version).exists():
        raise ImportRefused(f"{scorer_testset.name!r} version {scorer_testset.version!r} was imported before with "
                            f"different labels; give the new labels a new 'version' in testset.json")
    files = _files(scorer_testset.root)
    prefix = f"testsets/{slug}/{truth.digest[:16]}"
    storage = private_storage()
    for relative in files:
        _put(storage, f"{prefix}/{relative}", scorer_testset.root / relative)
    images_bundle = sample_bundle = ""
    with tempfile.TemporaryDirectory(dir=scratch("tmp")) as tmp:
        if kind == TestSet.Kind.SAMPLE:
            sample_bundle = f"samples/{slug}-{slugify(scorer_testset.version)}-{truth.digest[:8]}.zip"
            zipped = bundles.write_sample_bundle(scorer_testset, files, Path(tmp) / "sample.zip")
            _put(public_storage(), sample_bundle, zipped)
        else:
            images_bundle = f"bundles/{slug}/{truth.digest[:16]}/public-images.zip"
            zipped = bundles.write_public_images_bundle(scorer_testset, Path(tmp) / "images.zip")
            _put(storage, images_bundle, zipped)
    cases = scorer_testset.cases
    with transaction.atomic():
        if testset is None:
            testset = TestSet.objects.create(slug=slug, name=scorer_testset.name, kind=kind,
                                             description=scorer_testset.description)
        if make_current:
            LabelVersion.objects.filter(testset=testset, is_current=True).update(is_current=False)
        label_version = LabelVersion.objects.create(
            testset=testset, version=scorer_testset.version, labels_digest=truth.digest, storage_prefix=prefix,
            manifest=[{"path": f, "bytes": (scorer_testset.root / f).stat().st_size} for f in files],
            n_cases=len(cases),
            n_public_cases=sum(c.distribution is Distribution.PUBLIC for c in cases),
            n_private_cases=sum(c.distribution is Distribution.PRIVATE for c in cases),
            group_sizes={g.value: sum(c.group is g for c in cases) for g in Group},
            public_images_bundle=images_bundle, sample_bundle=sample_bundle, is_current=make_current,
            imported_by=imported_by, notes=notes,
        )
    return ImportResult(label_version, created=True)


def scratch(name: str) -> Path:
    """A folder of the local scratch area (created on demand)."""
    path = settings.LEADERBOARD_SCRATCH_DIR / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def built_once(area: str, name: str, build: Callable[[Path], object], *, stamp: str) -> Path:
    """``scratch(area)/name``, built once on this host by ``build(folder)`` into a private folder that is then
    renamed into place (atomic: concurrent builders race, one wins, nobody sees a half-built folder); a
    ``.complete`` file holding ``stamp`` marks a finished build."""
    root = scratch(area)
    target = root / name
    if (target / ".complete").is_file():
        return target
    incoming = Path(tempfile.mkdtemp(dir=root, prefix=".incoming-"))
    try:
        build(incoming)
        (incoming / ".complete").write_text(stamp)
        os.rename(incoming, target)  # fails if another process got there first
    except OSError:
        if not (target / ".complete").is_file():
            raise
    finally:
        shutil.rmtree(incoming, ignore_errors=True)
    return target


def copy_from_storage(storage: Storage, name: str, target: Path) -> None:
    """Stream one stored object to a local file in 1 MiB chunks."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with storage.open(name, "rb") as source, open(target, "wb") as out:
        shutil.copyfileobj(source, out, COPY_CHUNK)


def testset_directory(label_version: LabelVersion) -> Path:
    """A local directory holding the label version's files (private storage itself when it is local)."""
    storage = private_storage()
    local = local_path(storage, label_version.storage_prefix)
    if local is not None:
        return local

    def copy(folder: Path) -> None:
        for entry in label_version.manifest:
            copy_from_storage(storage, f"{label_version.storage_prefix}/{entry['path']}", folder / entry["path"])

    return built_once("testsets", label_version.labels_digest[:24], copy, stamp=label_version.labels_digest)


@functools.lru_cache(maxsize=4)
def _load(directory: str, digest: str) -> tuple[ScorerTestSet, GroundTruth]:
    testset = load_testset(directory)
    truth = build_truth(testset, cache_root=truth_cache_root())
    if truth.digest != digest:
        raise LabelsMismatch(f"labels in {directory} have digest {truth.digest[:12]}, the label version "
                             f"{digest[:12]}; the stored test set was changed after import")
    return testset, truth


def scoring_inputs(label_version: LabelVersion) -> tuple[ScorerTestSet, GroundTruth]:
    """The scorer's test set and ground truth for a label version (cached per process)."""
    return _load(str(testset_directory(label_version)), label_version.labels_digest)
