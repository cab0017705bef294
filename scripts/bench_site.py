#!/usr/bin/env python
"""Benchmark of the leaderboard site (issue 3, "Performance"): board and API latency under load, query
counts at two board sizes, and the web process's memory while a 2 GB upload streams in.

    python scripts/bench_site.py [--evaluations 1000] [--small 100] [--duration 15] [--connections 32]
                                 [--web-workers CPUS] [--threads 8] [--upload-bytes 2000000000] [--skip-upload]
                                 [--max-load 4 --max-wait 1800]

Needs PostgreSQL on 127.0.0.1:5432 (trust auth, user postgres), Redis on 127.0.0.1:6379 (the production
cache) and wrk (``bash scripts/setup-browser`` installs it). What it does:

1. creates its own database ``leaderboard_bench_<random>`` and a temporary data folder (both removed at the
   end), with production-like settings: ``LEADERBOARD_PRODUCTION=1`` (DEBUG off, manifest static files),
   PostgreSQL, the Redis cache (its own database number, emptied of the site's keys at the end), local storage;
2. imports a 34-case phantom test set, scores ``--archives`` different example archives for real with the
   worker's code (``archive_job.run``), then records ``--evaluations`` done evaluations on as many public
   submissions of ``--evaluations``/2.5 teams, each a copy of one of the real result documents (the board
   reads only the stored metric columns, so copies cost the site what distinct results would);
3. counts the database queries of the board page and ``/api/leaderboard/`` (default and ``entries=all``) at
   ``--small`` and at ``--evaluations`` evaluations, with a cold cache and a warm one (Django test client);
4. starts gunicorn as documented for production (one worker process per CPU, ``--threads 8``; more processes
   than cores only add to the tail: docs/benchmarks.md) and runs
   ``wrk -t2 -c32 -d10s --latency`` against each URL after a warm-up, reporting the latency percentiles;
5. streams a ``--upload-bytes`` zip (``predictions.csv`` plus a stored member of zeros) to
   ``POST /api/submissions/`` with ``sendfile`` while sampling every gunicorn worker's RSS every 10 ms
   (and its kernel-tracked peak, ``VmHWM``, reset before the upload); reports the largest increase.

Prints a Markdown report (and ``--json FILE`` writes the numbers). Timings are of this machine at the time
of the run; nothing here asserts them.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "postgres"}
REDIS_URL = "redis://127.0.0.1:6379/13"
TESTSET_COUNTS = {"covid": 10, "bacterial_pneumonia": 8, "nodules": 8, "normal": 8}
URLS = ("/", "/?page=2", "/?q=team+01", "/api/leaderboard/", "/api/leaderboard/?page=2&q=method",
        "/?entries=all", "/?entries=all&page=3", "/api/leaderboard/?entries=all",
        "/api/leaderboard/?entries=all&page=3")
EXPORT_URLS = ("/api/leaderboard/?format=csv&entries=all",)  # the complete export: measured, not size-bounded


# --- the child process that fills the database (Django configured from the environment) ---------------------

def populate(args: argparse.Namespace) -> None:
    """Runs in a child process with the benchmark's environment: import, score, copy, count queries."""
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from evaluator.examples import ExampleKind, write_example_archive
    from evaluator.phantoms.testset import write_testset
    from evaluator.testset import load_testset
    from leaderboard.accounts.models import Team
    from leaderboard.accounts.services import create_team
    from leaderboard.board.cached import clear as clear_boards
    from leaderboard.board.revision import record_change
    from leaderboard.submissions import archive_job
    from leaderboard.submissions.models import Evaluation, Submission
    from leaderboard.submissions.services import SubmissionMeta, submit_archive
    from leaderboard.submissions.states import EvaluationState
    from leaderboard.testsets.models import ReportedResult
    from leaderboard.testsets.services import import_label_version

    work = Path(args.work)
    testset_dir = work / "testset"
    write_testset(testset_dir, counts=TESTSET_COUNTS, shape=(48, 48, 24), private_groups=("nodules",))
    label_version = import_label_version(testset_dir).label_version
    testset = load_testset(testset_dir)
    kinds = [(ExampleKind.NOISY, s) for s in range(6)] + [(ExampleKind.PERFECT, 0), (ExampleKind.SHUFFLED, 0),
                                                           (ExampleKind.SHUFFLED, 1), (ExampleKind.PROBABILITY_ONLY, 0),
                                                           (ExampleKind.SEVERITY_ONLY, 0), (ExampleKind.MASKS_ONLY, 0)]
    kinds = kinds[: args.archives]
    owner = User.objects.create_user("bench-owner", password=secrets.token_urlsafe(16))
    seed_team, _ = create_team(name="Benchmark seeds", owner=owner)
    references = list(ReportedResult.objects.order_by("pk")[:2])
    scored: list[Evaluation] = []
    started = time.monotonic()
    for index, (kind, seed) in enumerate(kinds):
        path = write_example_archive(work / f"{kind.value}-{seed}.zip", testset=testset, kind=kind, seed=seed)
        reference = references[index] if index < len(references) else None
        with open(path, "rb") as handle:
            submission = submit_archive(team=seed_team, user=owner, handle=handle, file_name=path.name,
                                        meta=SubmissionMeta(method_name=reference.method if reference else
                                                            f"{kind.value} seed {seed}", is_public=True),
                                        reference=reference, is_reference=reference is not None)
        evaluation = submission.evaluations.get()
        archive_job.run(evaluation.pk, worker="bench")
        evaluation.refresh_from_db()
        if evaluation.state != EvaluationState.DONE:
            raise SystemExit(f"scoring {path.name} failed: {evaluation.problems}")
        if evaluation.feedback is None:  # derived after the commit by leaderboard.feedback (copied below)
            raise SystemExit(f"scoring {path.name}: the feedback documents were not derived")
        scored.append(evaluation)
    print(f"scored {len(scored)} archives in {time.monotonic() - started:.1f} s", file=sys.stderr)

    # the feedback documents too (leaderboard/feedback.py): the worker derives them once per evaluation when it
    # finishes (split, held-out part, guard); without them the first board build would re-score every copy
    copied_fields = ["scorer_version", "track", "result", "per_case", "intervals", "feedback", "roc_auc_all",
                     "roc_auc_normal", "roc_auc_bacterial_pneumonia", "roc_auc_nodules", "spearman_rho", "mean_dice"]

    def fill_to(total: int) -> None:
        """Public submissions with one done evaluation each until the board's label version has ``total``."""
        have = Evaluation.objects.filter(label_version=label_version, state=EvaluationState.DONE).count()
        missing = total - have
        if missing <= 0:
            return
        first_team = Team.objects.count()
        n_teams = max(1, round(missing / 2.5))
        teams = Team.objects.bulk_create([Team(name=f"Team {first_team + i:04d}", slug=f"team-{first_team + i:04d}")
                                          for i in range(n_teams)])
        now = timezone.now()
        template = scored[0].submission
        submissions = Submission.objects.bulk_create([Submission(
            team=teams[i % n_teams], testset=template.testset, kind=template.kind, track=template.track,
            file=template.file.name, original_filename=template.original_filename, size_bytes=template.size_bytes,
            sha256=template.sha256, method_name=f"Method {have + i:04d}", description="A benchmark entry.",
            paper_url="https://example.org/paper", is_public=True, counts_toward_quota=True,
            created_at=now - timezone.timedelta(minutes=total - i)) for i in range(missing)])
        Evaluation.objects.bulk_create([Evaluation(
            submission=submission, label_version=label_version, state=EvaluationState.DONE, is_initial=True,
            attempts=1, created_at=submission.created_at, state_changed_at=now, finished_at=now,
            **{f: getattr(scored[i % len(scored)], f) for f in copied_fields})
            for i, submission in enumerate(submissions)])
        record_change("benchmark data")  # bulk_create sends no signals
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:  # fresh statistics, as autovacuum keeps them on a live site
                cursor.execute("ANALYZE")

    client = Client(HTTP_HOST="127.0.0.1")

    def count_queries() -> dict[str, dict[str, int]]:
        counts = {}
        for url in (*URLS, f"/entries/{scored[0].pk}/", *EXPORT_URLS):
            clear_boards()  # both cache layers: the first request builds the board
            started = time.perf_counter()
            with CaptureQueriesContext(connection) as cold:
                response = client.get(url)
            cold_ms = (time.perf_counter() - started) * 1000
            assert response.status_code == 200, (url, response.status_code)
            with CaptureQueriesContext(connection) as warm:
                client.get(url)
            counts[url] = {"cold": len(cold), "warm": len(warm), "bytes": len(response.content),
                           "cold_ms": round(cold_ms)}
        return counts

    report = {"scored_archives": len(scored), "queries": {}}
    fill_to(args.small)
    report["queries"][args.small] = count_queries()
    fill_to(args.evaluations)
    report["queries"][args.evaluations] = count_queries()
    report["evaluations"] = Evaluation.objects.filter(label_version=label_version,
                                                      state=EvaluationState.DONE).count()
    report["teams"] = Team.objects.count()
    report["entry_id"] = scored[0].pk
    report["token"] = create_team(name="Upload team", owner=User.objects.create_user("bench-uploader"))[1]
    clear_boards()
    Path(args.report).write_text(json.dumps(report))


