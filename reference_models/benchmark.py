"""The default synthetic benchmark: every method trained on phantom training sets, scored on a phantom test set
by the evaluator (the same path as any submission), next to the paper's Table 2.

:func:`run_benchmark` writes under one work folder::

    training-data/   phantoms in the MosMed, MedSeg, COVID-19-CT-Seg and NSCLC (stand-in) layouts
    testset/         a phantom test set in the leaderboard's layout (the paper's 32/30/30/31 cases by default)
    weights/<m>/     run folders (reused when present: delete one to retrain it)
    archives/<m>.zip prediction archives; <m>.json beside each its seconds per case, and lungs.json the lung
                     network's Dice on the test set (so runs of other methods in the same folder reuse them)
    results.json     metrics, timings, and settings; table.md the Markdown table

Nothing here knows the test labels except the evaluator's scorer (and the lung Dice of the lung network, which
compares with the test set's lung masks).
"""

from __future__ import annotations

import dataclasses
import json
import platform
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from evaluator.groups import Group
from evaluator.phantoms import GENERATOR_VERSION, MOSMED_TEST_COUNTS, write_testset
from evaluator.phantoms.pathology import INPATIENT_BANDS
from evaluator.scoring import ScoringOptions, Track, score_archive
from evaluator.testset import load_testset
from evaluator.truth import build_truth
from reference_models.data.records import SeriesRecord
from reference_models.data.volumes import load_labels
from reference_models.pipeline import CaseVolume, cases_in_testset, load_method, predict_many
from reference_models.provision import (
    BENCHMARK_STEPS,
    DEFAULT_TRAINING_DATA,
    FAST_TRAINING_DATA,
    PHANTOM_SHAPE,
    PHANTOM_SPACING,
    TrainingData,
    ensure_training_data,
    load_records,
    train_one,
)
from reference_models.registry import METHODS
from reference_models.training.config import TrainConfig, default_config
from reference_models.training.objectives import dice
from reference_models.weights import BEST, file_digest, read_checkpoint

TABLE_METHODS = ("thresholding", "unet3d", "unet2d", "unet2d_plus", "resnet50", "multitask_latent",
                 "multitask_spatial4", "multitask_spatial1")
"""Table 2's rows, in the paper's order."""
METRICS = ("roc_auc_all", "roc_auc_normal", "roc_auc_bacterial_pneumonia", "roc_auc_nodules", "spearman_rho",
           "mean_dice")
METRIC_TITLES = ("vs All", "vs Normal", "vs Bac. Pneum.", "vs Nodules", "Spearman ρ", "Dice")

PAPER_TABLE2: Mapping[str, tuple[tuple[float, float] | None, ...]] = {
    "thresholding": ((.51, .00), (.68, .00), (.46, .00), (.45, .00), (.92, .00), (.42, .00)),
    "unet3d": ((.76, .02), (.89, .02), (.59, .01), (.79, .03), (.97, .01), (.65, .00)),
    "unet2d": ((.78, .01), (.93, .01), (.62, .01), (.79, .00), (.97, .00), (.63, .00)),
    "unet2d_plus": ((.86, .01), (.98, .01), (.68, .02), (.91, .01), (.80, .03), (.59, .01)),
    "resnet50": ((.62, .19), (.67, .21), (.55, .13), (.65, .22), None, None),
    "multitask_latent": ((.79, .06), (.84, .05), (.73, .06), (.80, .07), (.97, .00), (.61, .02)),
    "multitask_spatial4": ((.89, .03), (.94, .03), (.83, .05), (.91, .03), (.98, .00), (.61, .02)),
    "multitask_spatial1": ((.93, .01), (.97, .01), (.87, .01), (.93, .00), (.97, .01), (.61, .02)),
}
"""Table 2 of Goncharov et al. (mean ± std over seeds / splits), typed from the paper as reference values."""
PAPER_LUNG_DICE = (0.976, 0.013)
SEGMENTERS = ("thresholding", "unet3d", "unet2d", "unet2d_plus", "multitask_latent", "multitask_spatial4",
              "multitask_spatial1")
