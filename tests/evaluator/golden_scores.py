"""The scorer's output on a fixed input, checked in as tests/evaluator/data/golden_scores.json.

Fixed input: the phantom sample set (``write_sample``, 6 cases per group, 40×40×20 voxels, seed ``SAMPLE_SEED``)
and two example archives of it (``noisy`` seed 1; ``masks-only``), scored with the leaderboard's default options
(bootstrap seed and resamples) on one worker. tests/evaluator/test_golden_scores.py fails when any number the scorer
outputs changes while ``evaluator.SCORER_VERSION`` did not (docs/metrics.md, "Scorer versions").

After a deliberate change to the scorer's output — bump ``SCORER_VERSION``, add its entry to CHANGELOG.md, then:

    .venv/bin/python -m tests.evaluator.golden_scores --write

It refuses to overwrite the golden file unless ``SCORER_VERSION`` differs from the version recorded in it and
CHANGELOG.md has a ``## <version>`` entry for the new one. If only the fixture's inputs changed (the phantom
generator or the example-archive writer; the recorded input digests differ) and the scorer did not,
``--write --inputs-changed`` rewrites it under the same version; it refuses when the inputs are unchanged.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import math
import re
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import evaluator
from evaluator.examples import ExampleKind, write_example_archive
from evaluator.phantoms import write_sample
from evaluator.scoring import ScoringOptions, score_archive
from evaluator.testset import load_testset
from evaluator.truth import build_truth

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "data" / "golden_scores.json"
CHANGELOG = ROOT / "CHANGELOG.md"
ARCHIVES = {"noisy": (ExampleKind.NOISY, 1), "masks-only": (ExampleKind.MASKS_ONLY, 0)}
#: Numbers are equal when within this relative distance (last-bit noise across platforms, nothing more).
REL_TOLERANCE = 1e-9
#: Seed of the sample set: one whose noisy archive is imperfect in every metric (see the test).
SAMPLE_SEED = 1


def _archive_digest(path: Path) -> str:
    """SHA-256 of the archive's members by name and decompressed content (zip and gzip timestamps ignored)."""
    digest = hashlib.sha256()
    with zipfile.ZipFile(path) as archive:
        for name in sorted(archive.namelist()):
            data = archive.read(name)
            digest.update(name.encode() + b"\0" + (gzip.decompress(data) if name.endswith(".gz") else data))
    return digest.hexdigest()


def score_fixture() -> dict[str, Any]:
    """Build the fixed inputs in a temporary folder and return the golden document (without timings)."""
    with tempfile.TemporaryDirectory(prefix="golden-scores-") as tmp:
        root = Path(tmp)
        write_sample(root / "testset", per_group=6, shape=(40, 40, 20), seed=SAMPLE_SEED)
        testset = load_testset(root / "testset")
        truth = build_truth(testset, cache_root=root / "cache")
        results, inputs = {}, {}
        for name, (kind, seed) in ARCHIVES.items():
            archive = write_example_archive(root / f"{name}.zip", testset=testset, kind=kind, seed=seed)
            inputs[name] = _archive_digest(archive)
            document = score_archive(archive, testset=testset, truth=truth, options=ScoringOptions(workers=1))
            document.pop("timings")
            results[name] = document
    return {"scorer_version": evaluator.SCORER_VERSION,
            "inputs": {"labels_digest": truth.digest, "archives": inputs},
            "results": results}


def differences(expected: Any, actual: Any, path: str = "$") -> list[str]:
    """Every place where two JSON documents differ; numbers within REL_TOLERANCE count as equal."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        found = [f"{path}.{key}: missing" for key in expected.keys() - actual.keys()]
        found += [f"{path}.{key}: unexpected" for key in actual.keys() - expected.keys()]
        for key in sorted(expected.keys() & actual.keys()):
            found += differences(expected[key], actual[key], f"{path}.{key}")
        return found
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [f"{path}: {len(expected)} items, now {len(actual)}"]
        return [found for i, (e, a) in enumerate(zip(expected, actual, strict=True))
                for found in differences(e, a, f"{path}[{i}]")]
    numbers = (int, float)
    if (isinstance(expected, numbers) and isinstance(actual, numbers) and not isinstance(expected, bool)
            and not isinstance(actual, bool)):
        if math.isclose(expected, actual, rel_tol=REL_TOLERANCE, abs_tol=1e-12):
            return []
    elif expected == actual and type(expected) is type(actual):
        return []
    return [f"{path}: {expected!r}, now {actual!r}"]


def load_golden() -> dict[str, Any]:
    golden: dict[str, Any] = json.loads(GOLDEN.read_text())
    return golden


def changelog_versions() -> list[str]:
    return re.findall(r"^## \[?([0-9][^\]\s]*)", CHANGELOG.read_text(), flags=re.MULTILINE)


def write(*, inputs_changed: bool = False) -> str:
    """Regenerate the golden file; raises SystemExit with the reason when that is not allowed."""
    current = evaluator.SCORER_VERSION
    golden = load_golden() if GOLDEN.exists() else None
    document = score_fixture()
    if golden is not None:
        if inputs_changed:
            if golden["scorer_version"] != current:
                raise SystemExit(f"--inputs-changed keeps the version, but SCORER_VERSION is {current} and the golden "
                                 f"file is for {golden['scorer_version']}: regenerate without it")
            if golden["inputs"] == document["inputs"]:
                raise SystemExit("refusing: the fixture's inputs are unchanged, so a different output means the "
                                 "scorer changed: bump evaluator.SCORER_VERSION and add a CHANGELOG.md entry")
        elif golden["scorer_version"] == current:
            raise SystemExit(f"refusing to overwrite {GOLDEN.relative_to(ROOT)}: it already records scorer {current}. "
                             "A changed output needs a new evaluator.SCORER_VERSION (docs/metrics.md) first")
    if current not in changelog_versions():
        raise SystemExit(f"refusing: CHANGELOG.md has no '## {current}' entry describing this scorer version")
    GOLDEN.write_text(json.dumps(document, indent=1, sort_keys=True, allow_nan=False) + "\n")
    return f"wrote {GOLDEN.relative_to(ROOT)} for scorer {current}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate the scorer's golden result document.")
    parser.add_argument("--write", action="store_true", required=True, help="score the fixture and write the file")
    parser.add_argument("--inputs-changed", action="store_true",
                        help="the fixture's inputs changed, not the scorer: rewrite under the same version")
    args = parser.parse_args(argv)
    print(write(inputs_changed=args.inputs_changed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
