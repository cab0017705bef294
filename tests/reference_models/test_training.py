"""Training: the paper's schedules, batch sampling, loss going down, checkpoints and resume."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from reference_models.data import SeriesRecord, list_dataset
from reference_models.inference import every_kth_slice, slice_step
from reference_models.registry import METHODS
from reference_models.training import default_config, train
from reference_models.training.batches import crop_series, draw_batch, random_patch, sampling_probabilities
from reference_models.training.config import (
    CPU_SCHEDULES,
    HEAD_FAN_IN,
    PAPER_BATCHING,
    PAPER_SCHEDULES,
    ROC_AUC_PLUS_DICE,
    Schedule,
    TrainConfig,
)
from reference_models.training.grid_search import DEFAULT_GRID, PAPER_PARAMETERS, grid_search_thresholding
from reference_models.training.loop import (
    parameter_groups,
    set_learning_rate,
    split_validation,
    training_records,
)
from reference_models.training.objectives import batch_loss, dice, roc_auc
from reference_models.training.prepare import PreparedSeries, prepare_series
from reference_models.weights import build_network, load_model, read_checkpoint
from tests.reference_models.phantom_sets import specs


def _records(phantom_sets: dict) -> list:
    return [r for spec in specs(phantom_sets) for r in list_dataset(spec)]


def _records_with_lungs(phantom_sets: dict) -> list:
    """Series whose dataset has lung masks (MosMed has none: it needs a trained lung network)."""
    return [r for r in _records(phantom_sets) + list_dataset(phantom_sets["testset"]) if r.lungs is not None]


def test_paper_schedules_and_proportional_drops() -> None:
    lungs = PAPER_SCHEDULES["lungs"]
    assert (lungs.optimizer, lungs.lr, lungs.steps) == ("adam", 1e-3, 16_000)
    assert lungs.lr_at(7_999) == 1e-3 and lungs.lr_at(8_000) == 1e-4
    short = lungs.with_steps(160)
    assert short.lr_at(79) == 1e-3 and short.lr_at(80) == 1e-4
    resnet = PAPER_SCHEDULES["resnet50"]
    assert resnet.lr_at(23_999) == 3e-4 and resnet.lr_at(24_000) == 1e-4 and resnet.with_steps(100).lr_at(80) == 1e-4
    assert PAPER_SCHEDULES["unet3d"] == Schedule("sgd", 0.01, 10_000)
    assert PAPER_SCHEDULES["unet2d"].lr_at(14_999) == 3e-4
    assert (PAPER_BATCHING["lungs"].unit, PAPER_BATCHING["lungs"].size) == ("slices", 30)
    assert (PAPER_BATCHING["unet3d"].size, PAPER_BATCHING["unet3d"].patch) == (16, (160, 160, 160))
    multitask = PAPER_BATCHING["multitask_spatial1"]
    assert multitask.size == 5 and multitask.sampling == "multitask"
    assert PAPER_BATCHING["unet2d_plus"].sampling == "balanced"
    config = default_config("multitask_latent", scale="small", steps=10, seed=3)
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ValueError, match="no network"):
        default_config("thresholding")


def test_3d_unet_keeps_the_papers_sgd_at_paper_scale_and_uses_adam_on_the_cpu_scales() -> None:
    paper = default_config("unet3d")
    assert paper.schedule == Schedule("sgd", 0.01, 10_000) and paper.batching.lesion_patches == 0.0
    for scale in ("small", "tiny"):
        config = default_config("unet3d", scale=scale, steps=600)
        assert config.schedule == CPU_SCHEDULES["unet3d"].with_steps(600) == Schedule("adam", 1e-3, 600)
        assert config.batching.lesion_patches == 0.5
    assert default_config("unet2d", scale="small").schedule == PAPER_SCHEDULES["unet2d"]  # only 3D U-Net changes


def test_the_classifiers_wide_heads_learn_slower_on_the_cpu_scales() -> None:
    """The head's first layer learns at lr · HEAD_FAN_IN / fan-in where its fan-in is wider (dead ReLUs, §12)."""
    torch.manual_seed(0)
    for method in ("resnet50", "multitask_latent", "multitask_spatial4", "multitask_spatial1"):
        assert default_config(method).schedule == PAPER_SCHEDULES[method]  # the paper: one lr for every weight
        assert default_config(method).schedule.head_fan_in is None
        assert default_config(method, scale="small").schedule.head_fan_in == HEAD_FAN_IN
    assert default_config("unet2d", scale="small").schedule.head_fan_in is None
    scales = {}
    for method in ("resnet50", "multitask_latent", "multitask_spatial4", "multitask_spatial1"):
        config = default_config(method, scale="small", steps=10)
        model = build_network(METHODS[method], config.model_kwargs)
        groups = parameter_groups(config, model)
        first = model.classifier[1]
        assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
        scaled = [g for g in groups if g["lr_scale"] != 1.0]
        if first.in_features <= HEAD_FAN_IN:
            assert scaled == []
        else:
            assert len(scaled) == 1 and scaled[0]["params"] == [first.weight]
            assert scaled[0]["lr_scale"] == pytest.approx(HEAD_FAN_IN / first.in_features)
        scales[method] = (first.in_features, scaled[0]["lr_scale"] if scaled else 1.0)
    assert scales["resnet50"] == (960, 1.0)
    assert [scales[m][0] for m in ("multitask_spatial1", "multitask_spatial4", "multitask_latent")] == [
        2_340, 18_720, 74_880]
    assert {m: s for m, (_, s) in scales.items() if s != 1.0} == pytest.approx(
        {"multitask_latent": 8_192 / 74_880, "multitask_spatial4": 8_192 / 18_720})
    tiny = default_config("multitask_latent", scale="tiny", steps=2)
    model = build_network(METHODS["multitask_latent"], tiny.model_kwargs)
    assert [g["lr_scale"] for g in parameter_groups(tiny, model)] == [1.0, pytest.approx(8_192 / 18_720)]
    unscaled = dataclasses.replace(tiny, schedule=dataclasses.replace(tiny.schedule, head_fan_in=None))
    assert [g["lr_scale"] for g in parameter_groups(unscaled, model)] == [1.0]
    optimizer = torch.optim.Adam(parameter_groups(tiny, model))
    set_learning_rate(optimizer, 1e-4)  # what the loop does at every batch, e.g. after the schedule's drop
    assert [g["lr"] for g in optimizer.param_groups] == [1e-4, pytest.approx(1e-4 * 8_192 / 18_720)]


