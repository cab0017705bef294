"""Listing the series of public datasets in their real on-disk layouts (and of the test-set layout).

Each ``list_*`` function takes the dataset's root folder and returns :class:`SeriesRecord` s, reading file names
only (the test-set layout also reads ``cases.csv`` and the NIfTI headers, through :mod:`evaluator.testset`).
A root may also be the folder *above* the dataset's own top folder (e.g. the folder holding ``COVID19_1110/``).

* ``mosmed`` — MosMedData COVID19_1110: ``studies/CT-0..CT-4/study_XXXX.nii.gz``; ``masks/study_XXXX_mask.nii.gz``
  (binary, 50 CT-1 studies). CT-0 is negative (label 0), CT-1..CT-4 positive; no lung masks.
* ``medseg`` — MedSeg (radiopaedia, 9 volumes): ``rp_im/N.nii.gz``, ``rp_msk/N.nii.gz`` (1 ground glass,
  2 consolidation — both lesions; 3, pleural effusion in some copies, is not), ``rp_lung_msk/N.nii.gz`` (lungs,
  not split). All positive.
* ``covid-ct-seg`` — COVID-19-CT-Seg (Jun Ma, Zenodo 3757476): ``COVID-19-CT-Seg_20cases/<name>.nii.gz``,
  ``Infection_Mask/<name>.nii.gz`` (1 infection), ``Lung_Mask/<name>.nii.gz`` (1 left, 2 right; relabelled by
  position), or ``Lung_and_Infection_Mask/`` (1 left, 2 right, 3 infection) when the separate masks are missing.
  All positive. The ``radiopaedia_*`` images are stored windowed to 0..255: intensity detection converts them.
* ``testset`` — the leaderboard's test-set layout (``testset.json``, ``cases.csv``, ``images/``, ``lungs/``,
  ``lesions/``); label 1 for the ``covid`` group; lesions: the first rater (sorted by name) when there are several.
* ``authors`` — the authors' released test folder: ``<group>/images/<id>.nii.gz`` for the groups ``covid``,
  ``bacterial_pneumonia``, ``nodules``, ``normal``, masks ``covid/masks/<id>/<rater>.nii.gz`` (first rater by
  name) or ``covid/masks/<id>.nii.gz``; no lungs.
* ``nsclc`` — NSCLC-Radiomics as TCIA distributes it, with PleThora's thoracic-cavity masks:
  ``NSCLC-Radiomics/LUNG1-NNN/<study>/<series>/*.dcm`` (the CT series is the folder whose files have Modality CT;
  RTSTRUCT and SEG folders beside it are left out) and
  ``Thoracic_Cavities/LUNG1-NNN/LUNG1-NNN_thor_cav_primary_reviewer.nii.gz`` (both hemithoraces = 1, split later
  by k-means). All negative (lung cancer, no COVID-19). Listing reads one DICOM header per series folder; a
  patient with no CT series is an error naming it. The masks are brought onto the DICOM grid through their own
  affine (axis flips and permutations; anything else is refused, see
  :func:`~reference_models.data.volumes.load_labels`).
* ``nifti`` — any folder of NIfTI series of one known class, e.g. NSCLC-Radiomics converted to NIfTI:
  ``images/<id>.nii.gz`` (or the files directly in the folder), optional ``lungs/<id>.nii.gz``; the label comes
  from the spec (``negative``/``positive``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from evaluator.groups import Group
from evaluator.testset import load_testset
from reference_models.data.records import SeriesRecord, find_nifti, nifti_files, nifti_stem

_MOSMED_CATEGORY = re.compile(r"CT-([0-4])")


def _descend(root: Path, name: str) -> Path:
    """``root/name`` if ``root`` is the folder above the dataset's top folder, else ``root``."""
    return root / name if (root / name).is_dir() else root


def list_mosmed(root: Path | str) -> list[SeriesRecord]:
    root = _descend(Path(root), "COVID19_1110")
    studies = root / "studies"
    if not studies.is_dir():
        raise FileNotFoundError(f"{root}: no studies/ folder (MosMedData COVID19_1110 layout)")
    records = []
    for folder in sorted(p for p in studies.iterdir() if p.is_dir()):
        match = _MOSMED_CATEGORY.fullmatch(folder.name)
        if match is None:
            continue
        category = int(match.group(1))
        for image in nifti_files(folder):
            study = nifti_stem(image)
            mask = find_nifti(root / "masks", f"{study}_mask")
            records.append(
                SeriesRecord(
                    layout="mosmed",
                    root=root,
                    series_id=study,
                    image=image,
                    label=int(category > 0),
                    lesions=mask,
                    group=folder.name,
                )
            )
    if not records:
        raise FileNotFoundError(f"{root}: no studies/CT-k/*.nii.gz found")
    return records


