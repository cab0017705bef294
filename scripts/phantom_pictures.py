#!/usr/bin/env python
"""Write docs/images/phantom-<group>.png: one axial slice per group, as shown in docs/phantoms.md, and
phantom-normal-screening.png: the same normal patient as one of the test set's screening controls (cohorts.py).

    OMP_NUM_THREADS=1 python scripts/phantom_pictures.py [--out docs/images] [--seed 3]

Each picture has two panels of the same slice in a lung window (W 1500, L -600): the image alone, and the
image with its labels tinted (COVID-19 lesions red, other findings — pneumonia, effusion, nodules — orange). The
slice is, among those with at least 60% of the largest lung area, for COVID-19 the one where the less affected lung
has the most lesion, for pneumonia and nodules the one with the most findings; for normal lungs, the one with the
most lung. The phantoms are
made on a 224 × 224 × 72 grid of 1.6 × 1.6 × 5 mm (fixed, so the pictures compare), deterministic per seed.

PNG is written with the standard library (zlib): no imaging library is a dependency of the project.
"""

from __future__ import annotations

import argparse
import struct
import sys
import zlib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluator.groups import Group  # noqa: E402
from evaluator.phantoms import generate_case  # noqa: E402
from evaluator.phantoms.cohorts import Cohort  # noqa: E402

SHAPE = (224, 224, 72)
SPACING = (1.6, 1.6, 5.0)
WINDOW = (-1350.0, 150.0)
TINTS = {"lesion": (230, 40, 40), "finding": (255, 160, 0)}
#: A severity that shows COVID-19's pattern (bilateral, peripheral, crazy paving, some consolidation).
COVID_SEVERITY = 0.3


def png_bytes(rgb: np.ndarray) -> bytes:
    """An 8-bit RGB PNG of ``rgb`` [row, column, 3] (uint8), each row filtered with PNG's 'sub' filter."""
    height, width, _ = rgb.shape
    rows = rgb.reshape(height, width * 3).astype(np.int16)
    sub = rows.copy()
    sub[:, 3:] -= rows[:, :-3]
    raw = np.concatenate([np.ones((height, 1), np.uint8), (sub % 256).astype(np.uint8)], axis=1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw.tobytes(), 9))
            + chunk(b"IEND", b""))


def picture(group: Group, seed: int, *, cohort: Cohort = Cohort.GROUP) -> np.ndarray:
    """The two panels of ``group``'s phantom, as RGB [row = anterior→posterior, column = patient's right→left]."""
    p = generate_case(group, shape=SHAPE, spacing=SPACING, seed=seed, cohort=cohort,
                      severity=COVID_SEVERITY if group is Group.COVID else None)
    lesion = p.lesions[0] if p.lesions else np.zeros(p.image.shape, bool)
    finding = p.findings if p.findings is not None else np.zeros(p.image.shape, bool)
    area = (p.lungs > 0).sum(axis=(0, 1))
    wide = area >= 0.6 * area.max()  # slices through most of the lungs, not the bases behind the heart
    if group is Group.COVID:  # both lungs affected
        per_lung = [(lesion & (p.lungs == k)).sum(axis=(0, 1)) for k in (1, 2)]
        z = int(np.argmax(np.where(wide, np.minimum(*per_lung), -1)))
    elif finding.any():
        z = int(np.argmax(np.where(wide, finding.sum(axis=(0, 1)), -1)))
    else:
        z = int(np.argmax(area))
    lo, hi = WINDOW
    gray = np.clip((p.image[:, :, z].astype(np.float32) - lo) / (hi - lo), 0.0, 1.0) * 255.0
    plain = np.repeat(gray[..., None], 3, axis=2)
    tinted = plain.copy()
    for mask, tint in ((finding[:, :, z], TINTS["finding"]), (lesion[:, :, z], TINTS["lesion"])):
        tinted[mask] = 0.55 * tinted[mask] + 0.45 * np.asarray(tint, np.float32)
    # [x, y] → image rows y (anterior at the top), columns x (the patient's right on the viewer's left).
    both = np.concatenate([plain.transpose(1, 0, 2), tinted.transpose(1, 0, 2)], axis=1)
    return np.rint(both).astype(np.uint8)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "images")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    pictures = [(f"phantom-{g.value.replace('_', '-')}.png", g, Cohort.GROUP) for g in Group]
    pictures.append(("phantom-normal-screening.png", Group.NORMAL, Cohort.SCREENING_CONTROLS))
    for name, group, cohort in pictures:
        path = args.out / name
        path.write_bytes(png_bytes(picture(group, args.seed, cohort=cohort)))
        print(f"{path} ({path.stat().st_size / 1000:.0f} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
