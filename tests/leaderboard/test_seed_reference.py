"""`manage.py seed_reference`: reference entries come from the scorer, and a re-run re-scores instead of duplicating."""

import shutil
import zipfile

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from evaluator.testset import load_testset
from leaderboard.submissions.models import Evaluation, Submission

from .test_testsets import relabelled


@pytest.fixture
def fake_predictions(monkeypatch, archives):
    """run_references replaced by copies of a prepared archive (the real one is tested in tests/reference_models)."""
    calls = []

    def run_references(methods, *, testset_dir, out_archives, track, **options):
        calls.append((tuple(methods), track))
        for method in methods:
            shutil.copyfile(archives["container-perfect"], out_archives[method])
        return out_archives

    import reference_models.pipeline

    monkeypatch.setattr(reference_models.pipeline, "run_references", run_references)
    return calls


def test_seed_then_rescore_on_new_labels(label_version, tiny_dir, tmp_path, fake_predictions, capsys):
    call_command("seed_reference", "--methods", "thresholding", "multitask_spatial1", "--tracks", "archive")
    references = Submission.objects.filter(is_reference=True)
    assert sorted(references.values_list("method_name", flat=True)) == ["Multitask-Spatial-1", "Thresholding"]
    assert all(s.reported_result is not None for s in references)  # matched to the paper's Table 2 rows
    assert "the paper's parameters" in references.get(method_name="Thresholding").description
    assert "the benchmark's training schedule" in references.get(method_name="Multitask-Spatial-1").description
    # every case predicted once, by both methods in one pass; the archive track gets the public cases of the
    # same predictions
    assert fake_predictions == [(("thresholding", "multitask_spatial1"), "container")]
    with zipfile.ZipFile(references.get(method_name="Thresholding").file.open()) as archive:
        rows = archive.read("predictions.csv").decode().splitlines()[1:]
        public = {c.case_id for c in load_testset(tiny_dir).cases if c.distribution.value == "public"}
        assert {row.split(",")[0] for row in rows} == public
        assert {n.split("/")[1].split(".")[0] for n in archive.namelist() if n.startswith("masks/")} == public
    call_command("seed_reference", "--methods", "thresholding", "--tracks", "archive")
    assert "up to date" in capsys.readouterr().out
    assert references.count() == 2 and len(fake_predictions) == 1
    call_command("import_testset", str(relabelled(tiny_dir, tmp_path, version="2")), "--no-rescore")
    call_command("seed_reference", "--methods", "thresholding", "--tracks", "archive")
    assert "re-scoring" in capsys.readouterr().out
    thresholding = references.get(method_name="Thresholding")
    assert set(Evaluation.objects.filter(submission=thresholding).values_list("label_version__version", flat=True)) \
        == {"1", "2"}
    assert len(fake_predictions) == 1  # re-scored, not predicted again


def test_entries_say_how_long_their_networks_trained(label_version, fake_predictions):
    call_command("seed_reference", "--methods", "unet2d", "--tracks", "archive", "--steps", "40", "--lung-steps", "200")
    entry = Submission.objects.get(is_reference=True, method_name="2D U-Net")
    assert "40 training batches; lung network: 200 batches" in entry.description


def test_shipped_weights_are_verified_used_as_they_are_and_named(label_version, monkeypatch, archives, tmp_path,
                                                                 settings):
    from reference_models.shipped import SHIPPED_DIR, read_manifest

    settings.DATA_DIR = tmp_path / "data"  # no reference archives predicted by an earlier test

    calls = []

    def run_references(methods, *, testset_dir, out_archives, track, weights_dir, train_if_missing, **options):
        calls.append((weights_dir, train_if_missing))
        for method in methods:
            shutil.copyfile(archives["container-perfect"], out_archives[method])
        return out_archives

    import reference_models.pipeline

    monkeypatch.setattr(reference_models.pipeline, "run_references", run_references)
    with pytest.raises(CommandError, match="no --weights-dir, --steps or --lung-steps"):
        call_command("seed_reference", "--shipped", "--steps", "40")
    call_command("seed_reference", "--shipped", "--methods", "unet2d", "--tracks", "archive")
    assert calls == [(SHIPPED_DIR, False)]  # never trains
    entry = Submission.objects.get(is_reference=True, method_name="2D U-Net")
    manifest = read_manifest(SHIPPED_DIR)
    assert f"seed {manifest['seed']}, commit {manifest['commit'][:12]}" in entry.description

    import reference_models.shipped

    monkeypatch.setattr(reference_models.shipped, "SHIPPED_DIR", tmp_path / "missing")
    with pytest.raises(CommandError, match="not usable: no MANIFEST.json"):
        call_command("seed_reference", "--shipped", "--methods", "unet3d", "--tracks", "archive")
