"""The authors' test layout imported with lungs computed by the reference lung segmentation."""

import numpy as np

from evaluator.phantoms import write_authors_layout
from evaluator.testset import load_testset
from evaluator.truth import build_truth
from reference_models.cli import main as reference_models_main


def test_import_authors_layout_segments_lungs(tiny_weights, tmp_path):
    source = tmp_path / "authors"
    write_authors_layout(source, counts={"covid": 2, "bacterial_pneumonia": 1, "nodules": 1, "normal": 1}, seed=3)
    target = tmp_path / "imported"
    code = reference_models_main(["import-authors", str(source), str(target), "--name", "t", "--version", "1",
                           "--lung-weights", str(tiny_weights / "lungs")])
    assert code == 0
    testset = load_testset(target)
    assert len(testset.cases) == 5
    truth = build_truth(testset, cache_root=tmp_path / "cache")  # lungs hold 1 and 2, both non-empty
    assert all(min(s.lung_voxels) > 0 for s in truth.summaries.values())
    assert all(np.isfinite(s.severity) for s in truth.summaries.values() if s.severity is not None)
