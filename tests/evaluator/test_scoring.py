"""End-to-end scoring on hand-made test sets: known answers, N/A rules, tracks, multi-rater averaging."""

import json
import zipfile

import nibabel as nib
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from evaluator.cli import main as cli_main
from evaluator.examples import ExampleKind, write_example_archive
from evaluator.metrics.registry import METRIC_BY_KEY
from evaluator.problems import InvalidInput
from evaluator.scoring import ScoringOptions, Track, public_view, score_archive
from evaluator.testset import load_testset
from evaluator.truth import build_truth
from evaluator.worklist import SimulationSize

from .tiny_testset import lungs_volume, write_tiny_testset

WORKLIST = SimulationSize(days=5, resamples=5, days_per_resample=1)
FAST = ScoringOptions(n_resamples=200, workers=1, worklist_size=WORKLIST)


def _open(root, tmp_path):
    ts = load_testset(root)
    return ts, build_truth(ts, cache_root=tmp_path / "cache")


@pytest.fixture
def single_rater(tmp_path):
    return _open(write_tiny_testset(tmp_path / "ts1", n_per_group=4, two_raters=False), tmp_path)


@pytest.fixture
def multi_rater(tmp_path):
    return _open(write_tiny_testset(tmp_path / "ts2", n_per_group=4, two_raters=True,
                                    private_groups=("bacterial_pneumonia",)), tmp_path)


def test_perfect_archive_scores_one_everywhere(single_rater, tmp_path):
    ts, truth = single_rater
    archive = write_example_archive(tmp_path / "perfect.zip", testset=ts, kind=ExampleKind.PERFECT)
    doc = score_archive(archive, testset=ts, truth=truth, options=FAST)
    assert doc["metrics"] == {k: 1.0 for k in doc["metrics"]}
    assert doc["inputs"] == {"identification_score": "covid_probability", "severity": "column", "masks": True}
    assert all(doc["intervals"][k]["low"] == 1.0 for k in doc["metrics"])
    json.dumps(doc)  # JSON-ready


def test_shuffled_scores_are_near_chance(tmp_path):
    ts, truth = _open(write_tiny_testset(tmp_path / "big", n_per_group=25, two_raters=False), tmp_path)
    aucs = []
    for seed in range(6):
        archive = write_example_archive(tmp_path / f"s{seed}.zip", testset=ts, kind=ExampleKind.SHUFFLED, seed=seed)
        doc = score_archive(archive, testset=ts, truth=truth,
                            options=ScoringOptions(n_resamples=50, workers=1, worklist_size=WORKLIST))
        aucs.append(doc["metrics"]["roc_auc_all"])
    assert 0.35 < np.mean(aucs) < 0.65


def test_missing_inputs_are_not_applicable_never_zero(single_rater, tmp_path):
    ts, truth = single_rater
    doc = score_archive(write_example_archive(tmp_path / "p.zip", testset=ts, kind=ExampleKind.PROBABILITY_ONLY),
                        testset=ts, truth=truth, options=FAST)
    assert doc["metrics"]["spearman_rho"] is None and doc["metrics"]["mean_dice"] is None
    assert doc["intervals"]["mean_dice"] is None
    assert doc["metrics"]["roc_auc_all"] is not None
    assert doc["extras"]["ranked_severity"] is None


def test_triage_impact_is_part_of_the_result(single_rater, tmp_path):
    """Every scored archive carries the worklist simulation's aggregates, also without a predicted severity."""
    ts, truth = single_rater
    perfect = score_archive(write_example_archive(tmp_path / "a.zip", testset=ts, kind=ExampleKind.PERFECT),
                            testset=ts, truth=truth, options=FAST)["triage"]
    assert perfect["simulation"]["days"] == WORKLIST.days
    assert perfect["measures"]["triage_gain"] > 0
    assert "most severe prediction first" in perfect["ordering"]
    probability_only = score_archive(
        write_example_archive(tmp_path / "p.zip", testset=ts, kind=ExampleKind.PROBABILITY_ONLY),
        testset=ts, truth=truth, options=FAST)["triage"]
    assert "no predicted severity" in probability_only["ordering"]
    assert probability_only["measures"]["triage_gain"] is not None


def test_masks_only_archive_derives_severity_and_identification(single_rater, tmp_path):
    ts, truth = single_rater
    archive = write_example_archive(tmp_path / "m.zip", testset=ts, kind=ExampleKind.MASKS_ONLY, seed=3)
    doc = score_archive(archive, testset=ts, truth=truth, options=FAST)
    assert doc["inputs"] == {"identification_score": "mask", "severity": "mask", "masks": True}
    lungs = lungs_volume()
    groups, scores = [], []
    with zipfile.ZipFile(archive) as z:
        for row in doc["private"]["per_case"]:
            z.extract(f"masks/{row['case_id']}.nii.gz", tmp_path / "x")
            mask = np.asanyarray(nib.load(tmp_path / "x" / "masks" / f"{row['case_id']}.nii.gz").dataobj) != 0
            expected = max((mask & (lungs == k)).sum() / (lungs == k).sum() for k in (1, 2))
            assert row["predicted_severity"] == pytest.approx(expected)
            groups.append(row["group"])
            scores.append(expected)
    labels = [g == "covid" for g in groups]
    assert doc["metrics"]["roc_auc_all"] == pytest.approx(roc_auc_score(labels, scores))


