"""The licence check of CI (scripts/check_licenses.py): fed pip-licenses records, it fails on what it must."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_licenses.py"
_spec = importlib.util.spec_from_file_location("check_licenses", SCRIPT)
assert _spec and _spec.loader
check_licenses = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_licenses)


def record(name: str, licence: str) -> dict[str, str]:
    return {"Name": name, "Version": "1.0", "License": licence}


def test_gpl_only_package_fails_the_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    saved = tmp_path / "licenses.json"
    saved.write_text(json.dumps([record("numpy", "BSD-3-Clause AND 0BSD AND MIT AND Zlib AND CC0-1.0"),
                                 record("copyleft-lib", "GPL-3.0-only"), record("django", "BSD-3-Clause")]))
    assert check_licenses.main(["--input", str(saved)]) == 1
    err = capsys.readouterr().err
    assert "1 of 3 packages" in err
    assert "copyleft-lib: 'GPL-3.0-only' is strong copyleft" in err and "numpy" not in err


def test_every_problem_is_listed_at_once() -> None:
    problems = check_licenses.check([
        record("a", "GNU General Public License v2 (GPLv2)"), record("b", "AGPL-3.0-or-later"),
        record("c", "UNKNOWN"), record("d", "LGPL-2.1-only"), record("e", "Some Custom Licence"),
        record("f", "MIT OR GPL-2.0-only AND Commercial"), record("ok", "MIT License; BSD License"),
    ])
    assert [problem.split(":")[0] for problem in problems] == ["a", "b", "c", "d", "e"]
    assert "strong copyleft" in problems[0] and "strong copyleft" in problems[1]
    assert "declares no licence" in problems[2]
    assert "not on the allow-list" in problems[3] and "not on the allow-list" in problems[4]


@pytest.mark.parametrize(("licence", "allowed"), [
    ("BSD 3-Clause OR Apache-2.0", True),                     # classifier spelling inside an expression
    ("Apache-2.0 AND Apache-2.0 WITH LLVM-exception AND BSD-2-Clause AND BSL-1.0 AND MIT", True),  # torch
    ("Mozilla Public License 2.0 (MPL 2.0)", True),
    ("GPL-2.0-only OR MIT", True),                            # dual licensed: MIT may be chosen
    ("(GPL-3.0-only OR LGPL-3.0-only) AND MIT", False),
    ("MIT AND GPL-3.0-or-later", False),
    ("MIT License; GNU General Public License v3 (GPLv3)", False),  # every classifier must be allowed
    ("MIT AND (", False),                                     # malformed: reported, not crashed on
])
def test_spdx_expressions(licence: str, allowed: bool) -> None:
    assert (check_licenses.licence_problem("pkg", licence) is None) is allowed


def test_reviewed_package_passes_only_with_the_reviewed_licence() -> None:
    assert check_licenses.licence_problem("psycopg", "LGPL-3.0-only") is None
    assert check_licenses.licence_problem("psycopg_binary", "LGPL-3.0-only") is None
    assert check_licenses.licence_problem("other-driver", "LGPL-3.0-only") is not None
    changed = check_licenses.licence_problem("psycopg", "GPL-3.0-only")
    assert changed is not None and "review it again" in changed
