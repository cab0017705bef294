"""A hand-made miniature test set (independent of the phantom generator) for loader/scorer unit tests."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np

SHAPE = (12, 10, 8)
AFFINE = np.diag([2.0, 2.0, 5.0, 1.0])


def lungs_volume() -> np.ndarray:
    lungs = np.zeros(SHAPE, np.uint8)
    lungs[1:5, 2:8, 1:7] = 1
    lungs[7:11, 2:8, 1:7] = 2
    return lungs


def save(path: Path, data: np.ndarray, affine: np.ndarray = AFFINE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, affine), str(path))
    return path


def lesion_volume(seed: int, *, extent: int) -> np.ndarray:
    lesion = np.zeros(SHAPE, np.uint8)
    lesion[1 : 1 + extent, 2:5, 2 + seed % 3 : 5] = 1
    lesion[7:8, 3 : 3 + extent, 3:5] = 1
    return lesion


def write_tiny_testset(root: Path, *, n_per_group: int = 3, two_raters: bool = True,
                       private_groups: tuple[str, ...] = ()) -> Path:
    """Write ``n_per_group`` cases of each group; COVID case k has a lesion of growing extent."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "testset.json").write_text(json.dumps({"name": "tiny", "version": "1", "description": "unit tests"}))
    rows = ["case_id,group,distribution"]
    rng = np.random.default_rng(0)
    index = 0
    for group in ("covid", "bacterial_pneumonia", "nodules", "normal"):
        for k in range(n_per_group):
            case_id = f"c{index:03d}"
            index += 1
            distribution = "private" if group in private_groups else "public"
            rows.append(f"{case_id},{group},{distribution}")
            image = rng.normal(-850, 20, SHAPE).astype(np.int16)
            save(root / "images" / f"{case_id}.nii.gz", image)
            save(root / "lungs" / f"{case_id}.nii.gz", lungs_volume())
            if group == "covid":
                lesion = lesion_volume(k, extent=k + 1)
                if two_raters and k % 2 == 0:
                    other = lesion.copy()
                    other[1, 2, 2:5] = 0
                    save(root / "lesions" / case_id / "rater1.nii.gz", lesion)
                    save(root / "lesions" / case_id / "rater2.nii.gz", other)
                else:
                    save(root / "lesions" / f"{case_id}.nii.gz", lesion)
    (root / "cases.csv").write_text("\n".join(rows) + "\n")
    return root