def list_medseg(root: Path | str) -> list[SeriesRecord]:
    root = Path(root)
    images = nifti_files(root / "rp_im")
    if not images:
        raise FileNotFoundError(f"{root}: no rp_im/*.nii.gz found (MedSeg layout)")
    return [
        SeriesRecord(
            layout="medseg",
            root=root,
            series_id=f"medseg_{nifti_stem(image)}",
            image=image,
            label=1,
            lesions=find_nifti(root / "rp_msk", nifti_stem(image)),
            lesion_values=(1, 2),
            lungs=find_nifti(root / "rp_lung_msk", nifti_stem(image)),
            lung_values=tuple(range(1, 256)),
        )
        for image in images
    ]


def list_covid_ct_seg(root: Path | str) -> list[SeriesRecord]:
    root = Path(root)
    images = nifti_files(root / "COVID-19-CT-Seg_20cases")
    if not images:
        raise FileNotFoundError(f"{root}: no COVID-19-CT-Seg_20cases/*.nii.gz found (COVID-19-CT-Seg layout)")
    records = []
    lung_values: tuple[int, ...]
    for image in images:
        name = nifti_stem(image)
        lesions, lesion_values = find_nifti(root / "Infection_Mask", name), (1,)
        lungs, lung_values = find_nifti(root / "Lung_Mask", name), (1, 2)
        combined = find_nifti(root / "Lung_and_Infection_Mask", name)
        if lesions is None and combined is not None:
            lesions, lesion_values = combined, (3,)
        if lungs is None and combined is not None:
            lungs, lung_values = combined, (1, 2, 3)  # lesions are inside the lungs: one merged (binary) mask
        records.append(
            SeriesRecord(
                layout="covid-ct-seg",
                root=root,
                series_id=name,
                image=image,
                label=1,
                lesions=lesions,
                lesion_values=lesion_values,
                lungs=lungs,
                lung_values=lung_values,
            )
        )
    return records


def list_testset(root: Path | str) -> list[SeriesRecord]:
    testset = load_testset(Path(root))
    return [
        SeriesRecord(
            layout="testset",
            root=testset.root,
            series_id=case.case_id,
            image=case.image,
            label=int(case.group is Group.COVID),
            lesions=case.lesions[sorted(case.lesions)[0]] if case.lesions else None,
            lungs=case.lungs,
            group=case.group.value,
        )
        for case in testset.cases
    ]


def list_authors(root: Path | str) -> list[SeriesRecord]:
    root = _descend(Path(root), "test")
    records = []
    for group in Group:
        for image in nifti_files(root / group.value / "images"):
            case_id = nifti_stem(image)
            masks = root / group.value / "masks"
            raters = [find_nifti(masks, case_id)] if find_nifti(masks, case_id) else nifti_files(masks / case_id)
            records.append(
                SeriesRecord(
                    layout="authors",
                    root=root,
                    series_id=case_id,
                    image=image,
                    label=int(group is Group.COVID),
                    lesions=raters[0] if raters else None,
                    group=group.value,
                )
            )
    if not records:
        raise FileNotFoundError(f"{root}: no <group>/images/*.nii.gz found (authors' test layout)")
    return records


def list_nifti_folder(root: Path | str, *, label: int | None) -> list[SeriesRecord]:
    root = Path(root)
    folder = root / "images" if (root / "images").is_dir() else root
    images = nifti_files(folder)
    if not images:
        raise FileNotFoundError(f"{root}: no NIfTI images found")
    return [
        SeriesRecord(
            layout="nifti",
            root=root,
            series_id=nifti_stem(image),
            image=image,
            label=label,
            lungs=find_nifti(root / "lungs", nifti_stem(image)),
            lung_values=(1, 2),
        )
        for image in images
    ]


NSCLC_PATIENT = re.compile(r"LUNG1-\d+")