"""The methods with a severity (and a Spearman ρ); ResNet50 is the only one without."""
CLEARLY_WEAKER = 0.10
"""How much lower "clearly weaker against bacterial pneumonia than against normal" is (the paper: .31 and .30)."""
RHO_FLOOR = 0.9
"""Sec. 4.2: lung segmentation Dice on the MedSeg-29 hold-out set."""


@dataclass(frozen=True)
class BenchmarkSettings:
    training_data: TrainingData = DEFAULT_TRAINING_DATA
    test_counts: Mapping[str, int] = field(default_factory=lambda: {g.value: n for g, n in MOSMED_TEST_COUNTS.items()})
    test_seed: int = 2021
    test_covid_bands: tuple[float, float, float, float] | None = INPATIENT_BANDS
    """CT-1..CT-4 probabilities of the test set's COVID-19 severities (``write_testset``): by default the
    inpatients' mix of the paper's test set (``pathology.INPATIENT_BANDS``); ``None``: the population's
    (``pathology.POPULATION_BANDS``), as the training sets' MosMed studies."""
    shape: tuple[int, int, int] = PHANTOM_SHAPE
    spacing: tuple[float, float, float] = PHANTOM_SPACING
    steps: Mapping[str, int] = field(default_factory=lambda: dict(BENCHMARK_STEPS))
    scale: str = "small"
    seed: int = 0
    """The methods' training seed: initialisation, sampling, validation split."""
    lung_seed: int = 0
    """The lung network's training seed, the same for every ``seed``: like the paper's, the lung network is one
    preprocessing model under every method, and only the methods are trained three times (Table 2's thresholding,
    which rests on the lungs alone, has ± .00)."""
    bootstrap: int = 1000


FAST_SETTINGS = BenchmarkSettings(
    training_data=FAST_TRAINING_DATA,
    test_counts={g.value: 5 for g in Group},
    steps={name: 30 if name == "lungs" else 12 for name in BENCHMARK_STEPS},
    bootstrap=200,
)


def lesions_inside_lungs(lungs: np.ndarray, lesion_masks: Sequence[np.ndarray]) -> float | None:
    """The share of the reference lesion voxels that lie inside the predicted ``lungs`` (nonzero), averaged over the
    raters' masks that hold any; ``None`` if none does. Severity and every method's crop count only what the lung
    network calls lung, so a lesion left outside is lost to all of them."""
    inside = lungs != 0
    shares = [float(np.count_nonzero(mask & inside)) / np.count_nonzero(mask) for mask in lesion_masks
              if np.count_nonzero(mask)]
    return float(np.mean(shares)) if shares else None


def _mean_std_n(values: Sequence[float]) -> dict[str, float | int | None]:
    if not values:
        return {"mean": None, "std": None, "min": None, "n": 0}
    return {"mean": float(np.mean(values)), "std": float(np.std(values)), "min": float(np.min(values)),
            "n": len(values)}