def test_the_small_scales_widest_heads_have_leaky_units_and_multitask_models_select_on_both_tasks() -> None:
    """At the small scale Latent and Spatial-4 (fan-in above HEAD_FAN_IN) get leaky hidden units, and every
    multitask model keeps the checkpoint of the best validation ROC-AUC + Dice; the paper's scale keeps the ReLU
    and ROC-AUC (§12)."""
    for method in ("multitask_latent", "multitask_spatial4", "multitask_spatial1", "resnet50"):
        small = default_config(method, scale="small")
        model = build_network(METHODS[method], small.model_kwargs)
        activation = model.classifier[2]
        if method in ("multitask_latent", "multitask_spatial4"):
            assert model.classifier[1].in_features > HEAD_FAN_IN
            assert isinstance(activation, torch.nn.LeakyReLU) and activation.negative_slope == 0.01
        else:
            assert model.classifier[1].in_features <= HEAD_FAN_IN
            assert type(activation) is torch.nn.ReLU
        expected = ROC_AUC_PLUS_DICE if method.startswith("multitask") else "roc_auc"
        assert small.selection == expected
        assert default_config(method).selection == "roc_auc"
        tiny = default_config(method, scale="tiny").model_kwargs
        assert type(build_network(METHODS[method], tiny).classifier[2]) is torch.nn.ReLU
    assert default_config("unet2d", scale="small").selection == "dice"
    before = default_config("multitask_latent", scale="small").to_dict()
    del before["select"]  # a config written before the field: the paper's selection
    assert TrainConfig.from_dict(before).selection == "roc_auc"


