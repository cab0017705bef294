"""A corpus of valid, malformed and malicious prediction archives, built at test time.

Archives are described as lists of :class:`Entry` and written as zip, tar.gz or tar by
:func:`write_archive`; :data:`CORPUS` pairs each malformed archive with the problems the
reader must report (and the formats in which the case can be expressed). Everything is
small: masks are 4×4×3 NIfTI volumes made with nibabel, bombs are streamed zeros.
"""

from __future__ import annotations

import functools
import gzip
import io
import stat
import tarfile
import warnings
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np

from evaluator.archive import ArchiveLimits
from evaluator.problems import Problem

CASES = ("c001", "c002", "c003")
PRIVATE_CASE = "p001"
KNOWN_CASES = (*CASES, PRIVATE_CASE)
FORMATS = ("zip", "tar.gz", "tar")
#: An absolute path the reader must never write to.
ABSOLUTE_TARGET = "/tmp/ct-triage-archive-corpus-escape.txt"


@dataclass(frozen=True)
class Entry:
    """One archive member. ``name`` may hold surrogate escapes (bytes that are not UTF-8).

    ``kind``: file, dir, symlink, hardlink, chr or fifo (``target`` for links).
    """

    name: str
    data: bytes = b""
    kind: str = "file"
    target: str = ""


@dataclass(frozen=True)
class Expect:
    """A problem the reader must report: its file and case, and a phrase of its message."""

    phrase: str
    file: str | None = None
    case_id: str | None = None

    def matches(self, problem: Problem) -> bool:
        return problem.file == self.file and problem.case_id == self.case_id and self.phrase in problem.message


@dataclass(frozen=True)
class CorpusCase:
    id: str
    entries: list[Entry]
    expected: list[Expect]
    formats: tuple[str, ...] = FORMATS
    limits: ArchiveLimits = field(default_factory=ArchiveLimits)


# --- content -------------------------------------------------------------------------------

@functools.cache
def mask_nii(value: int = 0) -> bytes:
    """A small uncompressed NIfTI mask (its content does not matter to the archive reader)."""
    data = np.full((4, 4, 3), value, np.uint8)
    return nib.Nifti1Image(data, np.diag([2.0, 2.0, 5.0, 1.0])).to_bytes()


@functools.cache
def mask_gz(value: int = 0) -> bytes:
    return gzip.compress(mask_nii(value), mtime=0)


def csv_bytes(rows: Iterable[Sequence[str]], *, header: Sequence[str] = ("case_id", "covid_probability", "severity"),
              newline: str = "\n", bom: bool = False) -> bytes:
    lines = [",".join(header), *(",".join(row) for row in rows)]
    text = newline.join(lines) + newline
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")


def good_rows(cases: Iterable[str] = CASES) -> list[tuple[str, str, str]]:
    return [(case_id, f"0.{index + 1}", f"0.0{index + 1}") for index, case_id in enumerate(cases)]


def good_csv() -> bytes:
    return csv_bytes(good_rows())


def valid_entries(*, top: str | None = None, masks: bool = True, csv: bytes | None = None,
                  folders: bool = False) -> list[Entry]:
    """A valid submission for CASES, at the root or inside ``top``."""
    prefix = f"{top}/" if top else ""
    entries = []
    if folders:
        entries += [Entry(prefix, kind="dir")] if top else []
        entries += [Entry(f"{prefix}masks/", kind="dir")] if masks else []
    entries.append(Entry(f"{prefix}predictions.csv", good_csv() if csv is None else csv))
    if masks:
        entries += [Entry(f"{prefix}masks/{case_id}.nii.gz", mask_gz()) for case_id in CASES]
    return entries


# --- writing archives ----------------------------------------------------------------------

_ZIP_MODES = {
    "file": stat.S_IFREG | 0o644, "dir": stat.S_IFDIR | 0o755, "symlink": stat.S_IFLNK | 0o777,
    "chr": stat.S_IFCHR | 0o644, "fifo": stat.S_IFIFO | 0o644,
}
_TAR_TYPES = {
    "file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE,
    "chr": tarfile.CHRTYPE, "fifo": tarfile.FIFOTYPE,
}


