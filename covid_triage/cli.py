"""``covid-triage``: submit to the leaderboard and follow your submissions from the command line.

    covid-triage submit ARCHIVE --method NAME --images DIR [--public] [--description TEXT] [--no-wait]
    covid-triage wait ID          until the evaluation is done or failed; prints the metrics or every problem
    covid-triage status [ID]      one submission's state, or the latest ones
    covid-triage results ID [--json]
    covid-triage quota            used, remaining, when the next slot opens
    covid-triage history [--limit N]
    covid-triage check-image TARBALL   the server's checks of a `docker save` tarball (user, entrypoint, platform,
                                       layers, size), without Docker
    covid-triage run-local IMAGE --images DIR [--out DIR] [--gpus]
                                       run an image (in the engine, or a tarball) as the server does, on the public
                                       images, and validate its /output (needs the `containers` extra and Docker
                                       or Podman)

``submit`` first runs the server's checks locally (``covid-triage-eval validate ARCHIVE --images DIR``, against the
unzipped public-images download) and uploads only a valid archive. The token and the site's URL: see
:mod:`covid_triage.client` (``COVID_TRIAGE_TOKEN``, ``COVID_TRIAGE_URL`` or ``~/.config/covid-triage/config.json``).

Exit status: 0 done; 1 the archive or the evaluation failed (every problem is printed); 2 the command line or
the configuration is wrong; 3 the server refused a request (other than an invalid upload) or could not be
reached.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from evaluator.metrics.registry import METRICS
from evaluator.problems import InvalidInput, Problem

from .client import FINAL_STATES, Client, ClientError, load_settings

#: The stages of an evaluation, in order, for the progress bar (leaderboard.submissions.states).
STAGES = ("queued", "loading", "pulling", "running", "validating", "scoring", "done")


def _print_problems(problems: list[dict[str, Any]]) -> None:
    print(f"{len(problems)} problem(s):", file=sys.stderr)
    for problem in problems:
        print(f"  - {Problem(**problem)}", file=sys.stderr)


def _print_result(submission: dict[str, Any]) -> int:
    state = submission.get("state")
    print(f"submission {submission['id']} ({submission['method_name']}): {state}")
    if state == "failed":
        _print_problems(submission.get("problems") or [])
        return 1
    metrics = submission.get("metrics")
    if state == "done" and metrics is not None:
        width = max(len(metric.label) for metric in METRICS)
        for metric in METRICS:
            value = metrics.get(metric.key)
            print(f"  {metric.label:{width}} {'N/A' if value is None else f'{value:.3f}':>7}")
    return 0


def _client(args: argparse.Namespace) -> Client:
    return Client(load_settings(url=args.url))


def _wait(client: Client, pk: int, *, interval: float) -> dict[str, Any]:
    from tqdm import tqdm

    with tqdm(total=len(STAGES) - 1, desc=f"submission {pk}", unit="stage", file=sys.stderr,
              bar_format="{desc}: {bar} {postfix}") as bar:
        def show(current: dict[str, Any]) -> None:
            state = str(current.get("state"))
            bar.set_postfix_str(state)
            if state in STAGES:
                bar.update(STAGES.index(state) - bar.n)
        return client.wait(pk, interval=interval, on_state=show)


def cmd_submit(args: argparse.Namespace) -> int:
    archive = Path(args.archive)
    if not archive.is_file():
        print(f"{archive}: no such file", file=sys.stderr)
        return 2
    if args.images is not None:
        from evaluator.public_images import load_public_images, validate_against_images

        problems = validate_against_images(archive, images=load_public_images(args.images))
        if problems:
            print(f"{archive} is INVALID (checked locally against {args.images}; nothing was uploaded)",
                  file=sys.stderr)
            _print_problems([p.to_dict() for p in problems])
            return 1
        print(f"{archive} is valid locally; uploading", file=sys.stderr)
    client = _client(args)
    from tqdm import tqdm

    with tqdm(total=archive.stat().st_size, desc="upload", unit="B", unit_scale=True, file=sys.stderr) as bar:
        created = client.submit(archive, method_name=args.method, description=args.description,
                                is_public=args.public, testset=args.testset, progress=bar.update)
    print(f"submission {created['id']} created ({created['state']})")
    if args.no_wait:
        return 0
    return _print_result(_wait(client, int(created["id"]), interval=args.interval))


def cmd_wait(args: argparse.Namespace) -> int:
    return _print_result(_wait(_client(args), args.id, interval=args.interval))


def cmd_check_image(args: argparse.Namespace) -> int:
    """The server's inspection of a ``docker save`` tarball, before any upload (no Docker needed)."""
    from .containers.image_tarball import inspect_image_tarball

    try:
        info = inspect_image_tarball(args.tarball)
    except InvalidInput as invalid:
        print(f"{args.tarball} would be REFUSED by the server", file=sys.stderr)
        _print_problems([p.to_dict() for p in invalid.problems])
        return 1
    print(f"{args.tarball}: image {info.image_id[:19]}…, {info.os}/{info.architecture}, user {info.user}, "
          f"entrypoint {' '.join(info.entrypoint) or '-'} {' '.join(info.cmd)}".rstrip())
    print("passes the server's image checks (its size limit may be smaller than the default checked here: see "
          "GET /api/testsets/<slug>/container-limits/)")
    return 0