@pytest.mark.parametrize("select", ["roc_auc", ROC_AUC_PLUS_DICE])
def test_training_keeps_the_checkpoint_its_selection_names(
    select: str, phantom_sets: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Validations scripted so that ROC-AUC alone picks batch 2 and ROC-AUC + Dice batch 4. With ROC-AUC + Dice
    the Dice comes from the annotated series the segmenters hold out (same rule and seed), never trained on."""
    from reference_models.training import loop

    rocs, dices = iter([0.9, 0.6, 0.7]), iter([0.1, 0.5, 0.2])
    calls: list[list[str]] = []

    def validate(model, items, *, config):  # noqa: ANN001, ANN202
        calls.append([item.series_id for item in items])
        if all(item.has_mask for item in items):
            return {"n": len(items), "roc_auc": None, "dice": next(dices)}
        return {"n": len(items), "roc_auc": next(rocs), "dice": None}

    monkeypatch.setattr(loop, "validate", validate)
    records = _records_with_lungs(phantom_sets)
    config = dataclasses.replace(default_config("multitask_spatial1", scale="tiny", steps=6, epoch_steps=2, seed=3),
                                 select=select)
    result = train(config, records=records, out_dir=tmp_path / "run", progress=False, cache_dir=tmp_path / "cache")
    expected = 2 if select == "roc_auc" else 4
    assert read_checkpoint(tmp_path / "run")["step"] == result.best_step == expected
    assert read_checkpoint(tmp_path / "run")["config"]["select"] == select
    data = json.loads((tmp_path / "run" / "data.json").read_text())
    if select == "roc_auc":
        assert data["validation_masks"] == [] and len(calls) == 3
        assert all(h["dice"] is None and ROC_AUC_PLUS_DICE not in h for h in result.history)
        return
    segmenters = split_validation("unet2d", training_records("unet2d", records)[0], val_size=None, seed=3)[1]
    assert data["validation_masks"] == [r.series_id for r in segmenters] != []
    assert not set(data["validation_masks"]) & set(data["train"])
    assert len(calls) == 6 and calls[1] == data["validation_masks"]
    assert [h[ROC_AUC_PLUS_DICE] for h in result.history] == pytest.approx([1.0, 1.1, 0.9])


def test_live_units_are_counted_for_leaky_heads_too() -> None:
    from reference_models.training.objectives import head_units

    config = default_config("multitask_spatial4", scale="small")
    model = build_network(METHODS["multitask_spatial4"], config.model_kwargs).eval()
    first = model.classifier[1]
    with torch.no_grad():
        first.weight.zero_()
        first.bias.copy_(torch.linspace(-1, 1, first.out_features))
    with head_units(model) as live, torch.no_grad():
        model(torch.rand(1, 1, 64, 64, 8))
    assert live.count == int((first.bias > 0).sum()) == first.out_features // 2


def test_validation_counts_the_heads_live_hidden_units() -> None:
    from reference_models.training.objectives import head_units

    config = default_config("multitask_spatial1", scale="tiny", steps=2)
    model = build_network(METHODS["multitask_spatial1"], config.model_kwargs).eval()
    first = model.classifier[1]
    with torch.no_grad():
        first.weight.zero_()
        first.bias.copy_(torch.linspace(-1, 1, first.out_features))  # units with bias > 0 are live for any input
    series = torch.rand(2, 1, 32, 32, 4)
    with head_units(model) as live, torch.no_grad():
        model(series)
    assert live.count == int((first.bias > 0).sum()) == first.out_features // 2
    assert not model.classifier[2]._forward_hooks  # the hook is removed on leaving
    with torch.no_grad():
        first.bias.fill_(-1.0)  # every unit dead: the head outputs its last bias whatever the series
    with head_units(model) as live, torch.no_grad():
        model(series)
    assert live.count == 0


def test_classifiers_see_their_training_crop_at_inference_on_the_cpu_scales() -> None:
    for method in ("resnet50", "multitask_latent", "multitask_spatial4", "multitask_spatial1"):
        assert default_config(method).predict_options == {}  # the paper: all slices
        small = default_config(method, scale="small")
        assert small.predict_options == {"classifier_slices": small.batching.max_slices} == {"classifier_slices": 8}
        assert default_config(method, scale="small", max_slices=16).predict_options == {"classifier_slices": 16}
    assert "classifier_slices" not in default_config("unet2d", scale="small").predict_options
    assert list(range(25)[every_kth_slice(25, 8)]) == [1, 5, 9, 13, 17, 21]  # k = 4, from the middle offset
    assert list(range(25)[every_kth_slice(25, 8, offset=3)]) == [3, 7, 11, 15, 19, 23]
    assert list(range(6)[every_kth_slice(6, 8)]) == list(range(6)[every_kth_slice(6, None)]) == [0, 1, 2, 3, 4, 5]
    assert slice_step(300, 8) == 38 and len(range(300)[every_kth_slice(300, 8)]) == 8
    volume = np.zeros((2, 2, 25), np.float32)
    assert np.shares_memory(volume[:, :, every_kth_slice(25, 8)], volume)  # a view: inference copies nothing
    assert torch.from_numpy(volume)[:, :, every_kth_slice(25, None)].data_ptr() == torch.from_numpy(volume).data_ptr()


def test_lesion_patches_hold_a_lesion_voxel_and_uniform_ones_may_not() -> None:
    image = np.random.default_rng(0).random((80, 60, 30), dtype=np.float32)
    target = np.zeros(image.shape, bool)
    target[70:72, 5:7, 25:27] = True  # one small lesion in a corner
    rng = np.random.default_rng(1)
    around = [random_patch(image, target, rng=rng, patch=(32, 32, 8), lesion_fraction=1.0) for _ in range(50)]
    assert all(t is not None and t.any() for _, t in around)
    uniform = [random_patch(image, target, rng=rng, patch=(32, 32, 8)) for _ in range(50)]
    assert sum(bool(t is not None and t.any()) for _, t in uniform) < 10
    patch, lesions = around[0]
    assert patch.shape == (32, 32, 8) and lesions is not None and lesions.shape == patch.shape
    # a patch is a window of the image (clipped to it), target and image aligned
    x, y, z = (int(v[0]) for v in np.nonzero(patch == image[70, 5, 25]))
    assert lesions[x, y, z]
    # no lesion: uniform placement, with or without the option
    empty = np.zeros(image.shape, bool)
    a = random_patch(image, empty, rng=np.random.default_rng(2), patch=(32, 32, 8), lesion_fraction=1.0)[0]
    assert a.shape == (32, 32, 8)


def _item(label: int | None, masked: bool) -> PreparedSeries:
    image = np.zeros((4, 4, 3), np.float16)
    return PreparedSeries("x", image, np.zeros(image.shape, bool) if masked else None, label, masked)


def test_sampling_weights() -> None:
    items = [_item(0, False)] * 3 + [_item(1, False)] * 2 + [_item(1, True)] * 5
    p = sampling_probabilities(items, sampling="multitask")
    assert p[:3].sum() == pytest.approx(0.25) and p[3:5].sum() == pytest.approx(0.25)
    assert p[5:].sum() == pytest.approx(0.5)
    balanced = sampling_probabilities(items, sampling="balanced")
    assert balanced[:3].sum() == pytest.approx(0.5) and np.allclose(balanced[3:], 0.5 / 7)
    without_negatives = sampling_probabilities(items[3:], sampling="multitask")
    assert without_negatives[:2].sum() == pytest.approx(1 / 3)


def test_series_crop_takes_every_kth_slice_and_centres_in_plane() -> None:
    image = np.arange(10 * 8 * 40, dtype=np.float32).reshape(10, 8, 40)
    cropped, target = crop_series(image, image > 100, rng=np.random.default_rng(1), max_slices=8,
                                  max_in_plane=(6, 8))
    assert cropped.shape == (6, 8, 8) and target.shape == cropped.shape
    slices = cropped[0, 0] - image[2, 0, 0]
    assert np.all(np.diff(slices) == 5) and 0 <= slices[0] < 5  # k = ceil(40 / 8) = 5, random offset
    assert np.array_equal(cropped, image[2:8, :, int(slices[0]) :: 5])


def test_roles_and_stratified_validation_split(phantom_sets: dict) -> None:
    records = _records(phantom_sets)
    pool, extra = training_records("multitask_spatial1", records)
    assert all(not r.has_mask and r.label is not None for r in pool) and all(r.has_mask for r in extra)
    plus_pool, negatives = training_records("unet2d_plus", records)
    assert all(r.label == 0 for r in negatives) and len(negatives) == 4 and len(plus_pool) == 6
    assert len(training_records("lungs", records)[0]) == 6  # MedSeg 2 + COVID-19-CT-Seg 2 + NSCLC 2
    fake = [SeriesRecord("nifti", Path("."), f"s{i}", Path(f"s{i}.nii.gz"), label=int(i < 10)) for i in range(30)]
    train_part, val = split_validation("resnet50", fake, val_size=6, seed=0)
    assert sorted(r.label for r in val) == [0, 0, 0, 0, 1, 1] and len(train_part) == 24
    assert not {r.series_id for r in val} & {r.series_id for r in train_part}
    assert split_validation("resnet50", fake, val_size=6, seed=0)[1] == val  # seeded
    assert split_validation("resnet50", fake, val_size=6, seed=1)[1] != val
    assert len(split_validation("resnet50", fake, val_size=None, seed=0)[1]) == 6  # a fifth of a small set
    assert len(split_validation("unet2d", fake[:12], val_size=None, seed=0)[1]) == 1  # 10 %, at least one


@pytest.mark.parametrize("method", ["unet2d", "multitask_spatial1"])
def test_a_few_steps_lower_the_loss(method: str, phantom_sets: dict) -> None:
    config = default_config(method, scale="tiny", batch_size=4, max_slices=4)
    records = _records_with_lungs(phantom_sets)
    pool, extra = training_records(method, records)
    items = [prepare_series(r, purpose="lesions") for r in pool + extra]
    batch = draw_batch(items, sampling_probabilities(items, sampling=config.batching.sampling), config.batching,
                       rng=np.random.default_rng(0))
    assert bool(batch.has_mask.any())
    torch.manual_seed(0)
    model = build_network(METHODS[method], config.model_kwargs)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.schedule.lr)
    model.train()
    losses = []
    for _ in range(12):
        loss, _ = batch_loss(method, model, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.9 * losses[0]


def test_cached_preparation_survives_a_concurrent_writer(phantom_sets: dict, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Benchmark runs share one cache: while this call writes a series, another finishes the same one first.
    Each writes into a folder of its own, so neither loses its files; the first to finish wins, nothing is left."""
    from reference_models.training import prepare

    record = _records_with_lungs(phantom_sets)[0]
    cache = tmp_path / "cache"
    real = prepare._prepare
    calls = []

    def racing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:  # the other run prepares and stores the same series while this one works
            prepare_series(record, purpose="hu", cache_dir=cache)
        return real(*args, **kwargs)

    monkeypatch.setattr(prepare, "_prepare", racing)
    first = prepare_series(record, purpose="hu", cache_dir=cache)
    assert len(calls) == 2
    entries = list(cache.iterdir())
    assert len(entries) == 1 and not entries[0].name.endswith(".tmp")  # one series, no writer's folder left
    again = prepare_series(record, purpose="hu", cache_dir=cache)
    assert len(calls) == 2  # served from the cache
    assert np.array_equal(first.image, again.image) and first.series_id == again.series_id


class _Stop(Exception):
    pass


def test_checkpoints_resume_to_the_same_weights(phantom_sets: dict, tmp_path: Path) -> None:
    records = _records_with_lungs(phantom_sets)
    config = default_config("multitask_spatial1", scale="tiny", steps=4, epoch_steps=2, seed=5)
    cache = tmp_path / "cache"
    whole = train(config, records=records, out_dir=tmp_path / "whole", progress=False, cache_dir=cache)

    def stop_after_first_epoch(text: str) -> None:
        raise _Stop(text)

    with pytest.raises(_Stop):
        train(config, records=records, out_dir=tmp_path / "split", progress=False, cache_dir=cache,
              log=stop_after_first_epoch)
    assert read_checkpoint(tmp_path / "split", name="last.pt")["step"] == 2
    resumed = train(config, records=records, out_dir=tmp_path / "split", progress=False, cache_dir=cache,
                    resume=True, log=lambda text: None)
    a = read_checkpoint(tmp_path / "whole", name="last.pt")
    b = read_checkpoint(tmp_path / "split", name="last.pt")
    assert a["step"] == b["step"] == 4
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    assert [h["train_loss"] for h in whole.history] == [h["train_loss"] for h in resumed.history]

    best = read_checkpoint(tmp_path / "whole")
    assert best["config"]["method"] == "multitask_spatial1" and best["config"]["seed"] == 5
    assert best["data"]["train"] and best["data"]["validation"]
    provenance = json.loads((tmp_path / "whole" / "data.json").read_text())
    assert {p["layout"] for p in provenance["train_provenance"]} == {"testset", "medseg", "covid-ct-seg", "nifti"}
    assert len((tmp_path / "whole" / "history.jsonl").read_text().splitlines()) == 2
    loaded = load_model(tmp_path / "whole")
    assert loaded.method.name == "multitask_spatial1" and not loaded.model.training
    other = default_config("multitask_spatial1", scale="tiny", steps=4, epoch_steps=2, seed=6)
    with pytest.raises(ValueError, match="another configuration"):
        train(other, records=records, out_dir=tmp_path / "split", progress=False, cache_dir=cache, resume=True)


def test_metrics_and_thresholding_grid_search(phantom_sets: dict) -> None:
    assert dice(np.zeros(3, bool), np.zeros(3, bool)) == 1.0
    assert dice(np.array([1, 1, 0], bool), np.array([1, 0, 0], bool)) == pytest.approx(2 / 3)
    assert roc_auc([1, 1], [0.2, 0.3]) is None and roc_auc([0, 1], [0.2, 0.3]) == 1.0
    pool, _ = training_records("thresholding", _records_with_lungs(phantom_sets))
    items = [prepare_series(r, purpose="hu") for r in pool]
    assert all(item.image.min() < -500 for item in items)  # HU, not windowed
    grid = {**{k: (v,) for k, v in PAPER_PARAMETERS.items()}, "hu_min": (-800.0, -700.0)}
    result = grid_search_thresholding(items, grid=grid)
    assert len(result.table) == 2 and result.parameters["hu_min"] in (-800.0, -700.0)
    assert result.mean_dice == max(row["mean_dice"] for row in result.table) and 0 < result.mean_dice <= 1
    assert all(PAPER_PARAMETERS[k] in DEFAULT_GRID[k] for k in PAPER_PARAMETERS)
