"""`covid-triage run-local IMAGE --images DIR`: the server's container run, on the public images, output validated.

Real containers (Podman's service here) with the server's default limits; the public-images folder is the site's
download of the tiny test set, unzipped.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import docker
import pytest

from covid_triage import cli
from evaluator.groups import Distribution
from evaluator.public_images import write_public_images_bundle
from evaluator.testset import TestSet as LoadedTestSet

from .conftest import GOOD_SCRIPT, ImageFactory

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_leftovers")]


@pytest.fixture(scope="module")
def public_images(testset: LoadedTestSet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("public-images")
    bundle = write_public_images_bundle(testset, folder / "public.zip")
    with zipfile.ZipFile(bundle) as unpacked:
        unpacked.extractall(folder / "unzipped")
    return folder / "unzipped"


def run_local(image: str, images: Path, out: Path) -> int:
    return cli.main(["run-local", image, "--images", str(images), "--out", str(out)])


def test_a_good_image_and_its_tarball(engine: docker.DockerClient, good_image: str, public_images: Path,
                                      testset: LoadedTestSet, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    public = sorted(c.case_id for c in testset.cases if c.distribution is Distribution.PUBLIC)
    assert 0 < len(public) < len(testset.cases)
    assert run_local(good_image, public_images, tmp_path / "by-tag") == 0
    captured = capsys.readouterr()
    assert "/output is valid" in captured.out and "model done" in captured.err
    # /input in the server's layout, with the public cases only; /output fetched as the server fetches it
    input_dir = tmp_path / "by-tag" / "input"
    assert sorted(p.name for p in input_dir.iterdir()) == sorted(["cases.csv", *(f"{i}.nii.gz" for i in public)])
    assert (input_dir / "cases.csv").read_text().split() == ["case_id", *sorted(public)]
    assert (tmp_path / "by-tag" / "output.tar").is_file()

    tarball = tmp_path / "model.tar"
    with open(tarball, "wb") as handle:
        for chunk in engine.images.get(good_image).save(named=True):
            handle.write(chunk)
    assert run_local(str(tarball), public_images, tmp_path / "by-tarball") == 0
    assert "/output is valid" in capsys.readouterr().out


def test_invalid_output_lists_every_problem(make_image: ImageFactory, public_images: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    script = GOOD_SCRIPT.replace("0.25,0.125", "1.5,0.125").replace("> /output/predictions.csv",
                                                                    "> /output/predictions.csv; touch /output/x.nii")
    image = make_image("local-bad-output", script)
    assert run_local(image, public_images, tmp_path / "out") == 1
    err = capsys.readouterr().err
    assert "/output is INVALID" in err
    assert "1.5" in err and "x.nii" in err, err


@pytest.mark.parametrize(("name", "script", "user", "expected"), [
    ("local-writes-root", "echo weights > /weights.bin\n" + GOOD_SCRIPT, "1000:1000",
     ["exited with an error", "Read-only file system"]),
    ("local-needs-network", 'if [ "$(ls /sys/class/net)" = lo ]; then echo "no network" >&2; exit 7; fi\n'
     + GOOD_SCRIPT, "1000:1000", ["exited with code 7", "no network"]),
    ("local-root", GOOD_SCRIPT, "0:0", ["image runs as root"]),
])
def test_misbehaving_images_fail_as_on_the_server(make_image: ImageFactory, public_images: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str], name: str, script: str,
                                                   user: str, expected: list[str]) -> None:
    image = make_image(name, "set -e\n" + script, user=user)
    assert run_local(image, public_images, tmp_path / "out") == 1
    err = capsys.readouterr().err
    assert "the run FAILED, as it would on the server" in err
    for text in expected:
        assert text in err, err


def test_a_root_tarball_is_refused_before_loading(engine: docker.DockerClient, make_image: ImageFactory,
                                                  public_images: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    tarball = tmp_path / "root.tar"
    with open(tarball, "wb") as handle:
        for chunk in engine.images.get(make_image("local-root", GOOD_SCRIPT, user="0:0")).save(named=True):
            handle.write(chunk)
    assert run_local(str(tarball), public_images, tmp_path / "out") == 1
    err = capsys.readouterr().err
    assert "would be REFUSED" in err and "root" in err


def test_without_the_docker_sdk_it_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "docker", None)  # `import docker` raises ImportError
    assert run_local("any-image", tmp_path, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "pip install 'covid-triage[containers]'" in err and "./[containers]" in err
    assert not (tmp_path / "out").exists()
