"""Label versions: import (every problem listed), versions, bundles without labels, the paper's rows."""

import json
import shutil
import zipfile

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from leaderboard.storage import private_storage, public_storage
from leaderboard.submissions.models import Evaluation
from leaderboard.testsets import models as testset_models
from leaderboard.testsets import services as testset_services
from leaderboard.testsets.models import LabelVersion, ReportedResult
from leaderboard.testsets.paper import TABLE

from .helpers import submit_and_score


def test_import_command(db, tiny_dir, capsys):
    call_command("import_testset", str(tiny_dir), "--noinput")
    assert "12 cases (9 public, 3 private); current" in capsys.readouterr().out
    version = LabelVersion.objects.get()
    assert version.is_current and version.group_sizes == {"covid": 3, "bacterial_pneumonia": 3, "nodules": 3,
                                                           "normal": 3}
    assert {e["path"] for e in version.manifest} >= {"testset.json", "cases.csv", "lungs/c000.nii.gz"}
    copied = testset_services.testset_directory(version) / "cases.csv"
    assert copied.read_bytes() == (tiny_dir / "cases.csv").read_bytes()
    call_command("import_testset", str(tiny_dir), "--noinput")
    assert "already imported" in capsys.readouterr().out and LabelVersion.objects.count() == 1


def test_import_lists_every_problem(db, tiny_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_dir, broken)
    (broken / "images" / "c001.nii.gz").unlink()
    (broken / "lungs" / "c005.nii.gz").unlink()
    with pytest.raises(CommandError) as error:
        call_command("import_testset", str(broken), "--noinput")
    assert "c001" in str(error.value) and "c005" in str(error.value) and "2 problem(s)" in str(error.value)
    assert not LabelVersion.objects.exists()


def relabelled(tiny_dir, tmp_path, *, version: str):
    copy = tmp_path / f"v{version}"
    shutil.copytree(tiny_dir, copy)
    meta = json.loads((copy / "testset.json").read_text())
    (copy / "testset.json").write_text(json.dumps({**meta, "version": version}))
    (copy / "cases.csv").write_text((copy / "cases.csv").read_text().replace("c004,bacterial_pneumonia",
                                                                              "c004,normal"))
    return copy


def test_a_new_label_version_keeps_old_results_and_can_rescore(label_version, team_a, archives, tiny_dir,
                                                                tmp_path, capsys):
    old = submit_and_score(team_a, archives["noisy"])
    call_command("import_testset", str(relabelled(tiny_dir, tmp_path, version="2")), "--rescore")
    assert "queued 1 evaluation(s) on the new labels" in capsys.readouterr().out
    new_version = LabelVersion.objects.get(version="2")
    label_version.refresh_from_db()
    assert new_version.is_current and not label_version.is_current
    old.refresh_from_db()
    assert old.label_version == label_version and old.state == "done"  # old results stay tagged
    assert Evaluation.objects.filter(label_version=new_version, submission=old.submission).exists()


def test_same_version_with_other_labels_is_refused(label_version, tiny_dir, tmp_path):
    with pytest.raises(CommandError, match="new 'version'"):
        call_command("import_testset", str(relabelled(tiny_dir, tmp_path, version="1")), "--noinput")


def test_public_images_bundle_holds_inputs_only(label_version):
    with private_storage().open(label_version.public_images_bundle) as handle, zipfile.ZipFile(handle) as bundle:
        names = set(bundle.namelist())
        cases = bundle.read("cases.txt").decode().split()
        manifest = json.loads(bundle.read("cases.json"))
    public = [f"c{i:03d}" for i in range(12) if not 6 <= i < 9]  # c006-c008 are the private nodules
    assert cases == public
    assert names == {"README.txt", "cases.txt", "cases.json"} | {f"images/{c}.nii.gz" for c in public}
    assert manifest == {"format": 1, "name": "tiny", "version": "1", "public_case_ids": public,
                        "other_case_ids": ["c006", "c007", "c008"]}


def test_sample_set_is_public_and_complete(db, tiny_dir):
    call_command("import_testset", str(tiny_dir), "--sample", "--noinput")
    version = LabelVersion.objects.get(testset__kind=testset_models.TestSet.Kind.SAMPLE)
    assert not version.public_images_bundle
    with public_storage().open(version.sample_bundle) as handle, zipfile.ZipFile(handle) as bundle:
        names = set(bundle.namelist())
    assert {"cases.csv", "testset.json", "lungs/c000.nii.gz", "lesions/c000/rater1.nii.gz",
            "example-predictions.zip", "README.txt"} <= names


def test_paper_rows_are_the_published_table(db):
    table = json.loads(TABLE.read_text())
    rows = list(ReportedResult.objects.all())
    assert [r.method for r in rows] == [row["method"] for row in table["rows"]]
    best = ReportedResult.objects.get(method="Multitask-Spatial-1")
    assert best.values()["roc_auc_all"] == (0.93, 0.01) and best.values()["mean_dice"] == (0.61, 0.02)
    resnet = ReportedResult.objects.get(method="ResNet50")
    assert resnet.values()["spearman_rho"] == (None, None)
    assert "Table 2" in best.source


def test_worklist_parameters_command_and_the_worker_uses_them(label_version, team_a, archives, capsys):
    slug = label_version.testset.slug
    call_command("worklist_parameters", slug)
    assert "readers = 2  (default)" in capsys.readouterr().out
    call_command("worklist_parameters", slug, "--set", "readers=3", "--set", "reading_time=fixed")
    assert "readers = 3  (set)" in capsys.readouterr().out
    with pytest.raises(CommandError) as error:
        call_command("worklist_parameters", slug, "--set", "readers=0", "--set", "reading_minutes=-2")
    assert "readers" in str(error.value) and "reading_minutes" in str(error.value)
    label_version.testset.refresh_from_db()
    assert label_version.testset.worklist_parameters == {"readers": 3, "reading_time": "fixed"}  # unchanged by errors
    evaluation = submit_and_score(team_a, archives["noisy"])
    assert evaluation.result["triage"]["parameters"]["readers"] == 3
    assert evaluation.result["triage"]["parameters"]["reading_time"] == "fixed"
    call_command("worklist_parameters", slug, "--reset")
    label_version.testset.refresh_from_db()
    assert label_version.testset.worklist_parameters == {}


def test_admin_checks_the_worklist_parameters(client, maintainer, label_version):
    client.force_login(maintainer)
    testset = label_version.testset
    url = reverse("admin:testsets_testset_change", args=[testset.pk])
    form = {"description": "", "label_versions-TOTAL_FORMS": "0", "label_versions-INITIAL_FORMS": "0",
            "feedback_policy": testset.feedback_policy, "feedback_guard": "on",  # the page's other fields, as shown
            "split_fraction": testset.split_fraction, "ladder_eta": testset.ladder_eta,
            "final_selections": testset.final_selections}
    page = client.post(url, {**form, "worklist_parameters": '{"readers": 0, "speed": 1}'})
    assert page.status_code == 200 and "readers must be a whole number" in page.content.decode()
    assert "unknown parameter" in page.content.decode()
    saved = client.post(url, {**form, "worklist_parameters": '{"readers": 4}'})
    assert saved.status_code == 302
    testset.refresh_from_db()
    assert testset.worklist().readers == 4 and testset.feedback_guard
