"""``covid-triage``: submit to the leaderboard and follow your submissions from the command line.

    covid-triage submit ARCHIVE --method NAME --images DIR [--public] [--description TEXT] [--no-wait]
    covid-triage wait ID          until the evaluation is done or failed; prints the metrics or every problem
    covid-triage status [ID]      one submission's state, or the latest ones
    covid-triage results ID [--json]
    covid-triage quota            used, remaining, when the next slot opens
    covid-triage history [--limit N]
    covid-triage check-image TARBALL   the server's checks of a `docker save` tarball (user, entrypoint, platform,
                                       layers, size), without Docker

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