# --- the parent: database, processes, load, upload --------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_checked(command: list[str], *, env: dict[str, str], timeout: float = 600) -> str:
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def site_environment(*, database_url: str, data_dir: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LEADERBOARD_", "DJANGO_", "CELERY_",
                                                                      "DATABASE_"))}
    return {**base, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "leaderboard.settings",
            "LEADERBOARD_PRODUCTION": "1", "DJANGO_SSL_REDIRECT": "0", "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50), "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": database_url, "LEADERBOARD_CACHE_URL": REDIS_URL,
            "LEADERBOARD_DATA_DIR": str(data_dir), "LEADERBOARD_STORAGE": "local",
            "CELERY_BROKER_URL": "filesystem://localhost//", "LEADERBOARD_BOOTSTRAP_RESAMPLES": "200",
            "LEADERBOARD_SCORING_PROCESSES": "1", "LEADERBOARD_LOG_LEVEL": "WARNING",
            "LEADERBOARD_MAX_UPLOAD_MB": "2048", "LEADERBOARD_DAILY_QUOTA": "100"}


@dataclass
class Gunicorn:
    process: subprocess.Popen
    base: str

    def workers(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return [int(pid) for pid in children]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def start_gunicorn(env: dict[str, str], *, workers: int, threads: int, log: Path) -> Gunicorn:
    port = free_port()
    handle = open(log, "ab")
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "leaderboard.wsgi", "--bind", f"127.0.0.1:{port}",
                                "--workers", str(workers), "--threads", str(threads), "--timeout", "300"],
                               cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    server = Gunicorn(process, f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited:\n{log.read_text()[-3000:]}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/api/testsets/")
            if connection.getresponse().status == 200 and len(server.workers()) == workers:
                return server
        except OSError:
            pass
        time.sleep(0.2)
    server.stop()
    raise SystemExit(f"gunicorn did not answer within 60 s:\n{log.read_text()[-3000:]}")


def wrk(url: str, *, connections: int, threads: int, duration: int) -> dict:
    output = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", url],
                            capture_output=True, text=True, timeout=duration + 60).stdout
    units = {"us": 1e-3, "ms": 1.0, "s": 1000.0}

    def ms(text: str) -> float:
        value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
        return float(value) * units[unit]

    percentiles = {p: ms(v) for p, v in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", output, re.M)}
    if len(percentiles) != 4:
        raise SystemExit(f"cannot read wrk's output for {url}:\n{output}")
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)$", output, re.M)
    return {"url": url, "path": "/" + url.split("/", 3)[3], "p50_ms": percentiles["50"], "p90_ms": percentiles["90"],
            "p99_ms": percentiles["99"],
            "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
            "requests": requests, "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
            "socket_errors": errors.group(1) if errors else ""}


