"""Resource limits: bombs are stopped early, with bounded memory and bounded reads.

"Early" is asserted on what is deterministic: the bytes this process read (``rchar`` of /proc/self/io, the
kernel's count of bytes returned by read calls) and the peak traced memory, never on seconds; speed lives in
scripts/bench_scoring.py."""

from __future__ import annotations

import dataclasses
import re
import struct
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from evaluator.archive import ArchiveLimits, read_archive
from evaluator.archive.limits import GiB, MiB
from evaluator.archive.members import CHUNK_BYTES, ByteBudget, MemberError
from evaluator.archive.zip_members import _ZipMemberReader
from evaluator.problems import InvalidInput, Problem

from .archive_corpus import CASES, Entry, valid_entries, write_archive, write_bomb

BOMB_BYTES = 48 * MiB  # inflated size of the test bombs (compressed: ~50 KiB)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "archive-format.md"


def bytes_read() -> int:
    """Bytes this process has read so far (all files and pipes)."""
    with open("/proc/self/io", "rb") as handle:
        text = handle.read().decode()
    return int(next(line.split()[1] for line in text.splitlines() if line.startswith("rchar:")))


def run(path: Path, workdir: Path, limits: ArchiveLimits) -> tuple[list[Problem], int, int]:
    """Problems, bytes read and peak traced memory (bytes) of reading ``path``."""
    tracemalloc.start()
    started = bytes_read()
    try:
        read_archive(path, workdir=workdir, expected_case_ids=CASES, limits=limits)
    except InvalidInput as error:
        problems = error.problems
    else:
        problems = []
    finally:
        read = bytes_read() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return problems, read, peak


