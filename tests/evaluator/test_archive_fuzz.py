"""Fuzzing read_archive: random and mutated archives give InvalidInput (or a valid result), nothing else."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evaluator.archive import ArchiveLimits, read_archive
from evaluator.problems import InvalidInput

from .archive_corpus import CASES, KNOWN_CASES, Entry, valid_entries, write_archive

LIMITS = ArchiveLimits(max_members=50, max_total_bytes=1 << 20, max_mask_bytes=1 << 16, max_csv_bytes=4096,
                       max_ratio=200, ratio_grace_bytes=4096)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@functools.cache
def valid_archive(fmt: str) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        entries = [*valid_entries(top="team", folders=True), Entry("team/.DS_Store", b"\0\1")]
        return write_archive(Path(folder) / "a", entries, fmt).read_bytes()


def check(content: bytes) -> None:
    """Read ``content`` as an archive: InvalidInput or a result, and nothing outside the work dir."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        archive = root / "upload"
        archive.write_bytes(content)
        workdir = root / "jail" / "work"
        workdir.mkdir(parents=True)
        try:
            result = read_archive(archive, workdir=workdir, expected_case_ids=CASES, known_case_ids=KNOWN_CASES,
                                  limits=LIMITS)
        except InvalidInput as error:
            assert error.problems
            assert list(workdir.iterdir()) == []
        else:
            assert set(result.predictions) == set(CASES)
            allowed = {workdir / "predictions.csv", workdir / "masks", *result.mask_paths.values()}
            assert set(workdir.rglob("*")) <= allowed
        assert {p.relative_to(root) for p in root.rglob("*")} - {Path("upload")} <= {
            Path("jail"), Path("jail/work"), *(p.relative_to(root) for p in workdir.rglob("*"))}


_MAGIC = st.sampled_from([b"", b"PK\x03\x04", b"PK\x05\x06", b"\x1f\x8b\x08\x00", b"\x1f\x8b"])


@FUZZ
@given(_MAGIC, st.binary(max_size=2048))
def test_random_bytes(magic, body):
    check(magic + body)


@FUZZ
@given(st.binary(min_size=257, max_size=1024), st.binary(max_size=512))
def test_random_tar_headers(head, rest):
    check(head[:257] + b"ustar\x0000" + head[265:] + rest)


@FUZZ
@given(st.sampled_from(["zip", "tar.gz", "tar"]), st.data())
def test_mutated_archives(fmt, data):
    content = bytearray(valid_archive(fmt))
    edits = data.draw(st.lists(st.tuples(st.integers(0, len(content) - 1), st.integers(0, 255)), max_size=8))
    for offset, value in edits:
        content[offset] = value
    cut = data.draw(st.one_of(st.none(), st.integers(0, len(content))))
    check(bytes(content[:cut]))
