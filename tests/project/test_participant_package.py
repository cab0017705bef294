"""The participant package: `pip install ./` into a clean venv gives the scorer and the client, without the server.

Installs from the package index pip is configured with (about 20 s, the numpy/scipy/scikit-learn/nibabel wheels).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PROBE = """
import importlib.util, json
print(json.dumps({name: importlib.util.find_spec(name) is not None
                  for name in ["evaluator", "covid_triage", "numpy", "nibabel", "sklearn", "scipy",
                               "torch", "django", "rest_framework", "celery", "docker", "leaderboard",
                               "reference_models"]}))
"""


def test_pip_install_gives_the_slim_participant_package(tmp_path: Path) -> None:
    source = tmp_path / "src"
    # the tracked sources only (the build writes build/ and *.egg-info next to them)
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.split()
    for name in files:
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python, scripts = env_dir / "bin" / "python", env_dir / "bin"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(source)],
                   check=True, cwd=tmp_path)

    found = json.loads(subprocess.run([str(python), "-c", PROBE], check=True, capture_output=True, text=True,
                                      cwd=tmp_path).stdout)
    assert found == {"evaluator": True, "covid_triage": True, "numpy": True, "nibabel": True, "sklearn": True,
                     "scipy": True, "torch": False, "django": False, "rest_framework": False, "celery": False,
                     "docker": False, "leaderboard": False, "reference_models": False}
    for command in ("covid-triage-eval", "covid-triage"):
        shown = subprocess.run([str(scripts / command), "--help"], check=True, capture_output=True, text=True,
                               cwd=tmp_path)
        assert f"usage: {command}" in shown.stdout
    # run-local needs the `containers` extra, and says how to install it
    refused = subprocess.run([str(scripts / "covid-triage"), "run-local", "model:1", "--images", str(tmp_path)],
                             capture_output=True, text=True, cwd=tmp_path)
    assert refused.returncode == 2 and "pip install 'covid-triage[containers]'" in refused.stderr, refused.stderr
