"""The public-images download: a test set's inputs without labels, and validating an archive against them.

The layout is defined here only (the site writes it with :func:`write_public_images_bundle`;
``covid-triage-eval validate --images`` and ``covid-triage run-local`` read it with :func:`load_public_images`)::

    README.txt
    cases.txt                  the case ids your predictions.csv must list (one per line)
    cases.json                 {"format": 1, "name", "version", "public_case_ids": [...], "other_case_ids": [...]}
    images/<case_id>.nii.gz    CT in Hounsfield units, one per public case

``other_case_ids`` are the test set's remaining (private) case ids: an archive naming one is told it is "not part
of this track", as on the server. Nothing here reveals a label: ids do not encode the diagnosis, and the image
headers (shape, affine) are what a mask must match.

:func:`validate_against_images` runs the server's checks before scoring (archive safety, ids, columns, ranges,
and every mask's shape, affine, voxel type and binariness) through :func:`evaluator.scoring.read_and_measure`,
the server's own code path, with no labels to measure against.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .groups import Distribution
from .nifti_stream import Geometry
from .problems import InvalidInput, Problem
from .scoring import ScoringOptions, read_and_measure
from .testset import TestSet, read_geometry

FORMAT = 1
MANIFEST_NAME = "cases.json"
CASES_NAME = "cases.txt"
IMAGES_FOLDER = "images"

README = """\
{name} v{version}: the CT images of the {count} public cases (inputs only, no labels).

images/<case_id>.nii.gz   CT in Hounsfield units
cases.txt                 the case ids your predictions.csv must list (one per line)
cases.json                the same ids, plus the test set's name and version, for the validator

Score these cases with your method, then check your prediction archive against these images exactly as the
server will before scoring it (ids, columns, ranges, each mask's shape, affine and binariness):

    covid-triage-eval validate predictions.zip --images .

Case ids do not reveal the diagnosis.
"""


@dataclass(frozen=True, slots=True)
class PublicImages:
    """A public-images folder: the test set's name and version, each public case's image grid, the other ids."""

    root: Path
    name: str
    version: str
    geometries: dict[str, Geometry]
    other_case_ids: tuple[str, ...]

    def image_path(self, case_id: str) -> Path:
        found = sorted((self.root / IMAGES_FOLDER).glob(f"{case_id}.nii*"))
        return found[0]


def _stored(name: str) -> int:
    return zipfile.ZIP_STORED if name.endswith((".gz", ".zip")) else zipfile.ZIP_DEFLATED


def write_public_images_bundle(testset: TestSet, out: Path) -> Path:
    """``out``: a zip of the images of the public cases plus their ids; nothing that reveals a label."""
    public = [c for c in testset.cases if c.distribution is Distribution.PUBLIC]
    manifest = {"format": FORMAT, "name": testset.name, "version": testset.version,
                "public_case_ids": [c.case_id for c in public],
                "other_case_ids": [c.case_id for c in testset.cases if c.distribution is not Distribution.PUBLIC]}
    with zipfile.ZipFile(out, "w", allowZip64=True) as bundle:
        bundle.writestr("README.txt", README.format(name=testset.name, version=testset.version, count=len(public)))
        bundle.writestr(CASES_NAME, "".join(f"{c.case_id}\n" for c in public))
        bundle.writestr(MANIFEST_NAME, json.dumps(manifest, indent=1) + "\n")
        for case in public:
            suffix = ".nii.gz" if case.image.name.endswith(".nii.gz") else ".nii"
            name = f"{IMAGES_FOLDER}/{case.case_id}{suffix}"
            bundle.write(case.image, name, compress_type=_stored(name))
    return out


def load_public_images(root: Path | str) -> PublicImages:
    """Read a public-images folder (the unzipped download, or the folder holding it); raises InvalidInput."""
    root = Path(root)
    if not (root / MANIFEST_NAME).is_file():
        inner = [p for p in root.glob(f"*/{MANIFEST_NAME}")] if root.is_dir() else []
        if len(inner) == 1:
            root = inner[0].parent
    what = f"public images {root}"
    manifest_path = root / MANIFEST_NAME
    if not manifest_path.is_file():
        hint = " (unzip the download first)" if root.suffix == ".zip" else ""
        raise InvalidInput([Problem(f"no {MANIFEST_NAME}{hint}", file=str(root),
                                    expected="the unzipped public-images download of the site's Downloads page")],
                           what=what)
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        public, other = list(manifest["public_case_ids"]), tuple(manifest["other_case_ids"])
        name, version = str(manifest["name"]), str(manifest["version"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput([Problem(f"cannot be read ({type(exc).__name__}: {exc})", file=MANIFEST_NAME,
                                    expected="the file of the public-images download, unchanged")],
                           what=what) from exc
    geometries: dict[str, Geometry] = {}
    problems: list[Problem] = []
    for case_id in public:
        images = sorted((root / IMAGES_FOLDER).glob(f"{case_id}.nii*"))
        if not images:
            problems.append(Problem(f"no image for case {case_id!r}", case_id=case_id,
                                    expected=f"{IMAGES_FOLDER}/{case_id}.nii.gz, as in the download"))
            continue
        geometry, found = read_geometry(images[0], file=f"{IMAGES_FOLDER}/{images[0].name}", case_id=case_id)
        problems += found
        if geometry is not None:
            geometries[case_id] = geometry
    if problems:
        raise InvalidInput(problems, what=what)
    return PublicImages(root=root, name=name, version=version, geometries=geometries, other_case_ids=other)


def validate_against_images(archive: Path | str, *, images: PublicImages, options: ScoringOptions | None = None,
                            workdir: Path | None = None) -> list[Problem]:
    """Every problem the server finds in ``archive`` before scoring it (archive track); empty list = valid."""
    options = options or ScoringOptions()
    try:
        with tempfile.TemporaryDirectory(prefix="covid-triage-validate-", dir=workdir) as tmp:
            read_and_measure(Path(archive), Path(tmp), geometries=images.geometries,
                             known_case_ids=[*images.geometries, *images.other_case_ids], masks_dir=None,
                             options=options)
    except InvalidInput as exc:
        return exc.problems
    return []


__all__ = ["PublicImages", "load_public_images", "validate_against_images", "write_public_images_bundle"]
