"""The zip central-directory reader shared by the upload check and the worker: bounded, whatever the end
record claims, and in agreement with zipfile on ordinary, commented, prepended and zip64 files."""

from __future__ import annotations

import io
import struct
import zipfile

import pytest

from evaluator.archive import ArchiveError, ArchiveLimits, read_zip_directory


def lying_zip(*, entries: int, claimed: int = 1) -> bytes:
    """A stored ``predictions.csv`` plus ``entries - 1`` directory entries pointing at it; the end record claims
    ``claimed`` entries (its directory size is honest, so zipfile itself would walk every entry)."""
    data = b"case_id,covid_probability\n"
    name = b"predictions.csv"
    crc = zipfile.crc32(data)
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, crc, len(data), len(data), len(name), 0)
    body = local + name + data
    fixed = struct.Struct("<4s4B4HL2L5H2L")
    directory = bytearray()
    for i in range(entries):
        entry_name = name if i == 0 else b"j/%d" % i
        directory += fixed.pack(b"PK\x01\x02", 20, 3, 20, 0, 0, 0, 0, 0, crc, len(data), len(data),
                                len(entry_name), 0, 0, 0, 0, 0o100644 << 16, 0) + entry_name
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, claimed, claimed, len(directory), len(body), 0)
    return body + bytes(directory) + end


def test_a_directory_claiming_one_entry_but_holding_150001_is_refused():
    fh = io.BytesIO(lying_zip(entries=150_001))
    with pytest.raises(ArchiveError, match="more than 10,000 members"):
        read_zip_directory(fh, limits=ArchiveLimits())


def test_the_walk_stops_at_the_limit_not_at_the_end():
    fh = io.BytesIO(lying_zip(entries=50, claimed=1))
    assert len(read_zip_directory(fh, limits=ArchiveLimits(max_members=50))) == 50
    with pytest.raises(ArchiveError, match="more than 49 members"):
        read_zip_directory(fh, limits=ArchiveLimits(max_members=49))
    with pytest.raises(ArchiveError, match="more than 1 members"):  # the byte budget alone refuses it
        read_zip_directory(io.BytesIO(lying_zip(entries=100)), limits=ArchiveLimits(max_members=1))


@pytest.mark.parametrize("variant", ["plain", "comment", "prepended", "zip64", "utf8"])
def test_names_agree_with_zipfile(variant):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", allowZip64=True) as archive:
        for name in ("predictions.csv", "masks/c1.nii.gz", "Ünïcode/ok.txt" if variant == "utf8" else "x/y"):
            if variant == "zip64":
                with archive.open(name, "w", force_zip64=True) as member:
                    member.write(b"1")
            else:
                archive.writestr(name, b"1")
        if variant == "comment":
            archive.comment = b"a comment after the end record" * 10
    data = out.getvalue()
    if variant == "prepended":
        data = b"#!/bin/sh\nexit 0\n" + data
    expected = zipfile.ZipFile(io.BytesIO(data)).namelist()
    fh = io.BytesIO(data)
    assert read_zip_directory(fh, limits=ArchiveLimits()) == expected and fh.tell() == 0


@pytest.mark.parametrize("data", [
    b"PK\x03\x04 truncated",
    struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, 10, 0, 0),  # a directory before the file's start
    b"junk" * 10 + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, 40, 0, 0),  # not a directory entry
])
def test_corrupt_directories_are_errors_not_crashes(data):
    with pytest.raises(ArchiveError):
        read_zip_directory(io.BytesIO(data), limits=ArchiveLimits())
