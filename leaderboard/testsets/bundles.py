"""Zip bundles served for download: a sample set whole, or a benchmark's public images (inputs only)."""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

from evaluator.examples import ExampleKind, write_example_archive
from evaluator.groups import Distribution
from evaluator.testset import TestSet

PUBLIC_IMAGES_README = """\
{name} v{version}: the CT images of the {count} public cases (inputs only, no labels).

images/<case_id>.nii.gz   CT in Hounsfield units
cases.txt                 the case ids your predictions.csv must list (one per line)

Score these cases with your method and upload a prediction archive (see the site's
documentation of the archive format). Case ids do not reveal the diagnosis.
"""

SAMPLE_README = """\
{name} v{version}: a sample test set with its labels, to try the scorer on your machine.

The folder layout is the one the leaderboard uses for its hidden test set. Score the example
archive (or your own predictions) exactly as the server does:

    python -m evaluator score example-predictions.zip --test-set .
"""


def _stored(name: str) -> int:
    return zipfile.ZIP_STORED if name.endswith((".gz", ".zip")) else zipfile.ZIP_DEFLATED


def write_public_images_bundle(testset: TestSet, out: Path) -> Path:
    """``out``: a zip of the images of the public cases plus their ids; nothing that reveals a label."""
    cases = [c for c in testset.cases if c.distribution is Distribution.PUBLIC]
    with zipfile.ZipFile(out, "w", allowZip64=True) as bundle:
        bundle.writestr("README.txt", PUBLIC_IMAGES_README.format(name=testset.name, version=testset.version,
                                                                  count=len(cases)))
        bundle.writestr("cases.txt", "".join(f"{c.case_id}\n" for c in cases))
        for case in cases:
            suffix = ".nii.gz" if case.image.name.endswith(".nii.gz") else ".nii"
            name = f"images/{case.case_id}{suffix}"
            bundle.write(case.image, name, compress_type=_stored(name))
    return out


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