@pytest.fixture
def workdir(tmp_path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.mark.parametrize("fmt", ["zip", "tar.gz", "tar"])
def test_bomb_stopped_by_total_limit(tmp_path, workdir, fmt):
    path = write_bomb(tmp_path / "bomb.bin", fmt, size=BOMB_BYTES)
    if fmt != "tar":
        assert path.stat().st_size < BOMB_BYTES / 200
    problems, read, peak = run(path, workdir, ArchiveLimits(max_total_bytes=2 * MiB))
    assert [p.message for p in problems] == ["the archive inflates to more than 2,097,152 bytes; reading stopped"]
    assert problems[0].file == "masks/c001.nii"
    assert peak < 8 * MiB, f"peak traced memory {peak:,} bytes"
    assert read < 4 * MiB, f"read {read:,} bytes"  # the plain tar is 48 MiB: reading stopped near the limit
    assert list(workdir.iterdir()) == []


def test_zip_bomb_refused_by_its_declared_ratio(tmp_path, workdir, monkeypatch):
    path = write_bomb(tmp_path / "bomb.zip", "zip", size=BOMB_BYTES)
    compressed = _zip_info(path).compress_size
    opened: list[str] = []
    open_member = zipfile.ZipFile.open

    def counting_open(self, name, *args, **kwargs):
        opened.append(getattr(name, "filename", name))
        return open_member(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", counting_open)
    problems, read, peak = run(path, workdir, ArchiveLimits(max_ratio=50, ratio_grace_bytes=256 * 1024))
    assert [(p.file, p.case_id, p.message) for p in problems] == [
        ("masks/c001.nii", "c001", f"member declares {BOMB_BYTES:,} bytes compressed into {compressed:,}, "
                                   "a ratio over 50:1")]
    assert "masks/c001.nii" not in opened  # refused from the directory: the member was never opened to inflate
    assert peak < 1 * MiB and read < 2 * path.stat().st_size
    assert list(workdir.iterdir()) == []


def test_zip_ratio_counted_while_reading(tmp_path):
    """The ratio is also enforced on the bytes actually inflated, whatever the directory says."""
    path = write_bomb(tmp_path / "bomb.zip", "zip", size=4 * MiB)
    info = _zip_info(path)
    limits = ArchiveLimits(max_ratio=50, ratio_grace_bytes=256 * 1024)
    with zipfile.ZipFile(path) as archive, archive.open(info) as stream:
        reader = _ZipMemberReader(stream, info, limits, ByteBudget(limits.max_total_bytes))
        inflated = 0
        with pytest.raises(MemberError, match="inflates more than 50 times its compressed size"):
            while chunk := reader.read(1 << 20):
                inflated += len(chunk)
    assert inflated <= 50 * info.compress_size + CHUNK_BYTES


def _zip_info(path: Path) -> zipfile.ZipInfo:
    with zipfile.ZipFile(path) as archive:
        return archive.getinfo("masks/c001.nii")


def test_tar_gz_bomb_stopped_by_stream_ratio(tmp_path, workdir):
    path = write_bomb(tmp_path / "bomb.tgz", "tar.gz", size=BOMB_BYTES)
    problems, read, peak = run(path, workdir, ArchiveLimits(max_ratio=50, ratio_grace_bytes=256 * 1024))
    assert [(p.file, p.message) for p in problems] == [
        ("masks/c001.nii", "the compressed stream inflates more than 50 times; reading stopped")]
    assert peak < 8 * MiB and read <= path.stat().st_size


def test_default_limits_let_an_all_zero_raw_mask_through(tmp_path, workdir):
    """Deflated zeros reach ~1,030:1, under the default ratio limit (masks of non-COVID cases are all zero)."""
    for fmt in ("zip", "tar.gz"):
        work = workdir / fmt
        work.mkdir()
        path = write_bomb(tmp_path / f"zeros.{fmt}", fmt, size=8 * MiB)
        result = read_archive(path, workdir=work, expected_case_ids=CASES)
        assert result.mask_paths["c001"].stat().st_size == 8 * MiB


def test_skipped_tar_members_count_towards_the_total(tmp_path, workdir):
    """Skipping a tar member still inflates it, so unexpected files count too."""
    entries = [Entry("notes.bin", bytes(3 * MiB)), *valid_entries()]
    path = write_archive(tmp_path / "a.tgz", entries, "tar.gz")
    problems, _, peak = run(path, workdir, ArchiveLimits(max_total_bytes=2 * MiB))
    assert [(p.file, p.message) for p in problems] == [
        ("notes.bin", "unexpected file"),
        (None, "the archive inflates to more than 2,097,152 bytes; reading stopped")]
    assert peak < 8 * MiB


def _gzip_member(payload: bytes, *, name: bytes = b"") -> bytes:
    """One gzip member, optionally with an FNAME header field."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    deflated = compressor.compress(payload) + compressor.flush()
    flags = 0x08 if name else 0
    header = b"\x1f\x8b\x08" + bytes([flags]) + bytes(4) + b"\x00\xff" + (name + b"\0" if name else b"")
    return header + deflated + struct.pack("<II", zlib.crc32(payload), len(payload) & 0xFFFFFFFF)


@pytest.mark.parametrize("layout", ["huge-name", "huge-padding"])
def test_gzip_bytes_that_inflate_to_nothing_are_bounded(tmp_path, workdir, layout):
    """gzip reads header names and padding byte by byte: megabytes of them are refused early."""
    tar_bytes = (write_archive(tmp_path / "a.tar", valid_entries(), "tar")).read_bytes()
    if layout == "huge-name":
        content = _gzip_member(tar_bytes, name=b"n" * (3 * MiB))
    else:
        content = _gzip_member(tar_bytes) + bytes(3 * MiB)
    path = tmp_path / "a.tgz"
    path.write_bytes(content)
    problems, read, _ = run(path, workdir, ArchiveLimits())
    assert [p.message for p in problems] == [
        "the gzip stream holds over 1,048,576 bytes that inflate to nothing (oversized headers or padding)"]
    assert read < 2 * MiB < path.stat().st_size, f"read {read:,} bytes"  # refused early, not at the end
    # The same with modest headers and padding is fine.
    path.write_bytes(_gzip_member(tar_bytes, name=b"submission.tar") + bytes(1024))
    assert run(path, workdir, ArchiveLimits())[0] == []


def test_incompressible_members_pass_the_gzip_overhead_check(tmp_path, workdir):
    noise = np.random.default_rng(0).bytes(3 * MiB)  # e.g. .nii.gz masks: gzip cannot shrink them
    entries = [*valid_entries(masks=False), *(Entry(f"masks/{c}.nii.gz", noise) for c in CASES)]
    path = write_archive(tmp_path / "a.tgz", entries, "tar.gz")
    assert path.stat().st_size > 9 * MiB
    assert run(path, workdir, ArchiveLimits())[0] == []


@pytest.mark.parametrize("fmt", ["zip", "tar.gz", "tar"])
def test_member_count_limit(tmp_path, workdir, fmt):
    entries = [*valid_entries(), *(Entry(f"__MACOSX/._{i}", b"") for i in range(40))]
    path = write_archive(tmp_path / "many.bin", entries, fmt)
    problems, _, _ = run(path, workdir, ArchiveLimits(max_members=20))
    assert [p.message for p in problems] == ["the archive has more than 20 members"]
    assert run(path, workdir, ArchiveLimits(max_members=44))[0] == []


def test_zip_central_directory_checked_before_it_is_parsed(tmp_path, workdir):
    """A zip whose end record declares too many entries is refused without loading them."""
    path = write_archive(tmp_path / "a.zip", valid_entries(), "zip")
    content = bytearray(path.read_bytes())
    end = content.rindex(b"PK\x05\x06")
    content[end + 10: end + 12] = (60_000).to_bytes(2, "little")  # total entries
    path.write_bytes(bytes(content))
    problems, _, _ = run(path, workdir, ArchiveLimits())
    assert [p.message for p in problems] == ["the archive has more than 10,000 members"]


def test_per_file_limits_in_tar(tmp_path, workdir):
    entries = [*valid_entries(masks=False), *(Entry(f"masks/{c}.nii", bytes(4096)) for c in CASES)]
    path = write_archive(tmp_path / "a.tar", entries, "tar")
    problems, _, _ = run(path, workdir, ArchiveLimits(max_mask_bytes=4095, max_csv_bytes=20))
    assert sorted((p.file, p.message) for p in problems) == sorted(
        [("predictions.csv", "file is larger than 20 bytes")]
        + [(f"masks/{c}.nii", "file is larger than 4,095 bytes") for c in CASES])


def test_default_limits():
    limits = ArchiveLimits()
    assert (limits.max_members, limits.max_total_bytes, limits.max_mask_bytes, limits.max_csv_bytes) == (
        10_000, 8 * GiB, 1 * GiB, 10 * MiB)
    assert limits.max_ratio > 1032  # above what deflate can reach, see the class docstring
    with pytest.raises(dataclasses.FrozenInstanceError):
        limits.max_members = 1  # type: ignore[misc]
    with pytest.raises(ValueError, match="max_ratio"):
        ArchiveLimits(max_ratio=0)


def test_every_limit_is_documented():
    text = DOCS.read_text(encoding="utf-8")
    for field in dataclasses.fields(ArchiveLimits):
        assert f"`{field.name}`" in text, field.name
    section = text[text.index("## Limits"):]
    assert re.search(r"8 GiB", section) and re.search(r"1 GiB", section) and re.search(r"10 MiB", section)
    assert re.search(r"10,000", section) and re.search(r"1,100", section)