def machine_description() -> dict[str, str]:
    """The machine a benchmark ran on, for its ``results.json``: architecture, CPU model (from /proc/cpuinfo where
    there is one) and the kernels torch picked. The same seed trains slightly different networks where these differ
    (docs/reference-models.md §12)."""
    model = ""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        if line.startswith("model name"):
            model = line.partition(":")[2].strip()
            break
    return {"architecture": platform.machine(), "cpu": model or platform.processor(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability()}


def table2_shape(metrics: Mapping[str, Mapping[str, float | None]]) -> list[str]:
    """Every way ``metrics`` (method name → the scorer's metrics, e.g. one run's or the mean over seeds) departs
    from the shape of the paper's Table 2, at once (``[]``: it has the shape):

    * thresholding has the lowest ROC-AUC vs all, Multitask-Spatial-1 the highest (strictly);
    * 2D and 3D U-Net are clearly weaker vs bacterial pneumonia than vs normal (by :data:`CLEARLY_WEAKER`);
    * ResNet50 has neither ρ nor Dice;
    * every method with a severity has ρ ≥ :data:`RHO_FLOOR`.

    Only the methods present are checked.
    """
    problems = []
    auc = {name: m.get("roc_auc_all") for name, m in metrics.items()}

    def title(name: str) -> str:
        return METHODS[name].title

    for name, value in auc.items():
        if value is None:
            problems.append(f"{title(name)}: no ROC-AUC vs all")
    others = {name: v for name, v in auc.items() if v is not None}
    if "thresholding" in others:
        lower = [n for n, v in others.items() if n != "thresholding" and v <= others["thresholding"]]
        if lower:
            problems.append(f"Thresholding ({others['thresholding']:.3f}) is not the lowest ROC-AUC vs all: "
                            + ", ".join(f"{title(n)} {others[n]:.3f}" for n in lower))
    if "multitask_spatial1" in others:
        higher = [n for n, v in others.items() if n != "multitask_spatial1" and v >= others["multitask_spatial1"]]
        if higher:
            problems.append(f"Multitask-Spatial-1 ({others['multitask_spatial1']:.3f}) is not the highest ROC-AUC "
                            "vs all: " + ", ".join(f"{title(n)} {others[n]:.3f}" for n in higher))
    for name in ("unet2d", "unet3d"):
        if name in metrics:
            normal, pneumonia = metrics[name].get("roc_auc_normal"), metrics[name].get("roc_auc_bacterial_pneumonia")
            if normal is None or pneumonia is None or pneumonia > normal - CLEARLY_WEAKER:
                problems.append(f"{title(name)}: ROC-AUC vs bacterial pneumonia {pneumonia} is not {CLEARLY_WEAKER} "
                                f"below vs normal {normal}")
    if "resnet50" in metrics:
        for key in ("spearman_rho", "mean_dice"):
            if metrics["resnet50"].get(key) is not None:
                problems.append(f"ResNet50 has a {key}: {metrics['resnet50'][key]}")
    for name in SEGMENTERS:
        if name in metrics:
            rho = metrics[name].get("spearman_rho")
            if rho is None or rho < RHO_FLOOR:
                problems.append(f"{title(name)}: Spearman ρ {rho} below {RHO_FLOOR}")
    return problems


def mean_metrics(runs: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Method → metric → the mean over ``runs`` (results documents) where defined, ``None`` where never."""
    names = [name for name in TABLE_METHODS if all(name in r["scores"] for r in runs)]
    means: dict[str, dict[str, float | None]] = {}
    for name in names:
        means[name] = {}
        for metric in METRICS:
            values = [r["scores"][name]["metrics"].get(metric) for r in runs]
            defined = [float(v) for v in values if v is not None]
            means[name][metric] = float(np.mean(defined)) if defined else None
    return means


def shape_lines(problems: Sequence[str], *, what: str) -> list[str]:
    """The shape check as text under a table."""
    if not problems:
        return ["", f"Table 2's shape ({what}): holds (reference_models.benchmark.table2_shape)."]
    return ["", f"Table 2's shape ({what}): {len(problems)} departure(s):", *[f"- {p}" for p in problems]]


def ensure_testset(folder: Path, settings: BenchmarkSettings) -> Path:
    """The phantom test set, written once per settings and phantom generator version (a stamp file records them;
    a folder written otherwise is refused)."""
    stamp = folder.parent / f"{folder.name}.json"
    bands = None if settings.test_covid_bands is None else list(settings.test_covid_bands)
    wanted = json.dumps({"counts": dict(settings.test_counts), "seed": settings.test_seed,
                         "shape": list(settings.shape), "spacing": list(settings.spacing),
                         "covid_bands": bands, "generator_version": GENERATOR_VERSION}, sort_keys=True)
    if folder.is_dir() and stamp.is_file() and stamp.read_text() == wanted:
        return folder
    if folder.exists():
        raise FileExistsError(f"{folder} exists but was written with other settings; remove it first")
    write_testset(folder, counts=dict(settings.test_counts), seed=settings.test_seed, shape=settings.shape,
                  spacing=settings.spacing, name="Synthetic Mosmed-Test (benchmark)", private_groups=(),
                  covid_bands=settings.test_covid_bands)
    stamp.write_text(wanted)
    return folder


def _previous_results(work: Path) -> dict[str, Any]:
    path = work / "results.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _built_after(target: Path, sources: Sequence[Path]) -> bool:
    """Whether ``target`` exists and is newer than every source, each of which exists (make's rule)."""
    if not target.is_file():
        return False
    built = target.stat().st_mtime
    return all(source.is_file() and source.stat().st_mtime < built for source in sources)


def _lung_sources(weights: Path, testset_dir: Path) -> list[Path]:
    return [weights / "lungs" / BEST, testset_dir.parent / f"{testset_dir.name}.json"]


def _archive_current(archive: Path, weights: Path, name: str, *, testset_dir: Path) -> bool:
    """Whether ``archive`` is newer than everything it was predicted from: the method's weights, the lung
    network's and the test set's stamp."""
    sources = _lung_sources(weights, testset_dir)
    if METHODS[name].build is not None or (weights / name / BEST).is_file():
        sources.append(weights / name / BEST)
    return _built_after(archive, sources)


def _reused_seconds(archive: Path, weights: Path, name: str, *, testset_dir: Path,
                    previous: Mapping[str, Any]) -> float | None:
    """Seconds per case recorded beside ``archive`` when it is current (:func:`_archive_current`), else ``None``:
    the method is predicted again. Every run writes the record of what it predicted, so parallel runs of other
    methods in one work folder keep each other's predictions; folders from before the records fall back on the
    ``previous`` results document."""
    if not _archive_current(archive, weights, name, testset_dir=testset_dir):
        return None
    record = archive.with_suffix(".json")
    if record.is_file():
        return float(json.loads(record.read_text())["seconds_per_case"])
    seconds = previous.get("inference_seconds_per_case", {}).get(name)
    return None if seconds is None else float(seconds)


def _reused_lung_dice(archives: Path, weights: Path, *, testset_dir: Path) -> dict[str, Any] | None:
    """The lung network's Dice summary recorded in ``archives/lungs.json`` when it is newer than the lung weights
    and the test set's stamp, else ``None``."""
    record = archives / "lungs.json"
    if not _built_after(record, _lung_sources(weights, testset_dir)):
        return None
    return dict(json.loads(record.read_text()))


def _training_seed(settings: BenchmarkSettings, name: str) -> int:
    """The seed network ``name`` trains with: ``lung_seed`` for the lung network, ``seed`` for every method."""
    return settings.lung_seed if name == "lungs" else settings.seed


def _stale_reason(weights: Path, name: str, *, settings: BenchmarkSettings) -> str | None:
    """Why the cached run ``weights/name`` cannot be reused (``None``: it can)."""
    run = weights / name
    if not (run / BEST).is_file():
        return "no weights"
    if METHODS[name].build is None:
        return None
    config = json.loads((run / "config.json").read_text())
    wanted = {"scale": settings.scale, "seed": _training_seed(settings, name), "steps": settings.steps.get(name)}
    found = {"scale": config.get("scale"), "seed": config.get("seed"), "steps": config["schedule"]["steps"]}
    if wanted["steps"] is None:
        found.pop("steps"), wanted.pop("steps")
    if found != wanted:
        return f"trained with {found}, wanted {wanted}"
    default = default_config(name, scale=settings.scale)
    if config.get("model_kwargs") != default.model_kwargs:  # e.g. the wide heads' leaky units
        return f"trained with model {config.get('model_kwargs')}, wanted {default.model_kwargs}"
    selection = TrainConfig.from_dict(config).selection  # configs before the field: the paper's rule
    if selection != default.selection:
        return f"best checkpoint by {selection}, wanted {default.selection}"
    options = default.predict_options
    if config.get("predict_options", {}) != options:  # e.g. validated on all slices, before classifier_slices
        return f"trained with predict options {config.get('predict_options', {})}, wanted {options}"
    schedule = {"head_fan_in": None, **config["schedule"], "steps": None}  # configs before head_fan_in lack it
    wanted_schedule = {**dataclasses.asdict(default.schedule), "steps": None}
    if json.loads(json.dumps(schedule)) != json.loads(json.dumps(wanted_schedule)):  # optimiser, lr, drops, head
        return f"trained with schedule {schedule}, wanted {wanted_schedule}"
    history = run / "history.jsonl"
    lines = history.read_text().splitlines() if history.is_file() else []
    reached = json.loads(lines[-1])["step"] if lines else 0
    if reached != config["schedule"]["steps"]:
        return f"training stopped at batch {reached} of {config['schedule']['steps']}"
    if name != "lungs":
        used = json.loads((run / "data.json").read_text()).get("lungs", {}).get("weights_digest")
        if used != file_digest(weights / "lungs" / BEST)[:24]:
            return "trained with another lung network"
    return None


def train_method(
    work: Path,
    name: str,
    *,
    settings: BenchmarkSettings,
    records: Sequence[SeriesRecord] | None = None,
    specs: Sequence[str] | None = None,
    device: torch.device | str = "cpu",
    progress: bool = False,
    log: Callable[[str], None] = print,
) -> float | None:
    """Train ``work/weights/name`` unless its cached run is current (:func:`_stale_reason`); the seconds it took,
    ``None`` when reused. The lung network trains with ``settings.lung_seed``, every method with ``settings.seed``
    on the lung network in ``work/weights/lungs``. ``records``/``specs``: the training sets, loaded if not given."""
    weights = work / "weights"
    reason = _stale_reason(weights, name, settings=settings)
    if reason is None:
        return None
    if (weights / name).exists():
        log(f"retraining {name}: {reason}")
        shutil.rmtree(weights / name)
    if specs is None:
        specs = ensure_training_data(work / "training-data", settings.training_data)
    if records is None:
        records = load_records(specs)
    log(f"training {name} …")
    t0 = time.perf_counter()
    train_one(name, records=records, out_dir=weights / name, lungs_dir=weights / "lungs", scale=settings.scale,
              steps=settings.steps.get(name), seed=_training_seed(settings, name),
              device=device, cache_dir=work / "prepared-cache", progress=progress, datasets=specs)
    seconds = time.perf_counter() - t0
    log(f"trained {name} in {seconds:.0f} s")
    return seconds


def run_benchmark(
    work: Path | str,
    *,
    settings: BenchmarkSettings = BenchmarkSettings(),
    methods: Sequence[str] = TABLE_METHODS,
    device: torch.device | str = "cpu",
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train what is missing, predict the test set with every method, score, and return the results document."""
    work = Path(work)
    started = time.perf_counter()
    timings: dict[str, float] = {}
    specs = ensure_training_data(work / "training-data", settings.training_data)
    testset_dir = ensure_testset(work / "testset", settings)
    timings["data_seconds"] = time.perf_counter() - started
    weights = work / "weights"
    records = load_records(specs)
    for name in ("lungs", *methods):
        seconds = train_method(work, name, settings=settings, records=records, specs=specs, device=device,
                               progress=progress, log=log)
        if seconds is not None:
            timings[f"train_{name}_seconds"] = seconds

    testset = load_testset(testset_dir)
    by_id = {c.case_id: c for c in testset.cases}
    lung_dice: list[float] = []
    covid_lung_dice: list[float] = []
    lesions_inside: list[float] = []

    def on_case(case_id: str, case: CaseVolume, lung_mask: np.ndarray, _: object) -> None:
        test_case = by_id[case_id]
        lung_dice.append(dice(lung_mask != 0, load_labels(test_case.lungs).array != 0))
        if test_case.is_covid:
            covid_lung_dice.append(lung_dice[-1])
            inside = lesions_inside_lungs(lung_mask, [load_labels(p).array != 0 for p in test_case.lesions.values()])
            if inside is not None:
                lesions_inside.append(inside)

    archives = {name: work / "archives" / f"{name}.zip" for name in methods}
    previous = _previous_results(work)
    reused: dict[str, float] = {}
    for name in methods:
        seconds = _reused_seconds(archives[name], weights, name, testset_dir=testset_dir, previous=previous)
        if seconds is not None:
            reused[name] = seconds
            log(f"reusing {archives[name]} (newer than its weights, the lung network's and the test set)")
    stale = [name for name in methods if name not in reused]
    lung_summary = None if stale else (_reused_lung_dice(work / "archives", weights, testset_dir=testset_dir)
                                       or previous.get("lung_dice"))
    loaded = {name: load_method(name, weights / name, device=device) for name in stale}
    lungs = load_method("lungs", weights / "lungs", device=device)
    t0 = time.perf_counter()
    predictions = predict_many(loaded, cases_in_testset(testset_dir), {n: archives[n] for n in stale}, lungs=lungs,
                               progress=progress, on_case=on_case) if stale else {}
    timings["predict_seconds"] = time.perf_counter() - t0
    per_method_seconds = {name: float(np.mean([r.seconds for r in rows])) for name, rows in predictions.items()}
    for name in predictions:
        archives[name].with_suffix(".json").write_text(json.dumps({"seconds_per_case": per_method_seconds[name]}))
    per_method_seconds.update(reused)
    if stale:
        lung_summary = {**_mean_std_n(lung_dice), "covid": _mean_std_n(covid_lung_dice),
                        "covid_lesions_inside": _mean_std_n(lesions_inside)}
        (work / "archives" / "lungs.json").write_text(json.dumps(lung_summary))

    t0 = time.perf_counter()
    truth = build_truth(testset, cache_root=work / "truth-cache")
    options = ScoringOptions(n_resamples=settings.bootstrap, workers=1)
    scores = {}
    for name, archive in archives.items():
        document = score_archive(archive, testset=testset, truth=truth, track=Track.CONTAINER, options=options)
        triage = document["triage"]
        scores[name] = {"metrics": document["metrics"], "intervals": document["intervals"],
                        "inputs": document["inputs"],
                        "triage_gain": {"minutes": (triage["measures"] or {}).get("triage_gain"),
                                        "interval": (triage["intervals"] or {}).get("triage_gain")}}
    timings["score_seconds"] = time.perf_counter() - t0
    timings["total_seconds"] = time.perf_counter() - started
    training = {}
    for name in ("lungs", *methods):
        payload = read_checkpoint(weights / name)
        training[name] = {"best_step": payload.get("step"), "metrics": payload.get("metrics"),
                          "config": payload.get("config")}
    results = {
        "settings": json.loads(json.dumps(dataclasses.asdict(settings), default=list)),
        "testset": {"name": testset.name, "cases": len(testset.cases),
                    "groups": {g.value: sum(c.group is g for c in testset.cases) for g in Group}},
        "scores": scores,
        "lung_dice": lung_summary,
        "inference_seconds_per_case": per_method_seconds,
        "training": training,
        "timings": timings,
        "torch": torch.__version__,
        "device": str(device),
        "machine": machine_description(),
        "generator_version": GENERATOR_VERSION,
    }
    (work / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (work / "table.md").write_text(markdown_table(results) + "\n")
    return results


UPDATE_MUST_MATCH = ("generator_version", "torch", "device", "machine", "testset")
"""What a recorded run and a run that updates some of its methods (:func:`update_record`) must share, besides
the settings other than the updated methods' batches."""


def update_record(record: Mapping[str, Any], run: Mapping[str, Any], *, methods: Sequence[str]) -> dict[str, Any]:
    """``record`` (a results document) with ``methods``' scores, training and seconds per case taken from ``run``, a
    later run of the same benchmark that trained only those methods anew (e.g. after a change to their recipe).

    Refused with every reason at once unless the two share :data:`UPDATE_MUST_MATCH` and every setting but the
    updated methods' batches (so the same data, test set, training seed and lung seed), and unless every other
    method ``run`` scored, at least one, scores exactly as in ``record``: thresholding rests on the lung network
    alone, so equal thresholding scores show that both stand on the same lungs and test set. ``settings.steps``
    takes ``run``'s batches for ``methods``; ``updates`` (a list, oldest first) records which methods, their
    batches and ``run``'s timings. ``record`` itself is left unchanged.
    """
    problems = []
    methods = list(dict.fromkeys(methods))
    if not methods:
        problems.append("no methods to update")
    for name in methods:
        if name not in run.get("scores", {}):
            problems.append(f"the run did not score {name}")
        if name not in record.get("scores", {}):
            problems.append(f"the record has no {name} to update")
    for key in UPDATE_MUST_MATCH:
        if record.get(key) != run.get(key):
            problems.append(f"{key} differs: record {record.get(key)!r}, run {run.get(key)!r}")
    ours, theirs = dict(record.get("settings", {})), dict(run.get("settings", {}))
    for key in sorted(set(ours) | set(theirs)):
        if key == "steps":
            continue
        if ours.get(key) != theirs.get(key):
            problems.append(f"setting {key} differs: record {ours.get(key)!r}, run {theirs.get(key)!r}")
    steps_ours, steps_theirs = dict(ours.get("steps", {})), dict(theirs.get("steps", {}))
    for name in sorted((set(steps_ours) | set(steps_theirs)) - set(methods)):
        if steps_ours.get(name) != steps_theirs.get(name):
            problems.append(f"{name}'s batches differ ({steps_ours.get(name)} recorded, {steps_theirs.get(name)} "
                            "in the run) but it is not among the updated methods")
    witnesses = [name for name in run.get("scores", {}) if name not in methods]
    if not witnesses:
        problems.append("the run scored no other method to show that it stands on the recorded lungs and test set "
                        "(run thresholding with it)")
    for name in witnesses:
        if name not in record.get("scores", {}):
            problems.append(f"the run scored {name}, which the record lacks")
        elif run["scores"][name]["metrics"] != record["scores"][name]["metrics"]:
            problems.append(f"{name} scores differently in the run than in the record: not the same lungs, test set "
                            "or code")
    if run.get("lung_dice") != record.get("lung_dice"):
        problems.append("the lung network's Dice on the test set differs: not the same lung network")
    if problems:
        raise ValueError("cannot update the record: " + "; ".join(problems))
    updated = json.loads(json.dumps(record))
    seconds = run.get("inference_seconds_per_case", {})
    for name in methods:
        updated["scores"][name] = run["scores"][name]
        updated["training"][name] = run["training"][name]
        if name in seconds:
            updated.setdefault("inference_seconds_per_case", {})[name] = seconds[name]
        if name in steps_theirs:
            updated["settings"]["steps"][name] = steps_theirs[name]
    updated.setdefault("updates", []).append(
        {"methods": methods, "steps": {name: steps_theirs.get(name) for name in methods},
         "timings": run.get("timings"), "witnesses": witnesses})
    return updated


def _cell(value: float | None) -> str:
    """Two decimals without the leading zero, as the paper prints them (``.93``, ``-.27``)."""
    return "N/A" if value is None else f"{value:.2f}".replace("0.", ".", 1)


def markdown_table(results: Mapping[str, Any]) -> str:
    """Our metrics (with 95 % bootstrap intervals) next to the paper's Table 2 values."""
    header = "| method | " + " | ".join(METRIC_TITLES) + " |"
    lines = [header, "|---|" + "---|" * len(METRIC_TITLES)]
    for name in TABLE_METHODS:
        if name not in results["scores"]:
            continue
        ours = results["scores"][name]["metrics"]
        paper = PAPER_TABLE2[name]
        cells = []
        for metric, reference in zip(METRICS, paper, strict=True):
            ref = "N/A" if reference is None else f"{_cell(reference[0])} ± {_cell(reference[1])}"
            cells.append(f"**{_cell(ours.get(metric))}** ({ref})")
        lines.append(f"| {METHODS[name].title} | " + " | ".join(cells) + " |")
    lines += _triage_lines({name: [results["scores"][name]] for name in TABLE_METHODS if name in results["scores"]})
    lines += shape_lines(table2_shape({name: score["metrics"] for name, score in results["scores"].items()}),
                         what="this run")
    lung = results.get("lung_dice")
    if lung:
        lines.append("")
        lines.append(f"Lung segmentation (the ninth network): mean lung Dice **{lung['mean']:.3f}** "
                     f"± {lung['std']:.3f} "
                     f"on the {lung['n']} test phantoms (paper, Sec. 4.2: {PAPER_LUNG_DICE[0]} ± {PAPER_LUNG_DICE[1]} "
                     "on MedSeg-29).")
        covid, inside = lung.get("covid") or {}, lung.get("covid_lesions_inside") or {}
        if covid.get("n") and inside.get("n"):
            lines.append(f"On the {covid['n']} COVID-19 phantoms alone: lung Dice **{covid['mean']:.3f}** "
                         f"(lowest {covid['min']:.3f}); the predicted lungs hold **{inside['mean']:.2f}** of the "
                         f"reference lesion voxels (lowest {inside['min']:.2f}), and severity counts only those.")
    lines.append("")
    lines.append("Bold: this benchmark (synthetic phantoms, CPU-scale training, one seed). In parentheses: the "
                 "paper's Table 2 (mean ± std over seeds/splits on the real Mosmed-Test), typed from the paper as "
                 "reference values.")
    return "\n".join(lines)


def _triage_lines(scores: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[str]:
    """The triage gain (minutes saved per COVID-19 positive in the simulated worklist, evaluator/worklist.py) per
    method: its value and 95 % interval for one run, mean ± std over several; nothing for results without it."""
    rows = []
    for name, runs in scores.items():
        gains = [run["triage_gain"]["minutes"] for run in runs if run.get("triage_gain")]
        defined = [float(g) for g in gains if g is not None]
        if len(gains) < len(runs):
            return []  # results.json written before the triage impact existed
        if not defined:
            rows.append(f"| {METHODS[name].title} | N/A |")
        elif len(runs) == 1:
            interval = runs[0]["triage_gain"]["interval"]
            rows.append(f"| {METHODS[name].title} | **{defined[0]:.1f}** "
                        + (f"({interval['low']:.1f} to {interval['high']:.1f}) |" if interval else "|"))
        else:
            spread = float(np.std(defined, ddof=1)) if len(defined) > 1 else 0.0
            rows.append(f"| {METHODS[name].title} | **{np.mean(defined):.1f} ± {spread:.1f}** |")
    if not rows:
        return []
    return ["", ("Triage gain: minutes saved per COVID-19 positive in the simulated worklist (default department; "
                 "docs/metrics.md), against first in, first out; not in the paper."), "",
            "| method | triage gain, min |", "|---|---|", *rows]


def combined_table(runs: Sequence[Mapping[str, Any]]) -> str:
    """Mean ± standard deviation (n − 1 in the denominator) of each metric over several runs of the benchmark
    (e.g. training seeds), next to the paper's Table 2, whose ± is over seeds / splits as well.

    A metric that is N/A in some runs is averaged over the others, and the cell says in how many it was defined.
    """
    if not runs:
        raise ValueError("no runs to combine")
    settings = {json.dumps({k: v for k, v in r["settings"].items() if k != "seed"}, sort_keys=True) for r in runs}
    if len(settings) > 1:
        raise ValueError("the runs differ in more than their training seed (steps, scale, data or test set)")
    generators = {r.get("generator_version") for r in runs}
    if len(generators) > 1:
        raise ValueError("the runs come from different phantom generators: "
                         + ", ".join(sorted(str(g) for g in generators)) + " (None: not recorded)")
    header = "| method | " + " | ".join(METRIC_TITLES) + " |"
    lines = [header, "|---|" + "---|" * len(METRIC_TITLES)]
    for name in TABLE_METHODS:
        if not all(name in r["scores"] for r in runs):
            continue
        paper = PAPER_TABLE2[name]
        cells = []
        for metric, reference in zip(METRICS, paper, strict=True):
            values = [r["scores"][name]["metrics"].get(metric) for r in runs]
            defined = [float(v) for v in values if v is not None]
            if not defined:
                ours = "N/A"
            else:
                spread = float(np.std(defined, ddof=1)) if len(defined) > 1 else 0.0
                ours = f"{_cell(float(np.mean(defined)))} ± {_cell(spread)}"
                if len(defined) < len(values):
                    ours += f" ({len(defined)} of {len(values)})"
            ref = "N/A" if reference is None else f"{_cell(reference[0])} ± {_cell(reference[1])}"
            cells.append(f"**{ours}** ({ref})")
        lines.append(f"| {METHODS[name].title} | " + " | ".join(cells) + " |")
    lines += _triage_lines({name: [r["scores"][name] for r in runs] for name in TABLE_METHODS
                            if all(name in r["scores"] for r in runs)})
    lines += shape_lines(table2_shape(mean_metrics(runs)), what="the means over seeds")
    seeds = sorted(int(r["settings"]["seed"]) for r in runs)
    lines.append("")
    lines.append(f"Bold: mean ± std over {len(runs)} training seeds ({', '.join(map(str, seeds))}) of this benchmark "
                 "(same data, same test set). In parentheses: the paper's Table 2 (mean ± std over seeds/splits "
                 "on the real Mosmed-Test).")
    return "\n".join(lines)
