"""Streaming, size-checked reading of untrusted NIfTI files (``.nii`` or ``.nii.gz``).

The header is parsed and checked against the expected geometry *before* any voxel is
inflated; voxels are then read in fixed-size chunks into a reused buffer, so memory
stays bounded whatever the file claims, and a file whose decompressed size differs from
what its header describes is an error. Compression is detected from the magic bytes,
not the file name. Inflation uses ISA-L (``isal``) when installed, else zlib.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import nibabel as nib
import numpy as np

from .problems import Problem

try:  # ISA-L inflates 2-3x faster than zlib; it is optional.
    from isal.igzip import GzipFile as _GzipFile
except ImportError:  # pragma: no cover - exercised only where isal is missing
    from gzip import GzipFile as _GzipFile

GZIP_MAGIC = b"\x1f\x8b"
#: Largest header + extensions we accept before the voxel data starts.
MAX_VOX_OFFSET = 1 << 20
#: Default decompressed chunk size of the voxel stream.
DEFAULT_CHUNK_BYTES = 1 << 22

#: Voxel types accepted for masks; floats must hold only 0 and 1.
MASK_DTYPES = frozenset(
    np.dtype(t).name
    for t in ("uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64", "float32", "float64")
)


@dataclass(frozen=True, slots=True)
class Geometry:
    """Voxel grid of a case: shape ``(x, y, z)`` and the 4×4 voxel-to-world affine (mm)."""

    shape: tuple[int, int, int]
    affine: np.ndarray

    def matches_affine(self, other: np.ndarray, *, atol_mm: float = 1e-3, rtol: float = 1e-5) -> bool:
        """Affines agree within ``atol_mm`` (+ ``rtol`` relative) in every entry."""
        return bool(np.allclose(np.asarray(other, dtype=float), self.affine, atol=atol_mm, rtol=rtol))


@dataclass(frozen=True, slots=True)
class NiftiLayout:
    """What a checked header says about the voxel stream that follows it."""

    shape: tuple[int, ...]
    dtype: np.dtype
    vox_offset: int
    affine: np.ndarray

    @property
    def data_bytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


def open_stream(path: Path) -> BinaryIO:
    """Open ``path`` for reading, inflating it if it starts with the gzip magic."""
    raw = open(path, "rb")  # noqa: SIM115 - returned to the caller, closed there
    magic = raw.read(2)
    raw.seek(0)
    if magic == GZIP_MAGIC:
        return _GzipFile(fileobj=raw, mode="rb")
    return raw


def _read_exactly(stream: BinaryIO, n: int) -> bytes:
    chunks = []
    remaining = n
    while remaining:
        block = stream.read(remaining)
        if not block:
            break
        chunks.append(block)
        remaining -= len(block)
    return b"".join(chunks)


def read_header(stream: BinaryIO, *, file: str, case_id: str | None = None) -> tuple[NiftiLayout | None, list[Problem]]:
    """Parse a NIfTI-1 or NIfTI-2 header from ``stream`` and leave it positioned at the voxel data.

    Returns the layout, or ``None`` and the problems that make the file unusable.
    """
    def problem(message: str, expected: str | None = None) -> tuple[None, list[Problem]]:
        return None, [Problem(message, file=file, case_id=case_id, expected=expected)]

    try:
        first = _read_exactly(stream, 4)
        sizes = {int.from_bytes(first, "little"), int.from_bytes(first, "big")} if len(first) == 4 else set()
        if 348 in sizes:
            header_class, header_size = nib.Nifti1Header, 348
        elif 540 in sizes:
            header_class, header_size = nib.Nifti2Header, 540
        else:
            return problem("is not a NIfTI file (bad header size field)", "a NIfTI-1 or NIfTI-2 file (.nii or .nii.gz)")
        raw = first + _read_exactly(stream, header_size - 4)
    except (OSError, EOFError, ValueError) as exc:  # corrupt gzip stream
        return problem(f"cannot be read: {exc}", "a NIfTI file, optionally gzip-compressed")
    if len(raw) < header_size:
        return problem("is too short to hold a NIfTI header", "a complete NIfTI header")
    try:
        header = header_class.from_fileobj(io.BytesIO(raw), check=True)
        magic = bytes(header["magic"]).rstrip(b"\x00")
        shape = tuple(int(d) for d in header.get_data_shape())
        dtype = header.get_data_dtype()
        affine = header.get_best_affine()
        vox_offset = int(header["vox_offset"])
        slope, inter = header.get_slope_inter()
    except Exception as exc:  # nibabel raises many exception types on malformed headers
        return problem(f"has a malformed NIfTI header ({exc})")
    if magic not in (b"n+1", b"n+2"):
        return problem(f"has NIfTI magic {magic!r}", "a single-file NIfTI (magic 'n+1' or 'n+2')")
    problems: list[Problem] = []
    if slope is not None and (slope, inter or 0.0) != (1.0, 0.0):
        problems.append(Problem(f"uses intensity scaling (scl_slope={slope}, scl_inter={inter})", file=file,
                                case_id=case_id, expected="no scaling (scl_slope 0, 1 or NaN; scl_inter 0 or NaN)"))
    if not header_size <= vox_offset <= MAX_VOX_OFFSET:
        problems.append(Problem(f"has voxel data offset {vox_offset}", file=file, case_id=case_id,
                                expected=f"an offset between {header_size} and {MAX_VOX_OFFSET} bytes"))
    if not np.all(np.isfinite(affine)):
        problems.append(Problem("has a non-finite affine", file=file, case_id=case_id))
    if problems:
        return None, problems
    try:
        skip = vox_offset - header_size
        if len(_read_exactly(stream, skip)) != skip:
            return problem("ends inside its header extensions")
    except (OSError, EOFError, ValueError) as exc:
        return problem(f"cannot be read: {exc}")
    return NiftiLayout(shape=shape, dtype=dtype, vox_offset=vox_offset, affine=affine), []


def header_stream(path: Path, *, file: str, case_id: str | None = None
                  ) -> tuple[BinaryIO | None, NiftiLayout | None, list[Problem]]:
    """Open ``path`` and read its header; returns ``(stream positioned at the voxels, layout, problems)``."""
    try:
        stream = open_stream(path)
    except OSError as exc:
        return None, None, [Problem(f"cannot be opened: {exc}", file=file, case_id=case_id)]
    layout, problems = read_header(stream, file=file, case_id=case_id)
    if layout is None:
        stream.close()
        return None, None, problems
    return stream, layout, []


def iter_voxel_chunks(stream: BinaryIO, *, nbytes: int, buffer: np.ndarray) -> Iterator[memoryview]:
    """Yield consecutive chunks of exactly ``nbytes`` voxel bytes, read into ``buffer``.

    Raises :class:`SizeMismatch` when the stream ends early or holds more data than
    ``nbytes``. ``buffer`` must be a contiguous uint8 array; chunks are views into it
    and are only valid until the next iteration.
    """
    view = memoryview(buffer.data).cast("B")
    done = 0
    while done < nbytes:
        want = min(len(view), nbytes - done)
        got = 0
        while got < want:
            n = stream.readinto(view[got:want])  # type: ignore[attr-defined]  # files and gzip streams have it
            if not n:
                raise SizeMismatch(done + got, nbytes)
            got += n
        done += got
        yield view[:got]
    if stream.read(1):
        raise SizeMismatch(nbytes + 1, nbytes, more=True)


class SizeMismatch(Exception):
    """The voxel stream is shorter or longer than the header says."""

    def __init__(self, got: int, expected: int, *, more: bool = False) -> None:
        self.got, self.expected, self.more = got, expected, more
        what = "more than" if more else f"only {got} bytes of"
        super().__init__(f"decompressed voxel data holds {what} the {expected} bytes its header describes")
