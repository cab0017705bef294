"""The hidden test set on disk: layout, loading and structural checks.

Layout (one directory per test set, kept in private storage)::

    TESTSET/
      testset.json                      {"name": ..., "version": ..., "description": ...}
      cases.csv                         case_id,group,distribution
      images/<case_id>.nii.gz           CT in Hounsfield units
      lungs/<case_id>.nii.gz            lung mask: 0 background, 1 and 2 the two lungs
      lesions/<case_id>.nii.gz          binary COVID-19 lesion mask (one rater), or
      lesions/<case_id>/<rater>.nii.gz  one file per rater

``.nii`` works wherever ``.nii.gz`` is shown. A lesion file may be absent for a
non-COVID case (= empty mask); every COVID case needs at least one. :func:`load_testset`
checks everything that headers can tell (ids, groups, files, shapes, affines) and
raises :class:`~evaluator.problems.InvalidInput` listing every problem at once; voxel
values are checked when the ground truth is built (:mod:`evaluator.truth`).
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .groups import CASE_ID_PATTERN, Distribution, Group
from .nifti_stream import Geometry, header_stream
from .problems import InvalidInput, Problem

NIFTI_SUFFIXES = (".nii.gz", ".nii")
_CASE_ID = re.compile(CASE_ID_PATTERN)
_RATER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
CASES_COLUMNS = ("case_id", "group", "distribution")


@dataclass(frozen=True, slots=True)
class TestCase:
    """One case of a test set: its labels' files and its image geometry."""

    case_id: str
    group: Group
    distribution: Distribution
    image: Path
    lungs: Path
    lesions: dict[str, Path]  # rater name -> file; "" is the single unnamed rater
    geometry: Geometry

    @property
    def is_covid(self) -> bool:
        return self.group is Group.COVID


@dataclass(frozen=True, slots=True)
class TestSet:
    """A loaded test set: metadata and its cases in ``cases.csv`` order."""

    root: Path
    name: str
    version: str
    description: str
    cases: tuple[TestCase, ...]
    metadata: dict = field(default_factory=dict)

    def case_ids(self, *, distribution: Distribution | None = None) -> list[str]:
        """Case ids, optionally only those of one distribution."""
        return [c.case_id for c in self.cases if distribution is None or c.distribution is distribution]

    def by_id(self) -> dict[str, TestCase]:
        return {c.case_id: c for c in self.cases}


def find_nifti(folder: Path, stem: str) -> list[Path]:
    """Existing ``folder/stem.nii.gz`` / ``folder/stem.nii`` files."""
    return [folder / f"{stem}{suffix}" for suffix in NIFTI_SUFFIXES if (folder / f"{stem}{suffix}").is_file()]


def nifti_stem(name: str) -> str | None:
    for suffix in NIFTI_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return None


def read_geometry(path: Path, *, file: str, case_id: str | None = None) -> tuple[Geometry | None, list[Problem]]:
    """Shape and affine of a NIfTI file from its header alone."""
    stream, layout, problems = header_stream(path, file=file, case_id=case_id)
    if stream is None or layout is None:
        return None, problems
    stream.close()
    shape = layout.shape
    while len(shape) > 3 and shape[-1] == 1:
        shape = shape[:-1]
    if len(shape) != 3:
        return None, [Problem(f"has shape {layout.shape}", file=file, case_id=case_id, expected="a 3D volume")]
    return Geometry(shape=tuple(int(s) for s in shape), affine=layout.affine), []  # type: ignore[arg-type]


def _read_metadata(root: Path, problems: list[Problem]) -> dict:
    path = root / "testset.json"
    if not path.is_file():
        problems.append(Problem("is missing", file="testset.json", expected='{"name": ..., "version": ...}'))
        return {}
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        problems.append(Problem(f"is not valid UTF-8 JSON ({exc})", file="testset.json"))
        return {}
    if not isinstance(meta, dict):
        problems.append(Problem("is not a JSON object", file="testset.json"))
        return {}
    for key in ("name", "version"):
        if not isinstance(meta.get(key), str) or not meta[key].strip():
            problems.append(Problem(f"has no non-empty string {key!r}", file="testset.json"))
    if "description" in meta and not isinstance(meta["description"], str):
        problems.append(Problem("has a non-string 'description'", file="testset.json"))
    return meta


def _read_cases(root: Path, problems: list[Problem]) -> list[tuple[str, Group, Distribution]]:
    path = root / "cases.csv"
    if not path.is_file():
        problems.append(Problem("is missing", file="cases.csv", expected="columns " + ",".join(CASES_COLUMNS)))
        return []
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.append(Problem(f"is not UTF-8 ({exc})", file="cases.csv"))
        return []
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = [c.strip() for c in reader.fieldnames or []]
    if sorted(columns) != sorted(CASES_COLUMNS):
        problems.append(Problem(f"has columns {columns}", file="cases.csv", expected=",".join(CASES_COLUMNS)))
        return []
    rows: list[tuple[str, Group, Distribution]] = []
    seen: set[str] = set()
    for line, raw in enumerate(reader, start=2):
        row = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        case_id = row["case_id"]
        ok = True
        if not _CASE_ID.fullmatch(case_id):
            problems.append(Problem(f"line {line}: invalid case id {case_id!r}", file="cases.csv",
                                    expected=f"an id matching {CASE_ID_PATTERN}"))
            ok = False
        elif case_id in seen:
            problems.append(Problem(f"line {line}: duplicate case id", file="cases.csv", case_id=case_id))
            ok = False
        seen.add(case_id)
        try:
            group = Group(row["group"])
        except ValueError:
            problems.append(Problem(f"line {line}: unknown group {row['group']!r}", file="cases.csv",
                                    case_id=case_id, expected=" | ".join(g.value for g in Group)))
            ok = False
        try:
            distribution = Distribution(row["distribution"])
        except ValueError:
            problems.append(Problem(f"line {line}: unknown distribution {row['distribution']!r}", file="cases.csv",
                                    case_id=case_id, expected=" | ".join(d.value for d in Distribution)))
            ok = False
        if ok:
            rows.append((case_id, group, distribution))
    if not rows and not problems:
        problems.append(Problem("lists no cases", file="cases.csv"))
    return rows


