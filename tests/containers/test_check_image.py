"""`covid-triage check-image TARBALL`: the server's tarball inspection, without Docker or Django."""

from __future__ import annotations

from covid_triage import cli
from tests.containers.archives import image_config, write_archive


def test_a_good_tarball_passes(tmp_path, capsys):
    assert cli.main(["check-image", str(write_archive(tmp_path / "model.tar.gz", compress=True))]) == 0
    out = capsys.readouterr().out
    assert "linux/amd64, user 1000:1000" in out and "passes the server's image checks" in out


def test_every_problem_is_listed(tmp_path, capsys):
    root = write_archive(tmp_path / "root.tar", configs=[image_config(user="root", architecture="arm64",
                                                                      entrypoint=None)])
    assert cli.main(["check-image", str(root)]) == 1
    err = capsys.readouterr().err
    assert "would be REFUSED" in err and "root" in err and "ENTRYPOINT" in err and "linux/amd64" in err
