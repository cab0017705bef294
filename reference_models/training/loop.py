"""The training loop shared by every network: data roles, validation split, schedule, checkpoints, resume.

Which series each method trains on (Sec. 4.2–4.4; from whatever datasets are given):

* ``lungs``: every series with a lung mask.
* ``unet2d``, ``unet3d``: the COVID-19 series with a lesion mask.
* ``unet2d_plus``: those plus every negative series (label 0), whose masks are assumed empty; balanced batches.
* ``resnet50``: the labelled series *without* a lesion mask (the paper's classification sets); balanced batches.
* multitask models: classification on the same series as ResNet50, segmentation on the annotated ones; batches
  drawn with the notes' weights (0.25 negatives, 0.25 positives without mask, 0.5 positives with mask).

Validation: classifiers hold out a stratified random subset of their classification series (30 as in the paper,
or a fifth of them for small sets) and keep the weights with the best validation ROC-AUC; segmenters and the
lung network hold out 10 % (at least one) of their annotated series and keep the best validation Dice. Ties go to
the later checkpoint; while the metric is undefined (no validation series, one class only) the latest weights
are kept. Validation runs every ``epoch_steps`` batches and after the last one.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from reference_models.data.records import SeriesRecord, label_counts
from reference_models.networks.blocks import head_hidden_layer
from reference_models.registry import METHODS
from reference_models.training.batches import draw_batch, sampling_probabilities
from reference_models.training.config import CLASSIFIERS, MULTITASK, ROC_AUC_PLUS_DICE, TrainConfig
from reference_models.training.objectives import batch_loss, validate
from reference_models.training.prepare import PreparedSeries, prepare_series
from reference_models.weights import (
    BEST,
    LAST,
    LoadedModel,
    build_network,
    read_checkpoint,
    save_checkpoint,
    write_json,
)

CLASSIFIER_VAL_SIZE = 30


@dataclass(frozen=True)
class TrainResult:
    out_dir: Path
    steps: int
    best_step: int | None
    best_metric: float | None
    history: list[dict[str, Any]]
    seconds: float


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"``: CUDA when available, else the CPU."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def training_records(method: str, records: Sequence[SeriesRecord]) -> tuple[list[SeriesRecord], list[SeriesRecord]]:
    """``(classification or segmentation records to split for validation, records only ever trained on)``."""
    masked = [r for r in records if r.has_mask and r.label != 0]
    extra: list[SeriesRecord]
    if method == "lungs":
        pool, extra = [r for r in records if r.lungs is not None], []
    elif method in ("unet2d", "unet3d", "thresholding"):
        pool, extra = masked, []
    elif method == "unet2d_plus":
        pool, extra = masked, [r for r in records if r.label == 0]
    elif method in CLASSIFIERS:
        pool = [r for r in records if r.label is not None and not r.has_mask]
        extra = masked if method in MULTITASK else []
    else:
        raise ValueError(f"no training data roles for {method!r}")
    if not pool:
        need = {"lungs": "lung masks", "resnet50": "labelled series without lesion masks"}.get(method, "")
        need = need or ("labelled series without lesion masks" if method in CLASSIFIERS else "lesion masks")
        raise ValueError(f"{method}: none of the {len(records)} series has {need}")
    return pool, extra


def split_validation(
    method: str, pool: Sequence[SeriesRecord], *, val_size: int | None, seed: int
) -> tuple[list[SeriesRecord], list[SeriesRecord]]:
    """``(train, validation)``: stratified by label for classifiers, uniform otherwise; seeded."""
    rng = np.random.default_rng([seed, 0x5EED])
    n = len(pool)
    if val_size is None:
        if method in CLASSIFIERS:
            val_size = CLASSIFIER_VAL_SIZE if n >= 5 * CLASSIFIER_VAL_SIZE else max(2, round(n / 5))
        else:
            val_size = max(1, round(0.1 * n)) if n >= 2 else 0
    val_size = min(int(val_size), n - 1)
    if val_size <= 0:
        return list(pool), []
    if method in CLASSIFIERS:
        chosen: list[int] = []
        labels = sorted({r.label for r in pool}, key=str)
        for label in labels:
            members = [i for i, r in enumerate(pool) if r.label == label]
            take = max(1, round(val_size * len(members) / n)) if len(members) > 1 else 0
            chosen += list(rng.choice(members, size=min(take, len(members) - 1), replace=False))
    else:
        chosen = list(rng.choice(n, size=val_size, replace=False))
    val = set(int(i) for i in chosen)
    return [r for i, r in enumerate(pool) if i not in val], [r for i, r in enumerate(pool) if i in val]


def _purpose(method: str) -> str:
    return "lungs" if method == "lungs" else "lesions"


def prepare_all(
    records: Sequence[SeriesRecord],
    *,
    method: str,
    lung_model: LoadedModel | None,
    cache_dir: Path | None,
    progress: bool,
    desc: str,
) -> list[PreparedSeries]:
    return [
        prepare_series(
            record,
            purpose=_purpose(method),
            lung_model=lung_model.model if lung_model is not None and method != "lungs" else None,
            lungs_digest=lung_model.digest if lung_model is not None else None,
            assume_empty=method == "unet2d_plus",
            cache_dir=cache_dir,
        )
        for record in tqdm(records, desc=desc, disable=not progress, leave=False)
    ]


def parameter_groups(config: TrainConfig, model: torch.nn.Module) -> list[dict[str, Any]]:
    """The optimiser's parameter groups, each with an ``lr_scale`` (its learning rate is ``lr_scale`` times the
    schedule's): one group at 1, and with ``schedule.head_fan_in`` the weight of the classification head's first
    linear layer at ``min(1, head_fan_in / fan-in)``."""
    first = head_hidden_layer(model)
    fan_in = config.schedule.head_fan_in
    if fan_in is None or first is None or first.in_features <= fan_in:
        return [{"params": list(model.parameters()), "lr_scale": 1.0}]
    rest = [p for p in model.parameters() if p is not first.weight]
    return [{"params": rest, "lr_scale": 1.0}, {"params": [first.weight], "lr_scale": fan_in / first.in_features}]


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """The schedule's ``lr`` for this batch, times each group's ``lr_scale`` (:func:`parameter_groups`)."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)