def _placeholder(name: str) -> str:
    """``name`` with each non-UTF-8 byte replaced by '#', so zipfile can write it."""
    return "".join("#" if 0xDC80 <= ord(char) <= 0xDCFF else char for char in name)


def write_zip(path: Path, entries: Iterable[Entry], *, compression: int = zipfile.ZIP_DEFLATED) -> Path:
    """Write a zip; names that are not UTF-8 are patched in as raw bytes after writing."""
    raw_names = []
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w") as archive:
        warnings.simplefilter("ignore", UserWarning)  # duplicate names are written on purpose
        for entry in entries:
            if entry.kind == "hardlink":
                raise ValueError("zip has no hard links")
            name = _placeholder(entry.name)
            if name != entry.name:
                raw_names.append((name.encode("ascii"), entry.name.encode("utf-8", "surrogateescape")))
            info = zipfile.ZipInfo(name + ("/" if entry.kind == "dir" and not name.endswith("/") else ""),
                                   date_time=(2024, 1, 1, 0, 0, 0))
            info.create_system = 3
            info.external_attr = _ZIP_MODES[entry.kind] << 16 | (0x10 if entry.kind == "dir" else 0)
            info.compress_type = zipfile.ZIP_STORED if entry.kind == "dir" else compression
            data = entry.target.encode() if entry.kind == "symlink" else entry.data
            archive.writestr(info, data)
    if raw_names:
        content = path.read_bytes()
        for placeholder, raw in raw_names:
            content = content.replace(placeholder, raw)
        path.write_bytes(content)
    return path


def write_tar(path: Path, entries: Iterable[Entry], *, gz: bool = True) -> Path:
    with tarfile.open(path, "w:gz" if gz else "w", format=tarfile.GNU_FORMAT, encoding="utf-8",
                      errors="surrogateescape") as archive:
        for entry in entries:
            info = tarfile.TarInfo(entry.name.rstrip("/") if entry.kind == "dir" else entry.name)
            info.type = _TAR_TYPES[entry.kind]
            info.mtime = 1_700_000_000
            info.mode = 0o755 if entry.kind == "dir" else 0o644
            info.linkname = entry.target
            if entry.kind == "file":
                info.size = len(entry.data)
                archive.addfile(info, io.BytesIO(entry.data))
            else:
                archive.addfile(info)
    return path


def write_archive(path: Path, entries: Iterable[Entry], fmt: str) -> Path:
    """Write ``entries`` as ``fmt`` (zip, tar.gz or tar) to ``path``."""
    if fmt == "zip":
        return write_zip(path, entries)
    if fmt in ("tar.gz", "tar"):
        return write_tar(path, entries, gz=fmt == "tar.gz")
    raise ValueError(fmt)


def set_zip_flags(path: Path, name: str, flags: int) -> Path:
    """Set general-purpose flag bits of member ``name`` in its local and central headers."""
    content = bytearray(path.read_bytes())
    raw = name.encode()
    for signature, name_at, flags_at in ((b"PK\x03\x04", 30, 6), (b"PK\x01\x02", 46, 8)):
        start = content.find(signature)
        while start >= 0:
            if content[start + name_at: start + name_at + len(raw)] == raw:
                content[flags_at + start] |= flags & 0xFF
                content[flags_at + start + 1] |= flags >> 8
            start = content.find(signature, start + 1)
    path.write_bytes(bytes(content))
    return path


def set_zip_sizes(path: Path, name: str, *, file_size: int) -> Path:
    """Make the central directory claim ``file_size`` for member ``name`` (a lying header)."""
    content = bytearray(path.read_bytes())
    raw = name.encode()
    start = content.find(b"PK\x01\x02")
    while start >= 0:
        if content[start + 46: start + 46 + len(raw)] == raw:
            content[start + 24: start + 28] = file_size.to_bytes(4, "little")
        start = content.find(b"PK\x01\x02", start + 1)
    path.write_bytes(bytes(content))
    return path


