"""Checks of uploaded docker-save tarballs, on hand-built tarballs (no container engine needed)."""

from __future__ import annotations

import bz2
import hashlib
import json
from pathlib import Path

import pytest

from covid_triage.containers import image_tarball
from evaluator.problems import InvalidInput
from leaderboard.containers import ImageLimits, inspect_image_tarball

from .archives import image_config, tar_bytes, write_archive


def problems_of(path: Path, **kwargs) -> list[str]:
    with pytest.raises(InvalidInput) as caught:
        inspect_image_tarball(path, **kwargs)
    return [str(problem) for problem in caught.value.problems]


@pytest.mark.parametrize("compress", [False, True])
def test_valid_tarball_is_described(tmp_path: Path, compress: bool) -> None:
    config = image_config(user="model:model", layers=2)
    path = write_archive(tmp_path / "image.tar", configs=[config], compress=compress)
    info = inspect_image_tarball(path)
    assert info.user == "model:model"
    assert (info.os, info.architecture) == ("linux", "amd64")
    assert info.entrypoint == ("/model",)
    assert info.layers == 2
    assert info.repo_tags == ("team/model0:latest",)
    assert info.image_id == "sha256:" + hashlib.sha256(json.dumps(config).encode()).hexdigest()
    assert info.file_bytes == path.stat().st_size
    assert info.image_bytes > (path.stat().st_size if compress else 0)


@pytest.mark.parametrize("user", [None, "", " ", "root", "0", "0:0", "root:root", "0:1000", "00"])
def test_root_users_are_refused(tmp_path: Path, user: str | None) -> None:
    path = write_archive(tmp_path / "image.tar", configs=[image_config(user=user)])
    found = problems_of(path)
    assert len(found) == 1 and "root" in found[0] and "USER 1000:1000" in found[0]


@pytest.mark.parametrize("user", ["1000", "1000:0", "model", "model:users", "65534:65534"])
def test_non_root_users_are_accepted(tmp_path: Path, user: str) -> None:
    assert inspect_image_tarball(write_archive(tmp_path / "i.tar", configs=[image_config(user=user)])).user == user


def test_every_problem_is_listed_together(tmp_path: Path) -> None:
    config = image_config(user="root", os="windows", architecture="arm64", entrypoint=None, volumes={"/data": {}})
    found = problems_of(write_archive(tmp_path / "image.tar", configs=[config], drop_layer=True))
    text = "\n".join(found)
    assert len(found) == 5, text
    for needle in ("windows/arm64", "runs as root", "neither ENTRYPOINT nor CMD", "VOLUME /data", "layer"):
        assert needle in text


def test_two_images_are_refused(tmp_path: Path) -> None:
    found = problems_of(write_archive(tmp_path / "image.tar", configs=[image_config(), image_config(user="2")]))
    assert found == ["file image.tar: holds 2 images (expected exactly one image: `docker save` one image, by name "
                     "or id)"]


def test_missing_config_and_bad_manifest(tmp_path: Path) -> None:
    assert any("image config" in p and "missing" in p
               for p in problems_of(write_archive(tmp_path / "a.tar", drop_config=True)))
    assert any("manifest.json is not valid JSON" in p
               for p in problems_of(write_archive(tmp_path / "b.tar", manifest=b"{nope")))
    assert any("not a list of images" in p
               for p in problems_of(write_archive(tmp_path / "c.tar", manifest=b'{"Config": "x"}')))


def test_not_a_docker_save_tarball(tmp_path: Path) -> None:
    plain = tmp_path / "plain.tar"
    plain.write_bytes(tar_bytes([("hello.txt", b"hi", None)]))
    assert any("no manifest.json" in p for p in problems_of(plain))
    oci = tmp_path / "oci.tar"
    oci.write_bytes(tar_bytes([("index.json", b"{}", None), ("oci-layout", b"{}", None)]))
    assert any("OCI layout" in p for p in problems_of(oci))
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"this is not a tar file at all" * 40)
    assert any("not a readable tar archive" in p or "no manifest.json" in p for p in problems_of(junk))
    truncated = tmp_path / "truncated.tar.gz"
    whole = write_archive(tmp_path / "whole.tar.gz", compress=True).read_bytes()
    truncated.write_bytes(whole[: len(whole) // 2])
    assert any("not a readable tar archive" in p for p in problems_of(truncated))
    bzipped = tmp_path / "image.tar.bz2"
    bzipped.write_bytes(bz2.compress(write_archive(tmp_path / "x.tar").read_bytes()))
    assert problems_of(bzipped) == ["file image.tar.bz2: is compressed with bzip2 (expected the output of `docker "
                                    "save IMAGE` (or `podman save --format docker-archive`), as .tar or .tar.gz)"]


def test_unsafe_member_names_are_reported(tmp_path: Path) -> None:
    path = write_archive(tmp_path / "image.tar", extra=[("../escape", b"x", None), ("/abs", b"y", None)])
    found = problems_of(path)
    assert sum("unsafe name" in p for p in found) == 2


def test_size_limits(tmp_path: Path) -> None:
    path = write_archive(tmp_path / "image.tar", layer_bytes=200_000)
    assert any("bytes" in p and "at most 1,000" in p
               for p in problems_of(path, limits=ImageLimits(max_file_bytes=1000)))
    gz = write_archive(tmp_path / "image.tar.gz", layer_bytes=200_000, compress=True)
    assert gz.stat().st_size < 100_000
    assert any("unpacks to more than 100,000 bytes" in p
               for p in problems_of(gz, limits=ImageLimits(max_image_bytes=100_000)))
    assert any("more than 3 entries" in p for p in problems_of(path, limits=ImageLimits(max_members=3)))


def test_config_found_by_a_second_pass_when_not_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Small files first fill the in-memory budget (8 x max_json_bytes): the config is read in a second pass."""
    calls = []
    real_scan = image_tarball._scan
    monkeypatch.setattr(image_tarball, "_scan", lambda *a, **k: calls.append(k.get("want")) or real_scan(*a, **k))
    padding = [(f"pad{i}", bytes(2040), None) for i in range(12)]  # 8 kept = 16,320 bytes
    path = write_archive(tmp_path / "image.tar", first=padding)
    assert inspect_image_tarball(path, limits=ImageLimits(max_json_bytes=2048)).user == "1000:1000"
    assert len(calls) == 2 and calls[1].endswith(".json")
    calls.clear()
    assert inspect_image_tarball(path).user == "1000:1000"
    assert calls == [None]
