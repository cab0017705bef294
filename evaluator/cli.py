"""Command line of the scoring core: the same scorer the server runs, on your machine.

Installed (`pip install ./`) it is the command `covid-triage-eval`; from a checkout, `python -m evaluator`:

    python -m evaluator validate ARCHIVE --images DIR [--json OUT]     (the public-images download, no labels)
    python -m evaluator validate ARCHIVE --test-set DIR [--track archive|container] [--json OUT]
    python -m evaluator score ARCHIVE --test-set DIR [--json OUT] [--resamples N] [--seed N] [--workers N]
    python -m evaluator check-testset DIR [--workers N]
    python -m evaluator import-authors SRC DST --name NAME --version V --lungs DIR
    python -m evaluator example-archive --test-set DIR --out FILE [--kind perfect|noisy|...]

Exit status: 0 success; 1 the archive is invalid (every problem is printed); 2 the test set
or the command line is wrong.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

from .metrics.registry import METRICS
from .problems import InvalidInput, Problem
from .public_images import load_public_images, validate_against_images
from .scoring import ScoringOptions, Track, public_view, score_archive, validate_archive
from .testset import TestSet, load_testset
from .truth import GroundTruth, build_truth
from .worklist import SimulationSize, WorklistParameters

T = TypeVar("T")


def _progress(iterable: Iterable[T], total: int) -> Iterable[T]:
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        return iterable
    return tqdm(iterable, total=total, desc="ground truth", unit="case", file=sys.stderr, leave=False)


def _load(test_set: str, workers: int) -> tuple[TestSet, GroundTruth]:
    testset = load_testset(test_set)
    truth = build_truth(testset, workers=workers, progress=_progress)
    return testset, truth


def format_problems(problems: list[Problem]) -> str:
    return "\n".join([f"{len(problems)} problem(s):"] + [f"  - {p}" for p in problems])


def format_report(document: dict[str, Any], *, archive: str) -> str:
    ts = document["testset"]
    inputs = document["inputs"]
    lines = [
        f"Scored {archive} on test set {ts['name']} v{ts['version']} ({document['track']} track, "
        f"{document['n_cases']} cases; labels {ts['labels_digest'][:12]}; scorer {document['scorer_version']})",
        f"identification score: {inputs['identification_score'] or 'none'}; severity: {inputs['severity'] or 'none'}; "
        f"masks: {'yes' if inputs['masks'] else 'no'}",
        "",
        f"{'metric':44} {'value':>7}   {int(document['bootstrap']['confidence'] * 100)}% CI",
    ]
    for metric in METRICS:
        value, interval, label = document["metrics"][metric.key], document["intervals"][metric.key], metric.label
        shown = "N/A" if value is None else f"{value:.3f}"
        ci = f"[{interval['low']:.3f}, {interval['high']:.3f}]" if interval else ""
        lines.append(f"{label:44} {shown:>7}   {ci}")
    triage = document.get("triage") or {}
    gain = (triage.get("measures") or {}).get("triage_gain")
    interval = (triage.get("intervals") or {}).get("triage_gain")
    lines += ["", f"{'triage gain, min saved per COVID-19 positive':44} {'N/A' if gain is None else f'{gain:.1f}':>7}"
                  + (f"   [{interval['low']:.1f}, {interval['high']:.1f}]" if interval else "")
                  + ("" if gain is not None else f"   ({triage.get('not_applicable') or 'not computed'})")]
    return "\n".join(lines)


def _write_json(path: str | None, document: Any) -> None:
    if path is None:
        return
    text = json.dumps(document, indent=2)
    if path == "-":
        print(text)
    else:
        Path(path).write_text(text + "\n")


def cmd_validate(args: argparse.Namespace) -> int:
    options = ScoringOptions(workers=args.workers)
    if args.images is not None:
        if Track(args.track) is not Track.ARCHIVE:
            print("--images validates for the archive track (the public cases only)", file=sys.stderr)
            return 2
        images = load_public_images(args.images)
        problems = validate_against_images(args.archive, images=images, options=options)
        name, version = images.name, images.version
    else:
        testset, truth = _load(args.test_set, args.workers)
        problems = validate_archive(args.archive, testset=testset, truth=truth, track=Track(args.track),
                                    options=options)
        name, version = testset.name, testset.version
    _write_json(args.json, {"valid": not problems, "problems": [p.to_dict() for p in problems]})
    if problems:
        print(f"{args.archive} is INVALID\n{format_problems(problems)}", file=sys.stderr)
        return 1
    print(f"{args.archive} is valid for the {args.track} track of {name} v{version}")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    testset, truth = _load(args.test_set, args.workers)
    try:
        worklist = WorklistParameters.from_dict(args.worklist)
        size = SimulationSize(days=args.triage_days, resamples=args.triage_resamples)
    except ValueError as error:
        print(f"--worklist / --triage-*: {error}", file=sys.stderr)
        return 2
    options = ScoringOptions(n_resamples=args.resamples, seed=args.seed, workers=args.workers, worklist=worklist,
                             worklist_size=size)
    try:
        document = score_archive(args.archive, testset=testset, truth=truth, track=Track(args.track),
                                 options=options)
    except InvalidInput as exc:
        _write_json(args.json, {"valid": False, "problems": [p.to_dict() for p in exc.problems]})
        print(f"{args.archive} is INVALID\n{format_problems(exc.problems)}", file=sys.stderr)
        return 1
    _write_json(args.json, public_view(document) if args.public_only else document)
    if args.json != "-":
        print(format_report(document, archive=args.archive))
    return 0


def cmd_check_testset(args: argparse.Namespace) -> int:
    testset, truth = _load(args.directory, args.workers)
    counts: dict[str, int] = {}
    for case in testset.cases:
        counts[case.group.value] = counts.get(case.group.value, 0) + 1
    raters = sum(1 for s in truth.summaries.values() if len(s.raters) > 1)
    print(f"test set {testset.name} v{testset.version}: {len(testset.cases)} cases {counts}; "
          f"{raters} case(s) with several raters; labels sha256 {truth.digest}")
    return 0


def cmd_import_authors(args: argparse.Namespace) -> int:
    from .authors_layout import import_authors_layout

    testset = import_authors_layout(Path(args.source), Path(args.destination), name=args.name,
                                    version=args.version, description=args.description,
                                    lungs_dir=Path(args.lungs) if args.lungs else None)
    print(f"imported {len(testset.cases)} cases into {args.destination}")
    return 0


def cmd_example_archive(args: argparse.Namespace) -> int:
    from .examples import ExampleKind, write_example_archive

    testset = load_testset(args.test_set)  # the labels are read from the files: no ground-truth cache needed
    write_example_archive(Path(args.out), testset=testset, kind=ExampleKind(args.kind), seed=args.seed,
                          track=Track(args.track))
    print(f"wrote {args.out} ({args.kind} predictions for the {args.track} track)")
    return 0


def build_parser(prog: str = "python -m evaluator") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser, *, archive: bool = True, images: bool = False) -> None:
        if archive:
            p.add_argument("archive", help="prediction archive (.zip, .tar.gz, .tar)")
        if images:
            where = p.add_mutually_exclusive_group(required=True)
            where.add_argument("--test-set", help="test-set directory with labels (the sample set)")
            where.add_argument("--images", help="the unzipped public-images download (no labels): the server's "
                                                "checks before scoring, for the benchmark's public cases")
        else:
            p.add_argument("--test-set", required=True, help="test-set directory (hidden labels, or the sample set)")
        p.add_argument("--track", choices=[t.value for t in Track], default=Track.ARCHIVE.value,
                       help="archive: public cases only (default); container: every case")
        p.add_argument("--workers", type=int, default=ScoringOptions().workers, help="processes for masks")

    p = sub.add_parser("validate", help="check an archive and list every problem")
    common(p, images=True)
    p.add_argument("--json", help="write {valid, problems} as JSON to this file ('-' = stdout)")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("score", help="validate and score an archive")
    common(p)
    p.add_argument("--json", help="write the result document to this file ('-' = stdout)")
    p.add_argument("--public-only", action="store_true", help="leave the private per-case part out of --json")
    p.add_argument("--resamples", type=int, default=ScoringOptions().n_resamples, help="bootstrap resamples")
    p.add_argument("--seed", type=int, default=ScoringOptions().seed, help="bootstrap seed")
    p.add_argument("--triage-days", type=int, default=SimulationSize().days,
                   help="simulated days of the triage impact's values (docs/metrics.md)")
    p.add_argument("--triage-resamples", type=int, default=SimulationSize().resamples,
                   help="bootstrap resamples of its intervals (5 simulated days each)")
    p.add_argument("--worklist", type=json.loads, default={}, metavar="JSON",
                   help='the simulated department, e.g. \'{"readers": 3}\' (defaults for keys left out)')
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("check-testset", help="check a test-set directory and build its ground-truth cache")
    p.add_argument("directory")
    p.add_argument("--workers", type=int, default=1)
    p.set_defaults(func=cmd_check_testset)

    p = sub.add_parser("import-authors", help="convert the paper authors' test layout into ours")
    p.add_argument("source", help="the authors' folder (holding test/ or being it)")
    p.add_argument("destination", help="new test-set directory")
    p.add_argument("--name", required=True)
    p.add_argument("--version", required=True)
    p.add_argument("--description", default="")
    p.add_argument("--lungs", help="folder of lung masks <id>.nii.gz (1 and 2 the two lungs); without masks, "
                                   "`python -m reference_models import-authors --lung-weights` computes them")
    p.set_defaults(func=cmd_import_authors)

    p = sub.add_parser("example-archive", help="write an example prediction archive for a test set")
    common(p, archive=False)
    p.add_argument("--out", required=True)
    p.add_argument("--kind", default="noisy", help="perfect | noisy | shuffled | probability-only | severity-only")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_example_archive)
    return parser


def main(argv: list[str] | None = None, *, prog: str = "python -m evaluator") -> int:
    args = build_parser(prog).parse_args(argv)
    try:
        return args.func(args)
    except InvalidInput as exc:  # a broken test set (archive problems are handled per command)
        print(exc.report(), file=sys.stderr)
        return 2


def console_main() -> int:
    """The ``covid-triage-eval`` command of the installed package."""
    return main(prog="covid-triage-eval")