def test_tracks_and_multi_rater_dice(multi_rater, tmp_path):
    ts, truth = multi_rater
    archive = write_example_archive(tmp_path / "a.zip", testset=ts, kind=ExampleKind.PERFECT)
    doc = score_archive(archive, testset=ts, truth=truth, options=FAST)
    assert doc["n_cases"] == 12 and doc["group_sizes"]["bacterial_pneumonia"] == 0
    assert doc["metrics"]["roc_auc_bacterial_pneumonia"] is None
    # the perfect archive submits rater 1's mask: on two-rater cases Dice = mean(1, Dice vs rater 2) < 1
    rows = {r["case_id"]: r for r in doc["private"]["per_case"]}
    two_raters = [c.case_id for c in ts.cases if len(c.lesions) == 2]
    for case_id in two_raters:
        case = ts.by_id()[case_id]
        r1, r2 = (np.asanyarray(nib.load(case.lesions[r]).dataobj) != 0 for r in ("rater1", "rater2"))
        dice2 = 2 * (r1 & r2).sum() / (r1.sum() + r2.sum())
        assert rows[case_id]["dice"] == pytest.approx((1 + dice2) / 2)
        assert rows[case_id]["true_severity"] == pytest.approx(np.mean(rows[case_id]["rater_severities"]))
    container = write_example_archive(tmp_path / "c.zip", testset=ts, kind=ExampleKind.PERFECT, track=Track.CONTAINER)
    doc_c = score_archive(container, testset=ts, truth=truth, track=Track.CONTAINER, options=FAST)
    assert doc_c["n_cases"] == 16 and doc_c["metrics"]["roc_auc_bacterial_pneumonia"] == 1.0
    # an archive-track archive lacks the private cases: invalid for the container track
    with pytest.raises(InvalidInput) as err:
        score_archive(archive, testset=ts, truth=truth, track=Track.CONTAINER, options=FAST)
    private = {c.case_id for c in ts.cases if c.distribution.value == "private"}
    assert len(err.value.problems) == 8  # a missing row and a missing mask for each private case
    assert {p.case_id for p in err.value.problems} == private


def test_public_view_hides_per_case_results(single_rater, tmp_path):
    ts, truth = single_rater
    doc = score_archive(write_example_archive(tmp_path / "n.zip", testset=ts, kind=ExampleKind.NOISY),
                        testset=ts, truth=truth, options=FAST)
    public = json.dumps(public_view(doc))
    assert "private" not in public_view(doc)
    for case in ts.cases:
        assert case.case_id not in public


def test_parallel_workers_give_identical_results(single_rater, tmp_path):
    ts, truth = single_rater
    archive = write_example_archive(tmp_path / "n.zip", testset=ts, kind=ExampleKind.NOISY)
    one = score_archive(archive, testset=ts, truth=truth, options=FAST)
    two = score_archive(archive, testset=ts, truth=truth,
                        options=ScoringOptions(n_resamples=200, workers=2, worklist_size=WORKLIST))
    assert one["metrics"] == two["metrics"] and one["private"] == two["private"]


def test_cli_validate_and_score(single_rater, tmp_path, capsys):
    ts, truth = single_rater
    good = write_example_archive(tmp_path / "g.zip", testset=ts, kind=ExampleKind.NOISY)
    assert cli_main(["validate", str(good), "--test-set", str(ts.root), "--workers", "1"]) == 0
    out = tmp_path / "r.json"
    assert cli_main(["score", str(good), "--test-set", str(ts.root), "--json", str(out), "--resamples", "100",
                     "--workers", "1", "--triage-days", "5", "--triage-resamples", "3",
                     "--worklist", '{"readers": 3}']) == 0
    printed = capsys.readouterr().out
    assert METRIC_BY_KEY["roc_auc_all"].label in printed and "triage gain, min saved per COVID-19 positive" in printed
    document = json.loads(out.read_text())
    assert document["metrics"]["roc_auc_all"] is not None
    assert document["triage"]["parameters"]["readers"] == 3 and document["triage"]["simulation"]["days"] == 5
    assert cli_main(["score", str(good), "--test-set", str(ts.root), "--worklist", '{"readers": 0}']) == 2
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("predictions.csv", "case_id,covid_probability\nc000,2\nnope,0.1\n")
    assert cli_main(["validate", str(bad), "--test-set", str(ts.root), "--json", str(out), "--workers", "1"]) == 1
    problems = json.loads(out.read_text())["problems"]
    assert len(problems) >= 3  # out of range, unknown case, missing cases
    assert cli_main(["score", str(good), "--test-set", str(tmp_path / "nowhere"), "--workers", "1"]) == 2


def test_csv_and_mask_problems_are_reported_together(single_rater, tmp_path):
    ts, truth = single_rater
    good = write_example_archive(tmp_path / "g.zip", testset=ts, kind=ExampleKind.NOISY)
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "predictions.csv":
                data = data.replace(b"\nc001,", b"\nc001,7")  # probability out of range
            if item.filename == "masks/c002.nii.gz":
                import gzip
                raw = bytearray(gzip.decompress(data))
                raw[400] = 5  # a voxel that is neither 0 nor 1
                data = gzip.compress(bytes(raw))
            dst.writestr(item, data)
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(InvalidInput) as err:
        score_archive(bad, testset=ts, truth=truth, options=FAST, workdir=work)
    cases = {p.case_id for p in err.value.problems}
    assert {"c001", "c002"} <= cases
    assert any("not binary" in p.message for p in err.value.problems)
    assert list(work.iterdir()) == []  # the private work folder is cleaned up


def test_result_document_is_strict_json(single_rater, tmp_path):
    ts, truth = single_rater
    doc = score_archive(write_example_archive(tmp_path / "n.zip", testset=ts, kind=ExampleKind.NOISY),
                        testset=ts, truth=truth, options=FAST)
    json.dumps(doc, allow_nan=False)  # no inf/NaN anywhere, e.g. in ROC thresholds