#: What run-local says when the Docker SDK for Python is not installed.
DOCKER_MISSING = ("run-local needs the Docker SDK for Python, which the participant package leaves out by default. "
                  "Install the `containers` extra: pip install 'covid-triage[containers]' (from a checkout: "
                  "pip install './[containers]'), and have Docker or Podman running (DOCKER_HOST).")


def cmd_run_local(args: argparse.Namespace) -> int:
    """Run a model image as the server does (same limits and checks) on the public images; validate /output."""
    try:
        import docker  # noqa: F401  (only to tell a missing SDK apart)
    except ImportError:
        print(f"covid-triage: {DOCKER_MISSING}", file=sys.stderr)
        return 2
    import dataclasses
    import tempfile

    from docker.errors import DockerException

    from evaluator.public_images import load_public_images

    from .containers.client import connect, engine_url
    from .containers.images import ImageLoadError
    from .containers.limits import ContainerLimits, GpuRequest
    from .containers.run_local import run_local
    from .containers.sandbox import REASON_TEXT

    images = load_public_images(args.images)
    limits = ContainerLimits()
    if args.gpus:
        limits = dataclasses.replace(limits, gpu=GpuRequest(count=-1))
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="covid-triage-run-local-"))
    try:
        client = connect()
    except DockerException as exc:
        print(f"covid-triage: no container engine answers at {engine_url()} ({exc}); start Docker or Podman, or "
              "set DOCKER_HOST", file=sys.stderr)
        return 2
    try:
        run = run_local(client, args.image, images=images, out=out, limits=limits)
    except InvalidInput as invalid:
        print(f"{args.image} would be REFUSED by the server", file=sys.stderr)
        _print_problems([p.to_dict() for p in invalid.problems])
        return 1
    except (ImageLoadError, ValueError) as exc:
        print(f"covid-triage: {exc}", file=sys.stderr)
        return 1 if isinstance(exc, ImageLoadError) else 2
    finally:
        client.close()
    result = run.result
    if result.logs:
        print(result.logs, end="", file=sys.stderr)
    print(f"ran {run.image[:19]} on {len(images.geometries)} public cases in {result.timings.model:.1f} s "
          f"(limits: {limits.memory_bytes >> 20} MiB, {limits.cpus:g} CPUs, {limits.wall_clock_seconds:g} s); "
          f"input and output in {out}")
    if not result.ok:
        reason = REASON_TEXT[result.reason] if result.reason is not None else "failed"
        print(f"the run FAILED, as it would on the server: {reason}: {result.message}", file=sys.stderr)
        return 1
    if run.problems:
        print(f"/output is INVALID (the server would fail the evaluation with these problems; {out / 'output.tar'})",
              file=sys.stderr)
        _print_problems([p.to_dict() for p in run.problems])
        return 1
    print(f"/output is valid ({out / 'output.tar'}): the server would score it")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    client = _client(args)
    rows = [client.submission(args.id)] if args.id is not None else client.submissions(limit=5)
    for row in rows:
        print(f"{row['id']:>6}  {row['created_at'][:19]}  {str(row['state']):10}  {row['method_name']}")
    return 0