def _ct_series_folder(patient: Path) -> Path | None:
    """The folder under ``patient`` (study/series, at most two levels down) whose DICOM files are CT; the one with
    the most files if there are several."""
    from reference_models.data.dicom import series_modality

    candidates = [d for d in (*patient.glob("*/*"), *patient.glob("*")) if d.is_dir()]
    ct = [d for d in candidates if series_modality(d) == "CT"]
    return max(ct, key=lambda d: (sum(1 for f in d.iterdir() if f.is_file()), str(d)), default=None)


def list_nsclc(root: Path | str) -> list[SeriesRecord]:
    root = Path(root)
    images = _descend(root, "NSCLC-Radiomics")
    cavities = root / "Thoracic_Cavities"
    if not cavities.is_dir() and (root.parent / "Thoracic_Cavities").is_dir():
        cavities = root.parent / "Thoracic_Cavities"
    patients = sorted(d for d in images.iterdir() if d.is_dir() and NSCLC_PATIENT.fullmatch(d.name)) \
        if images.is_dir() else []
    if not patients:
        raise FileNotFoundError(f"{root}: no NSCLC-Radiomics/LUNG1-NNN/ patient folders found")
    records, without_ct = [], []
    for patient in patients:
        series = _ct_series_folder(patient)
        if series is None:
            without_ct.append(patient.name)
            continue
        records.append(
            SeriesRecord(
                layout="nsclc",
                root=root,
                series_id=patient.name,
                image=series,
                label=0,
                lungs=find_nifti(cavities / patient.name, f"{patient.name}_thor_cav_primary_reviewer"),
                lung_values=(1,),
                intensity="hu",
            )
        )
    if without_ct:
        raise ValueError(f"{root}: no CT series (DICOM files with Modality CT) for {', '.join(without_ct)}")
    return records


LISTERS: dict[str, Callable[[Path], list[SeriesRecord]]] = {
    "mosmed": list_mosmed,
    "medseg": list_medseg,
    "covid-ct-seg": list_covid_ct_seg,
    "testset": list_testset,
    "authors": list_authors,
    "nsclc": list_nsclc,
}
"""Layouts recognisable from their folder structure (``nifti`` needs a label and is not auto-detected)."""


def detect_layout(root: Path | str) -> str:
    """The layout of a dataset folder, from the names of its files and folders."""
    root = Path(root)
    if (root / "studies").is_dir() or (root / "COVID19_1110" / "studies").is_dir():
        return "mosmed"
    if (root / "rp_im").is_dir():
        return "medseg"
    if (root / "COVID-19-CT-Seg_20cases").is_dir():
        return "covid-ct-seg"
    if (root / "NSCLC-Radiomics").is_dir() or (
            root.is_dir() and any(d.is_dir() and NSCLC_PATIENT.fullmatch(d.name) for d in root.iterdir())):
        return "nsclc"
    if (root / "cases.csv").is_file() and (root / "images").is_dir():
        return "testset"
    if any((base / g.value / "images").is_dir() for base in (root, root / "test") for g in Group):
        return "authors"
    raise ValueError(
        f"{root}: cannot tell its layout; name it as LAYOUT:PATH with LAYOUT one of "
        f"{', '.join([*LISTERS, 'nifti'])} (nifti needs a label: nifti-negative:PATH or nifti-positive:PATH)"
    )


def list_dataset(spec: str | Path) -> list[SeriesRecord]:
    """Records of a dataset given as ``PATH`` (layout detected) or ``LAYOUT:PATH``.

    ``LAYOUT`` is one of ``mosmed``, ``medseg``, ``covid-ct-seg``, ``nsclc``, ``testset``, ``authors``,
    ``nifti-negative``,
    ``nifti-positive`` (``negatives`` is short for ``nifti-negative``).
    """
    text = str(spec)
    layout, _, path = text.partition(":")
    if not path or Path(text).exists() and not Path(path).exists():
        layout, path = detect_layout(text), text
    layout = {"negatives": "nifti-negative"}.get(layout, layout)
    if layout in ("nifti-negative", "nifti-positive"):
        return list_nifti_folder(path, label=int(layout == "nifti-positive"))
    if layout not in LISTERS:
        raise ValueError(f"unknown layout {layout!r} in {text!r}; known: {', '.join([*LISTERS, 'nifti-negative'])}")
    return LISTERS[layout](Path(path))