def _lesion_files(root: Path, case_id: str, problems: list[Problem]) -> dict[str, Path]:
    single = find_nifti(root / "lesions", case_id)
    folder = root / "lesions" / case_id
    raters: dict[str, Path] = {}
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            rater = nifti_stem(path.name)
            rel = f"lesions/{case_id}/{path.name}"
            if rater is None or not path.is_file() or not _RATER.fullmatch(rater):
                problems.append(Problem("is not a rater's NIfTI file", file=rel, case_id=case_id,
                                        expected="lesions/<case_id>/<rater>.nii.gz"))
            elif rater in raters:
                problems.append(Problem(f"rater {rater!r} has two files", file=rel, case_id=case_id))
            else:
                raters[rater] = path
        if single:
            problems.append(Problem("has both a single lesion file and a per-rater folder", file="lesions/",
                                    case_id=case_id, expected="one of the two"))
        if not raters:
            problems.append(Problem("per-rater lesion folder is empty", file=f"lesions/{case_id}/", case_id=case_id))
    elif len(single) > 1:
        problems.append(Problem("has both .nii and .nii.gz lesion files", file="lesions/", case_id=case_id))
    elif single:
        raters[""] = single[0]
    return raters


def _stray_files(root: Path, known: set[str], problems: list[Problem]) -> None:
    for folder in ("images", "lungs", "lesions"):
        base = root / folder
        if not base.is_dir():
            continue
        for path in sorted(base.iterdir()):
            stem = path.name if path.is_dir() else nifti_stem(path.name)
            if stem is None or stem not in known or (path.is_dir() and folder != "lesions"):
                problems.append(Problem("does not belong to any case in cases.csv", file=f"{folder}/{path.name}",
                                        expected=f"{folder}/<case_id>.nii.gz for a listed case"))


def load_testset(root: Path | str) -> TestSet:
    """Load and check a test set directory; raises InvalidInput listing every problem."""
    root = Path(root)
    problems: list[Problem] = []
    if not root.is_dir():
        raise InvalidInput([Problem("is not a directory", file=str(root))], what="test set")
    meta = _read_metadata(root, problems)
    rows = _read_cases(root, problems)
    _stray_files(root, {case_id for case_id, _, _ in rows}, problems)
    cases: list[TestCase] = []
    for case_id, group, distribution in rows:
        images = find_nifti(root / "images", case_id)
        lungs = find_nifti(root / "lungs", case_id)
        lesions = _lesion_files(root, case_id, problems)
        if not images:
            problems.append(Problem("has no image", file=f"images/{case_id}.nii.gz", case_id=case_id))
        if not lungs:
            problems.append(Problem(
                "has no lung mask", file=f"lungs/{case_id}.nii.gz", case_id=case_id,
                expected="a lung mask for every case (import the authors' layout with a lung segmentation to "
                         "compute them)"))
        if len(images) > 1 or len(lungs) > 1:
            problems.append(Problem("has both .nii and .nii.gz files for one volume", case_id=case_id))
        if group is Group.COVID and not lesions:
            problems.append(Problem("is a COVID-19 case without a lesion mask", file=f"lesions/{case_id}.nii.gz",
                                    case_id=case_id, expected="at least one rater's lesion mask"))
        if not images:
            continue
        geometry, found = read_geometry(images[0], file=_rel(root, images[0]), case_id=case_id)
        problems += found
        if geometry is None:
            continue
        for path in lungs[:1] + list(lesions.values()):
            other, found = read_geometry(path, file=_rel(root, path), case_id=case_id)
            problems += found
            if other is None:
                continue
            if other.shape != geometry.shape:
                problems.append(Problem(f"has shape {other.shape}", file=_rel(root, path), case_id=case_id,
                                        expected=f"the image's shape {geometry.shape}"))
            elif not geometry.matches_affine(other.affine):
                problems.append(Problem("has an affine that differs from the image's", file=_rel(root, path),
                                        case_id=case_id, expected=_affine_text(geometry.affine)))
        if lungs:
            cases.append(TestCase(case_id, group, distribution, images[0], lungs[0], lesions, geometry))
    if problems:
        raise InvalidInput(problems, what=f"test set {root}")
    return TestSet(root=root, name=meta["name"], version=meta["version"],
                   description=meta.get("description", ""), cases=tuple(cases), metadata=meta)


def _rel(root: Path, path: Path) -> str:
    return str(path.relative_to(root))


def _affine_text(affine: np.ndarray) -> str:
    return "affine " + np.array2string(np.asarray(affine)[:3], precision=3, separator=",").replace("\n", "")
