"""The scorer's output on a fixed archive changes only together with evaluator.SCORER_VERSION.

The golden document (tests/evaluator/data/golden_scores.json) holds every number the scorer outputs for the fixed
input of tests/evaluator/golden_scores.py; regenerating it is refused unless the version changed.
"""

from __future__ import annotations

import copy
import json

import pytest

import evaluator
from tests.evaluator import golden_scores

REGENERATE = "`.venv/bin/python -m tests.evaluator.golden_scores --write`"


@pytest.fixture(scope="module")
def scored() -> dict:
    return golden_scores.score_fixture()


def test_scorer_output_matches_the_golden_document_of_its_version(scored: dict) -> None:
    golden = golden_scores.load_golden()
    assert golden["scorer_version"] == evaluator.SCORER_VERSION, (
        f"SCORER_VERSION is {evaluator.SCORER_VERSION} but the golden document records {golden['scorer_version']}: "
        f"add its CHANGELOG.md entry and regenerate with {REGENERATE}")
    assert scored["inputs"] == golden["inputs"], (
        "the fixture's inputs changed (phantom generator or example-archive writer), not necessarily the scorer: "
        f"if the scorer is unchanged, regenerate with {REGENERATE} --inputs-changed")
    changed = golden_scores.differences(golden["results"], scored["results"])
    assert not changed, (
        f"the scorer's output changed but SCORER_VERSION ({evaluator.SCORER_VERSION}) did not: bump it, add a "
        f"CHANGELOG.md entry and regenerate with {REGENERATE}. {len(changed)} difference(s):\n"
        + "\n".join(changed[:20]))


def test_golden_document_covers_every_metric_with_informative_values() -> None:
    golden = golden_scores.load_golden()
    for name, document in golden["results"].items():
        assert document["scorer_version"] == golden["scorer_version"]
        metrics = document["metrics"]
        assert set(metrics) == {"roc_auc_all", "roc_auc_normal", "roc_auc_bacterial_pneumonia", "roc_auc_nodules",
                                "spearman_rho", "mean_dice"}
        assert all(value is not None for value in metrics.values()), (name, metrics)
        assert document["bootstrap"]["seed"] == 0 and document["n_cases"] == 24
    noisy = golden["results"]["noisy"]  # imperfect everywhere, so a change to any metric moves its number
    assert all(0 < value < 1 for value in noisy["metrics"].values()), noisy["metrics"]
    assert all(noisy["intervals"][key]["low"] < noisy["intervals"][key]["high"] for key in noisy["metrics"])
    assert golden["results"]["masks-only"]["inputs"]["identification_score"] == "mask"


def test_differences_catch_a_changed_number_and_ignore_last_bit_noise(scored: dict) -> None:
    changed = copy.deepcopy(scored["results"])
    changed["noisy"]["intervals"]["spearman_rho"]["low"] += 1e-6
    changed["noisy"]["metrics"]["roc_auc_all"] *= 1 + 1e-13
    covid = next(i for i, case in enumerate(changed["masks-only"]["private"]["per_case"]) if case["group"] == "covid")
    changed["masks-only"]["private"]["per_case"][covid]["dice"] = None
    found = golden_scores.differences(scored["results"], changed)
    assert [line.split(":")[0] for line in found] == [f"$.masks-only.private.per_case[{covid}].dice",
                                                      "$.noisy.intervals.spearman_rho.low"]


def test_regeneration_refuses_while_the_version_is_unchanged(tmp_path, monkeypatch) -> None:
    golden = tmp_path / "golden.json"
    recorded = json.dumps(golden_scores.load_golden())
    golden.write_text(recorded)
    monkeypatch.setattr(golden_scores, "GOLDEN", golden)
    monkeypatch.setattr(golden_scores, "ROOT", tmp_path)
    with pytest.raises(SystemExit, match="refusing to overwrite .* already records scorer"):
        golden_scores.main(["--write"])
    with pytest.raises(SystemExit, match="inputs are unchanged"):
        golden_scores.main(["--write", "--inputs-changed"])
    monkeypatch.setattr(evaluator, "SCORER_VERSION", "99.0.0")  # a new version without its CHANGELOG entry
    with pytest.raises(SystemExit, match="CHANGELOG.md has no '## 99.0.0' entry"):
        golden_scores.main(["--write"])
    assert golden.read_text() == recorded


def test_changelog_records_the_current_scorer_version() -> None:
    assert evaluator.SCORER_VERSION in golden_scores.changelog_versions()