def _optimizer(config: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    groups = parameter_groups(config, model)
    optimizer: torch.optim.Optimizer
    if config.schedule.optimizer == "adam":
        optimizer = torch.optim.Adam(groups, lr=config.schedule.lr)
    elif config.schedule.optimizer == "sgd":
        optimizer = torch.optim.SGD(groups, lr=config.schedule.lr)
    else:
        raise ValueError(f"unknown optimizer {config.schedule.optimizer!r}")
    set_learning_rate(optimizer, config.schedule.lr)
    return optimizer


def _payload(config: TrainConfig, model: torch.nn.Module, *, step: int, metrics: dict, data: dict) -> dict[str, Any]:
    return {
        "method": config.method,
        "model_kwargs": config.model_kwargs,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "predict_options": config.predict_options,
        "config": config.to_dict(),
        "step": step,
        "metrics": metrics,
        "data": data,
    }


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    """The parts of a config that must agree for ``--resume``."""
    return {k: config[k] for k in ("method", "scale", "model_kwargs", "schedule", "batching", "seed")}


def train(
    config: TrainConfig,
    *,
    records: Sequence[SeriesRecord],
    out_dir: Path | str,
    lung_model: LoadedModel | None = None,
    resume: bool = False,
    device: str | torch.device = "auto",
    cache_dir: Path | str | None = None,
    progress: bool = True,
    datasets: Sequence[str] = (),
    log: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train ``config.method`` on ``records`` into ``out_dir`` (see the module doc and :mod:`reference_models.weights`).

    ``lung_model``: a trained lung network whose predicted lungs crop every series (as at inference); without one,
    the datasets' own lung masks are used. ``resume`` continues from ``out_dir/last.pt`` (same config required).
    """
    started = time.perf_counter()
    say = log or (lambda text: tqdm.write(text) if progress else None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(device)
    method = config.method
    if METHODS[method].build is None:
        raise ValueError(f"{method} has no network to train")
    cache = Path(cache_dir) if cache_dir is not None else None

    pool, extra = training_records(method, records)
    train_records, val_records = split_validation(method, pool, val_size=config.val_size, seed=config.seed)
    mask_val_records: list[SeriesRecord] = []
    if config.selection == ROC_AUC_PLUS_DICE:  # the segmenters' held-out annotated series (same rule and seed)
        extra, mask_val_records = split_validation("unet2d", extra, val_size=None, seed=config.seed)
    train_records += extra
    data = {
        "datasets": list(datasets),
        "counts": {"train": label_counts(train_records), "validation": label_counts(val_records)},
        "train": [r.series_id for r in train_records],
        "validation": [r.series_id for r in val_records],
        "validation_masks": [r.series_id for r in mask_val_records],
        "lungs": {"source": "predicted", "weights_digest": lung_model.digest} if lung_model and method != "lungs"
        else {"source": "dataset masks"},
    }
    write_json(out / "config.json", config.to_dict())
    write_json(out / "data.json", {**data, "train_provenance": [r.provenance() for r in train_records],
                                   "validation_provenance": [r.provenance() for r in val_records + mask_val_records]})

    torch.manual_seed(config.seed)
    model = build_network(METHODS[method], config.model_kwargs)
    assert model is not None
    model.to(device)
    optimizer = _optimizer(config, model)
    best: dict[str, Any]
    start_step, history, best = 0, [], {"step": None, "value": None}
    if resume and (out / LAST).is_file():
        state = read_checkpoint(out, name=LAST)
        if _comparable(state["config"]) != _comparable(config.to_dict()):
            raise ValueError(f"{out / LAST} was written with another configuration; train into a new folder")
        model.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        start_step, history, best = int(state["step"]), list(state["history"]), dict(state["best"])
        say(f"resuming {method} at batch {start_step} of {config.schedule.steps}")
    elif not resume:
        (out / "history.jsonl").unlink(missing_ok=True)

    train_items = prepare_all(train_records, method=method, lung_model=lung_model, cache_dir=cache,
                              progress=progress, desc=f"{method}: preparing training series")
    val_items = prepare_all(val_records, method=method, lung_model=lung_model, cache_dir=cache,
                            progress=progress, desc=f"{method}: preparing validation series")
    mask_val_items = prepare_all(mask_val_records, method=method, lung_model=lung_model, cache_dir=cache,
                                 progress=progress, desc=f"{method}: preparing annotated validation series")
    probabilities = sampling_probabilities(train_items, sampling=config.batching.sampling)
    total = config.schedule.steps
    epoch_steps = config.epoch_steps or max(1, math.ceil(len(train_items) / config.batching.size))
    metric_name = config.selection

    model.train()
    losses: list[float] = []
    bar = tqdm(total=total, initial=start_step, desc=f"train {method}", disable=not progress, dynamic_ncols=True)
    for step in range(start_step, total):
        lr = config.schedule.lr_at(step)
        set_learning_rate(optimizer, lr)
        batch = draw_batch(train_items, probabilities, config.batching, rng=np.random.default_rng([config.seed, step]))
        loss, _ = batch_loss(method, model, batch.to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        losses.append(float(loss.detach()))
        bar.update(1)
        bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}", lr=f"{lr:.0e}")
        done = step + 1
        if done % epoch_steps and done != total:
            continue
        metrics = validate(model, val_items, config=config) if val_items else {"n": 0}
        if mask_val_items:  # Dice on the annotated series held out for it; the ROC-AUC stays the labelled set's
            masked = validate(model, mask_val_items, config=config)
            metrics = {**metrics, "dice": masked["dice"], "n_masks": masked["n"]}
        if metrics.get("roc_auc") is not None and metrics.get("dice") is not None:
            metrics[ROC_AUC_PLUS_DICE] = metrics["roc_auc"] + metrics["dice"]
        entry = {"step": done, "epoch": math.ceil(done / epoch_steps), "lr": lr,
                 "train_loss": float(np.mean(losses)) if losses else None, **metrics}
        losses = []
        history.append(entry)
        with open(out / "history.jsonl", "a") as handle:
            handle.write(json.dumps(entry) + "\n")
        value = metrics.get(metric_name)
        improved = (value is not None and (best["value"] is None or value >= best["value"])) or (
            value is None and best["value"] is None
        )
        if improved:
            best = {"step": done, "value": value}
            save_checkpoint(out / BEST, _payload(config, model, step=done, metrics=entry, data=data))
        save_checkpoint(out / LAST, {
            **_payload(config, model, step=done, metrics=entry, data=data),
            "optimizer": optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "history": history,
            "best": best,
        })
        shown = ", ".join(f"{k} {v:.4f}" for k, v in entry.items() if isinstance(v, float) and k != "lr")
        say(f"{method} epoch {entry['epoch']} (batch {done}/{total}): {shown}{'  *best*' if improved else ''}")
        model.train()
    bar.close()
    return TrainResult(out, total, best["step"], best["value"], history, time.perf_counter() - started)
