"""Times the participant walkthrough of docs/participants.md, from a clean venv to a scored entry.

    .venv/bin/python scripts/bench_walkthrough.py [--workdir DIR] [--keep]

Set-up first (not timed: the maintainers' side): a phantom benchmark (the default Mosmed-Test-sized synthetic set,
123 cases, 61 public) and the sample set are imported into an embedded site (SQLite, filesystem broker) served by
``manage.py runboard`` (web + scoring worker) on a free port, and a team is created. The downloads are copied
from the site's storage (the same zips the Downloads page serves; your network decides how long they take), and
a prediction archive for the public cases stands in for the team's model.

Then every participant command of the walkthrough runs in a NEW venv (no torch, no Django), timed one by one:
``python -m venv``, ``pip install ./``, ``covid-triage-eval example-archive`` and ``score`` on the sample,
``covid-triage-eval validate --images``, ``covid-triage submit`` (upload, server-side scoring, result) and
``covid-triage quota`` / ``history``. Prints one line per step and the total.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run(args: list[str], *, env: dict[str, str], cwd: Path, quiet: bool = True) -> str:
    done = subprocess.run(args, env=env, cwd=cwd, text=True, capture_output=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-walkthrough-"))
    work.mkdir(parents=True, exist_ok=True)
    site_env = {**os.environ, "LEADERBOARD_DATA_DIR": str(work / "site"),
                "DJANGO_SETTINGS_MODULE": "leaderboard.settings", "OMP_NUM_THREADS": "1"}
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "LEADERBOARD_CACHE_URL", "LEADERBOARD_STORAGE"):
        site_env.pop(name, None)
    manage = [PY, str(ROOT / "manage.py")]
    server = None
    try:
        print("set-up (not timed): phantom benchmark + sample, embedded site, a team", flush=True)
        start = time.perf_counter()
        run([PY, "-m", "evaluator.phantoms", "testset", str(work / "testset"), "--seed", "0", "--quiet",
             "--workers", "2"], env=site_env, cwd=ROOT)
        run([PY, "-m", "evaluator.phantoms", "sample", str(work / "sample-src"), "--seed", "1", "--quiet"],
            env=site_env, cwd=ROOT)
        run(manage + ["migrate", "--noinput", "-v0"], env=site_env, cwd=ROOT)
        run(manage + ["import_testset", str(work / "testset"), "--noinput"], env=site_env, cwd=ROOT)
        run(manage + ["import_testset", str(work / "sample-src"), "--sample", "--noinput"], env=site_env, cwd=ROOT)
        token = run(manage + ["create_team", "Walkthrough", "--user", "walker"], env=site_env, cwd=ROOT).strip()
        bundles = run([PY, "-c", (
            "import django; django.setup()\n"
            "from leaderboard.testsets.models import LabelVersion\n"
            "for v in LabelVersion.objects.all(): print(v.public_images_bundle or v.sample_bundle)\n")],
            env=site_env, cwd=ROOT).split()
        port = free_port()
        server = subprocess.Popen(manage + ["runboard", "--bind", f"127.0.0.1:{port}"], env=site_env, cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        storage = work / "site"
        for name in bundles:
            found = list(storage.rglob(Path(name).name))
            target = work / ("public-images" if "public-images" in name else "sample")
            with zipfile.ZipFile(io.BytesIO(found[0].read_bytes())) as bundle:
                bundle.extractall(target)
        run([PY, "-m", "evaluator", "example-archive", "--test-set", str(work / "testset"), "--out",
             str(work / "predictions.zip"), "--kind", "noisy"], env=site_env, cwd=ROOT)
        for _ in range(120):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/about/", timeout=2)
                break
            except OSError:
                time.sleep(1)
        print(f"  done in {time.perf_counter() - start:.0f} s", flush=True)

        clean = work / "participant-venv"
        user_env = {key: value for key, value in os.environ.items() if not key.startswith(("VIRTUAL_ENV", "PYTHON"))}
        user_env |= {"COVID_TRIAGE_URL": f"http://127.0.0.1:{port}", "COVID_TRIAGE_TOKEN": token,
                     "PATH": f"{clean / 'bin'}:{os.environ['PATH']}"}
        source = work / "checkout"
        files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                               check=True, capture_output=True, text=True).stdout.split()
        for name in files:
            if (ROOT / name).is_file():
                (source / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / name, source / name)
        steps: list[tuple[str, list[str]]] = [
            ("pip install ./", [str(clean / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
                                str(source)]),
            ("example archive for the sample", ["covid-triage-eval", "example-archive", "--test-set",
                                                str(work / "sample"), "--out", str(work / "sample-example.zip")]),
            ("score on the sample", ["covid-triage-eval", "score", str(work / "sample-example.zip"), "--test-set",
                                     str(work / "sample")]),
            ("validate against the public images", ["covid-triage-eval", "validate", str(work / "predictions.zip"),
                                                    "--images", str(work / "public-images")]),
            ("submit: validate, upload, wait, result", ["covid-triage", "submit", str(work / "predictions.zip"),
                                                       "--method", "Walkthrough", "--images",
                                                       str(work / "public-images"), "--interval", "1"]),
            ("quota", ["covid-triage", "quota"]),
            ("history", ["covid-triage", "history"]),
        ]
        total = 0.0
        start = time.perf_counter()
        venv.create(clean, with_pip=True)
        elapsed = time.perf_counter() - start
        total += elapsed
        print(f"{'python -m venv (clean)':42} {elapsed:7.1f} s", flush=True)
        for label, command in steps:
            start = time.perf_counter()
            out = run(command, env=user_env, cwd=work)
            elapsed = time.perf_counter() - start
            total += elapsed
            print(f"{label:42} {elapsed:7.1f} s", flush=True)
            if label.startswith("submit"):
                print("    " + "\n    ".join(out.strip().splitlines()), flush=True)
        leaked = run([str(clean / "bin" / "python"), "-c",
                      "import importlib.util as u; print([m for m in ('torch', 'django') if u.find_spec(m)])"],
                     env=user_env, cwd=work).strip()
        print(f"{'total':42} {total:7.1f} s   (torch/django in the participant venv: {leaked})")
    finally:
        if server is not None:
            os.killpg(server.pid, 15)
            server.wait(timeout=30)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