class Zeros(io.RawIOBase):
    """A readable stream of ``size`` zero bytes, produced in chunks (no big buffer)."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        count = min(len(buffer), self.left)
        buffer[:count] = bytes(count)
        self.left -= count
        return count


def write_bomb(path: Path, fmt: str, *, size: int, name: str = "masks/c001.nii") -> Path:
    """A valid submission whose mask ``name`` holds ``size`` zero bytes (deflated ~1000:1)."""
    entries = [e for e in valid_entries() if e.name != "masks/c001.nii.gz"]
    if fmt == "zip":
        write_zip(path, entries)
        with zipfile.ZipFile(path, "a") as archive:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as out:
                stream = Zeros(size)
                while chunk := stream.read(1 << 20):
                    out.write(chunk)
        return path
    with tarfile.open(path, "w:gz" if fmt == "tar.gz" else "w", format=tarfile.GNU_FORMAT) as archive:
        for entry in entries:
            info = tarfile.TarInfo(entry.name)
            info.size = len(entry.data)
            archive.addfile(info, io.BytesIO(entry.data))
        info = tarfile.TarInfo(name)
        info.size = size
        archive.addfile(info, io.BufferedReader(Zeros(size)))
    return path


# --- the corpus ------------------------------------------------------------------------------

def _replace(entries: list[Entry], name: str, new: Entry | None) -> list[Entry]:
    out = [e for e in entries if e.name != name]
    return out + [new] if new else out


def _corpus() -> list[CorpusCase]:
    base = valid_entries()
    csv_name = "predictions.csv"
    c = []
    add = c.append
    # --- which cases and files ---
    add(CorpusCase("missing-row", _replace(base, csv_name, Entry(csv_name, csv_bytes(good_rows(CASES[:2])))),
                   [Expect("no row for case 'c003'", csv_name, "c003")]))
    add(CorpusCase("duplicate-row", _replace(base, csv_name, Entry(csv_name, csv_bytes(
        [*good_rows(), ("c001", "0.5", "0.5")]))), [Expect("second row for case 'c001'", csv_name, "c001")]))
    add(CorpusCase("unknown-row", _replace(base, csv_name, Entry(csv_name, csv_bytes(
        [*good_rows(), ("zz99", "0.5", "0.5")]))), [Expect("unknown case 'zz99'", csv_name, "zz99")]))
    add(CorpusCase("row-not-in-track", _replace(base, csv_name, Entry(csv_name, csv_bytes(
        [*good_rows(), (PRIVATE_CASE, "0.5", "0.5")]))),
        [Expect("not part of this track", csv_name, PRIVATE_CASE)]))
    add(CorpusCase("mask-unknown-case", [*base, Entry("masks/zz99.nii.gz", mask_gz())],
                   [Expect("unknown case 'zz99'", "masks/zz99.nii.gz", "zz99")]))
    add(CorpusCase("mask-not-in-track", [*base, Entry(f"masks/{PRIVATE_CASE}.nii.gz", mask_gz())],
                   [Expect("not part of this track", f"masks/{PRIVATE_CASE}.nii.gz", PRIVATE_CASE)]))
    add(CorpusCase("mask-name-not-case-id", [*base, Entry("masks/-x y.nii.gz", mask_gz())],
                   [Expect("is not a case id", "masks/-x y.nii.gz")]))
    add(CorpusCase("two-predictions-same-name", [*base, Entry(csv_name, good_csv())],
                   [Expect("a second predictions.csv", csv_name)]))
    add(CorpusCase("two-predictions-two-folders",
                   [*valid_entries(top="a"), Entry("b/predictions.csv", good_csv())],
                   [Expect("a second predictions.csv", "b/predictions.csv"), Expect("spread over several places")]))
    add(CorpusCase("two-masks-one-case", [*base, Entry("masks/c001.nii", mask_nii())],
                   [Expect("second mask file for case 'c001'", "masks/c001.nii", "c001")]))
    add(CorpusCase("no-score", [Entry(csv_name, csv_bytes([(x,) for x in CASES], header=("case_id",)))],
                   [Expect("no scores", csv_name)]))
    add(CorpusCase("no-score-all-empty-columns", [Entry(csv_name, csv_bytes([(x, "", "") for x in CASES]))],
                   [Expect("no scores", csv_name)]))
    add(CorpusCase("masks-not-all", [*_replace(base, "masks/c002.nii.gz", None)],
                   [Expect("no mask for case 'c002'", None, "c002")]))
    add(CorpusCase("no-predictions", [e for e in base if e.name != csv_name],
                   [Expect("no predictions.csv")]))
    add(CorpusCase("empty-archive", [], [Expect("no predictions.csv")]))
    add(CorpusCase("unexpected-files", [*base, Entry("notes.txt", b"hi"), Entry("masks/c001.png", b"x"),
                                        Entry("masks/sub/c002.nii.gz", mask_gz()), Entry("Predictions.csv", b"")],
                   [Expect("unexpected file", "notes.txt"), Expect("unexpected file", "masks/c001.png"),
                    Expect("unexpected file", "masks/sub/c002.nii.gz"), Expect("unexpected file", "Predictions.csv")]))
    add(CorpusCase("spread-over-root-and-folder",
                   [Entry(csv_name, good_csv()), *[e for e in valid_entries(top="team") if "masks" in e.name]],
                   [Expect("spread over several places")]))
    add(CorpusCase("two-top-folders", [*valid_entries(top="a", masks=False),
                                       *[e for e in valid_entries(top="b") if "masks" in e.name]],
                   [Expect("spread over several places")]))
    # --- predictions.csv content inside an archive ---
    bad_values = csv_bytes([("c001", "nan", "0.1"), ("c002", "inf", "1e400"), ("c003", "-0.1", "abc")])
    add(CorpusCase("bad-values", _replace(base, csv_name, Entry(csv_name, bad_values)), [
        Expect("covid_probability 'nan' on line 2 is not a number", csv_name, "c001"),
        Expect("covid_probability 'inf' on line 3 is not a number", csv_name, "c002"),
        Expect("severity '1e400' on line 3 is not a finite number", csv_name, "c002"),
        Expect("covid_probability '-0.1' on line 4 is outside [0, 1]", csv_name, "c003"),
        Expect("severity 'abc' on line 4 is not a number", csv_name, "c003"),
    ]))
    partly = csv_bytes([("c001", "0.1", ""), ("c002", "", "0.2"), ("c003", "0.3", "0.3")])
    add(CorpusCase("partly-empty", _replace(base, csv_name, Entry(csv_name, partly)), [
        Expect("empty severity on line 2", csv_name, "c001"),
        Expect("empty covid_probability on line 3", csv_name, "c002")]))
    typo = csv_bytes(good_rows(), header=("case_id", "covid_prob", "severity"))
    add(CorpusCase("unknown-column", _replace(base, csv_name, Entry(csv_name, typo)),
                   [Expect("unknown column(s) 'covid_prob'", csv_name)]))
    latin1 = "case_id,covid_probability\nc001,0.1\nc002,0.2\nc003,0.3 # café\n".encode("latin-1")
    add(CorpusCase("csv-not-utf8", _replace(base, csv_name, Entry(csv_name, latin1)),
                   [Expect("is not UTF-8 text: byte 0xe9 on line 4", csv_name)]))
    add(CorpusCase("csv-too-large", base, [Expect("larger than 64 bytes", csv_name)],
                   limits=ArchiveLimits(max_csv_bytes=64)))
    add(CorpusCase("mask-too-large", _replace(base, "masks/c003.nii.gz", Entry("masks/c003.nii", mask_nii())),
                   [Expect("larger than 256 bytes", "masks/c003.nii", "c003")],
                   limits=ArchiveLimits(max_mask_bytes=256)))
    # --- unsafe members ---
    add(CorpusCase("absolute-path", [*base, Entry(ABSOLUTE_TARGET, b"escape")],
                   [Expect("is an absolute path", ABSOLUTE_TARGET)]))
    add(CorpusCase("dotdot", [*base, Entry("../escape.txt", b"x"), Entry("masks/../../escape2.txt", b"x")],
                   [Expect("'..' component", "../escape.txt"), Expect("'..' component", "masks/../../escape2.txt")]))
    add(CorpusCase("backslash-and-drive", [*base, Entry("..\\escape.txt", b"x"), Entry("C:/escape.txt", b"x"),
                                           Entry("masks\\c001.nii.gz", mask_gz())],
                   [Expect("contains a backslash", "..\\escape.txt"), Expect("starts with a drive letter",
                                                                              "C:/escape.txt"),
                    Expect("contains a backslash", "masks\\c001.nii.gz")]))
    add(CorpusCase("control-characters", [*base, Entry("masks/c001\n.nii.gz", mask_gz())],
                   [Expect("contains control characters", "masks/c001\\n.nii.gz")]))
    add(CorpusCase("empty-name", [*base, Entry("", b"x")], [Expect("a file without a name", "")]))
    add(CorpusCase("not-utf8-name", [*base, Entry("masks/\udcff\udcfe.nii.gz", mask_gz())],
                   [Expect("is not valid UTF-8", "masks/\\xff\\xfe.nii.gz")]))
    add(CorpusCase("symlink", [*_replace(base, "masks/c001.nii.gz", None),
                               Entry("masks/c001.nii.gz", kind="symlink", target="/etc/passwd")],
                   [Expect("is a symbolic link", "masks/c001.nii.gz"), Expect("no mask for case 'c001'", None,
                                                                               "c001")]))
    add(CorpusCase("hardlink", [*base, Entry("masks/evil.nii.gz", kind="hardlink", target="/etc/passwd")],
                   [Expect("is a hard link", "masks/evil.nii.gz")], formats=("tar.gz", "tar")))
    add(CorpusCase("device", [*base, Entry("dev", kind="chr")], [Expect("is a device file", "dev")]))
    add(CorpusCase("fifo", [*base, Entry("pipe", kind="fifo")], [Expect("is a FIFO", "pipe")]))
    add(CorpusCase("too-many-members", [*valid_entries(folders=True, top="t"), Entry("t/.DS_Store")],
                   [Expect("more than 5 members")], limits=ArchiveLimits(max_members=5)))
    add(CorpusCase("everything-at-once", [
        *_replace(base, csv_name, Entry(csv_name, csv_bytes([*good_rows(CASES[1:]), ("zz99", "0.5", "0.5")]))),
        Entry("../escape.txt", b"x"), Entry("link", kind="symlink", target="/"), Entry("masks/zz98.nii", b"x")],
        [Expect("'..' component", "../escape.txt"), Expect("is a symbolic link", "link"),
         Expect("unknown case 'zz98'", "masks/zz98.nii", "zz98"), Expect("unknown case 'zz99'", csv_name, "zz99"),
         Expect("no row for case 'c001'", csv_name, "c001")]))
    return c


CORPUS = _corpus()

#: Valid variants that must be accepted: (id, entries).
VALID = [
    ("root", valid_entries()),
    ("root-with-folders", valid_entries(folders=True)),
    ("top-folder", valid_entries(top="myteam", folders=True)),
    ("top-folder-no-dir-entries", valid_entries(top="my team (v2)")),
    ("dot-slash-names", [Entry("./", kind="dir"), *[Entry("./" + e.name, e.data) for e in valid_entries()]]),
    ("macos-junk", [*valid_entries(top="myteam"), Entry("__MACOSX/myteam/._predictions.csv", b"\0\5"),
                    Entry("myteam/.DS_Store", b"\0"), Entry("myteam/masks/._c001.nii.gz", b"x"),
                    Entry("__MACOSX/", kind="dir")]),
    ("raw-nii-masks", [Entry("predictions.csv", good_csv()),
                       *[Entry(f"masks/{x}.nii", mask_nii()) for x in CASES]]),
    ("masks-only", [Entry("predictions.csv", csv_bytes([(x,) for x in CASES], header=("case_id",))),
                    *[Entry(f"masks/{x}.nii.gz", mask_gz()) for x in CASES]]),
    ("probability-only-crlf-bom", [Entry("predictions.csv", csv_bytes(
        [(x, "0.5") for x in CASES], header=("case_id", "covid_probability"), newline="\r\n", bom=True))]),
]
