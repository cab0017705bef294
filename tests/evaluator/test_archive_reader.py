"""read_archive on valid archives and on the malformed/malicious corpus, in every format."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from evaluator.archive import CasePrediction, read_archive
from evaluator.archive.extraction import _Extractor
from evaluator.archive.limits import ArchiveLimits
from evaluator.archive.members import Member, MemberKind
from evaluator.problems import InvalidInput, Problem

from .archive_corpus import (
    ABSOLUTE_TARGET,
    CASES,
    CORPUS,
    FORMATS,
    KNOWN_CASES,
    VALID,
    CorpusCase,
    Entry,
    Expect,
    good_csv,
    mask_gz,
    set_zip_flags,
    set_zip_sizes,
    valid_entries,
    write_archive,
    write_zip,
)


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def place(tmp_path):
    """(archive folder, work directory) with the work directory nested in a 'jail' folder."""
    archives = tmp_path / "archives"
    archives.mkdir()
    workdir = tmp_path / "jail" / "work"
    workdir.mkdir(parents=True)
    return archives, workdir


def read(path: Path, workdir: Path, **kwargs):
    return read_archive(path, workdir=workdir, expected_case_ids=CASES, known_case_ids=KNOWN_CASES, **kwargs)


def problems_of(path: Path, workdir: Path, **kwargs) -> list[Problem]:
    with pytest.raises(InvalidInput) as raised:
        read(path, workdir, **kwargs)
    assert raised.value.what == "prediction archive"
    return raised.value.problems


def assert_problems(problems: list[Problem], expected: list[Expect]) -> None:
    """Exactly the expected problems, each matched once."""
    unmatched = list(problems)
    for expect in expected:
        match = next((p for p in unmatched if expect.matches(p)), None)
        assert match is not None, f"{expect} not in {[str(p) for p in problems]}"
        unmatched.remove(match)
    assert not unmatched, f"unexpected problems: {[str(p) for p in unmatched]}"


# --- valid archives --------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("variant, entries", VALID, ids=[v for v, _ in VALID])
def test_valid_archives(place, variant, entries, fmt):
    archives, workdir = place
    path = write_archive(archives / "upload.bin", entries, fmt)  # format told by content, not name
    before = tree(path.parents[1])
    result = read(path, workdir)
    assert result.workdir == workdir
    assert set(result.predictions) == set(CASES)
    has_masks = any("masks/" in e.name and e.kind == "file" and "._" not in e.name for e in entries)
    assert set(result.mask_paths) == (set(CASES) if has_masks else set())
    for case_id, mask in result.mask_paths.items():
        assert mask.parent == workdir / "masks" and mask.name.startswith(case_id + ".nii")
        source = next(e for e in entries if e.name.endswith(f"masks/{mask.name}") and "._" not in e.name)
        assert mask.read_bytes() == source.data
    expected_files = {"predictions.csv"} | ({"masks"} | {f"masks/{m.name}" for m in result.mask_paths.values()}
                                            if has_masks else set())
    assert tree(workdir) == expected_files
    assert tree(path.parents[1]) == before | {f"jail/work/{name}" for name in expected_files}


def test_valid_archive_values(place):
    archives, workdir = place
    result = read(write_archive(archives / "a.zip", valid_entries(top="team"), "zip"), workdir)
    assert result.columns == {"covid_probability", "severity"}
    assert result.predictions == {"c001": CasePrediction(0.1, 0.01), "c002": CasePrediction(0.2, 0.02),
                                  "c003": CasePrediction(0.3, 0.03)}
    assert (workdir / "predictions.csv").read_bytes() == good_csv()


def test_probability_only_without_masks(place):
    archives, workdir = place
    result = read(write_archive(archives / "a.tgz", dict(VALID)["probability-only-crlf-bom"], "tar.gz"), workdir)
    assert result.columns == {"covid_probability"} and result.mask_paths == {}
    assert all(p == CasePrediction(0.5, None) for p in result.predictions.values())


def test_non_ascii_top_folder_is_fine(place):
    archives, workdir = place
    for fmt in FORMATS:
        work = workdir / fmt
        work.mkdir()
        result = read(write_archive(archives / f"a.{fmt}", valid_entries(top="équipe-δ"), fmt), work)
        assert set(result.mask_paths) == set(CASES)


# --- the corpus of bad archives -----------------------------------------------------------------

_CORPUS_PARAMS = [pytest.param(case, fmt, id=f"{case.id}-{fmt}") for case in CORPUS for fmt in case.formats]


@pytest.mark.parametrize("case, fmt", _CORPUS_PARAMS)
def test_corpus(place, case: CorpusCase, fmt):
    archives, workdir = place
    path = write_archive(archives / "upload.bin", case.entries, fmt)
    before = tree(path.parents[1])
    problems = problems_of(path, workdir, limits=case.limits)
    assert_problems(problems, case.expected)
    assert tree(path.parents[1]) == before  # nothing left in the work directory or anywhere near it
    assert not os.path.lexists(ABSOLUTE_TARGET)


def test_corpus_covers_every_format_where_possible():
    by_format = {fmt: sum(fmt in case.formats for case in CORPUS) for fmt in FORMATS}
    assert by_format["zip"] == len(CORPUS) - 1  # hard links have no zip form
    assert by_format["tar.gz"] == by_format["tar"] == len(CORPUS)


# --- workdir contract ------------------------------------------------------------------------------

def test_workdir_must_exist_and_be_free(place):
    archives, workdir = place
    path = write_archive(archives / "a.zip", valid_entries(), "zip")
    with pytest.raises(ValueError, match="does not exist"):
        read(path, workdir / "missing")
    (workdir / "predictions.csv").write_text("mine")
    with pytest.raises(ValueError, match="already holds predictions.csv"):
        read(path, workdir)
    assert (workdir / "predictions.csv").read_text() == "mine"


def test_other_files_in_workdir_are_left_alone(place):
    archives, workdir = place
    (workdir / "upload.zip").write_bytes(b"")
    path = write_archive(archives / "a.zip", [Entry("../x", b"")], "zip")
    problems_of(path, workdir)
    assert tree(workdir) == {"upload.zip"}


# --- formats, truncation, corruption -------------------------------------------------------------

@pytest.mark.parametrize("content, phrase", [
    (b"", "the file is empty"),
    (b"case_id,severity\nc001,0.1\n", "it is a bare predictions.csv; zip it"),
    (b"hello", "not a zip, tar.gz or tar archive"),
    (bz2.compress(b"x" * 100), "is a bzip2 archive"),
    (lzma.compress(b"x" * 100), "is a xz archive"),
    (b"Rar!\x1a\x07\x01\x00" + bytes(100), "is a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c" + bytes(100), "is a 7z archive"),
])
def test_not_an_archive(place, content, phrase):
    archives, workdir = place
    path = archives / "a.zip"
    path.write_bytes(content)
    problems = problems_of(path, workdir)
    assert len(problems) == 1 and phrase in problems[0].message and problems[0].file is None


def test_gzip_of_something_that_is_not_tar(place):
    archives, workdir = place
    path = archives / "a.tar.gz"
    path.write_bytes(gzip.compress(good_csv()))
    problems = problems_of(path, workdir)
    assert len(problems) == 1 and "not a readable gzip-compressed tar archive" in problems[0].message


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("keep", [0.3, 0.6, 0.95])
def test_truncated(place, fmt, keep):
    archives, workdir = place
    path = write_archive(archives / "a.bin", valid_entries(), fmt)
    content = path.read_bytes()
    if fmt == "tar":  # cut before the end-of-archive blocks and the record padding
        content = content[:1024 * 4]  # four members of one header and one data block each
    path.write_bytes(content[: int(len(content) * keep)])
    problems = problems_of(path, workdir)
    assert len(problems) == 1
    assert any(word in problems[0].message for word in ("truncated", "corrupt", "not a readable")), problems[0]
    assert tree(workdir) == set()


def test_tar_cut_at_a_member_boundary_is_truncated(place):
    """tarfile itself ends quietly when a header is missing; the reader must not."""
    archives, workdir = place
    path = write_archive(archives / "a.tar", valid_entries(masks=False), "tar")
    data_end = 512 + 512 * ((len(good_csv()) + 511) // 512)
    path.write_bytes(path.read_bytes()[:data_end])
    problems = problems_of(path, workdir)
    assert [p.message for p in problems] == [
        "truncated or corrupt tar archive: it ends without an end-of-archive marker"]


def test_tar_with_a_garbled_header_is_corrupt(place):
    archives, workdir = place
    path = write_archive(archives / "a.tar", valid_entries(), "tar")
    content = bytearray(path.read_bytes())
    second_header = 512 + 512 * ((len(good_csv()) + 511) // 512)
    content[second_header + 148: second_header + 156] = b"9999999\0"  # a wrong checksum
    path.write_bytes(bytes(content))
    problems = problems_of(path, workdir)
    assert len(problems) == 1 and "without an end-of-archive marker" in problems[0].message


def test_corrupt_tar_gz_stream(place):
    archives, workdir = place
    path = write_archive(archives / "a.tgz", valid_entries(), "tar.gz")
    content = bytearray(path.read_bytes())
    for offset in range(len(content) // 3, len(content) // 3 + 40):
        content[offset] ^= 0x5A
    path.write_bytes(bytes(content))
    problems = problems_of(path, workdir)
    assert len(problems) == 1 and "corrupt" in problems[0].message
    assert tree(workdir) == set()


def test_corrupt_zip_member_is_reported_for_that_member(place):
    archives, workdir = place
    entries = valid_entries()
    entries[1] = Entry("masks/c001.nii.gz", bytes(range(256)) * 8)
    path = write_zip(archives / "a.zip", entries, compression=zipfile.ZIP_STORED)
    content = path.read_bytes()
    at = content.index(bytes(range(256)))
    path.write_bytes(content[:at] + b"\xff" * 16 + content[at + 16:])
    problems = problems_of(path, workdir)
    assert len(problems) == 1
    assert problems[0].file == "masks/c001.nii.gz" and problems[0].case_id == "c001"
    assert "cannot be read: corrupt data" in problems[0].message


def test_zip_whose_names_disagree_between_headers(place):
    archives, workdir = place
    path = write_zip(archives / "a.zip", valid_entries())
    content = path.read_bytes()
    first = content.index(b"masks/c002.nii.gz")  # the local header's copy of the name
    path.write_bytes(content[:first] + b"masks/c00X.nii.gz" + content[first + 17:])
    problems = problems_of(path, workdir)
    assert [(p.file, p.case_id) for p in problems] == [("masks/c002.nii.gz", "c002")]
    assert "cannot be read" in problems[0].message


def test_encrypted_zip_member(place):
    archives, workdir = place
    path = set_zip_flags(write_zip(archives / "a.zip", valid_entries()), "masks/c002.nii.gz", 0x1)
    problems = problems_of(path, workdir)
    assert [(p.file, p.case_id, p.message) for p in problems] == [
        ("masks/c002.nii.gz", "c002", "member is encrypted")]


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_unsupported_zip_compression(place, method):
    archives, workdir = place
    path = write_zip(archives / "a.zip", valid_entries(), compression=method)
    problems = problems_of(path, workdir)
    assert {p.file for p in problems} == {"predictions.csv", *(f"masks/{c}.nii.gz" for c in CASES)}
    assert {p.message for p in problems} == {f"member uses compression method {method}, which is not supported"}


def test_zip_name_flagged_utf8_but_not_utf8(place):
    archives, workdir = place
    path = write_zip(archives / "a.zip", [*valid_entries(), Entry("masks/\udcff.nii.gz", mask_gz())])
    content = bytearray(path.read_bytes())
    raw = b"masks/\xff.nii.gz"
    for signature, name_at, flags_at in ((b"PK\x03\x04", 30, 6), (b"PK\x01\x02", 46, 8)):
        at = content.find(signature)
        while at >= 0:
            if content[at + name_at: at + name_at + len(raw)] == raw:
                content[at + flags_at + 1] |= 0x08  # bit 11: "the name is UTF-8"
            at = content.find(signature, at + 1)
    path.write_bytes(bytes(content))
    problems = problems_of(path, workdir)
    assert [p.message for p in problems] == ["a member name is marked as UTF-8 but is not valid UTF-8"]


def test_zip_declared_size_is_not_trusted(place):
    archives, workdir = place
    # The central directory claims 10 bytes; the data holds more: reading stops and the CRC fails.
    path = set_zip_sizes(write_zip(archives / "a.zip", valid_entries()), "masks/c001.nii.gz", file_size=10)
    problems = problems_of(path, workdir)
    assert [(p.file, p.case_id) for p in problems] == [("masks/c001.nii.gz", "c001")]
    assert "cannot be read" in problems[0].message
    # Claiming more than the limit is refused before reading.
    path = set_zip_sizes(write_zip(archives / "b.zip", valid_entries()), "masks/c001.nii.gz", file_size=10**9)
    problems = problems_of(path, workdir, limits=ArchiveLimits(max_mask_bytes=10**6, max_ratio=10**9))
    assert [p.message for p in problems] == ["file is larger than 1,000,000 bytes"]
    with zipfile.ZipFile(path) as archive:
        compressed = archive.getinfo("masks/c001.nii.gz").compress_size
    problems = problems_of(path, workdir)
    assert [p.message for p in problems] == [
        f"member declares 1,000,000,000 bytes compressed into {compressed}, a ratio over 1,100:1"]


def test_copy_counts_bytes_actually_read(tmp_path):
    """A member that yields more than it declares is cut at the limit and its partial file deleted."""
    extractor = _Extractor(tmp_path, frozenset(CASES), frozenset(), ArchiveLimits(max_mask_bytes=1000))
    extractor.member(Member("masks/c001.nii", MemberKind.FILE, 0, None, lambda: io.BytesIO(bytes(5000))))
    assert [p.message for p in extractor.result.problems] == ["file is larger than 1,000 bytes"]
    assert tree(tmp_path) == {"masks"}
    assert extractor.result.written == [tmp_path / "masks"]


def test_pax_header_larger_than_cap(place):
    archives, workdir = place
    path = archives / "a.tar"
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as archive:
        info = tarfile.TarInfo("predictions.csv")
        info.size = len(good_csv())
        info.pax_headers = {"comment": "x" * (2 << 20)}
        archive.addfile(info, io.BytesIO(good_csv()))
    problems = problems_of(path, workdir)
    assert [p.message for p in problems] == ["a tar header is larger than 1,048,576 bytes"]


def test_gnu_sparse_member_is_refused(place):
    archives, workdir = place
    path = write_archive(archives / "a.tar", valid_entries(), "tar")
    content = bytearray(path.read_bytes())
    content[156:157] = b"S"  # the first member (predictions.csv) becomes a GNU sparse file
    checksum = sum(content[:148]) + 8 * 32 + sum(content[156:512])
    content[148:156] = f"{checksum:06o}\0 ".encode()
    path.write_bytes(bytes(content))
    problems = problems_of(path, workdir)
    assert ("predictions.csv", "member is a special entry") in {(p.file, p.message) for p in problems}


def test_long_problem_lists_are_capped(place):
    archives, workdir = place
    path = write_archive(archives / "a.zip", [*valid_entries(), *(Entry(f"../x{i}") for i in range(1200))], "zip")
    problems = problems_of(path, workdir)
    assert len(problems) == 1001
    assert all("'..' component" in p.message for p in problems[:1000])
    assert problems[-1].message == "200 more problems, not listed"
