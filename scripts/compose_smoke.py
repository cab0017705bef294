"""The smoke flow against the compose stack that scripts/compose-smoke started: import a tiny test set with the
web image's manage.py, create a team, upload a prediction archive over HTTP as a proxy would forward it, wait
until it is scored, and find it on the board (API and page)."""

from __future__ import annotations

import argparse
import io
import shlex
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def run(command: list[str]) -> str:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout[-3000:]}\n"
                         f"{result.stderr[-3000:]}")
    return result.stdout


def step(message: str, started: float) -> None:
    print(f"    [{time.time() - started:6.1f} s] {message}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--compose", required=True, help="the docker-compose command line (space-separated)")
    parser.add_argument("--started", type=float, required=True)
    args = parser.parse_args()
    compose = shlex.split(args.compose)
    headers = {"Host": args.host, "X-Forwarded-Proto": "https"}

    def get(path: str, **kwargs) -> requests.Response:
        return requests.get(args.base + path, headers={**headers, **kwargs.pop("headers", {})}, timeout=30,
                            **kwargs)

    deadline = time.time() + 900
    while True:
        try:
            if get("/").status_code == 200:
                break
        except requests.RequestException:
            pass
        if time.time() > deadline:
            subprocess.run([*compose, "ps"])
            raise SystemExit("the web service never answered /")
        time.sleep(2)
    step("web answers / (postgres, redis, s3, buckets, migrate done before it)", args.started)

    from evaluator.examples import ExampleKind, write_example_archive
    from evaluator.testset import load_testset
    from tests.evaluator.tiny_testset import write_tiny_testset

    with tempfile.TemporaryDirectory(prefix="compose-smoke-") as folder:
        root = Path(folder)
        testset = write_tiny_testset(root / "testsets" / "tiny", private_groups=("nodules",))
        archive = write_example_archive(root / "noisy.zip", testset=load_testset(testset), kind=ExampleKind.NOISY)
        for path in [root, *root.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)  # the image's user (uid 10001) reads them
        # Into the running web container through `exec` (`docker-compose run` of Compose v1 links containers,
        # which Podman's API refuses), then import_testset there.
        bundle = io.BytesIO()
        with tarfile.open(fileobj=bundle, mode="w") as tar:
            tar.add(testset, arcname="tiny")
        piped = subprocess.run([*compose, "exec", "-T", "web", "sh", "-c", "mkdir -p /tmp/testsets && tar -x -C "
                                "/tmp/testsets"], input=bundle.getvalue(), capture_output=True)
        if piped.returncode != 0:
            raise SystemExit(f"copying the test set into web failed: {piped.stderr.decode()[-2000:]}")
        run([*compose, "exec", "-T", "web", "python", "manage.py", "import_testset", "/tmp/testsets/tiny",
             "--noinput"])
        step("import_testset ran in the web container", args.started)
        token = run([*compose, "exec", "-T", "web", "python", "manage.py", "create_team", "Smoke team", "--user",
                     "smoke"]).strip()
        with open(archive, "rb") as handle:
            response = requests.post(args.base + "/api/submissions/",
                                     headers={**headers, "Authorization": f"Token {token}"},
                                     files={"file": ("noisy.zip", handle)},
                                     data={"method_name": "Compose smoke", "is_public": "true"}, timeout=60)
    if response.status_code != 201:
        raise SystemExit(f"upload refused: {response.status_code} {response.text[:400]}")
    submission = response.json()
    step(f"uploaded: submission {submission['id']} {submission['state']}", args.started)
    deadline = time.time() + 300
    while True:
        body = get(f"/api/submissions/{submission['id']}/", headers={"Authorization": f"Token {token}"}).json()
        if body["state"] in ("done", "failed"):
            break
        if time.time() > deadline:
            raise SystemExit(f"not scored within 300 s: {body['state']}")
        time.sleep(1)
    if body["state"] != "done":
        raise SystemExit(f"the evaluation failed: {body.get('problems')}")
    step(f"scored by worker-cpu: {body['state']}, metrics {body['metrics']}", args.started)
    board = get("/api/leaderboard/").json()
    entry = next((e for e in board["entries"] if e["method_name"] == "Compose smoke"), None)
    if entry is None or entry["metrics"] != body["metrics"]:
        raise SystemExit(f"not on the board API: {board}")
    if "Compose smoke" not in get("/").text:
        raise SystemExit("not on the board page")
    step("on the board (API and page)", args.started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
