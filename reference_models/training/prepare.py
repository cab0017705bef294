"""Series ready for training: preprocessed once (Sec. 4.1), kept in memory or in an on-disk cache.

* ``purpose="lungs"``: the whole 2 mm series (uncropped, as lung segmentation sees it), target = both lungs.
* ``purpose="lesions"``: the 2 mm series windowed to [0, 1] and cropped to the lungs, target = the lesion mask on
  the same grid (or ``None``: no annotation; an all-zero target when ``assume_empty`` is set, for 2D U-Net+'s
  negatives).
* ``purpose="hu"``: as ``"lesions"`` but in HU (thresholding works in HU), with the lung mask of the crop.

Lungs for cropping: predicted by the lung network when one is given (as at inference, Sec. 4.1), else the
dataset's own lung mask (an error if it has none). Images are stored as float16 (windowed; 1/2048 resolution is
0.6 HU) and read back memory-mapped, so large training sets need not fit in memory.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import nn

from reference_models.data.records import SeriesRecord
from reference_models.networks.lungs import predict_lungs
from reference_models.preprocessing import mask_to_grid, preprocess

PURPOSES = ("lungs", "lesions", "hu")
_CACHE_VERSION = 1


@dataclass(frozen=True, slots=True, eq=False)
class PreparedSeries:
    """One training series on the network grid: ``image`` [x, y, z], ``target`` (bool, same grid, or ``None``),
    ``label`` (1 / 0 / ``None``), ``lungs`` (bool, ``"hu"`` purpose only) and where it comes from."""

    series_id: str
    image: np.ndarray
    target: np.ndarray | None
    label: int | None
    has_mask: bool
    lungs: np.ndarray | None = None
    provenance: dict | None = None


def _file_stamp(path: Path | None) -> list:
    """Path, size and modification time of a file; of every file in it for a folder (a DICOM series)."""
    if path is None:
        return []
    if path.is_dir():
        return [str(path.resolve()), [_file_stamp(p) for p in sorted(path.iterdir()) if p.is_file()]]
    stat = path.stat()
    return [str(path.resolve()), stat.st_size, stat.st_mtime_ns]


def cache_key(record: SeriesRecord, *, purpose: str, lungs_digest: str | None, assume_empty: bool) -> str:
    """Stable key of one prepared series: its files (path, size, mtime), the purpose and the lung source."""
    text = json.dumps(
        [
            _CACHE_VERSION,
            purpose,
            lungs_digest,
            assume_empty,
            list(record.lesion_values),
            list(record.lung_values),
            record.intensity,
            *(_file_stamp(p) for p in (record.image, record.lesions, record.lungs)),
        ]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _prepare(
    record: SeriesRecord, *, purpose: str, lung_model: nn.Module | None, assume_empty: bool
) -> PreparedSeries:
    series = record.load()
    spacing = series.spacing
    if purpose == "lungs":
        if series.lungs is None:
            raise ValueError(f"{record.series_id}: lung segmentation needs a lung mask ({record.layout} {record.root})")
        prepared = preprocess(series.image_hu, spacing)
        lung_target = mask_to_grid(series.lungs, prepared.geometry)
        return PreparedSeries(record.series_id, prepared.image.astype(np.float16), lung_target, series.label, True,
                              provenance=series.provenance)
    if lung_model is not None:
        lungs = predict_lungs(lung_model, series.image_hu, spacing).lungs
    elif series.lungs is not None:
        lungs = series.lungs
    else:
        raise ValueError(
            f"{record.series_id}: has no lung mask to crop to; give a trained lung network (--lungs-weights)"
        )
    hu = purpose == "hu"
    prepared = preprocess(series.image_hu, spacing, lungs=lungs, hu_window=None if hu else (-1000.0, 300.0))
    target: np.ndarray | None
    if series.lesions is not None:
        target = mask_to_grid(series.lesions, prepared.geometry)
    elif assume_empty and series.label == 0:
        target = np.zeros(prepared.image.shape, dtype=bool)
    else:
        target = None
    return PreparedSeries(
        record.series_id,
        prepared.image.astype(np.float32 if hu else np.float16),
        target,
        series.label,
        target is not None,
        lungs=prepared.lungs if hu else None,
        provenance=series.provenance,
    )


def prepare_series(
    record: SeriesRecord,
    *,
    purpose: str,
    lung_model: nn.Module | None = None,
    lungs_digest: str | None = None,
    assume_empty: bool = False,
    cache_dir: Path | None = None,
) -> PreparedSeries:
    """Preprocess ``record`` for ``purpose`` (see the module doc), reusing ``cache_dir`` when given.

    ``lungs_digest`` identifies ``lung_model`` in the cache key (e.g. the checkpoint's digest); it is required
    with a cache and a lung model, so that a retrained lung network never reuses stale crops.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {PURPOSES}, got {purpose!r}")
    if cache_dir is None:
        return _prepare(record, purpose=purpose, lung_model=lung_model, assume_empty=assume_empty)
    if lung_model is not None and lungs_digest is None:
        raise ValueError("a cached preparation with a lung network needs its lungs_digest")
    key = cache_key(record, purpose=purpose, lungs_digest=lungs_digest if lung_model is not None else None,
                    assume_empty=assume_empty)
    folder = Path(cache_dir) / key
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        prepared = _prepare(record, purpose=purpose, lung_model=lung_model, assume_empty=assume_empty)
        # A folder of this process's own: runs that share the cache may prepare the same series at once.
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f"{key}.", suffix=".tmp", dir=cache_dir))
        try:
            for name in ("image", "target", "lungs"):
                array = getattr(prepared, name)
                if array is not None:
                    np.save(tmp / f"{name}.npy", array)
            meta = {"series_id": prepared.series_id, "label": prepared.label, "has_mask": prepared.has_mask,
                    "provenance": prepared.provenance}
            (tmp / "meta.json").write_text(json.dumps(meta))
            try:
                tmp.rename(folder)
            except OSError:  # another process finished first (the folder exists and is not empty)
                if not meta_path.is_file():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return _load_cached(folder)


def _load_cached(folder: Path) -> PreparedSeries:
    meta = json.loads((folder / "meta.json").read_text())

    def array(name: str) -> np.ndarray | None:
        path = folder / f"{name}.npy"
        return np.load(path, mmap_mode="r") if path.is_file() else None

    image = array("image")
    if image is None:
        raise FileNotFoundError(f"{folder}: image.npy is missing")
    return PreparedSeries(meta["series_id"], image, array("target"), meta["label"], meta["has_mask"],
                          lungs=array("lungs"), provenance=meta["provenance"])