def wait_for_load(max_load: float | None, *, seconds: float) -> float:
    """Wait (at most ``seconds``) until the 1-minute load average is below ``max_load``, so that the load runs
    when other jobs on a shared machine leave it the most room; returns the seconds waited."""
    started = time.monotonic()
    while max_load is not None and os.getloadavg()[0] >= max_load and time.monotonic() - started < seconds:
        time.sleep(5)
    return round(time.monotonic() - started, 1)


def write_upload(path: Path, *, size: int, predictions: bytes) -> Path:
    """A valid zip of about ``size`` bytes: predictions.csv and a stored member of zeros (written in 1 MiB
    blocks; never in memory)."""
    block = bytes(1 << 20)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("predictions.csv", predictions)
        with archive.open("padding/zeros.bin", "w") as member:
            left = size - 1024 - len(predictions)
            while left > 0:
                member.write(block[: min(left, len(block))])
                left -= len(block)
    return path


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def stream_upload(server: Gunicorn, *, token: str, path: Path) -> dict:
    """POST the file as multipart/form-data with sendfile while sampling the workers' RSS every 10 ms."""
    boundary = "----bench" + secrets.token_hex(12)
    head = "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
                   for k, v in {"method_name": "2 GB upload", "is_public": "false"}.items())
    head += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
             "Content-Type: application/zip\r\n\r\n")
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = path.stat().st_size
    workers = server.workers()
    for pid in workers:  # reset the kernel's peak-RSS counter (VmHWM) to the current RSS
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    before = {pid: rss_kib(pid) for pid in workers}
    peak = dict(before)
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            for pid in workers:
                peak[pid] = max(peak[pid], rss_kib(pid))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    port = int(server.base.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
    connection.putrequest("POST", "/api/submissions/")
    connection.putheader("Authorization", f"Token {token}")
    connection.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    connection.putheader("Content-Length", str(len(head.encode()) + size + len(tail)))
    connection.endheaders()
    connection.send(head.encode())
    with open(path, "rb") as handle:
        connection.sock.sendfile(handle)
    sent = time.monotonic()
    connection.send(tail)
    response = connection.getresponse()
    body = response.read().decode(errors="replace")
    finished = time.monotonic()
    stop.set()
    sampler.join()
    hwm = {pid: rss_kib(pid, "VmHWM") for pid in workers}
    increase = {pid: max(peak[pid], hwm[pid]) - before[pid] for pid in workers}
    busiest = max(increase, key=increase.get)
    return {"bytes": size, "status": response.status, "body": body[:300], "send_s": round(sent - started, 1),
            "total_s": round(finished - started, 1), "rss_before_mib": round(before[busiest] / 1024, 1),
            "rss_increase_mib": round(increase[busiest] / 1024, 1),
            "all_workers_increase_mib": {str(p): round(v / 1024, 1) for p, v in increase.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--evaluations", type=int, default=1000)
    parser.add_argument("--small", type=int, default=100, help="board size of the first query count")
    parser.add_argument("--archives", type=int, default=12, help="example archives scored for real (≤ 12)")
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per URL")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--web-workers", type=int, default=os.cpu_count() or 2, help="gunicorn worker processes "
                        "(default: one per CPU)")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--compare-workers", type=int, nargs="*", default=[], metavar="N",
                        help="after the load, serve the same fill again with N worker processes and measure again")
    parser.add_argument("--upload-bytes", type=int, default=2_000_000_000)
    parser.add_argument("--skip-upload", action="store_true")
    parser.add_argument("--skip-load", action="store_true", help="no wrk runs (e.g. to measure only the upload)")
    parser.add_argument("--max-load", type=float, help="before the load, wait until the 1-minute load average is "
                                                         "below this (shared machines)")
    parser.add_argument("--max-wait", type=float, default=300, help="seconds --max-load waits at most (cached "
                                                                   "boards expire after 600 s: the wait comes before "
                                                                   "the warm-up)")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    parser.add_argument("--populate", action="store_true", help=argparse.SUPPRESS)  # the child's role
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--report", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.populate:
        populate(args)
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: run `bash scripts/setup-browser` (installs Debian's wrk)")
    import psycopg
    import redis

    try:
        psycopg.connect(**PG, connect_timeout=3).close()
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except (psycopg.Error, redis.RedisError) as error:
        raise SystemExit(f"needs PostgreSQL at 127.0.0.1:5432 and Redis at 127.0.0.1:6379: {error}") from None

    name = f"leaderboard_bench_{secrets.token_hex(4)}"
    work = Path(tempfile.mkdtemp(prefix="bench-site-"))
    with psycopg.connect(**PG, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    env = site_environment(database_url=f"postgres://postgres@127.0.0.1:5432/{name}", data_dir=work / "data")
    server = None
    results: dict = {"machine": {"cpus": os.cpu_count()}, "database": name}
    try:
        started = time.monotonic()
        run_checked([sys.executable, "manage.py", "migrate", "--noinput"], env=env)
        run_checked([sys.executable, "manage.py", "collectstatic", "--noinput"], env=env)
        report_path = work / "populate.json"
        run_checked([sys.executable, __file__, "--populate", "--work", str(work), "--report", str(report_path),
                     "--evaluations", str(args.evaluations), "--small", str(args.small),
                     "--archives", str(args.archives)], env=env, timeout=900)
        results.update(json.loads(report_path.read_text()))
        results["populate_s"] = round(time.monotonic() - started, 1)
        settle_database(name)
        server = start_gunicorn(env, workers=args.web_workers, threads=args.threads, log=work / "gunicorn.log")
        urls = [*URLS, f"/entries/{results['entry_id']}/", *EXPORT_URLS]
        if not args.skip_load:  # before the warm-up: cached boards expire after 10 minutes
            results["waited_for_load_s"] = wait_for_load(args.max_load, seconds=args.max_wait)
        results["bytes"] = warm_up(server, urls, workers=args.web_workers)
        if not args.skip_load:
            results["load_average_before"] = os.getloadavg()
            results["load"] = load(server, urls, args)
            results["load_average_after"] = os.getloadavg()
            for workers in args.compare_workers:  # the same fill, served by another number of processes
                server.stop()
                forget_cached_site(redis.Redis.from_url(REDIS_URL))
                server = start_gunicorn(env, workers=workers, threads=args.threads, log=work / "gunicorn.log")
                warm_up(server, urls, workers=workers)
                results.setdefault("compare", {})[workers] = {"load_average_before": os.getloadavg(),
                                                              "load": load(server, urls, args)}
        if not args.skip_upload:
            predictions = zipfile.ZipFile(work / "noisy-0.zip").read("predictions.csv")
            upload = write_upload(work / "upload.zip", size=args.upload_bytes, predictions=predictions)
            results["upload"] = stream_upload(server, token=results.pop("token"), path=upload)
            upload.unlink()
        results.pop("token", None)
    finally:
        if server is not None:
            server.stop()
        with psycopg.connect(**PG, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        forget_cached_site(redis.Redis.from_url(REDIS_URL))
        shutil.rmtree(work, ignore_errors=True)
    print_report(results, args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def settle_database(name: str) -> None:
    """After the bulk fill, bring the database to the steady state of a site that has been running: statistics
    analysed, dead rows vacuumed and the dirty pages written (otherwise autovacuum and the checkpointer work on the
    10,000 new rows during the measurement, which then measures the fill, not the site)."""
    import psycopg

    with psycopg.connect(**{**PG, "dbname": name}, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")
        connection.execute("CHECKPOINT")


def warm_up(server: Gunicorn, urls: list[str], *, workers: int) -> dict[str, int]:
    """Every worker renders every page once (and fills the caches); the size of each response."""
    sizes = {}
    for url in urls:
        for _ in range(workers * 3):
            connection = http.client.HTTPConnection("127.0.0.1", int(server.base.rsplit(":", 1)[1]))
            connection.request("GET", url)
            response = connection.getresponse()
            sizes[url] = len(response.read())
            if response.status != 200:
                raise SystemExit(f"GET {url}: HTTP {response.status}")
    return sizes


def load(server: Gunicorn, urls: list[str], args: argparse.Namespace) -> list[dict]:
    return [wrk(server.base + url, connections=args.connections, threads=args.wrk_threads, duration=args.duration)
            for url in urls]


def forget_cached_site(client) -> None:
    """Remove the site's keys from the benchmark's Redis database."""
    for key in client.scan_iter(match="leaderboard:*"):
        client.delete(key)


def print_report(results: dict, args: argparse.Namespace) -> None:
    print(f"\n{results['evaluations']} done evaluations ({results['teams']} teams, {results['scored_archives']} "
          f"archives scored for real), PostgreSQL, Redis cache, gunicorn --workers {args.web_workers} "
          f"--threads {args.threads}, {os.cpu_count()} CPUs; populated in {results['populate_s']} s\n")
    if "load" in results:
        print_load(results)
    for workers, compared in results.get("compare", {}).items():
        print(f"\nthe same fill served by gunicorn --workers {workers} --threads {args.threads}:")
        print_load({**compared, "bytes": results["bytes"]})
    print_queries(results)
    if "upload" in results:
        u = results["upload"]
        print(f"\nupload of {u['bytes']:,} bytes: HTTP {u['status']} after {u['total_s']} s (body sent in "
              f"{u['send_s']} s); web worker RSS {u['rss_before_mib']} MiB before, peak increase "
              f"{u['rss_increase_mib']} MiB (all workers: {u['all_workers_increase_mib']})")


def print_load(results: dict) -> None:
    after = results.get("load_average_after")
    print("load average (1, 5, 15 min) before the load: {:.1f} {:.1f} {:.1f}".format(*results["load_average_before"])
          + (", after: {:.1f} {:.1f} {:.1f}".format(*after) if after else "")
          + f" (waited {results.get('waited_for_load_s', 0)} s for it)\n")
    print("| URL | bytes | p50 ms | p90 ms | p99 ms | req/s | non-2xx |\n|---|---|---|---|---|---|---|")
    for row in results["load"]:
        print(f"| `{row['path']}` | {results['bytes'].get(row['path'], 0):,} | "
              f"{row['p50_ms']:.1f} | {row['p90_ms']:.1f} | {row['p99_ms']:.1f} | {row['requests_per_s']:.0f} | "
              f"{row['non_2xx']}{' ' + row['socket_errors'] if row['socket_errors'] else ''} |")


def print_queries(results: dict) -> None:
    sizes = sorted(results["queries"], key=int)
    print("\n| URL | " + " | ".join(f"queries at {s} (cold / warm)" for s in sizes) + " | bytes at " +
          f"{sizes[-1]} | cold request at {sizes[-1]}, ms |\n|---|" + "---|" * (len(sizes) + 2))
    for url in results["queries"][sizes[0]]:
        cells = " | ".join(f"{results['queries'][s][url]['cold']} / {results['queries'][s][url]['warm']}"
                           for s in sizes)
        last = results["queries"][sizes[-1]][url]
        print(f"| `{url}` | {cells} | {last['bytes']:,} | {last.get('cold_ms', '')} |")


if __name__ == "__main__":
    main()
