"""The README's first command, `bash scripts/demo`, end to end: a served board populated by the real queue.

Two of the eight methods and a few training batches keep it to a couple of minutes; everything else is what a
new user runs (the synthetic test set, the import, the demo accounts, training, predicting, queueing, runboard).
"""

from __future__ import annotations

import subprocess

import pytest
import requests

from tests.leaderboard.integration.processes import ROOT, Service, clean_environment, free_port, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]
METHODS = ("Thresholding", "Multitask-Spatial-1")


def scored(base: str, track: str) -> list[dict] | None:
    """The track's scored entries once there is one per method, else None."""
    done = [e for e in entries(base, track) if e["metrics"]["roc_auc_all"] is not None]
    return done if len(done) == len(METHODS) else None


def entries(base: str, track: str) -> list[dict]:
    try:
        response = requests.get(f"{base}/api/leaderboard/", params={"track": track}, timeout=10)
    except requests.RequestException:
        return []
    return response.json()["entries"] if response.ok else []


def test_demo_serves_a_populated_board_and_a_second_run_reuses_everything(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = clean_environment({
        "LEADERBOARD_DATA_DIR": str(tmp_path / "data"),
        "DEMO_DIR": str(tmp_path / "data" / "demo"),
        "DEMO_BIND": f"127.0.0.1:{port}",
        "DEMO_STEPS": "2",
        "DEMO_LUNG_STEPS": "20",
        "DEMO_METHODS": "thresholding multitask_spatial1",
        "DEMO_THREADS": "1",  # torch and BLAS in every process of the demo: no oversubscription beside other jobs
    })
    env.pop("DJANGO_SETTINGS_MODULE")  # manage.py's default, as for a user
    first = Service("demo", ["bash", str(ROOT / "scripts" / "demo")], env, tmp_path / "demo-1.log").start()
    try:
        for track in ("archive", "container"):
            board = wait_for(lambda t=track: scored(base, t), timeout=900, interval=2,
                             what=f"two scored {track} entries", services=(first,))
            assert sorted(e["method_name"] for e in board) == sorted(METHODS)
            assert all(e["is_reference"] and e["intervals"]["roc_auc_all"] for e in board)
        page = requests.get(base + "/", timeout=10).text
        assert all(name in page for name in METHODS)
        log = first.log.read_text(errors="replace")
        assert "Maintainer login" in log and "maintainer-password.txt" in log
        demo = tmp_path / "data" / "demo"
        password = (demo / "maintainer-password.txt").read_text().strip()
        token = (demo / "demo-team-token.txt").read_text().strip()
        assert len(password) >= 12 and token
        me = requests.get(f"{base}/api/submissions/", headers={"Authorization": f"Token {token}"}, timeout=10)
        assert me.status_code == 200  # the printed team token works
    finally:
        first.stop()
    second = Service("demo-again", ["bash", str(ROOT / "scripts" / "demo")], env, tmp_path / "demo-2.log").start()
    try:
        wait_for(lambda: entries(base, "archive"), timeout=300, interval=1, what="the board served again",
                 services=(second,))
        log = second.log.read_text(errors="replace")
        assert "up to date" in log and "predicting every case" not in log and "writing the synthetic" not in log
    finally:
        second.stop()
    assert subprocess.run(["bash", "-n", str(ROOT / "scripts" / "demo")]).returncode == 0