def cmd_results(args: argparse.Namespace) -> int:
    submission = _client(args).submission(args.id)
    if args.json:
        print(json.dumps(submission, indent=2))
        return 0 if submission.get("state") != "failed" else 1
    if submission.get("state") not in FINAL_STATES:
        print(f"submission {args.id} is {submission.get('state')}: not finished yet (covid-triage wait {args.id})")
        return 0
    return _print_result(submission)


def cmd_quota(args: argparse.Namespace) -> int:
    team = _client(args).team()
    print(f"team {team['team']}: {team['used']} of {team['limit']} submissions used in the last "
          f"{team['window_hours']} hours; {team['remaining']} remaining")
    if team["next_slot_at"]:
        print(f"next slot opens at {team['next_slot_at']}")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    for row in _client(args).submissions(limit=args.limit):
        metrics = row.get("metrics") or {}
        first = metrics.get(METRICS[0].key)
        shown = "" if first is None else f"  {METRICS[0].label} {first:.3f}"
        print(f"{row['id']:>6}  {row['created_at'][:19]}  {str(row['state']):10}  "
              f"{'public ' if row['is_public'] else 'private'}  {row['method_name']}{shown}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="covid-triage", description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="the site (default: $COVID_TRIAGE_URL or the config file)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("submit", help="validate locally, upload, wait for the result")
    p.add_argument("archive")
    p.add_argument("--method", required=True, help="method name shown on the board")
    p.add_argument("--description", default="")
    p.add_argument("--public", action="store_true", help="show the entry on the public board (default: private)")
    p.add_argument("--testset", default="", help="benchmark slug (default: the site's benchmark)")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--images", help="the unzipped public-images download: validate against it first")
    where.add_argument("--skip-validation", action="store_true", help="upload without the local check")
    p.add_argument("--no-wait", action="store_true", help="return once uploaded")
    p.add_argument("--interval", type=float, default=5.0, help="seconds between polls")
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("wait", help="wait until a submission is done or failed")
    p.add_argument("id", type=int)
    p.add_argument("--interval", type=float, default=5.0)
    p.set_defaults(func=cmd_wait)

    p = sub.add_parser("status", help="a submission's state (default: the latest five)")
    p.add_argument("id", type=int, nargs="?")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("results", help="a submission's metrics or problems")
    p.add_argument("id", type=int)
    p.add_argument("--json", action="store_true", help="the server's whole answer")
    p.set_defaults(func=cmd_results)

    p = sub.add_parser("check-image", help="check a `docker save` tarball as the server does before upload")
    p.add_argument("tarball")
    p.set_defaults(func=cmd_check_image)

    p = sub.add_parser("run-local", help="run a model image as the server does and validate its /output")
    p.add_argument("image", help="an image in the local engine (name, tag or id) or a `docker save` tarball")
    p.add_argument("--images", required=True, help="the unzipped public-images download: the cases of /input")
    p.add_argument("--out", help="a new or empty folder for input/ and output.tar (default: a new temporary one)")
    p.add_argument("--gpus", action="store_true", help="give the container every GPU, as a GPU worker does")
    p.set_defaults(func=cmd_run_local)

    p = sub.add_parser("quota", help="submissions used and remaining in the window")
    p.set_defaults(func=cmd_quota)

    p = sub.add_parser("history", help="your team's submissions, newest first")
    p.add_argument("--limit", type=int, default=20)
    p.set_defaults(func=cmd_history)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except InvalidInput as exc:  # the public-images folder itself is wrong
        print(exc.report(), file=sys.stderr)
        return 2
    except ClientError as exc:
        print(f"covid-triage: {exc}", file=sys.stderr)
        payload = exc.payload
        if isinstance(payload, dict) and payload.get("problems"):
            _print_problems(payload["problems"])
        if exc.status == 400:
            return 1
        return 3 if exc.status is not None or "cannot reach" in str(exc) else 2
