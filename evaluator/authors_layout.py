"""Import the layout in which the paper's authors released their test data.

Source layout::

    test/{covid,bacterial_pneumonia,nodules,normal}/images/<id>.nii.gz
    test/covid/masks/<id>/<rater>.nii.gz      (several raters)   or
    test/covid/masks/<id>.nii.gz              (one rater)

It has no lung masks. They are taken from ``lungs_dir/<id>.nii.gz`` (labels 1 and 2) or
computed once here by ``lung_segmenter(image_hu, affine) -> labels`` (the reference lung
segmentation of ``reference_models``); without either the import stops and says so.
Case ids are kept; an id used in two groups is an error. Bacterial-pneumonia images are
``private`` by default (they cannot be distributed), every other case ``public``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Collection
from pathlib import Path

import nibabel as nib
import numpy as np

from .groups import Group
from .problems import InvalidInput, Problem
from .testset import TestSet, find_nifti, load_testset, nifti_stem

LungSegmenter = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _source_root(source: Path) -> Path:
    return source / "test" if (source / "test").is_dir() else source


def _collect(root: Path, problems: list[Problem]) -> list[tuple[str, Group, Path, dict[str, Path]]]:
    found: list[tuple[str, Group, Path, dict[str, Path]]] = []
    groups_of: dict[str, Group] = {}
    for group in Group:
        folder = root / group.value / "images"
        if not folder.is_dir():
            problems.append(Problem("is missing", file=f"test/{group.value}/images/"))
            continue
        for image in sorted(folder.iterdir()):
            case_id = nifti_stem(image.name)
            if case_id is None:
                problems.append(Problem("is not a NIfTI image", file=f"test/{group.value}/images/{image.name}"))
                continue
            if case_id in groups_of:
                problems.append(Problem(f"appears in both {groups_of[case_id].value} and {group.value}",
                                        case_id=case_id, expected="unique ids across groups"))
                continue
            groups_of[case_id] = group
            masks: dict[str, Path] = {}
            if group is Group.COVID:
                rater_folder = root / "covid" / "masks" / case_id
                if rater_folder.is_dir():
                    masks = {nifti_stem(p.name) or p.name: p for p in sorted(rater_folder.iterdir())}
                else:
                    single = find_nifti(root / "covid" / "masks", case_id)
                    masks = {"": single[0]} if single else {}
                if not masks:
                    problems.append(Problem("has no lesion mask", file=f"test/covid/masks/{case_id}",
                                            case_id=case_id))
            found.append((case_id, group, image, masks))
    return found


def import_authors_layout(source: Path, destination: Path, *, name: str, version: str, description: str = "",
                          lungs_dir: Path | None = None, lung_segmenter: LungSegmenter | None = None,
                          private_groups: Collection[Group] = (Group.BACTERIAL_PNEUMONIA,)) -> TestSet:
    """Convert ``source`` into a new test-set directory ``destination`` and load it (all checks run)."""
    problems: list[Problem] = []
    if destination.exists() and any(destination.iterdir()):
        raise InvalidInput([Problem("exists and is not empty", file=str(destination))], what="import")
    cases = _collect(_source_root(source), problems)
    if lungs_dir is None and lung_segmenter is None:
        problems.append(Problem(
            "has no lung masks, and none were given", file=str(source),
            expected="--lungs DIR with <id>.nii.gz lung masks (1 and 2 the two lungs), or the reference lung "
                     "segmentation: python -m reference_models import-authors ... --lung-weights DIR"))
    elif lungs_dir is not None:
        for case_id, _, _, _ in cases:
            if not find_nifti(lungs_dir, case_id):
                problems.append(Problem("has no lung mask", file=str(lungs_dir / f"{case_id}.nii.gz"),
                                        case_id=case_id))
    if problems:
        raise InvalidInput(problems, what=f"authors' test layout {source}")
    for folder in ("images", "lungs", "lesions"):
        (destination / folder).mkdir(parents=True, exist_ok=True)
    rows = ["case_id,group,distribution"]
    for case_id, group, image, masks in cases:
        suffix = ".nii.gz" if image.name.endswith(".nii.gz") else ".nii"
        shutil.copyfile(image, destination / "images" / f"{case_id}{suffix}")
        if lungs_dir is not None:
            lung_file = find_nifti(lungs_dir, case_id)[0]
            shutil.copyfile(lung_file, destination / "lungs" / lung_file.name)
        else:
            loaded = nib.load(str(image))
            labels = lung_segmenter(np.asanyarray(loaded.dataobj), loaded.affine)  # type: ignore[misc]
            nib.save(nib.Nifti1Image(labels.astype(np.uint8), loaded.affine),
                     str(destination / "lungs" / f"{case_id}.nii.gz"))
        for rater, mask in masks.items():
            mask_suffix = ".nii.gz" if mask.name.endswith(".nii.gz") else ".nii"
            target = (destination / "lesions" / case_id / f"{rater}{mask_suffix}" if rater
                      else destination / "lesions" / f"{case_id}{mask_suffix}")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(mask, target)
        distribution = "private" if group in private_groups else "public"
        rows.append(f"{case_id},{group.value},{distribution}")
    (destination / "cases.csv").write_text("\n".join(rows) + "\n")
    (destination / "testset.json").write_text(json.dumps(
        {"name": name, "version": version, "description": description,
         "imported_from": "authors' layout (test/{group}/images, test/covid/masks)"}, indent=2) + "\n")
    return load_testset(destination)
