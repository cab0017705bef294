"""Zip bundles served for download: a sample set whole, or a benchmark's public images (inputs only; the layout is
:mod:`evaluator.public_images`, which the participant's validator reads)."""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

from evaluator.examples import ExampleKind, write_example_archive
from evaluator.public_images import write_public_images_bundle
from evaluator.testset import TestSet

SAMPLE_README = """\
{name} v{version}: a sample test set with its labels, to try the scorer on your machine.

The folder layout is the one the leaderboard uses for its hidden test set. Score the example
archive (or your own predictions) exactly as the server does:

    covid-triage-eval score example-predictions.zip --test-set .      (or: python -m evaluator score ...)
"""


def _stored(name: str) -> int:
    return zipfile.ZIP_STORED if name.endswith((".gz", ".zip")) else zipfile.ZIP_DEFLATED


def write_sample_bundle(testset: TestSet, files: list[str], out: Path) -> Path:
    """``out``: the whole sample set (every file in ``files``, relative to its root) plus an example archive."""
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(out, "w", allowZip64=True) as bundle:
        example = write_example_archive(Path(tmp) / "example-predictions.zip", testset=testset,
                                        kind=ExampleKind.NOISY)
        bundle.writestr("README.txt", SAMPLE_README.format(name=testset.name, version=testset.version))
        bundle.write(example, "example-predictions.zip", compress_type=zipfile.ZIP_STORED)
        for relative in files:
            bundle.write(testset.root / relative, relative, compress_type=_stored(relative))
    return out


__all__ = ["write_public_images_bundle", "write_sample_bundle"]
